"""`ftgate check` and the installed pre-commit hook on real repositories."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ftgate.workflow.model import Permission
from tests.support.gitrepo import Repo, init_repo
from tests.support.tickets import PLAN_CURRENT, edit_state, put_ticket


def ticket_at(repo: Repo, stage: int, *, unlocked: bool = False, name: str = "t") -> str:
    folder = put_ticket(repo, name, stage, unlocked=unlocked)
    repo.commit(f"ticket at {stage}", folder)
    return folder


def commit_with_hook(repo: Repo, message: str = "change") -> tuple[int, str]:
    repo.git("add", "-A")
    proc = repo.git("commit", "-q", "-m", message, check=False)
    return proc.returncode, proc.stderr.decode(errors="replace")


def test_stage_2_source_commit_is_refused_by_the_hook(repo: Repo) -> None:
    ticket_at(repo, 2)
    before = repo.head()
    repo.write("src/train.py", "print('changed')\n")
    code, err = commit_with_hook(repo)
    assert code != 0
    assert "modified src/train.py" in err and "Stage 2" in err and "fix:" in err
    assert repo.head() == before
    check = repo.ftgate("check")
    assert check.returncode == 1


def test_stage_4_unlocked_source_commit_is_accepted(repo: Repo) -> None:
    ticket_at(repo, 4, unlocked=True)
    repo.write("src/train.py", "print('changed')\n")
    code, err = commit_with_hook(repo)
    assert code == 0, err


@pytest.mark.parametrize("op", ["delete", "rename"])
def test_deletion_and_rename_of_source_at_stage_2_are_refused(repo: Repo, op: str) -> None:
    ticket_at(repo, 2)
    if op == "delete":
        repo.git("rm", "-q", "src/train.py")
        expected = "deleted src/train.py"
    else:
        (repo.path / "docs").mkdir()
        repo.git("mv", "src/train.py", "docs/train.md")
        expected = "renamed src/train.py -> docs/train.md"
    proc = repo.ftgate("check")
    assert proc.returncode == 1
    assert expected in proc.stderr


def test_ticket_only_and_docs_commit_at_stage_2_is_accepted(repo: Repo) -> None:
    folder = ticket_at(repo, 2)
    repo.write(f"{folder}/requirements.md", "# Requirements\n\n- Status: `Draft`\n\nmore\n")
    repo.write("README.md", "# demo, documented\n")
    code, err = commit_with_hook(repo)
    assert code == 0, err


def test_hand_edit_from_1_to_4_unlocked_is_refused(repo: Repo) -> None:
    folder = ticket_at(repo, 1)
    from ftgate.workflow.model import Stage

    def jump(editor) -> None:
        editor.set_stage(Stage.IMPLEMENTATION)
        editor.set_token("codeeditpermission", Permission.UNLOCKED)

    edit_state(repo, folder, jump)
    repo.write("src/train.py", "print('sneaky')\n")
    repo.git("add", "-A")
    proc = repo.ftgate("check")
    assert proc.returncode == 1
    assert "moves ahead from 1 to 4" in proc.stderr
    assert "Unlocked while the Stage 3 gate" in proc.stderr


def test_legal_unlock_is_committed_before_the_source(repo: Repo) -> None:
    folder = ticket_at(repo, 4)
    edit_state(repo, folder, lambda e: e.set_token("codeeditpermission", Permission.UNLOCKED))
    repo.write("src/train.py", "print('now allowed')\n")
    repo.git("add", "-A")
    proc = repo.ftgate("check")
    # The unlock and the source edit in one commit: refused, in one line that says why.
    assert proc.returncode == 1
    said = [line for line in proc.stderr.splitlines() if "unlock must be committed on its own" in line]
    assert len(said) == 1, proc.stderr
    repo.git("reset", "-q", "src/train.py")
    proc = repo.ftgate("check")
    assert proc.returncode == 0, proc.stderr
    # The same unlock without a current plan is refused.
    repo.write(f"{folder}/implementation-plan.md", PLAN_CURRENT.replace("`Current`", "`Draft`"))
    repo.git("add", "-A")
    proc = repo.ftgate("check")
    assert proc.returncode == 1 and "Stage 3 gate does not pass" in proc.stderr


def test_only_staged_content_counts(repo: Repo) -> None:
    folder = ticket_at(repo, 4, unlocked=True)
    # Locked in the working tree but unlocked in the index: the index decides.
    repo.write("src/train.py", "print('staged')\n")
    repo.git("add", "src/train.py")
    edit_state(repo, folder, lambda e: e.set_token("codeeditpermission", Permission.LOCKED))
    assert repo.ftgate("check").returncode == 0
    # Now the reverse: the lock is staged, the source edit too.
    repo.git("add", f"{folder}/workflow-state.md")
    assert repo.ftgate("check").returncode == 1
    # Partial staging: only the docs half is staged.
    repo.git("reset", "-q")
    repo.git("add", "README.md")
    assert repo.ftgate("check").returncode == 0


def test_git_commit_all_uses_the_temporary_index(repo: Repo) -> None:
    ticket_at(repo, 2)
    repo.write("src/train.py", "print('commit -a')\n")
    proc = repo.git("commit", "-q", "-a", "-m", "all", check=False)
    assert proc.returncode != 0 and b"src/train.py" in proc.stderr


def test_initial_commit_and_empty_commit(tmp_path: Path, env: dict[str, str]) -> None:
    r = init_repo(tmp_path / "fresh", env)
    assert r.ftgate("install").returncode == 0
    r.write("README.md", "# hello\n")
    r.git("add", "-A")
    assert r.git("commit", "-q", "-m", "docs first", check=False).returncode == 0
    r.write("app.py", "x = 1\n")
    r.git("add", "-A")
    proc = r.git("commit", "-q", "-m", "src without ticket", check=False)
    assert proc.returncode != 0 and b"ftgate ticket new" in proc.stderr
    r.git("reset", "-q")
    assert r.git("commit", "-q", "--allow-empty", "-m", "empty", check=False).returncode == 0

    r2 = init_repo(tmp_path / "fresh2", env)
    r2.write("app.py", "x = 1\n")
    r2.git("add", "-A")
    proc = r2.ftgate("check")
    assert proc.returncode == 1 and "first commit" in proc.stderr


def test_state_deleted_in_the_commit_blocks_source(repo: Repo) -> None:
    folder = ticket_at(repo, 4, unlocked=True)
    repo.git("rm", "-q", f"{folder}/workflow-state.md")
    repo.write("src/train.py", "print('no state')\n")
    repo.git("add", "-A")
    proc = repo.ftgate("check")
    assert proc.returncode == 1 and "is deleted by this change" in proc.stderr


def test_ambiguous_state_fails_closed_with_the_readers_lines(repo: Repo) -> None:
    folder = ticket_at(repo, 4, unlocked=True)
    state = repo.path / folder / "workflow-state.md"
    state.write_text(state.read_text() + "\n- Code Edit Permission: `Locked`\n")
    repo.write("src/train.py", "print('x')\n")
    repo.git("add", "-A")
    proc = repo.ftgate("check")
    assert proc.returncode == 1
    assert f"{folder}/workflow-state.md:" in proc.stderr and "Code Edit Permission" in proc.stderr


def test_odd_file_names_symlinks_submodules_binaries(repo: Repo, tmp_path: Path) -> None:
    ticket_at(repo, 2)
    names = ["with space.py", "new\nline.py", "-leading-dash.py"]
    for name in names:
        repo.write(name, "x\n")
    raw = os.fsencode(str(repo.path)) + b"/caf\xe9.py"
    with open(raw, "wb") as fh:
        fh.write(b"\x00\x01binary")
    os.symlink("src/train.py", repo.path / "link.py")
    sub = init_repo(tmp_path / "sub", repo.env)
    sub.write("a.txt", "a\n")
    sub.commit("sub")
    repo.git("-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub.path), "vendored")
    repo.git("add", "-A")
    proc = repo.ftgate("check")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for shown in ("added with space.py", 'added "new\\nline.py"', "added -leading-dash.py",
                  'added "caf\\xe9.py"', "added link.py", "added vendored", "added .gitmodules"):
        assert shown in proc.stderr, shown


def test_no_ticket_in_progress_says_how_to_start(repo: Repo) -> None:
    repo.write("src/train.py", "print('x')\n")
    repo.git("add", "-A")
    proc = repo.ftgate("check")
    assert proc.returncode == 1 and "ftgate ticket new" in proc.stderr


def test_branch_names_the_ticket(repo: Repo) -> None:
    ticket_at(repo, 4, unlocked=True, name="a")
    ticket_at(repo, 2, name="b")
    repo.write("src/train.py", "print('x')\n")
    repo.git("add", "-A")
    proc = repo.ftgate("check")
    # On a branch that names no ticket, the one ticket the commit carries at
    # Stage 4 Unlocked governs (a fast-forward of codex/a's commits is judged
    # the same way); a second unlocked ticket makes it ambiguous.
    assert proc.returncode == 0, proc.stderr
    repo.git("reset", "-q")
    ticket_at(repo, 4, unlocked=True, name="c")
    repo.git("add", "-A")
    proc = repo.ftgate("check")
    assert proc.returncode == 1 and "several tickets are at Stage 4 Unlocked" in proc.stderr
    repo.git("checkout", "-q", "-b", "codex/a")
    assert repo.ftgate("check").returncode == 0
    repo.git("checkout", "-q", "-b", "codex/b")
    assert repo.ftgate("check").returncode == 1
    env = dict(repo.env, FTGATE_TICKET="a")
    assert repo.ftgate("check", env=env).returncode == 0
