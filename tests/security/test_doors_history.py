"""Issue 11 item 4: the state history is append-only and judged step by
step. Each attack is refused by a real bare server with the update hook and
by ``ftgate ci``, with a message naming the rule; the honest walk is taken."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ftgate.workflow.model import GateStatus, Permission, ReentryClass, Stage, YesNo
from tests.support.gitrepo import Repo
from tests.support.server import make_server, push
from tests.support.tickets import FILES_UP_TO_4, edit_state, example, put_ticket, state_text

T = "tickets/in-progress/t"


def server_with(tmp_path: Path, env: dict[str, str], setup: Callable[[Repo], None]) -> tuple[Repo, Repo]:
    """A server whose history ``setup`` wrote before the hook was installed:
    set-up, not steps the server should judge."""
    return make_server(tmp_path, env, setup=setup)


def refused_everywhere(work: Repo, base: str, ref: str, rule: str, *, branch: str | None = None) -> str:
    proc = push(work, ref)
    assert proc.returncode != 0, proc.stderr
    assert f"[{rule}]" in proc.stderr, proc.stderr
    args = ["ci", "--base", base, "--head", "HEAD", "--no-github"]
    if branch:
        args += ["--branch", branch]
    ci = work.ftgate(*args)
    assert ci.returncode == 1 and f"[{rule}]" in ci.stdout, ci.stdout
    return proc.stderr


def test_a_ticket_is_born_at_stage_0_not_at_stage_4_with_the_source(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = make_server(tmp_path, env)
    base = work.head()
    # ftgate's own example artifacts pass gates 0 to 3.
    work.write(f"{T}/workflow-state.md", state_text("t", 4, unlocked=True))
    for name in ("investigation-notes.md", "requirements.md", "implementation-plan.md"):
        work.write(f"{T}/{name}", example(name, "t"))
    work.write("src/train.py", "print('at once')\n")
    work.commit("a ticket at Stage 4 Unlocked with its first source edit")
    err = refused_everywhere(work, base, "main", "illegal-transition")
    assert "born at Stage 0, Locked" in err


def test_deleting_a_state_file_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = make_server(tmp_path, env, stage=6)
    base = work.head()
    work.git("rm", "-q", f"{T}/workflow-state.md")
    work.commit("drop the state")
    refused_everywhere(work, base, "main", "state-deleted")
    # Re-adding it at Stage 4 Unlocked in the next commit is no way around.
    work.write(f"{T}/workflow-state.md", state_text("t", 4, unlocked=True))
    work.commit("re-add it unlocked")
    err = refused_everywhere(work, base, "main", "state-deleted")
    assert "born at Stage 0" in err


def test_a_stub_cannot_be_reopened_at_stage_8(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = server_with(tmp_path, env, lambda w: w.commit(
        "an archived stub", put_ticket(w, "t", 0, where="done")) and None)
    base = work.head()
    (work.path / "tickets/in-progress").mkdir(parents=True)
    work.git("mv", "tickets/done/t", T)
    work.write(f"{T}/workflow-state.md", state_text("t", 8))
    work.commit("reopen a stub at Stage 8")
    refused_everywhere(work, base, "main", "illegal-transition")
    assert "never a legal archive" in push(work, "main").stderr


def test_reentry_unlock_and_source_cannot_share_a_commit(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = make_server(tmp_path, env, stage=6)
    base = work.head()
    work.write(f"{T}/implementation.md", "x\n")

    def reenter(e: object) -> None:
        from ftgate.workflow.state import StateEditor
        assert isinstance(e, StateEditor)
        e.set_token("activereentry", YesNo.YES)
        e.set_token("reentryclassification", ReentryClass.LOCAL_FIX)
        e.set_reentry({"triggerstage": "6", "classification": ReentryClass.LOCAL_FIX.value})
        e.set_stage(Stage.IMPLEMENTATION)
        e.set_token("codeeditpermission", Permission.UNLOCKED)

    edit_state(work, T, reenter)
    work.write("src/train.py", "print('fix')\n")
    work.commit("re-enter, unlock and fix in one commit")
    err = refused_everywhere(work, base, "main", "illegal-transition", branch="codex/t")
    assert "re-entry locks source edits in its own step" in err


def test_an_archived_ticket_governs_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = server_with(tmp_path, env, lambda w: w.commit(
        "archived at Stage 4 Unlocked", put_ticket(w, "t", 4, unlocked=True, where="done")) and None)
    base = work.head()
    work.git("checkout", "-q", "-b", "codex/t")
    work.write("src/train.py", "print('after the archive')\n")
    work.commit("source under an archived ticket")
    refused_everywhere(work, base, "codex/t", "ticket-archived", branch="codex/t")


def test_the_unlock_is_committed_before_any_source(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = make_server(tmp_path, env, stage=4)
    base = work.head()
    edit_state(work, T, lambda e: e.set_token("codeeditpermission", Permission.UNLOCKED))
    work.write("src/train.py", "print('same commit')\n")
    work.commit("unlock and source together")
    err = refused_everywhere(work, base, "main", "unlock-not-committed")
    assert len([line for line in err.splitlines() if "unlock must be committed on its own" in line]) == 1
    # The honest way: the unlock, then the source, in two commits.
    work.git("reset", "-q", "--hard", base)
    edit_state(work, T, lambda e: e.set_token("codeeditpermission", Permission.UNLOCKED))
    work.commit("unlock")
    work.write("src/train.py", "print('next commit')\n")
    work.commit("source")
    proc = push(work, "main")
    assert proc.returncode == 0, proc.stderr
    assert work.ftgate("ci", "--base", base, "--head", "HEAD", "--no-github").returncode == 0


def test_an_honest_codex_branch_fast_forwards_into_main(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = server_with(tmp_path, env, lambda w: w.commit(
        "another ticket in progress", put_ticket(w, "other", 2)) and None)
    base = work.head()
    work.git("checkout", "-q", "-b", "codex/t")
    work.write(f"{T}/workflow-state.md", state_text("t", 0))
    work.write(f"{T}/requirements.md", FILES_UP_TO_4["requirements.md"])
    work.commit("ticket new t")
    for name, text in FILES_UP_TO_4.items():
        work.write(f"{T}/{name}", text)
    work.write(f"{T}/workflow-state.md", state_text("t", 4))
    work.commit("walk t to Stage 4")
    edit_state(work, T, lambda e: e.set_token("codeeditpermission", Permission.UNLOCKED))
    work.commit("unlock t")
    work.write("src/train.py", "print('feature')\n")
    work.commit("feature")
    assert push(work, "codex/t").returncode == 0
    # On main the branch name is gone: the ticket the commits carry unlocked governs them.
    proc = push(work, "codex/t:main")
    assert proc.returncode == 0, proc.stderr
    assert work.ftgate("ci", "--base", base, "--head", "HEAD", "--no-github", "--branch", "main").returncode == 0


def test_a_legal_archive_is_reopened_locked_at_the_named_stage(tmp_path: Path, env: dict[str, str]) -> None:
    def archived(w: Repo) -> None:
        folder = put_ticket(w, "t", 8, where="done")
        edit_state(w, folder, lambda e: e.set_gate(Stage.HANDOFF, GateStatus.PASS))
        w.commit("a ticket archived from Stage 8 with its gate passing", folder)

    bare, work = server_with(tmp_path, env, archived)
    base = work.head()
    proc = work.ftgate("reopen", "t", "--stage", "4")
    assert proc.returncode == 0, proc.stderr
    work.commit("reopen t at Stage 4")
    proc = push(work, "main")
    assert proc.returncode == 0, proc.stderr
    # Unlocking in the reopen commit itself is refused.
    work.git("checkout", "-q", "-b", "again", base)
    assert work.ftgate("reopen", "t", "--stage", "4").returncode == 0
    edit_state(work, T, lambda e: e.set_token("codeeditpermission", Permission.UNLOCKED))
    work.commit("reopen t unlocked")
    err = refused_everywhere(work, base, "again", "illegal-transition")
    assert "a reopened ticket must start locked" in err
