"""`ftgate worktree new`: base resolution, refresh, reuse, and clean failure."""

from __future__ import annotations

import pytest

from tests.support.cli import ftgate
from tests.support.gitrepo import Repos, branches, commit_file, git, worktrees
from tests.support.tickets import bootstrap_record as record
from tests.support.tickets import worktree_state_text as state_text


def test_clone_cuts_from_the_refreshed_remote_default_branch(capsys, repos: Repos) -> None:
    clone = repos.clone()
    # The server moves on after the clone: only a real refresh sees this commit.
    newer = commit_file(repos.seed, "NEWS.md", "news\n", "Newer")
    repos.push_seed("main")
    assert git(clone, "rev-parse", "origin/main") != newer

    run = ftgate(capsys, clone, "worktree", "new", "fix-tokenizer")
    assert run.code == 0, run
    path = repos.tmp / "clone-worktrees" / "fix-tokenizer"
    assert path.is_dir()
    assert git(clone, "rev-parse", "codex/fix-tokenizer~1") == newer
    assert git(clone, "log", "-1", "--format=%s", "codex/fix-tokenizer") == "Start ticket fix-tokenizer at Stage 0"
    assert git(path, "symbolic-ref", "--short", "HEAD") == "codex/fix-tokenizer"
    # No upstream: a bare `git push` from the ticket must not aim at main.
    assert git(clone, "config", "--get", "branch.codex/fix-tokenizer.merge", check=False) == ""

    rec = record(path, "fix-tokenizer")
    assert rec.mode.value == "Git"
    assert rec.user_base_branch is None  # N/A: nobody named a base
    assert (rec.resolved_base_remote, rec.resolved_base_branch) == ("origin", "main")
    assert (rec.finalization_remote, rec.finalization_branch) == ("origin", "main")
    assert rec.refresh_performed.value == "Yes"
    assert "fetched origin" in rec.refresh_result
    assert rec.worktree_path == "../clone-worktrees/fix-tokenizer"
    assert rec.ticket_branch == "codex/fix-tokenizer"
    assert "origin/HEAD" in run.out


def test_hand_added_remote_detects_the_default_branch(capsys, repos: Repos) -> None:
    hand = repos.hand()
    commit_file(hand, "local.txt", "x\n", "Local work on a local main")
    assert git(hand, "symbolic-ref", "refs/remotes/origin/HEAD", check=False) == ""

    run = ftgate(capsys, hand, "worktree", "new", "t1")
    assert run.code == 0, run
    path = repos.tmp / "hand-worktrees" / "t1"
    rec = record(path, "t1")
    assert (rec.resolved_base_remote, rec.resolved_base_branch) == ("origin", "main")
    assert git(hand, "rev-parse", "codex/t1~1") == git(repos.server, "rev-parse", "main")
    assert "set-head" in run.out


def _dangle_server_head(repos: Repos) -> None:
    """A server whose HEAD names no branch: git cannot detect its default."""
    git(repos.server, "symbolic-ref", "HEAD", "refs/heads/trunk")


def test_undetectable_default_with_main_and_master_refuses_to_guess(capsys, repos: Repos) -> None:
    git(repos.seed, "branch", "master")
    repos.push_seed("master")
    _dangle_server_head(repos)
    hand = repos.hand()
    run = ftgate(capsys, hand, "worktree", "new", "t1")
    assert run.code == 2, run
    assert "both `main` and `master`" in run.err and "--base" in run.err
    assert branches(hand) == [] and len(worktrees(hand)) == 1
    assert not (repos.tmp / "hand-worktrees").exists()


def test_undetectable_default_without_main_or_master_says_how_to_name_one(capsys, repos: Repos) -> None:
    git(repos.seed, "branch", "-m", "main", "develop")
    repos.push_seed("develop")
    git(repos.server, "branch", "-D", "main")
    _dangle_server_head(repos)
    hand = repos.hand()
    commit_file(hand, "x.txt", "x\n", "Something checked out")
    run = ftgate(capsys, hand, "worktree", "new", "t1")
    assert run.code == 2, run
    assert "cannot tell which branch" in run.err and "--base BRANCH" in run.err
    assert branches(hand) == ["main"], "never falls back to the current HEAD"

    run = ftgate(capsys, hand, "worktree", "new", "t1", "--base", "develop")
    assert run.code == 0, run
    assert git(hand, "rev-parse", "codex/t1~1") == git(repos.server, "rev-parse", "develop")


def test_single_main_is_used_when_nothing_names_a_default(capsys, repos: Repos) -> None:
    _dangle_server_head(repos)
    hand = repos.hand()
    run = ftgate(capsys, hand, "worktree", "new", "t1")
    assert run.code == 0, run
    assert record(repos.tmp / "hand-worktrees" / "t1", "t1").resolved_base_branch == "main"


def test_explicit_base(capsys, repos: Repos) -> None:
    git(repos.seed, "checkout", "-q", "release")
    release = commit_file(repos.seed, "CHANGES.md", "1.0\n", "Release notes")
    git(repos.seed, "checkout", "-q", "main")
    repos.push_seed("release")
    clone = repos.clone()

    run = ftgate(capsys, clone, "worktree", "new", "hotfix", "--base", "release")
    assert run.code == 0, run
    path = repos.tmp / "clone-worktrees" / "hotfix"
    assert git(clone, "rev-parse", "codex/hotfix~1") == release
    rec = record(path, "hotfix")
    assert rec.user_base_branch == "release"
    assert (rec.resolved_base_remote, rec.resolved_base_branch) == ("origin", "release")

    run = ftgate(capsys, clone, "worktree", "new", "hotfix2", "--base", "origin/release")
    assert run.code == 0, run
    assert git(clone, "rev-parse", "codex/hotfix2~1") == release


def test_base_that_does_not_exist_creates_nothing(capsys, repos: Repos) -> None:
    clone = repos.clone()
    run = ftgate(capsys, clone, "worktree", "new", "t1", "--base", "no-such-branch")
    assert run.code == 2, run
    assert "no-such-branch" in run.err and "does not exist" in run.err
    assert branches(clone) == ["main"]
    assert len(worktrees(clone)) == 1
    assert not (repos.tmp / "clone-worktrees").exists()


def test_unreachable_remote_stops_unless_no_fetch(capsys, repos: Repos) -> None:
    clone = repos.clone()
    git(clone, "remote", "set-url", "origin", str(repos.tmp / "gone.git"))
    run = ftgate(capsys, clone, "worktree", "new", "t1")
    assert run.code == 2, run
    assert "refreshing 'origin' failed" in run.err and "--no-fetch" in run.err
    assert branches(clone) == ["main"] and len(worktrees(clone)) == 1

    run = ftgate(capsys, clone, "worktree", "new", "t1", "--no-fetch")
    assert run.code == 0, run
    rec = record(repos.tmp / "clone-worktrees" / "t1", "t1")
    assert rec.refresh_performed.value == "No"
    assert "--no-fetch" in rec.refresh_result
    assert (rec.resolved_base_remote, rec.resolved_base_branch) == ("origin", "main")


def test_missing_remote_is_named(capsys, repos: Repos) -> None:
    clone = repos.clone()
    run = ftgate(capsys, clone, "worktree", "new", "t1", "--remote", "upstream")
    assert run.code == 2, run
    assert "no remote by that name" in run.err


def test_second_run_reuses_and_says_so(capsys, repos: Repos) -> None:
    clone = repos.clone()
    assert ftgate(capsys, clone, "worktree", "new", "t1").code == 0
    path = repos.tmp / "clone-worktrees" / "t1"
    before = state_text(path, "t1")
    head = git(clone, "rev-parse", "codex/t1~1")
    # The remote is gone now: a reuse must not even need it.
    git(clone, "remote", "set-url", "origin", str(repos.tmp / "gone.git"))

    run = ftgate(capsys, clone, "worktree", "new", "t1")
    assert run.code == 0, run
    assert "already set up" in run.out and "nothing changed" in run.out
    assert state_text(path, "t1") == before
    assert git(clone, "rev-parse", "codex/t1~1") == head
    assert len(worktrees(clone)) == 2

    # From inside the ticket's own worktree too.
    run = ftgate(capsys, path, "worktree", "new", "t1")
    assert run.code == 0 and "already set up" in run.out, run


def test_existing_branch_without_worktree_is_reused(capsys, repos: Repos) -> None:
    clone = repos.clone()
    git(clone, "branch", "codex/t1", "origin/main")
    run = ftgate(capsys, clone, "worktree", "new", "t1")
    assert run.code == 0, run
    assert "reused existing branch codex/t1" in run.out
    assert (repos.tmp / "clone-worktrees" / "t1" / "tickets" / "in-progress" / "t1").is_dir()


@pytest.mark.parametrize("bad", ["Fix Tokenizer", "../escape", "a..b", "x.lock", "-x", "a/b", "ünï"])
def test_bad_names_are_refused_before_anything_exists(capsys, repos: Repos, bad: str) -> None:
    clone = repos.clone()
    run = ftgate(capsys, clone, "worktree", "new", "--", bad)
    assert run.code == 2, run
    assert "ticket name" in run.err
    assert branches(clone) == ["main"] and len(worktrees(clone)) == 1
    assert sorted(p.name for p in repos.tmp.iterdir()) == ["clone", "seed", "server.git"]


def test_path_that_is_a_file_leaves_no_orphan_branch(capsys, repos: Repos) -> None:
    clone = repos.clone()
    blocker = repos.tmp / "blocker"
    blocker.write_text("in the way\n")
    run = ftgate(capsys, clone, "worktree", "new", "t1", "--path", str(blocker))
    assert run.code == 2, run
    assert "already exists" in run.err
    assert branches(clone) == ["main"], "git made the branch before failing; ftgate must delete it"
    assert len(worktrees(clone)) == 1
    assert blocker.read_text() == "in the way\n"


def test_failed_ticket_bootstrap_removes_worktree_branch_and_folders(capsys, repos: Repos) -> None:
    # The base holds a *file* named tickets, so the ticket folder cannot be
    # made after branch and worktree already exist.
    commit_file(repos.seed, "tickets", "not a folder\n", "A file in the way")
    repos.push_seed("main")
    clone = repos.clone()
    deep = repos.tmp / "wt" / "nested" / "t1"
    run = ftgate(capsys, clone, "worktree", "new", "t1", "--path", str(deep))
    assert run.code == 2, run
    assert "removed" in run.err and "Traceback" not in run.text
    assert branches(clone) == ["main"]
    assert len(worktrees(clone)) == 1
    assert not (repos.tmp / "wt").exists(), "folders this run made are gone"
    assert not (clone / ".git" / "worktrees" / "t1").exists()


def test_config_names_base_and_location(capsys, repos: Repos) -> None:
    clone = repos.clone()
    (clone / "ftgate.yaml").write_text("worktree:\n  base_branch: release\n  location: ../trees/{repo}\n")
    run = ftgate(capsys, clone, "worktree", "new", "t1")
    assert run.code == 0, run
    path = repos.tmp / "trees" / "clone" / "t1"
    rec = record(path, "t1")
    assert rec.resolved_base_branch == "release"
    assert "ftgate.yaml" in rec.user_base_branch


def test_config_with_unknown_key_is_refused(capsys, repos: Repos) -> None:
    clone = repos.clone()
    (clone / "ftgate.yaml").write_text("worktree:\n  base: main\n")
    run = ftgate(capsys, clone, "worktree", "new", "t1")
    assert run.code == 2, run
    assert "ftgate.yaml:2: unknown key `worktree.base`" in run.err and "base_branch" in run.err
    assert branches(clone) == ["main"]


def test_bootstrap_commit_refused_by_a_hook_leaves_nothing_behind(capsys, repos: Repos) -> None:
    clone = repos.clone()
    hook = clone / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'team policy: no commits today' >&2\nexit 1\n")
    hook.chmod(0o755)
    run = ftgate(capsys, clone, "worktree", "new", "t1")
    assert run.code == 2, run
    assert "no commits today" in run.err and "removed again" in run.err
    assert branches(clone) == ["main"] and len(worktrees(clone)) == 1
    assert not (repos.tmp / "clone-worktrees").exists()
    assert "no commits today" in hook.read_text(), "a foreign hook is left as it was"
