"""The workflow's rules as data: one row per stage, one matrix for re-entry.

Code walks these tables; nothing else in ftgate hard-codes which stage owns
which file or where a re-entry goes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ftgate.constants import STATE_FILE
from ftgate.workflow.model import ReentryClass, Stage

__all__ = ["STATE_FILE"]


@dataclass(frozen=True, slots=True)
class StageRule:
    stage: Stage
    artifact: str
    gate_summary: str
    # Where a failure may be recorded as Blocked and the ticket stays.
    blockable: bool = False


STAGE_RULES: tuple[StageRule, ...] = (
    StageRule(Stage.BOOTSTRAP, "requirements.md",
              "ticket folder, requirements.md Draft, bootstrap record filled"),
    StageRule(Stage.INVESTIGATION, "investigation-notes.md",
              "investigation notes Current with every section filled"),
    StageRule(Stage.REQUIREMENTS, "requirements.md",
              "Plan-ready/Refined; R-/SC- ids; measurable criteria; baseline; pass/fail/inconclusive"),
    StageRule(Stage.PLAN, "implementation-plan.md",
              "plan Current; objective and strategy; every plan section; Ready to unlock: Yes"),
    StageRule(Stage.IMPLEMENTATION, "implementation.md",
              "Ready For Training; C- inventory; readiness checks Pass/N/A; Stage 5 can consume: Yes"),
    StageRule(Stage.TRAINING, "training-validation-report.md",
              "report Current; runs, baseline and delta, SC closure, reproducibility; Decision Pass",
              blockable=True),
    StageRule(Stage.CODE_REVIEW, "code-review.md",
              "Decision Pass; all 15 mandatory checks Pass; reviewed locked"),
    StageRule(Stage.DOCS_SYNC, "docs-sync.md",
              "Decision Pass; docs impacted Yes with docs, or No with rationale",
              blockable=True),
    StageRule(Stage.HANDOFF, "handoff-summary.md",
              "summary written; user verified; moved to tickets/done",
              blockable=True),
)

RULES: dict[Stage, StageRule] = {rule.stage: rule for rule in STAGE_RULES}

# Every file a ticket may hold, in stage order (workflow-state.md first).
ARTIFACT_FILES: tuple[str, ...] = (STATE_FILE,) + tuple(
    dict.fromkeys(rule.artifact for rule in STAGE_RULES)
)

_LF, _VG, _PI, _RG, _IG, _UN = (
    ReentryClass.LOCAL_FIX,
    ReentryClass.VALIDATION_GAP,
    ReentryClass.PLAN_IMPACT,
    ReentryClass.REQUIREMENT_GAP,
    ReentryClass.INVESTIGATION_GAP,
    ReentryClass.UNCLEAR,
)


def _path(*stages: int) -> tuple[Stage, ...]:
    return tuple(Stage(s) for s in stages)


# trigger stage -> classification -> the stages walked, in order, each gate
# passed again. A missing cell is a classification the trigger does not allow.
REENTRY_MATRIX: dict[Stage, dict[ReentryClass, tuple[Stage, ...]]] = {
    Stage.IMPLEMENTATION: {
        _LF: _path(4),
        _PI: _path(1, 3, 4),
        _RG: _path(2, 3, 4),
        _IG: _path(1, 2, 3, 4),
        _UN: _path(0, 1, 2, 3, 4),
    },
    Stage.TRAINING: {
        _LF: _path(4, 5),
        _PI: _path(1, 3, 4, 5),
        _RG: _path(2, 3, 4, 5),
        _IG: _path(1, 2, 3, 4, 5),
        _UN: _path(0, 1, 2, 3, 4, 5),
    },
    Stage.CODE_REVIEW: {
        _LF: _path(4, 5, 6),
        _VG: _path(5, 6),
        _PI: _path(1, 3, 4, 5, 6),
        _RG: _path(2, 3, 4, 5, 6),
        _IG: _path(1, 2, 3, 4, 5, 6),
        _UN: _path(0, 1, 2, 3, 4, 5, 6),
    },
    Stage.DOCS_SYNC: {
        _LF: _path(4, 5, 6, 7),
        _RG: _path(2, 3, 4, 5, 6, 7),
        _IG: _path(1, 2, 3, 4, 5, 6, 7),
        _UN: _path(0, 1, 2, 3, 4, 5, 6, 7),
    },
}


def return_path(trigger: Stage, classification: ReentryClass) -> tuple[Stage, ...] | None:
    return REENTRY_MATRIX.get(trigger, {}).get(classification)


def format_path(path: tuple[Stage, ...]) -> str:
    return " -> ".join(str(int(s)) for s in path)


def parse_path(text: str) -> tuple[Stage, ...] | None:
    """Read a return path as people write it: ``1 -> 3 -> 4``, ``1 → 3 → 4``,
    ``1, 3, 4``. Returns None when it is not a list of stage numbers."""
    import re

    parts = [p for p in re.split(r"(?<!\s)\s*+(?:->|→|,|>)\s*+", text.strip().strip("`")) if p]
    try:
        stages = tuple(Stage(int(p)) for p in parts)
    except ValueError:
        return None
    return stages or None
