"""`ftgate done --finalize`: merge or push the verified ticket's branch."""

from __future__ import annotations

import string
from importlib import resources
from pathlib import Path

from ftgate.workflow.model import GateStatus, Stage
from ftgate.workflow.state import StateEditor, read_state
from tests.support.cli import ftgate
from tests.support.gitrepo import Repos, branches, git

NAME = "t1"


def _example(artifact: str) -> str:
    text = resources.files("ftgate.examples").joinpath("ticket", artifact).read_text(encoding="utf-8")
    return string.Template(text).safe_substitute(ticket=NAME)


def _walk_to_handoff(capsys, worktree: Path) -> Path:
    """A ticket that has reached Stage 8, committed. Walking every gate is the
    workflow tests' job; here the state is set straight to Stage 8."""
    folder = worktree / "tickets" / "in-progress" / NAME
    state = folder / "workflow-state.md"
    editor = StateEditor(read_state(state.read_text(), "workflow-state.md"))
    for stage in Stage:
        editor.set_gate(stage, GateStatus.PASS if stage < Stage.HANDOFF else GateStatus.IN_PROGRESS)
    editor.set_stage(Stage.HANDOFF)
    editor.set_next_stage(None)
    state.write_text(editor.render())
    (folder / "handoff-summary.md").write_text(_example("handoff-summary.md").replace(
        "Finalization Status: `N/A`", "Finalization Status: `Pending`"))
    git(worktree, "add", "tickets")
    git(worktree, "commit", "-q", "--no-verify", "-m", "The ticket reached Stage 8")
    return folder


def _ticket_worktree(capsys, repos: Repos, config: str | None = None) -> tuple[Path, Path]:
    clone = repos.clone()
    if config is not None:
        (clone / "ftgate.yaml").write_text(config)
        git(clone, "add", "ftgate.yaml")
        git(clone, "commit", "-q", "--no-verify", "-m", "Configure ftgate")
        git(clone, "push", "-q", "--no-verify", "origin", "main")
    run = ftgate(capsys, clone, "worktree", "new", NAME)
    assert run.code == 0, run
    # The Stage 8 shortcut below is history the enforcement hooks rightly
    # refuse; what they say about it is their tests' business, not this file's.
    (repos.tmp / "no-hooks").mkdir(exist_ok=True)
    git(clone, "config", "core.hooksPath", str(repos.tmp / "no-hooks"))
    return clone, repos.tmp / "clone-worktrees" / NAME


def test_merge_into_the_checked_out_base(capsys, repos: Repos) -> None:
    clone, worktree = _ticket_worktree(capsys, repos)
    _walk_to_handoff(capsys, worktree)
    run = ftgate(capsys, worktree, "done", "--verified-by", "Dana", "--finalize")
    assert run.code == 0, run
    assert "merged codex/t1 into main" in run.out
    assert git(clone, "log", "-1", "--format=%s", "main") == "Merge codex/t1: ticket t1"
    archived = clone / "tickets" / "done" / NAME / "handoff-summary.md"
    text = archived.read_text()
    assert "Finalization Status: `Merged`" in text and "origin/main" in text and "Dana" in text
    assert not (clone / "tickets" / "in-progress" / NAME).exists()
    assert git(worktree, "status", "--porcelain") == ""
    # Merged now, so removing the worktree deletes the branch, and says so.
    run = ftgate(capsys, clone, "worktree", "remove", NAME)
    assert run.code == 0 and "deleted branch codex/t1" in run.out, run


def test_refusal_before_archiving_changes_nothing(capsys, repos: Repos) -> None:
    clone, worktree = _ticket_worktree(capsys, repos)
    folder = _walk_to_handoff(capsys, worktree)
    (clone / "README.md").write_text("someone is editing main\n")
    before = (folder / "workflow-state.md").read_text()
    run = ftgate(capsys, worktree, "done", "--verified-by", "Dana", "--finalize")
    assert run.code == 1, run
    assert "uncommitted changes" in run.err
    assert folder.is_dir() and (folder / "workflow-state.md").read_text() == before
    assert "Dana" not in (folder / "handoff-summary.md").read_text()


def test_push_mode_never_forces_and_undoes_a_rejected_push(capsys, repos: Repos) -> None:
    clone, worktree = _ticket_worktree(capsys, repos, "worktree:\n  finalize: push\n")
    _walk_to_handoff(capsys, worktree)
    # The server's main moves on: a push without force must be rejected.
    other = repos.clone("other")
    (other / "other.txt").write_text("x\n")
    git(other, "add", "other.txt")
    git(other, "commit", "-q", "-m", "Someone else's work")
    git(other, "push", "-q", "origin", "main")
    tip = git(worktree, "rev-parse", "HEAD")

    run = ftgate(capsys, worktree, "done", "--verified-by", "Dana", "--finalize")
    assert run.code == 1, run
    assert "refused" in run.err and "ftgate worktree finalize t1" in run.err
    assert git(worktree, "rev-parse", "HEAD") == tip, "the archive commit is taken back"
    archived = worktree / "tickets" / "done" / NAME
    assert archived.is_dir(), "the verification and the archive stay"
    assert "Finalization Status: `Pushed`" not in (archived / "handoff-summary.md").read_text()
    assert "Finalization Status: `Pushed`" not in git(worktree, "show", f":tickets/done/{NAME}/handoff-summary.md")

    # Bring the ticket branch up to date, then retry the finalization alone.
    git(worktree, "commit", "-q", "-m", "Archive t1 (retry follows)")
    git(worktree, "pull", "-q", "--no-rebase", "--no-edit", "origin", "main")
    run = ftgate(capsys, worktree, "worktree", "finalize", NAME)
    assert run.code == 0, run
    assert git(repos.server, "rev-parse", "main") == git(worktree, "rev-parse", "HEAD")
    assert "Finalization Status: `Pushed`" in git(repos.server, "show", f"main:tickets/done/{NAME}/handoff-summary.md")
    assert "codex/t1" in branches(clone)


def test_finalize_off_in_config(capsys, repos: Repos) -> None:
    _, worktree = _ticket_worktree(capsys, repos, "worktree:\n  finalize: none\n")
    folder = _walk_to_handoff(capsys, worktree)
    run = ftgate(capsys, worktree, "done", "--verified-by", "Dana", "--finalize")
    assert run.code == 2 and "turned off" in run.err, run
    assert folder.is_dir()
