"""Every cell of the re-entry matrix: the allowed ones walk their path stage
by stage, the disallowed ones are refused and write nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftgate.workflow.model import GateStatus, ReentryClass, Stage
from ftgate.workflow.stages import REENTRY_MATRIX
from ftgate.workflow.state import read_state
from tests.support.cli import ftgate
from tests.support.tickets import fill

from .test_walk import NAME, walk_to

TRIGGERS = (Stage.IMPLEMENTATION, Stage.TRAINING, Stage.CODE_REVIEW, Stage.DOCS_SYNC)
CELLS = [(t, c) for t in TRIGGERS for c in ReentryClass]

EXPECTED = {  # the spec's table, written out independently of stages.py
    (4, "Local Fix"): [4], (4, "Plan Impact"): [1, 3, 4], (4, "Requirement Gap"): [2, 3, 4],
    (4, "Investigation Gap"): [1, 2, 3, 4], (4, "Unclear"): [0, 1, 2, 3, 4],
    (5, "Local Fix"): [4, 5], (5, "Plan Impact"): [1, 3, 4, 5], (5, "Requirement Gap"): [2, 3, 4, 5],
    (5, "Investigation Gap"): [1, 2, 3, 4, 5], (5, "Unclear"): [0, 1, 2, 3, 4, 5],
    (6, "Local Fix"): [4, 5, 6], (6, "Validation Gap"): [5, 6], (6, "Plan Impact"): [1, 3, 4, 5, 6],
    (6, "Requirement Gap"): [2, 3, 4, 5, 6], (6, "Investigation Gap"): [1, 2, 3, 4, 5, 6],
    (6, "Unclear"): [0, 1, 2, 3, 4, 5, 6],
    (7, "Local Fix"): [4, 5, 6, 7], (7, "Requirement Gap"): [2, 3, 4, 5, 6, 7],
    (7, "Investigation Gap"): [1, 2, 3, 4, 5, 6, 7], (7, "Unclear"): [0, 1, 2, 3, 4, 5, 6, 7],
}


def _state(folder: Path):
    return read_state((folder / "workflow-state.md").read_text(), "workflow-state.md").state


def test_matrix_data_matches_the_spec() -> None:
    table = {(int(t), c.value): [int(s) for s in path] for t, row in REENTRY_MATRIX.items() for c, path in row.items()}
    assert table == EXPECTED


@pytest.mark.parametrize("trigger,klass", CELLS, ids=lambda v: str(getattr(v, "value", v)).replace(" ", "-"))
def test_reentry_cell(capsys, tmp_path: Path, trigger: Stage, klass: ReentryClass) -> None:
    folder = walk_to(capsys, tmp_path, trigger)
    fill(folder, trigger, NAME)
    if trigger == Stage.IMPLEMENTATION:
        assert ftgate(capsys, tmp_path, "unlock").code == 0
    before = (folder / "workflow-state.md").read_bytes()
    run = ftgate(capsys, tmp_path, "reenter", "--class", klass.value, "--reason", "metric regressed")
    expected = EXPECTED.get((int(trigger), klass.value))
    if expected is None:
        assert run.code == 1, run
        assert "is not a re-entry from Stage" in run.err
        assert (folder / "workflow-state.md").read_bytes() == before
        return
    assert run.code == 0, run
    state = _state(folder)
    assert state.current_stage == expected[0]
    assert state.permission.value == "Locked"
    assert state.active_reentry and state.reentry_class == klass
    assert [int(s) for s in state.reentry.return_path] == expected
    assert state.reentry.trigger_stage == trigger
    assert state.gate(Stage(expected[0])) == GateStatus.IN_PROGRESS
    for later in expected[1:]:
        assert state.gate(Stage(later)) == GateStatus.NOT_STARTED
    assert state.transitions[-1].classification == klass.value

    # Walk the path: each gate passes again, stage by stage, in the path's order.
    visited = [int(state.current_stage)]
    while True:
        state = _state(folder)
        if not state.active_reentry:
            break
        assert ftgate(capsys, tmp_path, "advance").code == 0
        visited.append(int(_state(folder).current_stage))
    assert visited[:-1] == expected
    assert visited[-1] == int(trigger) + 1
    final = _state(folder)
    assert final.reentry_class is None and not final.active_reentry


def test_reentry_from_an_early_stage_is_refused(capsys, tmp_path: Path) -> None:
    folder = walk_to(capsys, tmp_path, Stage.REQUIREMENTS)
    run = ftgate(capsys, tmp_path, "reenter", "--class", "Unclear", "--reason", "x")
    assert run.code == 1 and "allowed: none" in run.err
    assert _state(folder).current_stage == Stage.REQUIREMENTS


def test_unlock_again_after_local_fix(capsys, tmp_path: Path) -> None:
    folder = walk_to(capsys, tmp_path, Stage.TRAINING)
    assert ftgate(capsys, tmp_path, "reenter", "--class", "Local Fix", "--reason", "off-by-one in masking").code == 0
    state = _state(folder)
    assert state.current_stage == Stage.IMPLEMENTATION and state.permission.value == "Locked"
    assert ftgate(capsys, tmp_path, "unlock").code == 0
    assert _state(folder).source_edits_allowed
    text = (folder / "workflow-state.md").read_text()
    assert "- Required Return Path: `4 -> 5`" in text
    assert "Required Upstream Artifacts To Update Before More Source Edits: `implementation.md`" in text
