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
from ftgate.workflow import expectations as ex
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
from ftgate.workflow.state import is_empty

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


def _anchor(doc: md.Document, *sections: ex.Expect) -> int:
    """The line a refusal about something missing names: the heading of the
    section it belongs in, else the end of the file (where to add it)."""
    for expect in sections:
        found = art.find_sections(doc, expect)
        if found:
            return found[0].line
    return max(len(doc.lines), 1)


def _status_anchor(doc: md.Document) -> int:
    found = art.find_sections(doc, ex.Expect(ex.STATUS_KEYS))
    if found:
        return found[0].line
    return 1 if not doc.headings or doc.headings[0].level > 1 else doc.headings[0].line


def _need_status(ctx: GateContext, doc: md.Document, enum: type[E], wanted: tuple[E, ...],
                 stage: Stage) -> list[Finding]:
    status = art.read_status(doc, enum)
    names = " or ".join(f"`{w.value}`" for w in wanted)
    if status is None:
        return [Finding(doc.path, _status_anchor(doc), f"no status line; the Stage {int(stage)} gate needs {names}",
                        hint=f"add `- Current Status: `{wanted[0].value}`` under `## Document Status`")]
    if status[0] not in wanted:
        return [Finding(doc.path, status[1],
                        f"status is `{status[0].value}`; the Stage {int(stage)} gate needs {names}",
                        hint=f"write `{wanted[0].value}` once the stage's work is done")]
    return []


def _need_sections(doc: md.Document, sections: tuple[ex.Expect, ...]) -> list[Finding]:
    out = []
    previous: int | None = None
    for expect in sections:
        heading, text = art.section_text(doc, *expect.names)
        what = f" ({expect.hint})" if expect.hint else ""
        if heading is None:
            out.append(Finding(doc.path, previous or _status_anchor(doc), f"no `{expect.name}` section",
                               hint=f"add `## {expect.name}` and fill it in{what}"))
        elif not text:
            out.append(Finding(doc.path, heading.line, f"section `{heading.text}` is empty",
                               hint=f"write what you found or decided{what}"))
        if heading is not None:
            previous = doc.section_end(heading)
    return out


def _no_placeholders(doc: md.Document) -> list[Finding]:
    return [Finding(doc.path, line, f"a template slot is left in: {slot}",
                    hint="replace it with the real value, or delete the line")
            for line, slot in art.placeholder_lines(doc)]


def _need_yes(doc: md.Document, key: str, section: ex.Expect) -> list[Finding]:
    answer = art.read_yes_no(doc, key)
    if answer is None:
        return [Finding(doc.path, _anchor(doc, section), f"no `{key}` line",
                        hint=f"add `- {key}: `Yes`` once it is true")]
    if answer[0] != YesNo.YES:
        return [Finding(doc.path, answer[1], f"`{key}` is `{answer[0].value}`, the gate needs `Yes`",
                        hint="write `Yes` once it is true")]
    return []


_DECISION_SECTIONS = (ex.Expect(("Gate Decision", "Decision")),)


def _need_decision(doc: md.Document, stage: Stage) -> list[Finding]:
    key = f"Stage {int(stage)} Decision"
    decision = art.read_decision(doc, int(stage))
    if decision is None:
        return [Finding(doc.path, _anchor(doc, *_DECISION_SECTIONS), f"no `{key}` line",
                        hint=f"add `- {key}: `Pass`` once the stage is done")]
    if decision[0] != StageDecision.PASS:
        return [Finding(doc.path, decision[1], f"{key} is `{decision[0].value}`",
                        hint="a gate passes on `Pass`; otherwise record the re-entry: ftgate reenter --class ...")]
    return []


def _need_checks(doc: md.Document, expects: tuple[ex.Expect, ...], enum: type[E], passing: E, kind: str,
                 anchor_section: ex.Expect) -> list[Finding]:
    """Every expected check present and `Pass`; `N/A` only where the check
    allows it, and then with a reason."""
    out: list[Finding] = []
    results, anchor = art.judge_checks(doc, expects, enum)
    where = anchor or _anchor(doc, anchor_section)
    allowed = f"`{passing.value}`"
    for expect in expects:
        entry = results.get(expect.name)
        if entry is None:
            out.append(Finding(doc.path, where, f"{kind} {expect.name!r} is missing",
                               hint=f"add its row: | {expect.name} | {passing.value} | what shows it |"))
            continue
        if entry.result == passing:
            continue
        line = entry.row.line
        if art.not_applicable(entry):
            if not expect.optional:
                out.append(Finding(doc.path, line, f"{kind} {expect.name!r} is `N/A`, but it always applies",
                                   hint=f"it needs {allowed}"))
            elif is_empty(entry.reason) or art.placeholder(entry.reason) is not None:
                out.append(Finding(doc.path, line, f"{kind} {expect.name!r} is `N/A` without a reason",
                                   hint="say in its Evidence cell why it does not apply"))
            continue
        shown = entry.row.result_text or "empty"
        needs = f"{allowed} or `N/A` with a reason" if expect.optional else allowed
        out.append(Finding(doc.path, line, f"{kind} {expect.name!r} is {shown}, needs {needs}",
                           hint="run or review it and write the result with its evidence"))
    return out


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
    out += _need_sections(doc, ex.INVESTIGATION_SECTIONS)
    scope = ex.INVESTIGATION_SECTIONS[1]
    heading, text = art.section_text(doc, *scope.names)
    classified = art.read_token(doc, ex.ScopeClass, *ex.SCOPE_CLASSIFICATION.names)
    if classified is None and heading is not None and text and not re.search(r"\b(Small|Medium|Large)\b", text):
        out.append(Finding(doc.path, heading.line, "scope triage does not say `Small`, `Medium` or `Large`",
                           hint="add `- Classification: `Medium`` (or `Small`, `Large`) and why"))
    if not art.find_sections(doc, ex.OPEN_QUESTIONS):
        out.append(Finding(doc.path, max(len(doc.lines), 1), "no `Open Questions` section",
                           hint="add it; write `None` if there are none"))
    out += _investigation_areas(doc)
    out += _no_placeholders(doc)
    return out


def _investigation_areas(doc: md.Document) -> list[Finding]:
    """The findings table, where a person uses it: every area answered,
    `N/A` with a reason where an area does not apply."""
    out: list[Finding] = []
    for table in doc.tables:
        area_col = art.column(table, *ex.INVESTIGATION_AREA_COLUMN.names)
        findings_col = art.column(table, *ex.INVESTIGATION_FINDINGS_COLUMN.names)
        if area_col is None or findings_col is None:
            continue
        rows: dict[str, md.TableRow] = {}
        for row in table.rows:
            cell = row.get(area_col)
            for expect in ex.INVESTIGATION_AREAS:
                if cell is not None and expect.matches(cell.text):
                    rows.setdefault(expect.name, row)
        for expect in ex.INVESTIGATION_AREAS:
            found_row = rows.get(expect.name)
            if found_row is None:
                out.append(Finding(doc.path, table.header_line, f"findings area {expect.name!r} is missing",
                                   hint=f"add its row: | {expect.name} | what you found | where |"))
                continue
            found = found_row.get(findings_col)
            text = found.text if found else ""
            na = re.match(r"\s*n\s*/\s*a\b", text, re.IGNORECASE)
            if na:
                own = text[na.end():].strip(" -:–—()").strip()
                cell = found_row.get(art.column(table, *ex.REASON_COLUMN.names))
                reason = cell.text if cell else ""
                if not own and (is_empty(reason) or art.placeholder(reason) is not None):
                    out.append(Finding(doc.path, found_row.line,
                                       f"findings area {expect.name!r} is `N/A` without a reason",
                                       hint="say why it does not apply, in the row's Evidence cell"))
            elif is_empty(text):
                out.append(Finding(doc.path, found_row.line, f"findings area {expect.name!r} is empty",
                                   hint="write what you found, or `N/A` and why it does not apply"))
        break
    return out


_MEASURABLE = re.compile(r"([0-9]|>=|<=|≥|≤|[<>=%]|\brubric\b|\bthreshold\b|\bat least\b|\bat most\b)", re.IGNORECASE)


def gate_requirements(ctx: GateContext) -> list[Finding]:
    doc = ctx.doc("requirements.md")
    if doc is None:
        return [_missing(ctx, "requirements.md", Stage.REQUIREMENTS)]
    out = _need_status(ctx, doc, RequirementsStatus, (RequirementsStatus.PLAN_READY, RequirementsStatus.REFINED),
                       Stage.REQUIREMENTS)
    end = max(len(doc.lines), 1)
    requirements = {r.text for r in art.find_ids(doc, "R")}
    if not requirements:
        out.append(Finding(doc.path, end, "no requirement ids (`R-001`...)",
                           hint="list each requirement as `- R-001: ...`"))
    criteria = art.read_success_criteria(doc)
    if not criteria:
        out.append(Finding(doc.path, end, "no success criteria ids (`SC-001`...)",
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
            out.append(Finding(doc.path, criterion.line,
                               f"{criterion.ident} names {criterion.requirement}, which is not defined",
                               hint=f"define {criterion.requirement} under the requirements, or name another"))
    baseline = ex.REQUIREMENTS_BASELINE
    heading, text = art.section_text(doc, *baseline.names)
    if not text and art.read_text_field(doc, *baseline.names) is None:
        out.append(Finding(doc.path, heading.line if heading else end, "no baseline or comparison target",
                           hint="state what the results are compared against under `## Baseline / Comparison Target`"))
    out += _conditions(doc)
    out += _no_placeholders(doc)
    return out


def _conditions(doc: md.Document) -> list[Finding]:
    """Pass, fail and inconclusive conditions: three labelled lines, a
    table (a row per condition), or prose in the conditions section that
    states all three."""
    sections = art.find_sections(doc, ex.CONDITIONS_SECTION)
    inside = {n for h in sections for n in doc.section_lines(h)}
    prose = " ".join(md._strip_comment(doc.line_text(n)) for n in sorted(inside)
                     if not any(p.value.span.line == n for p in doc.pairs)).lower()
    out: list[Finding] = []
    for expect, words in ex.CONDITIONS:
        stated = False
        for pair in doc.pairs:
            if not expect.matches(pair.key):
                continue
            labelled = ex.name_id(pair.key).endswith(("condition", "conditions", "if"))
            if not (labelled or pair.value.span.line in inside):
                continue
            if not is_empty(pair.value.text) and art.placeholder(pair.value.text) is None:
                stated = True
        if not stated and any(re.search(rf"\b{w}\b", prose) for w in words):
            stated = True
        if not stated:
            line = sections[0].line if sections else max(len(doc.lines), 1)
            out.append(Finding(doc.path, line, f"`{expect.name}` is not stated",
                               hint=f"fill `- {expect.name}: ...` under `## {ex.CONDITIONS_SECTION.name}` "
                                    "(or state all three in one sentence or a small table)"))
    return out


def gate_plan(ctx: GateContext) -> list[Finding]:
    doc = ctx.doc("implementation-plan.md")
    if doc is None:
        return [_missing(ctx, "implementation-plan.md", Stage.PLAN)]
    out = _need_status(ctx, doc, PlanStatus, (PlanStatus.CURRENT,), Stage.PLAN)
    mode = ex.Expect(("Training Mode",))
    if art.read_token(doc, ObjectiveType, *ex.PLAN_OBJECTIVE.names) is None:
        out.append(Finding(doc.path, _anchor(doc, mode), "objective type is not stated",
                           hint="`- Objective Type: `Supervised Fine-Tuning`` (or Preference Optimization, "
                                "Reinforcement-Style Training, Other)"))
    if art.read_token(doc, UpdateStrategy, *ex.PLAN_STRATEGY.names) is None:
        out.append(Finding(doc.path, _anchor(doc, mode), "parameter-update strategy is not stated",
                           hint="`- Parameter-Update Strategy: `Adapter-Based`` (or Quantized Adapter-Based, "
                                "Full-Parameter, Other)"))
    out += _need_sections(doc, ex.PLAN_SECTIONS)
    if not art.find_ids(doc, "RUN"):
        out.append(Finding(doc.path, _anchor(doc, ex.PLAN_SECTIONS[5]), "the run matrix has no run ids (`RUN-001`...)",
                           hint="add a row per run: | RUN-001 | purpose | ... |"))
    if not art.find_ids(doc, "W"):
        out.append(Finding(doc.path, _anchor(doc, ex.PLAN_SECTIONS[7]), "no work item ids (`W-001`...)",
                           hint="add a row per work item: | W-001 | files | Create | why | validation |"))
    out += _need_yes(doc, ex.PLAN_READY.name, ex.PLAN_CHECKLIST)
    out += _no_placeholders(doc)
    return out


def gate_implementation(ctx: GateContext) -> list[Finding]:
    doc = ctx.doc("implementation.md")
    if doc is None:
        return [_missing(ctx, "implementation.md", Stage.IMPLEMENTATION)]
    out = _need_status(ctx, doc, ImplementationStatus, (ImplementationStatus.READY_FOR_TRAINING,),
                       Stage.IMPLEMENTATION)
    inventory = ex.Expect(("Change Inventory",))
    if not art.find_ids(doc, "C"):
        out.append(Finding(doc.path, _anchor(doc, inventory), "the change inventory has no change ids (`C-001`...)",
                           hint="add a row per change: | C-001 | files | Modify | purpose | Done |"))
    readiness = ex.Expect(("Readiness Checks Before Stage 5", "Readiness Checks"))
    out += _need_checks(doc, ex.READINESS_CHECKS, ReadinessResult, ReadinessResult.PASS, "readiness check",
                        readiness)
    out += _need_yes(doc, ex.IMPLEMENTATION_CONSUME.name, ex.IMPLEMENTATION_HANDOFF)
    out += _no_placeholders(doc)
    return out


def gate_training(ctx: GateContext) -> list[Finding]:
    doc = ctx.doc("training-validation-report.md")
    if doc is None:
        return [_missing(ctx, "training-validation-report.md", Stage.TRAINING)]
    out = _training_report(ctx, doc)
    reported = len(out)
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
    if len(out) > reported and ctx.evidence is not None and ctx.evidence.mode() == "verified":
        out.append(Finding("ftgate.yaml", 1, "Stage 5 verifies the evidence of the runs behind the report "
                                             "(`stage5_evidence: verified`, the default)",
                           hint="record the runs with `ftgate train`; a report written by hand with no run "
                                "behind it passes only with the opt-out `stage5_evidence: report` in ftgate.yaml"))
    return out


def _training_report(ctx: GateContext, doc: md.Document) -> list[Finding]:
    """What the report itself must say, whatever stands behind it."""
    out = _need_status(ctx, doc, DocStatus, (DocStatus.CURRENT,), Stage.TRAINING)
    registry = ex.Expect(("Run Registry",))
    runs = art.read_run_registry(doc)
    completed = {r.run_id for r in runs if r.status == RunStatus.COMPLETED}
    if not completed:
        out.append(Finding(doc.path, _anchor(doc, registry), "the run registry has no `Completed` run",
                           hint="record each run with its status (`Completed` once it finished)"))
    metrics = [m for m in art.read_metric_summary(doc) if m.run_id in completed]
    if not metrics:
        out.append(Finding(doc.path, _anchor(doc, ex.Expect(("Metric Summary",))),
                           "the metric summary has no row for a completed run",
                           hint="add | RUN-001 | evaluator | metric | result | baseline | delta | notes |"))
    for metric in metrics:
        if not metric.baseline or not metric.delta or art.placeholder(metric.baseline) or art.placeholder(metric.delta):
            out.append(Finding(doc.path, metric.line,
                               f"metric {metric.metric!r} of {metric.run_id} has no baseline or delta",
                               hint="every result is compared with the baseline"))
    closure = {row.criterion: row for row in art.read_sc_closure(doc)}
    requirements = ctx.doc("requirements.md")
    declared = [c.ident for c in art.read_success_criteria(requirements)] if requirements else []
    closure_anchor = _anchor(doc, ex.Expect(("Success Criteria Closure",)))
    for ident in declared:
        row = closure.get(ident)
        if row is None:
            out.append(Finding(doc.path, closure_anchor, f"{ident} is not closed in `Success Criteria Closure`",
                               hint=f"add its row: | {ident} | R-... | expected | RUN-... | observed | Passed | |"))
        elif row.decision is None:
            out.append(Finding(doc.path, row.line, f"{ident} has no decision (Passed, Failed, Inconclusive or Waived)",
                               hint="write the decision the evidence supports"))
        elif row.decision == CriterionDecision.WAIVED and (not row.notes or art.placeholder(row.notes)):
            out.append(Finding(doc.path, row.line, f"{ident} is Waived without a reason in Notes",
                               hint="say in Notes why it is waived and who agreed"))
    heading, text = art.section_text(doc, *ex.REPORT_REPRODUCIBILITY.names)
    if not text:
        out.append(Finding(doc.path, heading.line if heading else max(len(doc.lines), 1),
                           "the reproducibility record is empty",
                           hint="per run: commit, config, seed, data manifest, environment, checkpoint path"))
    decision_findings = _need_decision(doc, Stage.TRAINING)
    out += decision_findings
    if not decision_findings:
        for ident in declared:
            row = closure.get(ident)
            if row is not None and row.decision in (CriterionDecision.FAILED, CriterionDecision.INCONCLUSIVE):
                out.append(Finding(doc.path, row.line,
                                   f"Stage 5 Decision is Pass but {ident} is {row.decision.value}",
                                   hint="a Pass needs every criterion Passed or Waived; "
                                        "otherwise decide Fail and re-enter"))
    out += _no_placeholders(doc)
    return out


def gate_code_review(ctx: GateContext) -> list[Finding]:
    doc = ctx.doc("code-review.md")
    if doc is None:
        return [_missing(ctx, "code-review.md", Stage.CODE_REVIEW)]
    art.read_status(doc, DocStatus)  # a misspelt status is refused, whatever it says
    checks = ex.Expect(("Mandatory Checks",))
    out = _need_sections(doc, ex.REVIEW_SECTIONS)
    out += _need_checks(doc, ex.REVIEW_CHECKS, ReviewResult, ReviewResult.PASS, "mandatory check", checks)
    out += _need_decision(doc, Stage.CODE_REVIEW)
    if ctx.state.permission != Permission.LOCKED:
        out.append(Finding(ctx.files.label("workflow-state.md"), None,
                           "code review must happen with source edits locked",
                           hint="ftgate lock"))
    out += _no_placeholders(doc)
    return out


def gate_docs_sync(ctx: GateContext) -> list[Finding]:
    doc = ctx.doc("docs-sync.md")
    if doc is None:
        return [_missing(ctx, "docs-sync.md", Stage.DOCS_SYNC)]
    art.read_status(doc, DocStatus)
    out: list[Finding] = []
    impacted = art.read_yes_no(doc, *ex.DOCS_IMPACTED.names)
    if impacted is None:
        out.append(Finding(doc.path, _status_anchor(doc), "`Docs impacted` is not answered",
                           hint="`- Docs impacted: `Yes`` or `No`"))
    elif impacted[0] == YesNo.YES:
        heading, text = art.section_text(doc, *ex.DOCS_UPDATED.names)
        if not text:
            out.append(Finding(doc.path, heading.line if heading else impacted[1],
                               "docs impacted but no updated documents listed",
                               hint="list each document under `## Updated Documents`: path, what changed, why"))
    else:
        heading, text = art.section_text(doc, *ex.DOCS_NO_IMPACT.names)
        if not text:
            out.append(Finding(doc.path, heading.line if heading else impacted[1],
                               "no docs impacted but no rationale given",
                               hint="say under `## No-Impact Rationale` why no document changes"))
    out += _need_decision(doc, Stage.DOCS_SYNC)
    out += _no_placeholders(doc)
    return out


def gate_handoff(ctx: GateContext) -> list[Finding]:
    doc = ctx.doc("handoff-summary.md")
    if doc is None:
        return [_missing(ctx, "handoff-summary.md", Stage.HANDOFF)]
    out = _need_sections(doc, (ex.HANDOFF_SUMMARY,))
    end = max(len(doc.lines), 1)
    verified = art.read_yes_no(doc, *ex.HANDOFF_VERIFIED.names)
    verified_by = art.read_text_field(doc, *ex.HANDOFF_VERIFIED_BY.names)
    if verified is not None and verified[0] != YesNo.YES:
        out.append(Finding(doc.path, verified[1], "`User verification received` is `No`; the user has not verified",
                           hint="once the user has checked the work: ftgate done --verified-by NAME"))
    elif verified is None and verified_by is None:
        out.append(Finding(doc.path, end, "the user's verification is not recorded",
                           hint="once the user has checked the work: ftgate done --verified-by NAME"))
    # The move and the repository finalization happen in and after `done`,
    # so at the gate they are read (a misspelt answer is refused) but `No`
    # and `N/A` are honest answers.
    art.read_yes_no(doc, *ex.HANDOFF_MOVED.names)
    finalized = art.read_token(doc, RefreshPerformed, *ex.HANDOFF_FINALIZED.names)
    finalization = [p for p in doc.pairs_for(*ex.HANDOFF_FINALIZATION_STATUS.names) if p.value.text.strip()]
    if ctx.state.bootstrap.mode == BootstrapMode.GIT and not finalization and finalized is None:
        out.append(Finding(doc.path, end, "repository finalization status is not recorded",
                           hint="`- Repository finalization complete when applicable: `No`` (ftgate done "
                                "--finalize records `Yes`)"))
    out += _no_placeholders(doc)
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
