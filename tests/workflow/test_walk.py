"""A ticket walks 0 -> 8 -> done through the CLI alone, and every gate
refuses when its file is missing or says the wrong thing."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftgate.workflow.model import Stage
from ftgate.workflow.stages import RULES
from ftgate.workflow.state import read_state
from tests.support.cli import ftgate
from tests.support.tickets import fill

NAME = "color-map"


def _state(root: Path):
    text = (root / "tickets/in-progress" / NAME / "workflow-state.md").read_text()
    return read_state(text, "workflow-state.md").state


# These tests exercise the workflow engine with a hand-written Stage 5 report;
# the trainer's tests cover the default, where the gate verifies evidence.
REPORT_ONLY = "stage5_evidence: report\n"


def walk_to(capsys, root: Path, target: Stage) -> Path:
    """Create the ticket and pass every gate before ``target``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "ftgate.yaml").write_text(REPORT_ONLY)
    assert ftgate(capsys, root, "ticket", "new", NAME).code == 0
    folder = root / "tickets/in-progress" / NAME
    for stage in Stage:
        if stage == target:
            return folder
        fill(folder, stage, NAME)
        if stage == Stage.IMPLEMENTATION:
            assert ftgate(capsys, root, "unlock").code == 0
        run = ftgate(capsys, root, "advance", NAME)
        assert run.code == 0, run
    return folder


def test_full_walk_through_the_cli(capsys, tmp_path: Path) -> None:
    root = tmp_path
    (root / "ftgate.yaml").write_text(REPORT_ONLY)
    run = ftgate(capsys, root, "ticket", "new", NAME)
    assert run.code == 0, run
    folder = root / "tickets/in-progress" / NAME
    assert ftgate(capsys, root, "validate").code == 0

    for stage in Stage:
        if stage == Stage.HANDOFF:
            break
        state = _state(root)
        assert state.current_stage == stage
        if stage != Stage.BOOTSTRAP:
            # Before the person writes the stage's file, the gate refuses.
            refused = ftgate(capsys, root, "advance")
            assert refused.code == 1, refused
            assert _state(root).current_stage == stage
        fill(folder, stage, NAME)
        if stage == Stage.IMPLEMENTATION:
            assert ftgate(capsys, root, "unlock").code == 0
            assert _state(root).source_edits_allowed
        dry = ftgate(capsys, root, "advance", "--dry-run")
        assert dry.code == 0 and "would move" in dry.out
        assert _state(root).current_stage == stage
        run = ftgate(capsys, root, "advance")
        assert run.code == 0, run
        after = _state(root)
        assert after.current_stage == stage + 1
        assert after.gate(stage).value == "Pass"
        assert after.gate(Stage(stage + 1)).value == "In Progress"
        if stage == Stage.IMPLEMENTATION:
            assert after.permission.value == "Locked", "leaving Stage 4 must lock"
        assert (folder / RULES[Stage(stage + 1)].artifact).exists()

    # Stage 8: the handoff template exists; without a summary `done` refuses.
    refused = ftgate(capsys, root, "done", "--verified-by", "Dana")
    assert refused.code == 1
    assert "Summary" in refused.err
    assert folder.exists()
    assert "Verified By:\n" in (folder / "handoff-summary.md").read_text(), "a refusal writes nothing"
    fill(folder, Stage.HANDOFF, NAME)
    run = ftgate(capsys, root, "done", "--verified-by", "Dana")
    assert run.code == 0, run
    archived = root / "tickets/done" / NAME
    assert archived.is_dir() and not folder.exists()
    assert "Verified By: Dana" in (archived / "handoff-summary.md").read_text()
    state = read_state((archived / "workflow-state.md").read_text(), "x").state
    assert state.gate(Stage.HANDOFF).value == "Pass"
    assert [t.transition_id for t in state.transitions] == [f"T-{i:03d}" for i in range(1, len(state.transitions) + 1)]
    assert state.transitions[-1].to_stage == "done"
    assert ftgate(capsys, root, "status", NAME).code == 0

    run = ftgate(capsys, root, "reopen", NAME, "--stage", "7")
    assert run.code == 0, run
    state = _state(root)
    assert state.current_stage == Stage.DOCS_SYNC and state.permission.value == "Locked"
    assert state.transitions[-1].from_stage == "done"


# stage -> (text to find in its artifact, replacement, what the refusal says)
WRONG = {
    Stage.INVESTIGATION: ("- Current Status: `Current`", "- Current Status: `Draft`", "status is `Draft`"),
    Stage.REQUIREMENTS: ("exact match on the held-out set >= 0.80, greedy decoding, 8 new tokens.",
                         "answers look better.", "neither measurable"),
    Stage.PLAN: ("Ready to unlock code edits: `Yes`", "Ready to unlock code edits: `No`",
                 "Ready to unlock code edits"),
    Stage.IMPLEMENTATION: ("| Smoke test or dry run passes | N/A |", "| Smoke test or dry run passes | Fail |",
                           "Smoke test or dry run passes"),
    Stage.TRAINING: ("| SC-002 | R-002 | delta >= 0.50 | RUN-001 | +0.93 | Passed |",
                     "| SC-002 | R-002 | delta >= 0.50 | RUN-001 | +0.10 | Failed |",
                     "SC-002 is Failed"),
    Stage.CODE_REVIEW: ("| Metric correctness | Pass |", "| Metric correctness | Needs Follow-Up |",
                        "Metric correctness"),
    Stage.DOCS_SYNC: ("- Stage 7 Decision: `Pass`", "- Stage 7 Decision: `Fail`", "Stage 7 Decision is `Fail`"),
}


@pytest.mark.parametrize("stage", list(WRONG), ids=lambda s: s.name.lower())
def test_gate_refuses_missing_and_wrong_files(capsys, tmp_path: Path, stage: Stage) -> None:
    folder = walk_to(capsys, tmp_path, stage)
    artifact = folder / RULES[stage].artifact
    fill(folder, stage, NAME)
    if stage == Stage.IMPLEMENTATION:
        assert ftgate(capsys, tmp_path, "unlock").code == 0
    good = artifact.read_text()

    artifact.unlink()
    if stage != Stage.REQUIREMENTS:  # requirements.md exists from Stage 0 on
        run = ftgate(capsys, tmp_path, "advance")
        assert run.code == 1 and "is missing" in run.err, run

    find, replace, says = WRONG[stage]
    assert find in good
    artifact.write_text(good.replace(find, replace))
    before = (folder / "workflow-state.md").read_bytes()
    run = ftgate(capsys, tmp_path, "advance")
    assert run.code == 1, run
    assert says in run.err
    assert (folder / "workflow-state.md").read_bytes() == before, "a refused advance writes nothing"

    artifact.write_text(good)
    assert ftgate(capsys, tmp_path, "advance").code == 0


def test_bootstrap_gate_needs_the_record(capsys, tmp_path: Path) -> None:
    assert ftgate(capsys, tmp_path, "ticket", "new", NAME).code == 0
    state_file = tmp_path / "tickets/in-progress" / NAME / "workflow-state.md"
    text = state_file.read_text()
    state_file.write_text(text.replace("- Bootstrap Mode: `Non-Git`\n", ""))
    run = ftgate(capsys, tmp_path, "advance")
    assert run.code == 1 and "Bootstrap Mode" in run.err
    state_file.write_text(text.replace("- Resolved Base Branch: `N/A`", "- Resolved Base Branch: `main`"))
    run = ftgate(capsys, tmp_path, "advance")
    assert run.code == 1 and "Non-Git bootstrap record sets `Resolved Base Branch`" in run.err
    (tmp_path / "tickets/in-progress" / NAME / "requirements.md").unlink()
    state_file.write_text(text)
    run = ftgate(capsys, tmp_path, "advance")
    assert run.code == 1 and "requirements.md is missing" in run.err


def test_unlock_rules(capsys, tmp_path: Path) -> None:
    assert ftgate(capsys, tmp_path, "ticket", "new", NAME).code == 0
    run = ftgate(capsys, tmp_path, "unlock")
    assert run.code == 1 and "only at Stage 4" in run.err
    assert _state(tmp_path).permission.value == "Locked"


def test_unlock_needs_stage3_pass(capsys, tmp_path: Path) -> None:
    folder = walk_to(capsys, tmp_path, Stage.IMPLEMENTATION)
    state_file = folder / "workflow-state.md"
    text = state_file.read_text()
    import re

    changed = re.sub(r"\| 3 Implementation Plan \| Pass *\|", "| 3 Implementation Plan | In Progress |", text)
    assert changed != text
    state_file.write_text(changed)
    run = ftgate(capsys, tmp_path, "unlock")
    assert run.code == 1 and "Stage 3 gate" in run.err
    state_file.write_text(text)
    assert ftgate(capsys, tmp_path, "unlock").code == 0
    assert "already unlocked" in ftgate(capsys, tmp_path, "unlock").out.splitlines()[0]
    assert ftgate(capsys, tmp_path, "lock").code == 0
    assert _state(tmp_path).permission.value == "Locked"


def test_block_only_where_allowed(capsys, tmp_path: Path) -> None:
    folder = walk_to(capsys, tmp_path, Stage.TRAINING)
    run = ftgate(capsys, tmp_path, "block", "--reason", "no GPU quota this week")
    assert run.code == 0, run
    state = _state(tmp_path)
    assert state.current_stage == Stage.TRAINING and state.gate(Stage.TRAINING).value == "Blocked"
    assert "no GPU quota" in (folder / "workflow-state.md").read_text()
    fill(folder, Stage.TRAINING, NAME)
    assert ftgate(capsys, tmp_path, "advance").code == 0
    run = ftgate(capsys, tmp_path, "block", "--reason", "x")
    assert run.code == 1 and "cannot be recorded as Blocked" in run.err


def test_status_reports_what_is_missing(capsys, tmp_path: Path) -> None:
    import json

    walk_to(capsys, tmp_path, Stage.INVESTIGATION)
    run = ftgate(capsys, tmp_path, "status", "--json")
    assert run.code == 0
    payload = json.loads(run.out)
    assert payload["ticket"] == NAME and payload["stage"] == 1 and payload["permission"] == "Locked"
    assert payload["gates"]["0"] == "Pass"
    assert any("Task Framing" in f["message"] for f in payload["findings"])
    human = ftgate(capsys, tmp_path, "status")
    assert "to leave Stage 1" in human.out and "Task Framing" in human.out


def test_stage5_gate_verifies_evidence_by_default(capsys, tmp_path: Path) -> None:
    folder = walk_to(capsys, tmp_path, Stage.TRAINING)
    (tmp_path / "ftgate.yaml").unlink()
    fill(folder, Stage.TRAINING, NAME)
    run = ftgate(capsys, tmp_path, "advance")
    assert run.code == 1, run
    assert "SC-001" in run.err  # a hand-written claim with no verified run behind it
    assert _state(tmp_path).current_stage == Stage.TRAINING
    (tmp_path / "ftgate.yaml").write_text("stage5_evidence: reports\n")
    run = ftgate(capsys, tmp_path, "advance")
    assert run.code == 2 and "ftgate.yaml:1" in run.err and "stage5_evidence" in run.err
