"""`ftgate worktree list` and `ftgate worktree remove`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.support.cli import ftgate
from tests.support.gitrepo import Repos, branches, git, worktrees


def _new(capsys, repo: Path, name: str) -> Path:
    run = ftgate(capsys, repo, "worktree", "new", name)
    assert run.code == 0, run
    return repo.parent / f"{repo.name}-worktrees" / name


def test_list_shows_stage_permission_and_dirtiness(capsys, repos: Repos) -> None:
    clone = repos.clone()
    a = _new(capsys, clone, "alpha")
    b = _new(capsys, clone, "beta")
    (a / "scratch.txt").write_text("work in progress\n")
    run = ftgate(capsys, clone, "worktree", "list", "--json")
    assert run.code == 0, run
    rows = {row["ticket"]: row for row in json.loads(run.out)}
    assert set(rows) == {"alpha", "beta"}, "the main checkout is not a ticket worktree"
    assert rows["alpha"] == {"ticket": "alpha", "branch": "codex/alpha", "path": str(a), "exists": True,
                             "dirty": True, "stage": 0, "permission": "Locked", "archived": False, "error": None}
    assert rows["beta"]["dirty"] is False, "the bootstrap is committed: a fresh worktree is clean"
    assert rows["beta"]["stage"] == 0 and rows["beta"]["path"] == str(b)

    text = ftgate(capsys, a, "worktree", "list")
    assert text.code == 0
    assert "alpha  codex/alpha  Stage 0, Locked  dirty" in text.out
    assert "beta  codex/beta  Stage 0, Locked  clean" in text.out


def test_list_outside_git_is_a_clear_error(capsys, tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    run = ftgate(capsys, tmp_path / "plain", "worktree", "list")
    assert run.code == 2 and "not inside a git repository" in run.err


def test_dirty_worktree_is_refused_then_forced_keeping_the_unmerged_branch(capsys, repos: Repos) -> None:
    clone = repos.clone()
    path = _new(capsys, clone, "t1")
    (path / "notes.txt").write_text("unsaved thoughts\n")

    run = ftgate(capsys, clone, "worktree", "remove", "t1")
    assert run.code == 1, run
    assert "uncommitted changes" in run.err and "notes.txt" in run.err and "--force" in run.err
    assert path.is_dir() and "codex/t1" in branches(clone)

    run = ftgate(capsys, clone, "worktree", "remove", "t1", "--force")
    assert run.code == 0, run
    assert not path.exists() and len(worktrees(clone)) == 1
    assert "codex/t1" in branches(clone), "an unmerged branch is never deleted"
    assert "kept branch codex/t1" in run.out and "git branch -D codex/t1" in run.out


def test_unmerged_branch_is_refused_and_merged_branch_is_deleted_out_loud(capsys, repos: Repos) -> None:
    clone = repos.clone()
    path = _new(capsys, clone, "t1")
    sha = git(clone, "rev-parse", "--short", "codex/t1")

    run = ftgate(capsys, clone, "worktree", "remove", "t1")
    assert run.code == 1, run
    assert "not merged into its recorded base" in run.err and "origin/main" in run.err
    assert path.is_dir()

    git(clone, "merge", "-q", "--no-verify", "--no-ff", "-m", "Merge t1", "codex/t1")
    run = ftgate(capsys, clone, "worktree", "remove", "t1")
    assert run.code == 0, run
    assert not path.exists()
    assert "codex/t1" not in branches(clone)
    assert f"deleted branch codex/t1 (was {sha}; merged into main)" in run.out


def test_branch_merged_on_the_remote_counts_once_fetched(capsys, repos: Repos) -> None:
    clone = repos.clone()
    _new(capsys, clone, "t1")
    # By URL, not by remote name, so origin/main stays as it was (stale).
    git(clone, "push", "-q", "--no-verify", str(repos.server), "codex/t1:main")
    assert ftgate(capsys, clone, "worktree", "remove", "t1").code == 1, "origin/main is stale until fetched"
    git(clone, "fetch", "-q", "origin")
    run = ftgate(capsys, clone, "worktree", "remove", "t1")
    assert run.code == 0, run
    assert "merged into origin/main" in run.out


def test_stale_record_is_pruned_and_base_read_from_the_branch(capsys, repos: Repos) -> None:
    clone = repos.clone()
    path = _new(capsys, clone, "t1")
    shutil.rmtree(path)  # someone deleted the folder by hand

    listed = ftgate(capsys, clone, "worktree", "list", "--json")
    assert json.loads(listed.out)[0]["exists"] is False

    run = ftgate(capsys, clone, "worktree", "remove", "t1")
    assert run.code == 1 and "origin/main" in run.err, run
    run = ftgate(capsys, clone, "worktree", "remove", "t1", "--force")
    assert run.code == 0, run
    assert "pruned stale worktree records" in run.out
    assert "kept branch codex/t1" in run.out
    assert len(worktrees(clone)) == 1


def test_remove_from_inside_the_worktree_is_refused(capsys, repos: Repos) -> None:
    clone = repos.clone()
    path = _new(capsys, clone, "t1")
    run = ftgate(capsys, path / "tickets", "worktree", "remove", "t1", "--force")
    assert run.code == 2 and "inside the worktree" in run.err, run
    assert path.is_dir()


def test_unknown_ticket(capsys, repos: Repos) -> None:
    clone = repos.clone()
    run = ftgate(capsys, clone, "worktree", "remove", "nope")
    assert run.code == 2 and "no worktree and no branch" in run.err


def test_branch_with_no_commits_of_its_own_is_merged_by_definition(capsys, repos: Repos) -> None:
    clone = repos.clone()
    path = _new(capsys, clone, "t1")
    # Someone undoes the bootstrap commit: the branch now holds nothing the base lacks.
    git(path, "reset", "-q", "--soft", "HEAD~1")
    run = ftgate(capsys, clone, "worktree", "remove", "t1", "--force")
    assert run.code == 0, run
    assert not path.exists() and "deleted branch codex/t1" in run.out
