"""The workflow's vocabulary as types: stages, tokens and the records of
``workflow-state.md``.

Plain enums and slotted dataclasses on purpose: the pre-commit hook reads the
state on every commit and has a budget of tens of milliseconds, which an
import of pydantic alone would spend. Pydantic sees these types at the edges
(``ftgate status --json``) through ``TypeAdapter``; it is never needed to read
them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum


class Token(str, Enum):
    """An enum whose values are the exact tokens people write in the files."""

    def __str__(self) -> str:
        return str(self.value)

    @classmethod
    def tokens(cls) -> tuple[str, ...]:
        return tuple(member.value for member in cls)


class Stage(IntEnum):
    BOOTSTRAP = 0
    INVESTIGATION = 1
    REQUIREMENTS = 2
    PLAN = 3
    IMPLEMENTATION = 4
    TRAINING = 5
    CODE_REVIEW = 6
    DOCS_SYNC = 7
    HANDOFF = 8

    @property
    def title(self) -> str:
        return STAGE_TITLES[self]

    @property
    def label(self) -> str:
        """How gate tables name a stage: ``4 Implementation & Data Preparation``."""
        return f"{int(self)} {self.title}"


STAGE_TITLES: dict[Stage, str] = {
    Stage.BOOTSTRAP: "Bootstrap",
    Stage.INVESTIGATION: "Investigation",
    Stage.REQUIREMENTS: "Requirements & Success Criteria",
    Stage.PLAN: "Implementation Plan",
    Stage.IMPLEMENTATION: "Implementation & Data Preparation",
    Stage.TRAINING: "Training & Validation",
    Stage.CODE_REVIEW: "Code Review",
    Stage.DOCS_SYNC: "Docs Sync",
    Stage.HANDOFF: "Handoff",
}


class GateStatus(Token):
    NOT_STARTED = "Not Started"
    IN_PROGRESS = "In Progress"
    PASS = "Pass"
    FAIL = "Fail"
    BLOCKED = "Blocked"


class Permission(Token):
    LOCKED = "Locked"
    UNLOCKED = "Unlocked"


class YesNo(Token):
    YES = "Yes"
    NO = "No"


class ReentryClass(Token):
    LOCAL_FIX = "Local Fix"
    VALIDATION_GAP = "Validation Gap"
    PLAN_IMPACT = "Plan Impact"
    REQUIREMENT_GAP = "Requirement Gap"
    INVESTIGATION_GAP = "Investigation Gap"
    UNCLEAR = "Unclear"


class BootstrapMode(Token):
    GIT = "Git"
    NON_GIT = "Non-Git"


class RefreshPerformed(Token):
    YES = "Yes"
    NO = "No"
    NA = "N/A"


# Document status of each stage artifact (the spec gives three vocabularies).
class DocStatus(Token):
    DRAFT = "Draft"
    IN_PROGRESS = "In Progress"
    CURRENT = "Current"


class PlanStatus(Token):
    DRAFT = "Draft"
    REVIEWING = "Reviewing"
    CURRENT = "Current"


class ImplementationStatus(Token):
    DRAFT = "Draft"
    READY_FOR_EXECUTION = "Ready For Execution"
    IN_EXECUTION = "In Execution"
    READY_FOR_TRAINING = "Ready For Training"


class RequirementsStatus(Token):
    DRAFT = "Draft"
    PLAN_READY = "Plan-ready"
    REFINED = "Refined"


class ObjectiveType(Token):
    SFT = "Supervised Fine-Tuning"
    PREFERENCE = "Preference Optimization"
    RL = "Reinforcement-Style Training"
    OTHER = "Other"


class UpdateStrategy(Token):
    ADAPTER = "Adapter-Based"
    QUANTIZED_ADAPTER = "Quantized Adapter-Based"
    FULL = "Full-Parameter"
    OTHER = "Other"


class ReviewResult(Token):
    PASS = "Pass"
    FAIL = "Fail"
    NEEDS_FOLLOW_UP = "Needs Follow-Up"


class ReadinessResult(Token):
    PASS = "Pass"
    FAIL = "Fail"
    NA = "N/A"


class CriterionDecision(Token):
    PASSED = "Passed"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"
    WAIVED = "Waived"


class StageDecision(Token):
    PASS = "Pass"
    FAIL = "Fail"
    BLOCKED = "Blocked"


class RunStatus(Token):
    QUEUED = "Queued"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"


class QualitativeDecision(Token):
    GOOD = "Good"
    BAD = "Bad"
    MIXED = "Mixed"


@dataclass(slots=True)
class BootstrapRecord:
    mode: BootstrapMode | None = None
    user_base_branch: str | None = None
    resolved_base_remote: str | None = None
    resolved_base_branch: str | None = None
    finalization_remote: str | None = None
    finalization_branch: str | None = None
    refresh_performed: RefreshPerformed | None = None
    refresh_result: str | None = None
    worktree_path: str | None = None
    ticket_branch: str | None = None


@dataclass(slots=True)
class GateRow:
    stage: Stage
    status: GateStatus
    line: int | None = None
    evidence: str = ""


@dataclass(slots=True)
class TransitionRow:
    transition_id: str
    date: str
    from_stage: str
    to_stage: str
    reason: str
    classification: str
    permission_after: str
    evidence: str
    line: int | None = None


@dataclass(slots=True)
class ReentryDeclaration:
    trigger_stage: Stage | None = None
    classification: ReentryClass | None = None
    return_path: tuple[Stage, ...] = ()
    upstream_artifacts: str | None = None
    resume_condition: str | None = None


@dataclass(slots=True)
class ViolationRow:
    date: str
    violation_id: str
    violation: str
    detected_at_stage: str
    action_taken: str
    cleared: str
    line: int | None = None


@dataclass(slots=True)
class WorkflowState:
    """What ``workflow-state.md`` says, read without guessing."""

    path: str
    ticket: str | None
    current_stage: Stage
    next_stage: Stage | None = None
    permission: Permission = Permission.LOCKED
    active_reentry: bool = False
    reentry_class: ReentryClass | None = None
    last_transition_id: str | None = None
    last_updated: str | None = None
    bootstrap: BootstrapRecord = field(default_factory=BootstrapRecord)
    gates: dict[Stage, GateRow] = field(default_factory=dict)
    transitions: list[TransitionRow] = field(default_factory=list)
    reentry: ReentryDeclaration = field(default_factory=ReentryDeclaration)
    violations: list[ViolationRow] = field(default_factory=list)
    # Whether Code Edit Permission was written at all (a missing one reads
    # as Locked, the workflow's default).
    permission_written: bool = False

    @property
    def source_edits_allowed(self) -> bool:
        return self.current_stage == Stage.IMPLEMENTATION and self.permission == Permission.UNLOCKED

    def gate(self, stage: Stage) -> GateStatus:
        row = self.gates.get(stage)
        return row.status if row else GateStatus.NOT_STARTED
