"""`ftgate unlock --sign` and `ftgate done [--finalize] --sign`: the approval
made with the transition, over the files as they are committed, accepted
by a real bare server with the update hook and by `ftgate ci`; without
`--sign` (where ftgate.yaml asks for an approval), and with a key that is
not listed, refused before any file changes. Keys are made here by
ssh-keygen."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ftgate import sshsig
from ftgate.workflow.model import Stage
from ftgate.workflow.tickets import BootstrapValues
from tests.approvals.test_approvals import (
    ALICE,
    DEV,
    SIGNERS,
    _accepted,
    _as,
    _ci,
    _config,
    _key,
    _server,
    pytestmark,
)
from tests.support.gitrepo import Repo
from tests.support.server import bare_and_clone
from tests.support.tickets import example, fill, state_text

__all__ = ["pytestmark"]

FOLDER = "tickets/in-progress/t"


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under tickets/ (and what git's index holds), to show a
    refusal changed nothing."""
    files = {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "tickets").rglob("*")) if p.is_file()}
    files["<index>"] = subprocess.run(["git", "ls-files", "-s"], cwd=root, capture_output=True).stdout
    return files


# ------------------------------------------------------------------ unlock


def test_unlock_sign_is_accepted_by_the_server_the_hooks_and_ci(tmp_path: Path, git_env: dict[str, str]) -> None:
    _, work, keys = _server(tmp_path, git_env)
    assert work.ftgate("install").returncode == 0
    base = work.head()
    done = work.ftgate("unlock", "t", "--sign", "--key", str(keys["alice"]))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"signed `unlock` as {ALICE}" in done.stdout
    assert f"{FOLDER}/approvals/unlock.sig" in done.stdout and "git add" in done.stdout
    # separate: true, said now: the source under this unlock is someone else's to write.
    assert f"authored by someone other than {ALICE}" in done.stdout
    committed = work.commit("t: unlock, approved", verify=True)
    assert committed.returncode == 0, committed.stderr.decode()
    _accepted(work, base)


def test_unlock_without_sign_is_refused_before_anything_changes(tmp_path: Path, git_env: dict[str, str]) -> None:
    _, work, keys = _server(tmp_path, git_env)
    before = _snapshot(work.path)
    refused = work.ftgate("unlock", "t")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    said = refused.stderr
    assert "`unlock` needs a signed approval" in said and f"one of {ALICE} (listed in {SIGNERS})" in said, said
    assert "rerun with --sign" in said and "nothing was changed" in said
    assert "Traceback" not in said
    assert _snapshot(work.path) == before

    # The old way stays open on request: change now, an approver signs before the commit.
    unsigned = work.ftgate("unlock", "t", "--unsigned")
    assert unsigned.returncode == 0, unsigned.stderr
    approved = work.ftgate("approve", "t", "--transition", "unlock", "--key", str(keys["alice"]))
    assert approved.returncode == 0, approved.stderr
    base = work.head()
    work.commit("t: unlock, approved afterwards")
    _accepted(work, base)


def test_a_key_not_on_the_list_is_refused_before_anything_changes(tmp_path: Path,
                                                                 git_env: dict[str, str]) -> None:
    _, work, keys = _server(tmp_path, git_env)
    before = _snapshot(work.path)
    refused = work.ftgate("unlock", "t", "--sign", "--key", str(keys["mallory"]))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "may not approve here" in refused.stderr and "not in the allowed signers" in refused.stderr
    assert f"sign with a key of one of {ALICE}" in refused.stderr
    assert _snapshot(work.path) == before


def test_sign_with_no_approvals_block_is_a_usage_error(tmp_path: Path, git_env: dict[str, str]) -> None:
    _, work, keys = _server(tmp_path, git_env, approvals=False)
    before = _snapshot(work.path)
    refused = work.ftgate("unlock", "t", "--sign", "--key", str(keys["alice"]))
    assert refused.returncode == 2 and "no `approvals:` block" in refused.stderr, refused.stderr
    assert _snapshot(work.path) == before
    # Approvals off: a plain unlock is as it always was.
    assert work.ftgate("unlock", "t").returncode == 0


# ------------------------------------------------------------------ done


def _ticket_at_handoff(tmp_path: Path, env: dict[str, str]) -> tuple[Repo, Repo, dict[str, Path]]:
    """A server whose main has approvals on (unlock, done; separate) and
    finalization by push, and ticket `t` finished at Stage 8 (every
    artifact written, bootstrapped on codex/t to finalize into origin/main),
    set up before the hook judges anything; the clone on codex/t with
    ftgate's local hooks installed."""
    keys = {name: _key(tmp_path, name) for name in ("alice", "mallory")}
    bare, work = bare_and_clone(tmp_path, env)
    work.write("ftgate.yaml", _config() + "worktree:\n  finalize: push\n")
    work.write(SIGNERS, f"{ALICE} {sshsig.public_key_of(keys['alice'])}\n")
    record = BootstrapValues(mode="Git", user_base="main", base_remote="origin", base_branch="main",
                             final_remote="origin", final_branch="main", refresh_performed="Yes",
                             refresh_result="up to date", worktree_path=".", ticket_branch="codex/t")
    work.write(f"{FOLDER}/workflow-state.md", state_text("t", 8, bootstrap=record))
    for stage in Stage:
        fill(work.path / FOLDER, stage, "t")
    work.write(f"{FOLDER}/handoff-summary.md", example("handoff-summary.md", "t").replace(
        "Finalization Status: `N/A`", "Finalization Status: `Pending`"))
    work.commit("t, finished up to Stage 8")
    work.git("push", "-q", "origin", "main")
    assert work.ftgate("install", "--server", str(bare.path), "--hook", "update").returncode == 0
    work.git("checkout", "-q", "-b", "codex/t")
    assert work.ftgate("install").returncode == 0
    return bare, work, keys


def test_done_finalize_sign_is_accepted_end_to_end(tmp_path: Path, git_env: dict[str, str]) -> None:
    bare, work, keys = _ticket_at_handoff(tmp_path, git_env)
    base = work.head()
    # The developer's identity authors the archive commit; Alice signs it (separate: true).
    done = work.ftgate("done", "t", "--verified-by", "Alice", "--finalize", "--sign", "--key", str(keys["alice"]),
                       env=_as(git_env, DEV))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"signed `done` as {ALICE}" in done.stdout and "pushed codex/t to origin/main" in done.stdout
    assert bare.out("rev-parse", "main") == work.head()
    landed = bare.out("ls-tree", "-r", "--name-only", "main", "tickets/")
    assert "tickets/done/t/approvals/done.sig" in landed and "tickets/in-progress/t/" not in landed
    assert "Finalization Status: `Pushed`" in bare.out("show", "main:tickets/done/t/handoff-summary.md")
    assert work.out("status", "--porcelain") == ""
    judged = _ci(work, base)
    assert judged.returncode == 0, judged.stdout + judged.stderr


def test_done_finalize_without_sign_is_refused_up_front(tmp_path: Path, git_env: dict[str, str]) -> None:
    bare, work, keys = _ticket_at_handoff(tmp_path, git_env)
    tip, before = work.head(), _snapshot(work.path)
    refused = work.ftgate("done", "t", "--verified-by", "Alice", "--finalize")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    said = refused.stderr
    assert "`done` needs a signed approval" in said and f"one of {ALICE}" in said, said
    assert "rerun with --sign" in said and "ftgate worktree finalize t" in said
    assert _snapshot(work.path) == before and work.head() == tip
    assert bare.out("rev-parse", "main") == tip

    # separate: true, checked before anything changes: Alice may not author the commit she approves.
    refused = work.ftgate("done", "t", "--verified-by", "Alice", "--finalize", "--sign", "--key",
                          str(keys["alice"]), env=_as(git_env, ALICE))
    assert refused.returncode == 1 and "may not author the commit that carries it" in refused.stderr, refused.stderr
    assert _snapshot(work.path) == before


def test_plain_done_sign_is_accepted_once_committed(tmp_path: Path, git_env: dict[str, str]) -> None:
    bare, work, keys = _ticket_at_handoff(tmp_path, git_env)
    base = work.head()
    done = work.ftgate("done", "t", "--verified-by", "Alice", "--sign", "--key", str(keys["alice"]))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "tickets/done/t/approvals/done.json" in done.stdout
    assert f"archives the ticket must be authored by someone other than {ALICE}" in done.stdout
    work.git("add", "-A", "tickets")
    committed = subprocess.run(["git", "commit", "-q", "-m", "t: done, approved"], cwd=work.path,
                               env=_as(git_env, DEV), capture_output=True, text=True)
    assert committed.returncode == 0, committed.stderr
    _accepted(work, base)


def test_a_failed_push_takes_the_approval_back_and_the_retry_signs_again(tmp_path: Path,
                                                                         git_env: dict[str, str]) -> None:
    bare, work, keys = _ticket_at_handoff(tmp_path, git_env)
    # main moves on meanwhile (docs only, so the hook lets it in): a push without force must fail.
    other = Repo(tmp_path / "other", git_env)
    Repo(tmp_path, git_env).git("clone", "-q", str(bare.path), str(other.path))
    other.write("README.md", "# demo, edited meanwhile\n")
    other.commit("docs meanwhile")
    assert subprocess.run(["git", "push", "-q", "origin", "main"], cwd=other.path, env=git_env).returncode == 0
    tip = work.head()

    failed = work.ftgate("done", "t", "--verified-by", "Alice", "--finalize", "--sign", "--key", str(keys["alice"]),
                         env=_as(git_env, DEV))
    assert failed.returncode == 1 and "ftgate worktree finalize t" in failed.stderr, failed.stdout + failed.stderr
    assert work.head() == tip
    approvals = work.path / "tickets/done/t/approvals"
    assert not approvals.exists(), "an approval of a finalization that did not happen is taken back"
    assert "approvals/" not in work.out("diff", "--cached", "--name-only")

    work.git("pull", "-q", "--no-rebase", "--no-edit", "origin", "main")
    refused = work.ftgate("worktree", "finalize", "t", env=_as(git_env, DEV))
    assert refused.returncode == 1 and "`done` needs a signed approval" in refused.stderr, refused.stderr
    retried = work.ftgate("worktree", "finalize", "t", "--sign", "--key", str(keys["alice"]), env=_as(git_env, DEV))
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert bare.out("rev-parse", "main") == work.head()
    landed = bare.out("ls-tree", "-r", "--name-only", "main")
    assert "tickets/done/t/approvals/done.sig" in landed and "tickets/in-progress/t/" not in landed
