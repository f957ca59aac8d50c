"""`ftgate ticket new`: a worktree by default in git, the current checkout
with --no-worktree, Non-Git mode outside git."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import ftgate
from tests.support.gitrepo import Repos, branches, worktrees
from tests.support.tickets import bootstrap_record as record


def test_in_git_it_makes_the_ticket_worktree(capsys, repos: Repos) -> None:
    clone = repos.clone()
    run = ftgate(capsys, clone, "ticket", "new", "t1")
    assert run.code == 0, run
    path = repos.tmp / "clone-worktrees" / "t1"
    assert "codex/t1" in branches(clone) and str(path) in worktrees(clone)
    assert record(path, "t1").ticket_branch == "codex/t1"
    assert not (clone / "tickets").exists(), "the main checkout stays untouched"


def test_no_worktree_bootstraps_in_the_current_checkout(capsys, repos: Repos) -> None:
    clone = repos.clone()
    run = ftgate(capsys, clone, "ticket", "new", "t1", "--no-worktree")
    assert run.code == 0, run
    assert branches(clone) == ["main"] and len(worktrees(clone)) == 1
    assert record(clone, "t1").mode.value == "Git"


def test_outside_git_is_non_git_mode(capsys, tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    run = ftgate(capsys, folder, "ticket", "new", "t1")
    assert run.code == 0, run
    rec = record(folder, "t1")
    assert rec.mode.value == "Non-Git"
    assert rec.ticket_branch is None and rec.resolved_base_branch is None and rec.worktree_path is None
    assert "| `N/A` |" not in (folder / "tickets/in-progress/t1/workflow-state.md").read_text()
    assert "Ticket Branch: `N/A`" in (folder / "tickets/in-progress/t1/workflow-state.md").read_text()


def test_worktree_options_do_not_apply_outside_git(capsys, tmp_path: Path) -> None:
    run = ftgate(capsys, tmp_path, "ticket", "new", "t1", "--path", str(tmp_path / "x"))
    assert run.code == 2 and "do not apply" in run.err
    assert not (tmp_path / "tickets").exists()
