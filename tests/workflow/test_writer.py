"""The writer keeps the person's style when it changes or adds a value."""

from __future__ import annotations

from ftgate.workflow.model import GateStatus, Permission, Stage, TransitionRow
from ftgate.workflow.state import StateEditor, read_state


def edit(text: str, change) -> str:
    editor = StateEditor(read_state(text, "ws.md"))
    change(editor)
    out = editor.render()
    read_state(out, "ws.md")  # always readable afterwards
    return out


def test_missing_permission_is_added_in_the_neighbours_style() -> None:
    text = "## Current Snapshot\n- **Current Stage**: `4` - Implementation & Data Preparation\n\nnotes stay\n"
    out = edit(text, lambda e: e.set_token("codeeditpermission", Permission.UNLOCKED))
    assert out == ("## Current Snapshot\n- **Current Stage**: `4` - Implementation & Data Preparation\n"
                   "- **Code Edit Permission**: `Unlocked`\n\nnotes stay\n")


def test_missing_permission_in_a_key_value_table() -> None:
    text = "| Field | Value |\n|---|---|\n| Current Stage | 4 |\n\nafter\n"
    out = edit(text, lambda e: e.set_token("codeeditpermission", Permission.UNLOCKED))
    assert out == "| Field | Value |\n|---|---|\n| Current Stage | 4 |\n| Code Edit Permission | Unlocked |\n\nafter\n"
    assert read_state(out, "ws.md").state.permission == Permission.UNLOCKED


def test_stage_label_follows_the_stage() -> None:
    text = "- Current Stage: 4 - Implementation & Data Preparation\n- Next Stage: `5` - Training & Validation\n"

    def change(e: StateEditor) -> None:
        e.set_stage(Stage.TRAINING)
        e.set_next_stage(Stage.CODE_REVIEW)

    assert edit(text, change) == "- Current Stage: 5 - Training & Validation\n- Next Stage: `6` - Code Review\n"


def test_equals_style_and_note_after_the_token_survive() -> None:
    text = "Current Stage=4\nCode Edit Permission = Unlocked (since T-006, ask Dana)\n"
    out = edit(text, lambda e: e.set_token("codeeditpermission", Permission.LOCKED))
    assert out == "Current Stage=4\nCode Edit Permission = Locked (since T-006, ask Dana)\n"


def test_gate_cell_keeps_backticks_and_alignment() -> None:
    text = ("- Current Stage: 1\n## Stage Gates\n| Stage           | Status        |\n|---|---|\n"
            "| 0 Bootstrap     | `In Progress` |\n")
    out = edit(text, lambda e: e.set_gate(Stage.BOOTSTRAP, GateStatus.PASS))
    assert out.endswith("| 0 Bootstrap     | `Pass`        |\n")


def test_missing_gate_row_and_missing_log_are_added() -> None:
    text = "- Current Stage: 1\n## Stage Gates\n| Stage | Status |\n|---|---|\n| 0 Bootstrap | Pass |\n\n## Notes\nmine\n"

    def change(e: StateEditor) -> None:
        e.set_gate(Stage.INVESTIGATION, GateStatus.IN_PROGRESS)
        e.append_transition(TransitionRow("T-001", "2026-01-01", "0", "1", "gate passed", "N/A", "Locked", ""))

    out = edit(text, change)
    assert "| 0 Bootstrap | Pass |\n| 1 Investigation | In Progress |\n\n## Notes\nmine\n" in out
    state = read_state(out, "ws.md").state
    assert [t.transition_id for t in state.transitions] == ["T-001"]


def test_a_key_written_twice_with_one_value_is_kept_in_step() -> None:
    text = "- Current Stage: `4`\n\n| Current Stage | 4 |\n"
    out = edit(text, lambda e: e.set_stage(Stage.TRAINING))
    assert out == "- Current Stage: `5`\n\n| Current Stage | 5 |\n"
