"""The new worktree is protected by the installed hooks from the start."""

from __future__ import annotations

import subprocess

from tests.support.cli import ftgate
from tests.support.gitrepo import Repos, git


def _commit(path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "commit", "-q", *args], check=False, cwd=path, capture_output=True, text=True)


def test_source_commit_at_stage_0_is_refused_without_any_set_up(capsys, repos: Repos) -> None:
    clone = repos.clone()
    run = ftgate(capsys, clone, "worktree", "new", "t1")
    assert run.code == 0, run
    assert "hooks: active" in run.out
    path = repos.tmp / "clone-worktrees" / "t1"

    (path / "src" / "app.py").write_text("print('changed before a plan')\n")
    git(path, "add", "src/app.py")
    refused = _commit(path, "-m", "Edit source at Stage 0")
    assert refused.returncode != 0, refused
    said = refused.stdout + refused.stderr
    assert "src/app.py" in said and "Stage 4" in said, said
    assert "state is unknown" not in said, "the hook must know the stage from the committed bootstrap"
    assert git(path, "log", "-1", "--format=%s") == "Start ticket t1 at Stage 0", "no commit was made"

    # The same hook lets the ticket's own files through at Stage 0.
    git(path, "reset", "-q", "src/app.py")
    git(path, "checkout", "-q", "--", "src/app.py")
    notes = path / "tickets/in-progress/t1/requirements.md"
    notes.write_text(notes.read_text() + "\nA first thought.\n")
    git(path, "add", "tickets")
    allowed = _commit(path, "-m", "Note a first thought")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr


def test_hooks_path_that_bypasses_the_hooks_is_reported(capsys, repos: Repos) -> None:
    clone = repos.clone()
    elsewhere = repos.tmp / "team-hooks"
    elsewhere.mkdir()
    git(clone, "config", "core.hooksPath", str(elsewhere))
    run = ftgate(capsys, clone, "worktree", "new", "t1")
    assert run.code == 1, run
    assert "NOT active" in run.err and "core.hooksPath" in run.err
    assert list(elsewhere.iterdir()) == [], "ftgate writes nothing into a folder core.hooksPath names"
    assert (repos.tmp / "clone-worktrees" / "t1" / "tickets").is_dir(), "the worktree itself is kept"
