"""Ticket contents for tests: filled-in artifacts whose gates pass, state
files at a chosen stage, and the example ticket ftgate ships."""

from __future__ import annotations

import string
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from ftgate.workflow.model import BootstrapRecord, GateStatus, Permission, Stage
from ftgate.workflow.stages import RULES
from ftgate.workflow.state import StateEditor, read_state
from ftgate.workflow.tickets import BootstrapValues, render_template
from tests.support.gitrepo import Repo

INVESTIGATION_CURRENT = """# Investigation Notes

- Status: `Current`

## Task Framing
Teach the model to answer in the house style.

## Scope Triage
Small: one adapter run.

## Sources Consulted
The base model card and our eval set.

## Code and Pipeline Findings
The trainer lives in train.py.

## Baseline Understanding
The base model scores 0.41 on the house-style rubric.

## Constraints and Risks
One GPU; eval set is small.

## Planning Implications
Adapter-based SFT is enough.

## Open Questions
None
"""

PLAN_CURRENT = """# Implementation Plan

- Status: `Current`
- Objective Type: `Supervised Fine-Tuning`
- Parameter-Update Strategy: `Adapter-Based`

## Data Preparation
Split 90/10 by conversation id.

## Chat Template
The base model's template.

## Tokenization and Masking
Loss on assistant tokens only.

## Training Recipe
LoRA r=8, 2 epochs.

## Evaluation Plan
Rubric on the held-out split.

## Run Matrix
| Run ID | Purpose | Config | Notes |
|---|---|---|---|
| RUN-001 | main | sft_lora.yaml | |

## Reproducibility Plan
Seed 1, pinned versions.

## Work Items
- W-001: data prep script

## Entry Checklist
- Ready to unlock code edits: `Yes`
"""


def state_text(name: str, stage: int, *, unlocked: bool = False, gates_pass_below: bool = True,
               bootstrap: BootstrapValues | None = None) -> str:
    record = bootstrap or BootstrapValues()
    values = {**{k: getattr(record, k) for k in BootstrapValues.__slots__}, "ticket": name,
              "date": "2024-01-01"}
    text = render_template("workflow-state.md", **values)
    parsed = read_state(text, "workflow-state.md")
    editor = StateEditor(parsed)
    if stage != 0:
        editor.set_stage(Stage(stage))
        editor.set_next_stage(Stage(stage + 1) if stage < 8 else None)
        for s in range(stage):
            if gates_pass_below:
                editor.set_gate(Stage(s), GateStatus.PASS)
        editor.set_gate(Stage(stage), GateStatus.IN_PROGRESS)
    if unlocked:
        editor.set_token("codeeditpermission", Permission.UNLOCKED)
    return editor.render()


def put_ticket(repo: Repo, name: str, stage: int, *, unlocked: bool = False, where: str = "in-progress",
               with_plan: bool = True) -> str:
    folder = f"tickets/{where}/{name}"
    repo.write(f"{folder}/workflow-state.md", state_text(name, stage, unlocked=unlocked))
    # Past Stage 2 the criteria are fixed (a later change to them is refused),
    # so a ticket made there carries the requirements its Stage 2 gate passed on.
    repo.write(f"{folder}/requirements.md", REQUIREMENTS_READY if stage >= 3 else
               render_template("requirements.md", ticket=name, date="2024-01-01"))
    if stage >= 1:
        repo.write(f"{folder}/investigation-notes.md", INVESTIGATION_CURRENT)
    if stage >= 3 and with_plan:
        repo.write(f"{folder}/implementation-plan.md", PLAN_CURRENT)
    return folder


def edit_state(repo: Repo, folder: str, change: Callable[[StateEditor], None]) -> None:
    path = repo.path / folder / "workflow-state.md"
    parsed = read_state(path.read_text(encoding="utf-8"), "workflow-state.md")
    editor = StateEditor(parsed)
    change(editor)
    path.write_text(editor.render(), encoding="utf-8")


REQUIREMENTS_READY = """# Requirements

- Status: `Plan-ready`

## Requirements

- R-001: Answers follow the house style on held-out prompts.

## Success Criteria

- SC-001 (R-001): rubric score >= 0.70 on the held-out split.

## Baseline / Comparison Target

The base model on the same split, scored with the same rubric (0.41).

## Outcome Conditions

- Pass Condition: SC-001 met by one completed run.
- Fail Condition: SC-001 below 0.70 after the planned runs.
- Inconclusive Condition: fewer than 50 prompts could be scored.
"""

IMPLEMENTATION_READY = """# Implementation

- Status: `Ready For Training`

## Change Inventory

| Change ID | Work Item | Files | Summary |
|---|---|---|---|
| C-001 | W-001 | src/train.py | data preparation and the run config |

## Readiness Checks Before Stage 5

| Check | Result | Evidence |
|---|---|---|
| Dataset manifest resolves | Pass | hashes match |
| Chat template renders the expected sample | Pass | sample rendered |
| Tokenizer and special tokens match the plan | Pass | checked |
| Objective-specific labels, rewards or trajectories resolve | Pass | mask checked |
| Training entrypoint resolves | Pass | --help runs |
| Evaluation entrypoint resolves | Pass | loads |
| Evaluation generation settings resolve | Pass | greedy |
| Critical config loads | Pass | validated |
| Output paths and permissions are right | Pass | writable |
| Smoke test or dry run passes | N/A | the run itself is small |

- Can Stage 5 consume these artifacts without further mutation: `Yes`
"""

REPORT_READY = """# Training & Validation Report

- Document Status: `Current`

## Run Registry

| Run ID | Purpose | Objective Type | Base Model | Update Strategy | Config | Seed | Dataset Manifest / Split | Prepared Data Artifact(s) | Tokenizer / Template Version | Evaluation Generation Settings | Hardware / Environment | Status | Notes |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
| RUN-001 | house style | Supervised Fine-Tuning | tiny | Adapter-Based | sft.yaml | 1 | split v1 | prepared/ | v1 | greedy | CPU | Completed | |

## Metric Summary

| Run ID | Evaluator / Judge | Metric Or Rubric | Result | Baseline | Delta | Notes |
|---|---|---|---|---|---|---|
| RUN-001 | rubric | house style | 0.78 | 0.41 | +0.37 | |

## Success Criteria Closure

| Success Criteria ID | Requirement ID | Expected Outcome | Evidence Run(s) | Observed Result | Decision | Notes |
|---|---|---|---|---|---|---|
| SC-001 | R-001 | rubric >= 0.70 | RUN-001 | 0.78 | Passed | |

## Reproducibility Record

Seed 1; config and data hashes in the run's evidence folder.

## Gate Decision

- Stage 5 Decision: `Pass`
"""


def fill_ticket(repo: Repo, folder: str, upto: int) -> None:
    """Write every artifact whose gate is left before Stage ``upto``, filled
    so that gate passes."""
    files = {1: ("investigation-notes.md", INVESTIGATION_CURRENT), 2: ("requirements.md", REQUIREMENTS_READY),
             3: ("implementation-plan.md", PLAN_CURRENT), 4: ("implementation.md", IMPLEMENTATION_READY),
             5: ("training-validation-report.md", REPORT_READY)}
    for stage, (name, text) in files.items():
        if stage < upto:
            repo.write(f"{folder}/{name}", text)


FILES_UP_TO_4 = {"investigation-notes.md": INVESTIGATION_CURRENT, "requirements.md": REQUIREMENTS_READY,
                 "implementation-plan.md": PLAN_CURRENT}


def example(name: str, ticket: str) -> str:
    """The filled-in artifact of ftgate's example ticket."""
    text = resources.files("ftgate.examples").joinpath("ticket", name).read_text(encoding="utf-8")
    return string.Template(text).safe_substitute(ticket=ticket)


def fill(folder: Path, stage: Stage, ticket: str) -> None:
    """Write what the person working on ``stage`` would write."""
    name = RULES[stage].artifact
    if stage == Stage.BOOTSTRAP:
        return
    (folder / name).write_text(example(name, ticket), encoding="utf-8")


def worktree_state_text(worktree: Path, name: str) -> str:
    return (worktree / "tickets" / "in-progress" / name / "workflow-state.md").read_text()


def bootstrap_record(worktree: Path, name: str) -> BootstrapRecord:
    return read_state(worktree_state_text(worktree, name), "workflow-state.md").state.bootstrap
