"""Readers for the stage artifacts: their status lines and the key fields the
gates look at.

Each reader takes a parsed :class:`~ftgate.workflow.markdown.Document` and
returns plain facts with line numbers. Ambiguity (a status written twice with
different values, a token that is not one of its vocabulary) raises
:class:`~ftgate.errors.ReadError`; absence is returned as None so the gates can
say what is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar

from ftgate.errors import ReadError
from ftgate.workflow import markdown as md
from ftgate.workflow.model import (
    CriterionDecision,
    ReadinessResult,
    ReviewResult,
    RunStatus,
    StageDecision,
    YesNo,
)
from ftgate.workflow.state import expect_tokens, single_value, is_empty, parse_token

E = TypeVar("E", bound=Enum)

READINESS_CHECKS: tuple[str, ...] = (
    "Dataset manifest resolves",
    "Chat template renders the expected sample",
    "Tokenizer and special tokens match the plan",
    "Objective-specific labels, rewards or trajectories resolve",
    "Training entrypoint resolves",
    "Evaluation entrypoint resolves",
    "Evaluation generation settings resolve",
    "Critical config loads",
    "Output paths and permissions are right",
    "Smoke test or dry run passes",
)

REVIEW_CHECKS: tuple[str, ...] = (
    "Data leakage / split contamination",
    "Data provenance / manifest integrity",
    "Prompt / chat-template correctness",
    "Tokenizer / special-token correctness",
    "Metric correctness",
    "Label / mask / target / boundary alignment",
    "Preference / reward / trajectory wiring (if applicable)",
    "Truncation / packing correctness",
    "Evaluation generation-setting correctness",
    "Checkpoint / update-artifact / merge semantics",
    "Evaluator / judge correctness",
    "Config traceability",
    "Reproducibility sufficiency",
    "Numerical stability risk",
    "Logging / evidence sufficiency",
)
# The one check the spec marks "if applicable": N/A is an honest answer there.
OPTIONAL_REVIEW_CHECKS = {md.key_id("Preference / reward / trajectory wiring")}

# Placeholder results in ftgate's templates: present but not done.
PENDING_RESULTS = {"notrun", "notreviewed", "pending", ""}


@dataclass(frozen=True, slots=True)
class Located:
    text: str
    line: int


def _check_name_id(name: str) -> str:
    """Match check names loosely: ``(if applicable)`` and punctuation aside."""
    return md.key_id(re.sub(r"\(if applicable\)", "", name, flags=re.I))


def read_status(doc: md.Document, enum: type[E], *keys: str) -> tuple[E, int] | None:
    """The document's status: ``- Status: `X```, ``Status: X``, or a
    ``## Status`` heading followed by the value on its next non-empty line."""
    keys = keys or ("Status", "Document Status")
    pairs = doc.pairs_for(*keys)
    candidates: list[tuple[str, int]] = [(p.value.text, p.value.span.line) for p in pairs]
    heading = doc.find_heading(*keys)
    if heading is not None:
        for number in doc.section_lines(heading):
            text = doc.line_text(number).strip()
            if not text:
                continue
            text = re.sub(r"^[-*+]\s+", "", text).strip().strip("`*_ ").strip()
            candidates.append((text, number))
            break
    if not candidates:
        return None
    distinct = {md.key_id(t) for t, _ in candidates}
    if len(distinct) > 1:
        raise ReadError(
            doc.path, tuple(n for _, n in candidates),
            "the status is written more than once with different values ("
            + "; ".join(f"line {n}: {t!r}" for t, n in candidates) + ")",
            hint="keep one status line",
        )
    text, number = candidates[0]
    if is_empty(text):
        return None
    parsed = parse_token(enum, text)
    if parsed is None:
        raise ReadError(doc.path, (number,), f"status is {text!r}, expected one of {expect_tokens(enum)}")
    return parsed[0], number


def read_token(doc: md.Document, enum: type[E], *keys: str) -> tuple[E, int] | None:
    """A single ``Key: token`` field anywhere in the document."""
    kv = single_value(doc, doc.pairs_for(*keys), keys[0])
    if kv is None or is_empty(kv.value.text):
        return None
    parsed = parse_token(enum, kv.value.text)
    if parsed is None:
        raise ReadError(doc.path, (kv.value.span.line,),
                        f"`{keys[0]}` is {kv.value.text!r}, expected one of {expect_tokens(enum)}")
    return parsed[0], kv.value.span.line


def read_text_field(doc: md.Document, *keys: str) -> Located | None:
    kv = single_value(doc, doc.pairs_for(*keys), keys[0])
    if kv is None or is_empty(kv.value.text):
        return None
    return Located(kv.value.text, kv.value.span.line)


def find_ids(doc: md.Document, prefix: str) -> list[Located]:
    """Stable ids (``R-001``, ``SC-002``...) on visible lines, first sighting
    of each, in file order."""
    pattern = re.compile(rf"(?<![A-Za-z0-9-]){re.escape(prefix)}-\d{{3,}}(?![0-9])")
    seen: dict[str, Located] = {}
    for number in range(1, len(doc.lines) + 1):
        if number in doc.hidden:
            continue
        for match in pattern.finditer(doc.line_text(number)):
            seen.setdefault(match.group(0), Located(match.group(0), number))
    return list(seen.values())


def id_lines(doc: md.Document, ident: str) -> list[int]:
    pattern = re.compile(rf"(?<![A-Za-z0-9-]){re.escape(ident)}(?![0-9])")
    return [n for n in range(1, len(doc.lines) + 1)
            if n not in doc.hidden and pattern.search(doc.line_text(n))]


def section_text(doc: md.Document, *names: str) -> tuple[md.Heading | None, str]:
    """The visible content under a heading, markup and placeholders aside."""
    heading = doc.find_heading(*names)
    if heading is None:
        return None, ""
    kept: list[str] = []
    for number in doc.section_lines(heading):
        text = md._strip_comment(doc.line_text(number)).strip()
        text = re.sub(r"^(?:[-*+]|\d+[.)])\s*", "", text).strip()
        if not text or re.fullmatch(r"[|\-: ]+", text):
            continue
        if re.fullmatch(r"[^:`]{1,60}[:=]", text):
            continue  # `Key:` with nothing filled in yet
        if md.key_id(text) in {"tbd", "todo", "na", "none"}:
            continue
        kept.append(text)
    return heading, "\n".join(kept)


@dataclass(slots=True)
class CheckRow:
    name: str
    result_text: str
    line: int


def read_check_table(doc: md.Document, names: tuple[str, ...]) -> dict[str, CheckRow]:
    """Results of named checks, from a ``| Check | Result |`` table or from
    ``- Check name: `Result``` lines. Keys are the normalised check names."""
    wanted = {_check_name_id(n): n for n in names}
    found: dict[str, CheckRow] = {}
    for table in doc.tables:
        name_col = table.column("Check", "Readiness Check", "Mandatory Check", "Item")
        result_col = table.column("Result", "Status", "Decision", "Outcome")
        if name_col is None or result_col is None:
            continue
        for row in table.rows:
            name = row.get(name_col)
            result = row.get(result_col)
            if name is None:
                continue
            nid = _check_name_id(name.text)
            if nid in wanted:
                _put(doc, found, nid, CheckRow(name.text, result.text if result else "", row.line))
    for pair in doc.pairs:
        nid = _check_name_id(pair.key)
        if nid in wanted and not pair.in_table:
            _put(doc, found, nid, CheckRow(pair.key, pair.value.text, pair.value.span.line))
    return found


def _put(doc: md.Document, found: dict[str, CheckRow], nid: str, row: CheckRow) -> None:
    if nid in found and md.key_id(found[nid].result_text) != md.key_id(row.result_text):
        raise ReadError(doc.path, (found[nid].line, row.line),
                        f"check {row.name!r} has two different results "
                        f"({found[nid].result_text!r} and {row.result_text!r})",
                        hint="keep one result per check")
    found.setdefault(nid, row)


def _cell(table: md.Table, row: md.TableRow, *names: str) -> str:
    value = row.get(table.column(*names))
    return value.text if value else ""


# ------------------------------------------------------------- per artifact


@dataclass(slots=True)
class Criterion:
    ident: str
    line: int
    requirement: str | None
    text: str


def read_success_criteria(doc: md.Document) -> list[Criterion]:
    """Success criteria with the requirement each one names (first R- id on
    its line) and the line's text."""
    out: list[Criterion] = []
    for located in find_ids(doc, "SC"):
        text = doc.line_text(located.line)
        requirement = re.search(r"(?<![A-Za-z0-9-])R-\d{3,}", text)
        out.append(Criterion(located.text, located.line, requirement.group(0) if requirement else None, text))
    return out


@dataclass(slots=True)
class ClosureRow:
    criterion: str
    requirement: str
    evidence_runs: str
    observed: str
    decision: CriterionDecision | None
    decision_text: str
    notes: str
    line: int


def read_sc_closure(doc: md.Document) -> list[ClosureRow]:
    out: list[ClosureRow] = []
    for table in doc.tables:
        sc_col = table.column("Success Criteria ID", "Success Criterion ID", "SC ID", "Criterion")
        decision_col = table.column("Decision", "Status")
        if sc_col is None or decision_col is None:
            continue
        for row in table.rows:
            ident = row.get(sc_col)
            if ident is None or not re.match(r"^SC-\d{3,}$", ident.text):
                continue
            decision_cell = row.get(decision_col)
            decision_text = decision_cell.text if decision_cell else ""
            parsed = parse_token(CriterionDecision, decision_text) if decision_text else None
            if decision_text and parsed is None and md.key_id(decision_text) not in PENDING_RESULTS | {"open"}:
                raise ReadError(doc.path, (row.line,),
                                f"decision for {ident.text} is {decision_text!r}, expected one of "
                                f"{expect_tokens(CriterionDecision)}")
            def cell(*names: str) -> str:
                return _cell(table, row, *names)

            out.append(ClosureRow(
                criterion=ident.text,
                requirement=cell("Requirement ID", "Requirement"),
                evidence_runs=cell("Evidence Run(s)", "Evidence Runs", "Evidence Run", "Runs"),
                observed=cell("Observed Result", "Observed"),
                decision=parsed[0] if parsed else None,
                decision_text=decision_text,
                notes=cell("Notes"),
                line=row.line,
            ))
    return out


@dataclass(slots=True)
class RegistryRow:
    run_id: str
    status: RunStatus | None
    line: int
    cells: dict[str, str] = field(default_factory=dict)


def read_run_registry(doc: md.Document) -> list[RegistryRow]:
    out: list[RegistryRow] = []
    for table in doc.tables:
        run_col = table.column("Run ID")
        status_col = table.column("Status")
        if run_col is None or status_col is None:
            continue
        for row in table.rows:
            run = row.get(run_col)
            if run is None or not re.match(r"^RUN-\d{3,}$", run.text):
                continue
            status_cell = row.get(status_col)
            status_text = status_cell.text if status_cell else ""
            parsed = parse_token(RunStatus, status_text) if status_text else None
            if status_text and parsed is None:
                raise ReadError(doc.path, (row.line,),
                                f"run {run.text} status is {status_text!r}, expected one of {expect_tokens(RunStatus)}")
            cells = {table.header[i]: (row.cells[i].text if i < len(row.cells) else "") for i in range(len(table.header))}
            out.append(RegistryRow(run.text, parsed[0] if parsed else None, row.line, cells))
    return out


@dataclass(slots=True)
class MetricRow:
    run_id: str
    metric: str
    result: str
    baseline: str
    delta: str
    line: int


def read_metric_summary(doc: md.Document) -> list[MetricRow]:
    out: list[MetricRow] = []
    for table in doc.tables:
        run_col = table.column("Run ID")
        metric_col = table.column("Metric Or Rubric", "Metric", "Metric / Rubric")
        if run_col is None or metric_col is None or table.column("Baseline") is None:
            continue
        for row in table.rows:
            run = row.get(run_col)
            if run is None or not run.text:
                continue
            def cell(*names: str) -> str:
                return _cell(table, row, *names)

            out.append(MetricRow(run.text, cell("Metric Or Rubric", "Metric", "Metric / Rubric"),
                                 cell("Result"), cell("Baseline"), cell("Delta"), row.line))
    return out


def read_decision(doc: md.Document, stage: int) -> tuple[StageDecision, int] | None:
    return read_token(doc, StageDecision, f"Stage {stage} Decision")


def read_yes_no(doc: md.Document, *keys: str) -> tuple[YesNo, int] | None:
    return read_token(doc, YesNo, *keys)


def check_results(doc: md.Document, names: tuple[str, ...], enum: type[E]) -> dict[str, tuple[CheckRow, E | None]]:
    """Each named check with its parsed result (None while pending)."""
    rows = read_check_table(doc, names)
    out: dict[str, tuple[CheckRow, E | None]] = {}
    for nid, row in rows.items():
        if md.key_id(row.result_text) in PENDING_RESULTS or (
                nid in OPTIONAL_REVIEW_CHECKS and md.key_id(row.result_text) == "na"):
            out[nid] = (row, None)
            continue
        parsed = parse_token(enum, row.result_text)
        if parsed is None:
            raise ReadError(doc.path, (row.line,),
                            f"check {row.name!r} result is {row.result_text!r}, expected one of {expect_tokens(enum)}")
        out[nid] = (row, parsed[0])
    return out


__all__ = [
    "READINESS_CHECKS", "REVIEW_CHECKS", "OPTIONAL_REVIEW_CHECKS", "ReadinessResult", "ReviewResult",
    "read_status", "read_token", "read_text_field", "find_ids", "section_text", "read_check_table",
    "read_success_criteria", "read_sc_closure", "read_run_registry", "read_metric_summary",
    "read_decision", "read_yes_no", "check_results", "id_lines", "Located", "Criterion",
]
