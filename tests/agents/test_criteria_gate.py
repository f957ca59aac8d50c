"""The agent gate refuses, before the write, an edit of requirements.md that
changes the success criteria after Stage 2, the way the commit hook would;
wording stays free, and a write whose result is unknown before it runs (a
shell command) is left to the commit hook, as the state file is."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.enforce.test_criteria_after_stage2 import LOWERED, REQUIREMENTS
from tests.support.agents import answer as decision_of
from tests.support.agents import build_repo, claude, run_hook
from tests.support.gitrepo import Repo

REQ = "tickets/in-progress/t/requirements.md"


def at(tmp_path: Path, stage: int) -> Repo:
    repo = build_repo(tmp_path, stage)
    repo.write(REQ, REQUIREMENTS)
    repo.commit("criteria fixed at Stage 2")
    return repo


def edit(repo: Repo, old: str, new: str) -> tuple[str, str]:
    payload = claude(repo, "Edit", {"file_path": str(repo.path / REQ), "old_string": old, "new_string": new})
    return decision_of(run_hook(repo, payload))


def test_a_lowered_threshold_is_refused_before_the_write(tmp_path: Path) -> None:
    repo = at(tmp_path, 5)
    decision, reason = edit(repo, "`exact_match >= 0.8`", "`exact_match >= 0.5`")
    assert decision == "deny"
    assert "ticket 't' is at Stage 5, past Stage 2" in reason and "SC-001 changed from exact_match >= 0.8 to " \
        "exact_match >= 0.5" in reason and 'ftgate reenter t --class "Requirement Gap"' in reason, reason
    assert (repo.path / REQ).read_text() == REQUIREMENTS


def test_a_whole_file_write_is_compared_too(tmp_path: Path) -> None:
    repo = at(tmp_path, 6)
    payload = claude(repo, "Write", {"file_path": str(repo.path / REQ), "content": LOWERED})
    decision, reason = decision_of(run_hook(repo, payload))
    assert decision == "deny" and "SC-001 changed" in reason, reason
    same = claude(repo, "Write", {"file_path": str(repo.path / REQ),
                                  "content": REQUIREMENTS.replace("house style", "house voice")})
    assert decision_of(run_hook(repo, same))[0] == "none"


@pytest.mark.parametrize("stage", [2, 5])
def test_wording_is_free_and_criteria_are_open_until_stage_2_is_left(tmp_path: Path, stage: int) -> None:
    repo = at(tmp_path, stage)
    assert edit(repo, "on the held-out split.", "on the held-out prompts.")[0] == "none"
    expected = "none" if stage == 2 else "deny"
    assert edit(repo, "at least 0.3", "at least 0.1")[0] == expected


def test_a_shell_write_is_left_to_the_commit_hook(tmp_path: Path) -> None:
    repo = at(tmp_path, 5)
    payload = claude(repo, "Bash", {"command": f"sed -i 's/0.8/0.5/' {REQ}"})
    assert decision_of(run_hook(repo, payload))[0] == "none"


def test_a_reentry_not_yet_committed_is_named(tmp_path: Path) -> None:
    repo = at(tmp_path, 5)
    run = repo.ftgate("reenter", "t", "--class", "Requirement Gap", "--reason", "the bar was wrong")
    assert run.returncode == 0, run.stderr
    decision, reason = edit(repo, "`exact_match >= 0.8`", "`exact_match >= 0.5`")
    assert decision == "deny" and "HEAD's does not" in reason and "commit the state first" in reason, reason
    repo.commit("re-enter: Requirement Gap")
    assert edit(repo, "`exact_match >= 0.8`", "`exact_match >= 0.5`")[0] == "none"
