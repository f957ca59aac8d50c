"""What each stage gate expects of its artifact, as data.

Every concept a gate checks (a section, a token field, a check row, a
decision line, a condition) is listed once here with every name it is
accepted under: the names of the workflow's own templates and ftgate's
older wording side by side. The first name is the one a refusal asks for.
Names are compared with :func:`name_id`, so letter case, punctuation,
``And``/``and``/``&`` and a trailing ``if applicable`` never decide whether a
file passes.

Kept free of heavy imports: the commit hook may read these tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ftgate.workflow.model import Token

_TRAILING_APPLICABLE = re.compile(r"(?<![\s(])[\s(]*+\bif\s++applicable\b[\s)]*+$")
_NUMBERING = re.compile(r"^\s*+[0-9]++[.)]?+\s+")
# A label naming the ticket's own folder is the template's label with the
# name filled in: `tickets/done/intent-router/` reads as `tickets/done/<ticket-name>/`.
_TICKET_FOLDER = re.compile(r"tickets/(done|in-progress)/[^/`\s]+/?")


def name_id(text: str) -> str:
    """A name reduced to what identifies it: ``Constraints & Risks``,
    ``constraints and risks`` and ``Constraints And Risks:`` are one name,
    and so are ``X (if applicable)`` and ``X if applicable`` and ``X``."""
    lowered = _TICKET_FOLDER.sub(r"tickets/\1/<ticket-name>/", text.lower()).replace("&", " and ")
    lowered = re.sub(r"[`*_:]+", " ", lowered).strip()
    lowered = _TRAILING_APPLICABLE.sub("", lowered)
    lowered = re.sub(r"\band\b", " ", lowered)
    return re.sub(r"[^a-z0-9]", "", lowered)


def heading_name_id(text: str) -> str:
    """A heading's name: a leading number (``2. Scope``) aside."""
    return name_id(_NUMBERING.sub("", text))


@dataclass(frozen=True, slots=True)
class Expect:
    """One thing a gate looks for, under any of its accepted ``names``."""

    names: tuple[str, ...]
    hint: str = ""
    # A check row the workflow marks "if applicable": `N/A` is an honest
    # answer there, as long as the evidence cell says why.
    optional: bool = False

    @property
    def name(self) -> str:
        return self.names[0]

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(name_id(n) for n in self.names)

    def matches(self, text: str) -> bool:
        return name_id(text) in self.ids


def _e(*names: str, hint: str = "", optional: bool = False) -> Expect:
    return Expect(tuple(names), hint, optional)


class ScopeClass(Token):
    SMALL = "Small"
    MEDIUM = "Medium"
    LARGE = "Large"


# Every artifact opens with its status; `Current Status` is the workflow's key.
STATUS_KEYS: tuple[str, ...] = ("Current Status", "Status", "Document Status")

# Names of table columns, parenthesised vocabularies aside.
CHECK_COLUMN = _e("Check", "Readiness Check", "Mandatory Check", "Item")
RESULT_COLUMN = _e("Result", "Status", "Decision", "Outcome")
REASON_COLUMN = _e("Evidence", "Notes", "Reason", "Rationale")

# ------------------------------------------------------------ Stage 1

INVESTIGATION_SECTIONS: tuple[Expect, ...] = (
    _e("Task Framing", hint="what the task is and what changes for whom"),
    _e("Scope Triage", "Scope", hint="the size (`Small`, `Medium` or `Large`) and why"),
    _e("Sources Consulted", "Sources", hint="the files, commands, logs and papers read"),
    _e("Current Code And Pipeline Findings", "Code And Pipeline Findings", "Code Findings",
       "Pipeline Findings", "Code And Pipeline", hint="what the training and evaluation code does today"),
    _e("Baseline Understanding", "Baseline", hint="what the model scores today and how that was measured"),
    _e("Constraints And Risks", "Constraints", "Risks", hint="limits and what could go wrong"),
    _e("Planning Implications", hint="what the plan must take from these findings"),
)
OPEN_QUESTIONS = _e("Open Questions", hint="list them, or write `None`")
SCOPE_CLASSIFICATION = _e("Classification", "Scope Classification")

# The fixed rows of the findings table (`| Area | Findings | Evidence | ...`).
# When a person uses that table, every area is answered, `N/A` with a reason
# where it does not apply.
INVESTIGATION_AREA_COLUMN = _e("Area")
INVESTIGATION_FINDINGS_COLUMN = _e("Findings", "Finding")
INVESTIGATION_AREAS: tuple[Expect, ...] = (
    _e("Fine-Tuning Entrypoints"),
    _e("Validation / Evaluation Entrypoints"),
    _e("Inference / Serving Path Used For Validation"),
    _e("External Papers / Reference Implementations"),
    _e("Base Model / Update Strategy"),
    _e("Tokenizer / Prompt Or Chat Template"),
    _e("Data Preparation / Curation / Splits"),
    _e("Objective / Loss / Reward / Preference Flow"),
    _e("Metrics / Judge / Logging"),
    _e("Checkpointing / Resume / Merge"),
)

# ------------------------------------------------------------ Stage 2

REQUIREMENTS_BASELINE = _e("Baseline / Comparison Target", "Baseline Or Comparison Target",
                           "Baseline And Comparison Target", "Baseline", "Comparison Target")
CONDITIONS_SECTION = _e("Pass, Fail, And Inconclusive Conditions", "Pass / Fail / Inconclusive Conditions",
                        "Outcome Conditions", "Conditions", "Decision Conditions", "Success Conditions")
# condition -> (labels accepted on a line or in a table's first column, words
# that state it in a sentence)
CONDITIONS: tuple[tuple[Expect, tuple[str, ...]], ...] = (
    (_e("Pass Condition", "Pass Conditions", "Pass", "Pass If", "Passes If"), ("pass", "passes", "passed")),
    (_e("Fail Condition", "Fail Conditions", "Fail", "Fail If", "Fails If"), ("fail", "fails", "failed")),
    (_e("Inconclusive Condition", "Inconclusive Conditions", "Inconclusive", "Inconclusive If"),
     ("inconclusive",)),
)

# ------------------------------------------------------------ Stage 3

PLAN_OBJECTIVE = _e("Objective Type", "Objective")
PLAN_STRATEGY = _e("Parameter-Update Strategy", "Update Strategy", "Parameter Update Strategy")
PLAN_READY = _e("Ready to unlock code edits")
PLAN_CHECKLIST = _e("Stage 4 Entry Checklist", "Entry Checklist")
PLAN_SECTIONS: tuple[Expect, ...] = (
    _e("Data Preparation Design", "Data Preparation", hint="sources, cleaning, output schema and splits"),
    _e("Prompt, Chat Template, And Tokenization Plan", "Chat Template", "Prompt And Chat Template",
       hint="the template that renders each example"),
    _e("Prompt, Chat Template, And Tokenization Plan", "Tokenization And Masking", "Tokenization", "Masking",
       hint="tokenizer, special tokens, truncation and which tokens carry the loss"),
    _e("Training Recipe", hint="trainer, hyperparameters and budget"),
    _e("Evaluation And Validation Plan", "Evaluation Plan", hint="held-out data, metrics, generation settings"),
    _e("Run Matrix", hint="one row per run, ids `RUN-001`..."),
    _e("Reproducibility Plan", "Reproducibility", hint="seeds, versions and what is recorded"),
    _e("Implementation Handoff", "Work Items", hint="one row per work item, ids `W-001`..."),
)

# ------------------------------------------------------------ Stage 4

IMPLEMENTATION_CONSUME = _e("Can Stage 5 consume these artifacts without further mutation")
IMPLEMENTATION_HANDOFF = _e("Stage 5 Handoff")
READINESS_CHECKS: tuple[Expect, ...] = (
    _e("Dataset manifest or materialization resolves", "Dataset manifest resolves", optional=True),
    _e("Prompt or chat template renders expected sample", "Chat template renders the expected sample",
       "Prompt or chat template renders the expected sample", optional=True),
    _e("Tokenizer and special-token setup align with the plan", "Tokenizer and special tokens match the plan",
       optional=True),
    _e("Objective-specific labels, rewards, or trajectories resolve",
       "Objective-specific labels, rewards or trajectories resolve", optional=True),
    _e("Training entrypoint resolves", optional=True),
    _e("Validation or evaluation entrypoint resolves", "Evaluation entrypoint resolves", optional=True),
    _e("Evaluation generation settings resolve as planned", "Evaluation generation settings resolve",
       optional=True),
    _e("Critical config loads correctly", "Critical config loads", optional=True),
    _e("Output paths or permissions are correct", "Output paths and permissions are right", optional=True),
    _e("Smoke test or dry run passes", optional=True),
)

# ------------------------------------------------------------ Stage 5

REPORT_REPRODUCIBILITY = _e("Reproducibility Record", "Reproducibility")

# ------------------------------------------------------------ Stage 6

REVIEW_SECTIONS: tuple[Expect, ...] = (
    _e("Review Scope", "Scope Reviewed", "Scope", hint="the files, configs, data and evidence reviewed"),
)
REVIEW_CHECKS: tuple[Expect, ...] = (
    _e("Data leakage / split contamination"),
    _e("Data provenance / manifest integrity"),
    _e("Prompt / chat-template correctness"),
    _e("Tokenizer / special-token correctness"),
    _e("Metric correctness"),
    _e("Label / mask / target / boundary alignment"),
    _e("Preference / reward / trajectory wiring if applicable", optional=True),
    _e("Truncation / packing correctness"),
    _e("Evaluation generation-setting correctness"),
    _e("Checkpoint / update-artifact / merge semantics"),
    _e("Evaluator / judge correctness"),
    _e("Config traceability"),
    _e("Reproducibility sufficiency"),
    _e("Numerical stability risk"),
    _e("Logging / evidence sufficiency"),
)

# ------------------------------------------------------------ Stage 7

DOCS_IMPACTED = _e("Docs impacted")
DOCS_UPDATED = _e("Updated Documents", "Documents Updated")
DOCS_NO_IMPACT = _e("No-Impact Rationale", "No Impact Rationale", "Rationale")

# ------------------------------------------------------------ Stage 8

HANDOFF_SUMMARY = _e("Outcome Summary", "Summary", hint="what changed, what the evidence shows, what is left")
HANDOFF_VERIFIED = _e("User verification received")
HANDOFF_VERIFIED_BY = _e("Verified By")
HANDOFF_MOVED = _e("Ticket moved to `tickets/done/<ticket-name>/`", "Ticket moved to tickets/done")
HANDOFF_FINALIZED = _e("Repository finalization complete when applicable", "Repository finalization complete")
HANDOFF_FINALIZATION_STATUS = _e("Finalization Status")


def decision_key(stage: int) -> Expect:
    return _e(f"Stage {stage} Decision")


__all__ = [
    "CHECK_COLUMN",
    "CONDITIONS",
    "CONDITIONS_SECTION",
    "DOCS_IMPACTED",
    "DOCS_NO_IMPACT",
    "DOCS_UPDATED",
    "HANDOFF_FINALIZATION_STATUS",
    "HANDOFF_FINALIZED",
    "HANDOFF_MOVED",
    "HANDOFF_SUMMARY",
    "HANDOFF_VERIFIED",
    "HANDOFF_VERIFIED_BY",
    "IMPLEMENTATION_CONSUME",
    "IMPLEMENTATION_HANDOFF",
    "INVESTIGATION_AREAS",
    "INVESTIGATION_AREA_COLUMN",
    "INVESTIGATION_FINDINGS_COLUMN",
    "INVESTIGATION_SECTIONS",
    "OPEN_QUESTIONS",
    "PLAN_CHECKLIST",
    "PLAN_OBJECTIVE",
    "PLAN_READY",
    "PLAN_SECTIONS",
    "PLAN_STRATEGY",
    "READINESS_CHECKS",
    "REASON_COLUMN",
    "REPORT_REPRODUCIBILITY",
    "REQUIREMENTS_BASELINE",
    "RESULT_COLUMN",
    "REVIEW_CHECKS",
    "REVIEW_SECTIONS",
    "SCOPE_CLASSIFICATION",
    "STATUS_KEYS",
    "Expect",
    "ScopeClass",
    "decision_key",
    "heading_name_id",
    "name_id",
]
