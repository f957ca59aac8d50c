"""The exit gate of each stage, as a validator over the ticket's files.

A validator returns findings (file, line, what is missing and how to fix it),
never a bare bool, so ``ftgate advance`` can print every reason at once. The
validators read files through :class:`TicketFiles`, so the same rules judge a
ticket folder on disk, a git tree, or the index.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Protocol, TypeVar

from ftgate.errors import ReadError
from ftgate.workflow import artifacts as art
from ftgate.workflow import markdown as md
from ftgate.workflow.findings import Finding
from ftgate.workflow.model import (
    BootstrapMode,
    CriterionDecision,
    DocStatus,
    ImplementationStatus,
    ObjectiveType,
    Permission,
    PlanStatus,
    ReadinessResult,
    RefreshPerformed,
    RequirementsStatus,
    ReviewResult,
    RunStatus,
    Stage,
    StageDecision,
    UpdateStrategy,
    WorkflowState,
    YesNo,
)

E = TypeVar("E", bound=Enum)


class TicketFiles(Protocol):
    """Where a gate reads a ticket's files from."""

    def read(self, name: str) -> str | None: ...

    def label(self, name: str) -> str: ...


@dataclass(slots=True)
class DirFiles:
    folder: Path
    display: str

    def read(self, name: str) -> str | None:
        from ftgate.workflow.fileio import read_text

        path = self.folder / name
        if not path.is_file():
            return None
        return read_text(path)

    def label(self, name: str) -> str:
        return f"{self.display}/{name}"


@dataclass(slots=True)
class MappingFiles:
    files: dict[str, str]
    display: str

    def read(self, name: str) -> str | None:
        return self.files.get(name)

    def label(self, name: str) -> str:
        return f"{self.display}/{name}"


class Stage5Evidence(Protocol):
    """What the Stage 5 gate needs from the layers above the workflow: the
    ``stage5_evidence`` mode of ftgate.yaml and the evidence verifier. The
    adapter that builds the :class:`GateContext` supplies it, so this layer
    imports neither the config loader nor the evidence package."""

    def mode(self) -> str:
        """``verified`` or ``report``; asked only when the Stage 5 gate runs."""
        ...

    def findings(self, folder: Path) -> list[Finding]:
        """The evidence check's findings for the ticket folder ``folder``."""
        ...


@dataclass(slots=True)
class GateContext:
    files: TicketFiles
    state: WorkflowState
    ticket: str
    # Where the ticket lives on disk, for checks that need more than its
    # markdown (Stage 5 evidence); None when judging a git tree.
    folder: Path | None = None
    repo_root: Path | None = None
    # Needed by the Stage 5 gate whenever ``folder`` is set; without it that
    # gate refuses rather than pass unverified evidence.
    evidence: Stage5Evidence | None = None
    _docs: dict[str, md.Document | None] = field(default_factory=dict)

    def doc(self, name: str) -> md.Document | None:
        if name not in self._docs:
            text = self.files.read(name)
            self._docs[name] = None if text is None else md.parse(text, self.files.label(name))
        return self._docs[name]


def _missing(ctx: GateContext, name: str, stage: Stage) -> Finding:
    return Finding(ctx.files.label(name), None, f"{name} is missing (Stage {int(stage)} owns it)",
                   hint=f"start it from ftgate's template: ftgate ticket template {name} {ctx.ticket}")


def _need_status(ctx: GateContext, doc: md.Document, enum: type[E], wanted: tuple[E, ...],
                 stage: Stage) -> list[Finding]:
    status = art.read_status(doc, enum)
    names = " or ".join(f"`{w.value}`" for w in wanted)
    if status is None:
        return [Finding(doc.path, None, f"no status line; the Stage {int(stage)} gate needs {names}",
                        hint=f"add `- Status: {wanted[0].value}` near the top")]
    if status[0] not in wanted:
        return [Finding(doc.path, status[1], f"status is `{status[0].value}`; the Stage {int(stage)} gate needs {names}")]
    return []


def _need_sections(doc: md.Document, sections: tuple[tuple[str, ...], ...]) -> list[Finding]:
    out = []
    for names in sections:
        heading, text = art.section_text(doc, *names)
        if heading is None:
            out.append(Finding(doc.path, None, f"no `{names[0]}` section", hint=f"add `## {names[0]}` and fill it in"))
        elif not text:
            out.append(Finding(doc.path, heading.line, f"section `{names[0]}` is empty", hint="write what you found or decided"))
    return out


def _need_yes(doc: md.Document, key: str) -> list[Finding]:
    answer = art.read_yes_no(doc, key)
    if answer is None:
        return [Finding(doc.path, None, f"no `{key}` line", hint=f"add `- {key}: `Yes`` once it is true")]
    if answer[0] != YesNo.YES:
        return [Finding(doc.path, answer[1], f"`{key}` is `{answer[0].value}`, the gate needs `Yes`")]
    return []


def _need_decision(doc: md.Document, stage: Stage) -> list[Finding]:
    key = f"Stage {int(stage)} Decision"
    decision = art.read_decision(doc, int(stage))
    if decision is None:
        return [Finding(doc.path, None, f"no `{key}` line", hint=f"add `- {key}: Pass` once the stage is done")]
    if decision[0] != StageDecision.PASS:
        return [Finding(doc.path, decision[1], f"{key} is `{decision[0].value}`")]
    return []


# ----------------------------------------------------------------- stages


def gate_bootstrap(ctx: GateContext) -> list[Finding]:
    out: list[Finding] = []
    doc = ctx.doc("requirements.md")
    if doc is None:
        out.append(_missing(ctx, "requirements.md", Stage.BOOTSTRAP))
    else:
        # Stage 0 starts the requirements as a Draft. A later status of the same
        # document (Plan-ready, Refined) is a superset, which happens on a
        # re-walk after `Unclear` and when one commit carries several steps.
        out += _need_status(ctx, doc, RequirementsStatus, tuple(RequirementsStatus), Stage.BOOTSTRAP)
    record = ctx.state.bootstrap
    state_label = ctx.files.label("workflow-state.md")
    if record.mode is None:
        out.append(Finding(state_label, None, "the bootstrap record has no `Bootstrap Mode`",
                           hint="add `- Bootstrap Mode: `Git`` (or `Non-Git`) under `## Stage 0 Bootstrap Record`"))
    elif record.mode == BootstrapMode.GIT:
        for label, value in (("Ticket Branch", record.ticket_branch),
                             ("Ticket Worktree Path", record.worktree_path),
                             ("Resolved Base Branch", record.resolved_base_branch)):
            if value is None:
                out.append(Finding(state_label, None, f"Git bootstrap record has no `{label}`",
                                   hint="run `ftgate worktree new` or fill the record in"))
        if record.refresh_performed in (RefreshPerformed.YES, RefreshPerformed.NO) and record.refresh_result is None:
            out.append(Finding(state_label, None, "`Remote Refresh Result` is empty although a refresh is recorded"))
    else:
        for label, value in (("Ticket Branch", record.ticket_branch),
                             ("Resolved Base Branch", record.resolved_base_branch),
                             ("Resolved Base Remote", record.resolved_base_remote)):
            if value is not None:
                out.append(Finding(state_label, None, f"Non-Git bootstrap record sets `{label}` to {value!r}",
                                   hint="git-only fields are `N/A` in Non-Git mode"))
    return out


def gate_investigation(ctx: GateContext) -> list[Finding]:
    doc = ctx.doc("investigation-notes.md")
    if doc is None:
        return [_missing(ctx, "investigation-notes.md", Stage.INVESTIGATION)]
    out = _need_status(ctx, doc, DocStatus, (DocStatus.CURRENT,), Stage.INVESTIGATION)
    out += _need_sections(doc, (
        ("Task Framing",),
        ("Scope Triage", "Scope"),
        ("Sources Consulted", "Sources"),
        ("Code and Pipeline Findings", "Code Findings", "Pipeline Findings", "Code and Pipeline"),
        ("Baseline Understanding", "Baseline"),
        ("Constraints and Risks", "Constraints", "Risks"),
        ("Planning Implications",),
    ))
    heading, text = art.section_text(doc, "Scope Triage", "Scope")
    if heading is not None and text and not re.search(r"\b(Small|Medium|Large)\b", text):
        out.append(Finding(doc.path, heading.line, "scope triage does not say `Small`, `Medium` or `Large`"))
    if doc.find_heading("Open Questions") is None:
        out.append(Finding(doc.path, None, "no `Open Questions` section", hint="add it; write `None` if there are none"))
    return out


_MEASURABLE = re.compile(r"(\d|>=|<=|≥|≤|[<>=%]|\brubric\b|\bthreshold\b|\bat least\b|\bat most\b)", re.I)


def gate_requirements(ctx: GateContext) -> list[Finding]:
    doc = ctx.doc("requirements.md")
    if doc is None:
        return [_missing(ctx, "requirements.md", Stage.REQUIREMENTS)]
    out = _need_status(ctx, doc, RequirementsStatus, (RequirementsStatus.PLAN_READY, RequirementsStatus.REFINED),
                       Stage.REQUIREMENTS)
    requirements = {r.text for r in art.find_ids(doc, "R")}
    if not requirements:
        out.append(Finding(doc.path, None, "no requirement ids (`R-001`...)", hint="list each requirement as `- R-001: ...`"))
    criteria = art.read_success_criteria(doc)
    if not criteria:
        out.append(Finding(doc.path, None, "no success criteria ids (`SC-001`...)",
                           hint="list each criterion as `- SC-001 (R-001): metric >= threshold on the held-out set`"))
    for criterion in criteria:
        rest = criterion.text.replace(criterion.ident, "")
        if criterion.requirement:
            rest = rest.replace(criterion.requirement, "")
        if not _MEASURABLE.search(rest):
            out.append(Finding(doc.path, criterion.line,
                               f"{criterion.ident} is neither measurable nor rubric-defined",
                               hint="give a metric and threshold (e.g. `>= 0.8`) or name the rubric"))
        if criterion.requirement is None:
            out.append(Finding(doc.path, criterion.line, f"{criterion.ident} does not name the requirement it serves",
                               hint="add the R- id on the same line, e.g. `SC-001 (R-001)`"))
        elif requirements and criterion.requirement not in requirements:
            out.append(Finding(doc.path, criterion.line, f"{criterion.ident} names {criterion.requirement}, which is not defined"))
    heading, text = art.section_text(doc, "Baseline / Comparison Target", "Baseline", "Comparison Target")
    if not text and art.read_text_field(doc, "Baseline", "Comparison Target", "Baseline / Comparison Target") is None:
        out.append(Finding(doc.path, heading.line if heading else None, "no baseline or comparison target",
                           hint="state what the results are compared against under `## Baseline / Comparison Target`"))
    for condition in ("Pass Condition", "Fail Condition", "Inconclusive Condition"):
        field_value = art.read_text_field(doc, condition)
        heading, text = art.section_text(doc, condition)
        if field_value is None and not text:
            out.append(Finding(doc.path, None, f"`{condition}` is not stated", hint=f"fill `- {condition}: ...`"))
    return out


def gate_plan(ctx: GateContext) -> list[Finding]:
    doc = ctx.doc("implementation-plan.md")
    if doc is None:
        return [_missing(ctx, "implementation-plan.md", Stage.PLAN)]
    out = _need_status(ctx, doc, PlanStatus, (PlanStatus.CURRENT,), Stage.PLAN)
    if art.read_token(doc, ObjectiveType, "Objective Type", "Objective") is None:
        out.append(Finding(doc.path, None, "objective type is not stated",
                           hint="`- Objective Type: Supervised Fine-Tuning` (or Preference Optimization, "
                                "Reinforcement-Style Training, Other)"))
    if art.read_token(doc, UpdateStrategy, "Parameter-Update Strategy", "Update Strategy",
                      "Parameter Update Strategy") is None:
        out.append(Finding(doc.path, None, "parameter-update strategy is not stated",
                           hint="`- Parameter-Update Strategy: Adapter-Based` (or Quantized Adapter-Based, "
                                "Full-Parameter, Other)"))
    out += _need_sections(doc, (
        ("Data Preparation",),
        ("Chat Template",),
        ("Tokenization and Masking", "Tokenization", "Masking"),
        ("Training Recipe",),
        ("Evaluation Plan",),
        ("Run Matrix",),
        ("Reproducibility Plan", "Reproducibility"),
        ("Work Items",),
    ))
    if not art.find_ids(doc, "RUN"):
        out.append(Finding(doc.path, None, "the run matrix has no run ids (`RUN-001`...)"))
    if not art.find_ids(doc, "W"):
        out.append(Finding(doc.path, None, "no work item ids (`W-001`...)"))
    out += _need_yes(doc, "Ready to unlock code edits")
    return out


def gate_implementation(ctx: GateContext) -> list[Finding]:
    doc = ctx.doc("implementation.md")
    if doc is None:
        return [_missing(ctx, "implementation.md", Stage.IMPLEMENTATION)]
    out = _need_status(ctx, doc, ImplementationStatus, (ImplementationStatus.READY_FOR_TRAINING,),
                       Stage.IMPLEMENTATION)
    if not art.find_ids(doc, "C"):
        out.append(Finding(doc.path, None, "the change inventory has no change ids (`C-001`...)"))
    results = art.check_results(doc, art.READINESS_CHECKS, ReadinessResult)
    for name in art.READINESS_CHECKS:
        entry = results.get(art._check_name_id(name))
        if entry is None:
            out.append(Finding(doc.path, None, f"readiness check {name!r} is missing"))
        elif entry[1] not in (ReadinessResult.PASS, ReadinessResult.NA):
            shown = entry[0].result_text or "empty"
            out.append(Finding(doc.path, entry[0].line, f"readiness check {name!r} is {shown}, needs `Pass` or `N/A`"))
    out += _need_yes(doc, "Can Stage 5 consume these artifacts without further mutation")
    return out


def gate_training(ctx: GateContext) -> list[Finding]:
    doc = ctx.doc("training-validation-report.md")
    if doc is None:
        return [_missing(ctx, "training-validation-report.md", Stage.TRAINING)]
    out = _need_status(ctx, doc, DocStatus, (DocStatus.CURRENT,), Stage.TRAINING)
    runs = art.read_run_registry(doc)
    completed = {r.run_id for r in runs if r.status == RunStatus.COMPLETED}
    if not completed:
        out.append(Finding(doc.path, None, "the run registry has no `Completed` run"))
    metrics = [m for m in art.read_metric_summary(doc) if m.run_id in completed]
    if not metrics:
        out.append(Finding(doc.path, None, "the metric summary has no row for a completed run"))
    for row in metrics:
        if not row.baseline or not row.delta:
            out.append(Finding(doc.path, row.line, f"metric {row.metric!r} of {row.run_id} has no baseline or delta",
                               hint="every result is compared with the baseline"))
    closure = {row.criterion: row for row in art.read_sc_closure(doc)}
    requirements = ctx.doc("requirements.md")
    declared = [c.ident for c in art.read_success_criteria(requirements)] if requirements else []
    for ident in declared:
        closed = closure.get(ident)
        if closed is None:
            out.append(Finding(doc.path, None, f"{ident} is not closed in `Success Criteria Closure`"))
        elif closed.decision is None:
            out.append(Finding(doc.path, closed.line,
                               f"{ident} has no decision (Passed, Failed, Inconclusive or Waived)"))
        elif closed.decision == CriterionDecision.WAIVED and not closed.notes:
            out.append(Finding(doc.path, closed.line, f"{ident} is Waived without a reason in Notes"))
    heading, text = art.section_text(doc, "Reproducibility Record", "Reproducibility")
    if not text:
        out.append(Finding(doc.path, heading.line if heading else None, "the reproducibility record is empty"))
    decision_findings = _need_decision(doc, Stage.TRAINING)
    out += decision_findings
    if not decision_findings:
        for ident in declared:
            closed = closure.get(ident)
            if closed is not None and closed.decision in (CriterionDecision.FAILED, CriterionDecision.INCONCLUSIVE):
                out.append(Finding(doc.path, closed.line,
                                   f"Stage 5 Decision is Pass but {ident} is {closed.decision.value}",
                                   hint="a Pass needs every criterion Passed or Waived; otherwise decide Fail and re-enter"))
    # --- Stage 5 evidence (issue 6, owned by ftgate/evidence/verify.py) ---
    # The report's claims count only when the runs behind them verify: hashes
    # of config, data and source recomputed, decisions re-derived, the
    # report's numbers compared with metrics.json. The verifier and the mode
    # come from the adapter (ctx.evidence).
    if ctx.folder is not None:
        if ctx.evidence is None:
            out.append(Finding(ctx.files.label("training-validation-report.md"), None,
                               "the training evidence was not checked: this caller gave the Stage 5 gate no "
                               "evidence verifier", hint="report this as an ftgate bug"))
        elif ctx.evidence.mode() == "verified":
            out += ctx.evidence.findings(ctx.folder)
    # --- end Stage 5 evidence ---
    return out


def gate_code_review(ctx: GateContext) -> list[Finding]:
    doc = ctx.doc("code-review.md")
    if doc is None:
        return [_missing(ctx, "code-review.md", Stage.CODE_REVIEW)]
    out: list[Finding] = []
    results = art.check_results(doc, art.REVIEW_CHECKS, ReviewResult)
    raw = art.read_check_table(doc, art.REVIEW_CHECKS)
    for name in art.REVIEW_CHECKS:
        nid = art._check_name_id(name)
        entry = results.get(nid) if nid in raw else None
        if entry is None:
            out.append(Finding(doc.path, None, f"mandatory check {name!r} is missing"))
            continue
        row, result = entry
        if result == ReviewResult.PASS:
            continue
        if result is None and nid in art.OPTIONAL_REVIEW_CHECKS and md.key_id(row.result_text) == "na":
            continue
        out.append(Finding(doc.path, row.line, f"mandatory check {name!r} is {row.result_text or 'empty'}, needs `Pass`"))
    out += _need_decision(doc, Stage.CODE_REVIEW)
    if ctx.state.permission != Permission.LOCKED:
        out.append(Finding(ctx.files.label("workflow-state.md"), None, "code review must happen with source edits locked",
                           hint="ftgate lock"))
    return out


def gate_docs_sync(ctx: GateContext) -> list[Finding]:
    doc = ctx.doc("docs-sync.md")
    if doc is None:
        return [_missing(ctx, "docs-sync.md", Stage.DOCS_SYNC)]
    out: list[Finding] = []
    impacted = art.read_yes_no(doc, "Docs impacted", "Docs Impacted")
    if impacted is None:
        out.append(Finding(doc.path, None, "`Docs impacted` is not answered", hint="`- Docs impacted: Yes` or `No`"))
    elif impacted[0] == YesNo.YES:
        heading, text = art.section_text(doc, "Updated Documents", "Documents Updated")
        if not text:
            out.append(Finding(doc.path, heading.line if heading else None, "docs impacted but no updated documents listed"))
    else:
        heading, text = art.section_text(doc, "No-Impact Rationale", "Rationale", "No Impact Rationale")
        if not text:
            out.append(Finding(doc.path, heading.line if heading else None, "no docs impacted but no rationale given"))
    out += _need_decision(doc, Stage.DOCS_SYNC)
    return out


def gate_handoff(ctx: GateContext) -> list[Finding]:
    doc = ctx.doc("handoff-summary.md")
    if doc is None:
        return [_missing(ctx, "handoff-summary.md", Stage.HANDOFF)]
    out = _need_sections(doc, (("Summary",),))
    if art.read_text_field(doc, "Verified By") is None:
        out.append(Finding(doc.path, None, "the user's verification is not recorded",
                           hint="once the user has checked the work: ftgate done --verified-by NAME"))
    finalization = [p for p in doc.pairs_for("Finalization Status") if p.value.text.strip()]
    if ctx.state.bootstrap.mode == BootstrapMode.GIT and not finalization:
        out.append(Finding(doc.path, None, "repository finalization status is not recorded",
                           hint="`- Finalization Status: Merged` (or Pushed, Pending, N/A)"))
    return out


GATES: dict[Stage, Callable[[GateContext], list[Finding]]] = {
    Stage.BOOTSTRAP: gate_bootstrap,
    Stage.INVESTIGATION: gate_investigation,
    Stage.REQUIREMENTS: gate_requirements,
    Stage.PLAN: gate_plan,
    Stage.IMPLEMENTATION: gate_implementation,
    Stage.TRAINING: gate_training,
    Stage.CODE_REVIEW: gate_code_review,
    Stage.DOCS_SYNC: gate_docs_sync,
    Stage.HANDOFF: gate_handoff,
}


def run_gate(stage: Stage, ctx: GateContext) -> list[Finding]:
    """Run one stage's gate; an unreadable file is a finding, not a crash."""
    try:
        return GATES[stage](ctx)
    except ReadError as err:
        return [Finding(err.path, err.lines[0] if err.lines else None, err.detail, err.hint)]
