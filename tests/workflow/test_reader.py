"""The reader against what people really write: at least 25 hand-written
variants of workflow-state.md and requirements.md, refusals included."""

from __future__ import annotations

import pytest

from ftgate.errors import ReadError
from ftgate.workflow import artifacts as art
from ftgate.workflow import markdown as md
from ftgate.workflow.model import GateStatus, Permission, RequirementsStatus, Stage
from ftgate.workflow.state import read_state

GATES = """
## Stage Gates
| Stage | Gate Status | Gate Rule Summary | Evidence |
|---|---|---|---|
| 0 Bootstrap | Pass | | |
| 3 Implementation Plan | `Pass` | | plan |
"""

# (id, text, stage, permission)
ACCEPTED = [
    ("bullet-backticks", "## Current Snapshot\n- Current Stage: `4`\n- Code Edit Permission: `Unlocked`\n", 4, "Unlocked"),
    ("bullet-plain", "## Current Snapshot\n- Current Stage: 4\n- Code Edit Permission: Unlocked\n", 4, "Unlocked"),
    ("no-bullet", "Current Stage: 4\nCode Edit Permission: Locked\n", 4, "Locked"),
    ("star-bullet", "* Current Stage: 2\n* Code Edit Permission: Locked\n", 2, "Locked"),
    ("lower-case-keys", "- current stage: 5\n- code edit permission: locked\n", 5, "Locked"),
    ("upper-case-keys", "- CURRENT STAGE: 5\n- CODE EDIT PERMISSION: LOCKED\n", 5, "Locked"),
    ("equals", "Current Stage = 4\nCode Edit Permission = Unlocked\n", 4, "Unlocked"),
    ("equals-no-space", "Current Stage=4\nCode Edit Permission=Unlocked\n", 4, "Unlocked"),
    ("trailing-label-dash", "- Current Stage: 6 - Code Review\n", 6, "Locked"),
    ("trailing-label-backticked", "- Current Stage: `4` - Implementation\n- Code Edit Permission: `Unlocked`\n", 4, "Unlocked"),
    ("kv-table", "| Field | Value |\n|---|---|\n| Current Stage | 4 |\n| Code Edit Permission | Unlocked |\n", 4, "Unlocked"),
    ("kv-table-no-header", "| Current Stage | 3 |\n| Code Edit Permission | Locked |\n", 3, "Locked"),
    ("kv-table-em-dash-label", "| Key | Value |\n|---|---|\n| Current Stage | 6 — Implementation |\n", 6, "Locked"),
    ("bold-keys", "- **Current Stage**: `4`\n- **Code Edit Permission**: `Unlocked`\n", 4, "Unlocked"),
    ("bold-colon-inside", "**Current Stage:** 4\n**Code Edit Permission:** Unlocked\n", 4, "Unlocked"),
    ("h1-headings", "# Current Snapshot\n- Current Stage: `1`\n# Stage Gates\n", 1, "Locked"),
    ("missing-permission-is-locked", "- Current Stage: `4`\n", 4, "Locked"),
    ("checklist-not-stage",
     ("## Current Snapshot\n- Current Stage: `2`\n## Pre-Edit Checklist\n- Current Stage is `4`: `Yes`\n"
      "- Code Edit Permission is `Unlocked`: `Yes`\n"), 2, "Locked"),
    ("same-value-twice", "- Current Stage: `4`\n\n| Current Stage | 4 |\n", 4, "Locked"),
    ("numbered-list", "1. Current Stage: 7\n2. Code Edit Permission: Locked\n", 7, "Locked"),
    ("comment-ignored", "- Current Stage: 3\n<!--\n- Current Stage: 4\n-->\n", 3, "Locked"),
    ("fenced-example-ignored", "- Current Stage: 3\n```\nCurrent Stage: 4\n```\n", 3, "Locked"),
    ("crlf-endings", "- Current Stage: `4`\r\n- Code Edit Permission: `Unlocked`\r\n", 4, "Unlocked"),
    ("permission-with-note", "- Current Stage: 4\n- Code Edit Permission: Unlocked (since T-006)\n", 4, "Unlocked"),
    ("stage-word", "- Current Stage: Stage 4\n", 4, "Locked"),
]

# (id, text, the lines the error must name, a phrase it must say)
REFUSED = [
    ("permission-twice",
     "- Current Stage: 4\n- Code Edit Permission: Locked\n\nnotes\n- Code Edit Permission: Unlocked\n", (2, 5), "2 times"),
    ("stage-twice-table-and-bullet", "- Current Stage: `4`\n| Current Stage | 5 |\n", (1, 2), "different values"),
    ("no-current-stage", "- Code Edit Permission: Unlocked\n", (), "no `Current Stage`"),
    ("stage-out-of-range", "- Current Stage: 10 - Final Handoff\n", (1,), "0-8"),
    ("stage-not-a-number", "- Current Stage: Implementation\n", (1,), "stage number"),
    ("bad-permission-token", "- Current Stage: 4\n- Code Edit Permission: Open\n", (2,), "`Locked` / `Unlocked`"),
    ("unfilled-choice", "- Current Stage: 4\n- Code Edit Permission: Locked / Unlocked\n", (2,), "expected one of"),
    ("bad-gate-token", "- Current Stage: 1\n## Stage Gates\n| Stage | Status |\n|---|---|\n| 0 Bootstrap | Done |\n",
     (5,), "gate status"),
    ("gate-rows-disagree",
     "- Current Stage: 1\n## Stage Gates\n| Stage | Status |\n|---|---|\n| 0 Bootstrap | Pass |\n| 0 Bootstrap | Fail |\n",
     (5, 6), "two gate rows"),
]


@pytest.mark.parametrize("case", ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_accepts(case) -> None:
    _, text, stage, permission = case
    state = read_state(text + GATES, "ws.md").state
    assert state.current_stage == Stage(stage)
    assert state.permission == Permission(permission)
    assert state.gate(Stage.PLAN) == GateStatus.PASS


@pytest.mark.parametrize("case", REFUSED, ids=[c[0] for c in REFUSED])
def test_refuses(case) -> None:
    _, text, lines, phrase = case
    with pytest.raises(ReadError) as info:
        read_state(text, "tickets/in-progress/t/workflow-state.md")
    err = info.value
    assert err.path == "tickets/in-progress/t/workflow-state.md"
    assert err.lines == lines
    assert phrase in str(err)
    if lines:
        assert f"workflow-state.md:{','.join(map(str, lines))}:" in str(err)


def test_gate_tables_with_other_headers() -> None:
    for header, cells in (
        ("| Stage | Status | Evidence |\n|---|---|---|\n", "| 3 Implementation Plan | `Pass` | x |\n"),
        ("| Stage | Gate | Status | Evidence |\n|---|---|---|---|\n", "| 3 Implementation Plan | plan | `Pass` | x |\n"),
    ):
        state = read_state("- Current Stage: 4\n## Stage Gates\n" + header + cells, "ws.md").state
        assert state.gate(Stage.PLAN) == GateStatus.PASS


REQUIREMENTS = [
    ("bullet-backticks", "- Status: `Plan-ready`\n", RequirementsStatus.PLAN_READY),
    ("plain", "Status: Plan-ready\n", RequirementsStatus.PLAN_READY),
    ("heading", "## Status\n\n`Refined`\n", RequirementsStatus.REFINED),
    ("heading-bullet", "## Status\n- Draft\n", RequirementsStatus.DRAFT),
    ("case", "- status: plan-ready\n", RequirementsStatus.PLAN_READY),
]


@pytest.mark.parametrize("case", REQUIREMENTS, ids=[c[0] for c in REQUIREMENTS])
def test_requirements_status_variants(case) -> None:
    _, text, expected = case
    status = art.read_status(md.parse("# Requirements\n" + text, "requirements.md"), RequirementsStatus)
    assert status is not None and status[0] == expected


def test_requirements_status_refusals() -> None:
    with pytest.raises(ReadError, match="more than once"):
        art.read_status(md.parse("- Status: Draft\n## Status\nRefined\n", "r.md"), RequirementsStatus)
    with pytest.raises(ReadError, match="expected one of"):
        art.read_status(md.parse("- Status: Approved\n", "r.md"), RequirementsStatus)


def test_success_criteria_ids() -> None:
    doc = md.parse("- SC-001 (R-001): exact match >= 0.8\n| SC-002 | R-002 | rubric |\n<!-- SC-009 -->\n", "r.md")
    found = [(c.ident, c.requirement, c.line) for c in art.read_success_criteria(doc)]
    assert found == [("SC-001", "R-001", 1), ("SC-002", "R-002", 2)]


def test_at_least_25_variants() -> None:
    assert len(ACCEPTED) + len(REFUSED) + len(REQUIREMENTS) >= 25
