"""``ftgate validate``: lint every artifact of a ticket.

Unlike a gate, which asks "may this stage end?", validation asks "can every
file be read without guessing, and does the state agree with itself?", at any
stage.
"""

from __future__ import annotations

from ftgate.errors import FtgateError, ReadError
from ftgate.workflow import artifacts as art
from ftgate.workflow import expectations as ex
from ftgate.workflow import markdown as md
from ftgate.workflow.findings import Finding
from ftgate.workflow.gates import DirFiles
from ftgate.workflow.model import (
    DocStatus,
    GateStatus,
    ImplementationStatus,
    ObjectiveType,
    PlanStatus,
    ReadinessResult,
    RefreshPerformed,
    RequirementsStatus,
    ReviewResult,
    Stage,
    UpdateStrategy,
)
from ftgate.workflow.stages import RULES, STATE_FILE
from ftgate.workflow.tickets import Ticket


def _lint_requirements(doc: md.Document) -> None:
    art.read_status(doc, RequirementsStatus)
    art.read_success_criteria(doc)


def _lint_notes(doc: md.Document) -> None:
    art.read_status(doc, DocStatus)
    art.read_token(doc, ex.ScopeClass, *ex.SCOPE_CLASSIFICATION.names)


def _lint_plan(doc: md.Document) -> None:
    art.read_status(doc, PlanStatus)
    art.read_token(doc, ObjectiveType, *ex.PLAN_OBJECTIVE.names)
    art.read_token(doc, UpdateStrategy, *ex.PLAN_STRATEGY.names)
    art.read_yes_no(doc, *ex.PLAN_READY.names)


def _lint_implementation(doc: md.Document) -> None:
    art.read_status(doc, ImplementationStatus)
    art.judge_checks(doc, ex.READINESS_CHECKS, ReadinessResult)
    art.read_yes_no(doc, *ex.IMPLEMENTATION_CONSUME.names)


def _lint_report(doc: md.Document) -> None:
    art.read_status(doc, DocStatus)
    art.read_run_registry(doc)
    art.read_sc_closure(doc)
    art.read_decision(doc, 5)


def _lint_review(doc: md.Document) -> None:
    art.read_status(doc, DocStatus)
    art.judge_checks(doc, ex.REVIEW_CHECKS, ReviewResult)
    art.read_decision(doc, 6)


def _lint_docs(doc: md.Document) -> None:
    art.read_status(doc, DocStatus)
    art.read_yes_no(doc, *ex.DOCS_IMPACTED.names)
    art.read_decision(doc, 7)


def _lint_handoff(doc: md.Document) -> None:
    art.read_text_field(doc, *ex.HANDOFF_VERIFIED_BY.names)
    art.read_yes_no(doc, *ex.HANDOFF_VERIFIED.names)
    art.read_yes_no(doc, *ex.HANDOFF_MOVED.names)
    art.read_token(doc, RefreshPerformed, *ex.HANDOFF_FINALIZED.names)


LINTERS = {
    "requirements.md": _lint_requirements,
    "investigation-notes.md": _lint_notes,
    "implementation-plan.md": _lint_plan,
    "implementation.md": _lint_implementation,
    "training-validation-report.md": _lint_report,
    "code-review.md": _lint_review,
    "docs-sync.md": _lint_docs,
    "handoff-summary.md": _lint_handoff,
}


def validate_ticket(ticket: Ticket) -> list[Finding]:
    files = DirFiles(ticket.folder, ticket.display)
    findings: list[Finding] = []
    try:
        state = ticket.read_state().state
    except ReadError as err:
        return [Finding(err.path, err.lines[0] if err.lines else None, err.detail, err.hint)]
    except FtgateError as err:
        return [Finding(f"{ticket.display}/{STATE_FILE}", None, str(err))]
    for name, lint in LINTERS.items():
        text = files.read(name)
        if text is None:
            continue
        try:
            lint(md.parse(text, files.label(name)))
        except ReadError as err:
            findings.append(Finding(err.path, err.lines[0] if err.lines else None, err.detail, err.hint))
    stage = state.current_stage
    for earlier in Stage:
        if earlier >= stage:
            break
        artifact = RULES[earlier].artifact
        if files.read(artifact) is None:
            findings.append(Finding(files.label(artifact), None,
                                    f"missing although the ticket is past Stage {int(earlier)}"))
        if not state.active_reentry and state.gate(earlier) != GateStatus.PASS:
            line = state.gates[earlier].line if earlier in state.gates else None
            findings.append(Finding(files.label(STATE_FILE), line,
                                    f"Stage {int(earlier)} gate is `{state.gate(earlier).value}` but the ticket is "
                                    f"at Stage {int(stage)}",
                                    hint="a stage is left only through its gate: ftgate advance"))
    if state.active_reentry and not state.reentry.return_path:
        findings.append(Finding(files.label(STATE_FILE), None,
                                "Active Re-Entry is `Yes` but no return path is declared"))
    return findings
