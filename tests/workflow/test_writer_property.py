"""parse -> edit -> parse changes only the edited fields, and every byte the
edit does not own stays as the person wrote it."""

from __future__ import annotations

import difflib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftgate.workflow.model import GateStatus, Permission, Stage, TransitionRow
from ftgate.workflow.state import StateEditor, read_state

FILLER = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ABCDEF0123456789.,()", min_size=0, max_size=40).filter(
    lambda s: "current stage" not in s.lower() and "permission" not in s.lower())


def kv(style: str, key: str, value: str) -> str:
    return {
        "bullet-tick": f"- {key}: `{value}`",
        "bullet": f"- {key}: {value}",
        "plain": f"{key}: {value}",
        "equals": f"{key} = {value}",
        "bold": f"- **{key}**: {value}",
        "table": f"| {key} | {value} |",
    }[style]


@st.composite
def state_files(draw):
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    style = draw(st.sampled_from(["bullet-tick", "bullet", "plain", "equals", "bold", "table"]))
    stage = draw(st.integers(0, 8))
    label = draw(st.sampled_from(["", " - " + Stage(stage).title]))
    permission = draw(st.sampled_from(["Locked", "Unlocked"]))
    lines = ["# Workflow State", ""]
    lines += draw(st.lists(FILLER, max_size=3))
    lines += ["## Current Snapshot"]
    if style == "table":
        lines += ["| Field | Value |", "|---|---|"]
    lines.append(kv(style, "Current Stage", str(stage)) + (label if style != "table" else ""))
    lines.append(kv(style, "Code Edit Permission", permission))
    if style == "table":
        lines.append("")
    lines += draw(st.lists(FILLER, max_size=3))
    gate_stages = draw(st.lists(st.integers(0, 8), unique=True, min_size=1, max_size=9))
    lines += ["", "## Stage Gates", "| Stage | Gate Status | Evidence |", "|---|---|---|"]
    for s in sorted(gate_stages):
        lines.append(f"| {Stage(s).label} | {draw(st.sampled_from(['Not Started', 'Pass', 'In Progress']))} | |")
    lines += ["", "## Notes"] + draw(st.lists(FILLER, max_size=4))
    lines += ["", "## Transition Log",
              "| Transition ID | Date | From Stage | To Stage | Reason | Classification | Code Edit Permission After Transition | Evidence Updated |",
              "|---|---|---|---|---|---|---|---|",
              "| T-001 | 2026-01-01 | - | 0 | start | N/A | Locked | |"]
    lines += draw(st.lists(FILLER, max_size=2))
    return newline.join(lines) + newline, sorted(gate_stages)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), drawn=state_files())
def test_edit_changes_only_what_it_owns(data, drawn) -> None:
    text, gate_stages = drawn
    parsed = read_state(text, "ws.md")
    before = parsed.state
    new_stage = Stage(data.draw(st.integers(0, 8)))
    new_permission = data.draw(st.sampled_from(list(Permission)))
    gate_stage = Stage(data.draw(st.sampled_from(gate_stages)))
    gate_status = data.draw(st.sampled_from(list(GateStatus)))

    editor = StateEditor(parsed)
    editor.set_stage(new_stage)
    editor.set_token("codeeditpermission", new_permission)
    editor.set_gate(gate_stage, gate_status)
    editor.append_transition(TransitionRow("T-002", "2026-01-02", "1", "2", "edit", "N/A", "Locked", ""))
    out = editor.render()

    after = read_state(out, "ws.md").state
    assert after.current_stage == new_stage
    assert after.permission == new_permission
    assert after.gate(gate_stage) == gate_status
    for s in Stage:
        if s != gate_stage:
            assert after.gate(s) == before.gate(s)
    assert [t.transition_id for t in after.transitions] == ["T-001", "T-002"]
    assert after.bootstrap == before.bootstrap

    owned = {pair.value.span.line for key in ("currentstage", "codeeditpermission")
             for pair in parsed.fields.get(key, [])}
    owned.add(parsed.gate_rows[gate_stage].line)
    old_lines = text.splitlines(keepends=True)
    new_lines = out.splitlines(keepends=True)
    inserted = 0
    for op, a0, a1, b0, b1 in difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        changed = set(range(a0 + 1, a1 + 1))
        assert changed <= owned, f"untouched lines changed: {sorted(changed - owned)}"
        inserted += (b1 - b0) - (a1 - a0)
    assert inserted == 1  # exactly the new transition row
    newline = "\r\n" if "\r\n" in text else "\n"
    assert all(line.endswith(newline) for line in new_lines)
