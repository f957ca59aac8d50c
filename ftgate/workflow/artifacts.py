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
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar

from ftgate.errors import ReadError
from ftgate.workflow import expectations as ex
from ftgate.workflow import markdown as md
from ftgate.workflow.model import (
    CriterionDecision,
    ReadinessResult,
    ReviewResult,
    RunStatus,
    StageDecision,
    YesNo,
)
from ftgate.workflow.state import expect_tokens, is_empty, parse_token, single_value

E = TypeVar("E", bound=Enum)

# Placeholder results in ftgate's older templates: present but not done.
PENDING_RESULTS = {"notrun", "notreviewed", "pending", ""}

# A template's slot: ``<what goes here>``, words with a space or a hyphen
# between angle brackets. Not ``<ticket-name>`` (the workflow's own spelling
# in labels and paths), and not a single word: model outputs and chat
# templates are full of special tokens (``<unk>``, ``<s>``, ``<|im_end|>``).
_SLOT = re.compile(r"<(?!ticket-name>)[A-Za-z][A-Za-z0-9_./,']*[ -][A-Za-z0-9 _./,'-]*>")
_CODE_SPAN = re.compile(r"`[^`]*`")


@dataclass(frozen=True, slots=True)
class Located:
    text: str
    line: int


def _check_name_id(name: str) -> str:
    """Match check names loosely: case, punctuation, ``and``/``&`` and a
    trailing ``if applicable`` aside."""
    return ex.name_id(name)


def column(table: md.Table, *names: str) -> int | None:
    """A table's column by name; a header's parenthesised vocabulary
    (``Result (`Pass` / `Fail` / `N/A`)``) is not part of its name."""
    headers = [ex.name_id(re.sub(r"\(.*?\)", "", h)) for h in table.header]
    for name in names:
        want = ex.name_id(name)
        if want in headers:
            return headers.index(want)
    return None


def vocabulary_list(text: str, enum: type[E] | None = None) -> bool:
    """Whether ``text`` is a template's list of choices (`` `Draft` /
    `Current` ``) rather than one value chosen from it."""
    parts = [p.strip().strip("`*_ ").strip() for p in re.split(r"\s/\s|`\s*/\s*`", text)]
    if len(parts) < 2 or not all(parts):
        return False
    if enum is None:
        return "`" in text
    tokens = {md.key_id(str(m.value)) for m in enum}
    return sum(md.key_id(p) in tokens for p in parts) >= 2


def slots_in(text: str) -> list[str]:
    """Template slots (``<what goes here>``) left in a line of text."""
    visible = _CODE_SPAN.sub(lambda m: " " * len(m.group(0)), md._strip_comment(text))
    return _SLOT.findall(visible)


def placeholder(text: str, enum: type[E] | None = None) -> str | None:
    """Why ``text`` is still the template's and not a person's answer, or
    None when it is an answer."""
    if not text.strip():
        return "it is empty"
    if slots := slots_in(text):
        return f"it still holds the template's slot {slots[0]}"
    if vocabulary_list(text, enum):
        return "it is still the template's list of choices"
    return None


def _status_candidates(doc: md.Document, keys: tuple[str, ...]) -> list[tuple[str, int]]:
    ids = {ex.name_id(k) for k in keys}
    by_line: dict[int, str] = {}
    for pair in doc.pairs:
        if ex.name_id(pair.key) in ids:
            by_line.setdefault(pair.value.span.line, pair.value.text)
    for heading in doc.headings:
        if ex.heading_name_id(heading.text) not in ids:
            continue
        for number in doc.section_lines(heading):
            text = md._strip_comment(doc.line_text(number)).strip()
            if not text:
                continue
            # A line that is itself `Key: value` is that pair: a status key's
            # pair is already counted, another key's is not the status.
            if any(p.value.span.line == number for p in doc.pairs):
                break
            text = re.sub(r"^[-*+]\s+", "", text).strip().strip("`*_ ").strip()
            by_line.setdefault(number, text)
            break
    return [(text, number) for number, text in sorted(by_line.items())]


def read_status(doc: md.Document, enum: type[E], *keys: str) -> tuple[E, int] | None:
    """The document's status: ``- Current Status: `X```, ``- Status: `X```,
    ``Status: X``, or a status heading followed by the value on its next
    non-empty line (``## Document Status`` then ``- Current Status: `X```
    reads as that pair)."""
    keys = keys or ex.STATUS_KEYS
    candidates = _status_candidates(doc, keys)
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
    why = placeholder(text, enum)
    if why is not None:
        raise ReadError(doc.path, (number,), f"the status {why} ({text!r})",
                        hint=f"write one of {expect_tokens(enum)}")
    parsed = parse_token(enum, text)
    if parsed is None:
        raise ReadError(doc.path, (number,), f"status is {text!r}, expected one of {expect_tokens(enum)}",
                        hint=f"write one of {expect_tokens(enum)}")
    return parsed[0], number


def read_token(doc: md.Document, enum: type[E], *keys: str) -> tuple[E, int] | None:
    """A single ``Key: token`` field anywhere in the document."""
    ids = {ex.name_id(k) for k in keys}
    kv = single_value(doc, [p for p in doc.pairs if ex.name_id(p.key) in ids], keys[0])
    if kv is None or is_empty(kv.value.text):
        return None
    why = placeholder(kv.value.text, enum)
    if why is not None:
        raise ReadError(doc.path, (kv.value.span.line,), f"`{keys[0]}`: {why} ({kv.value.text!r})",
                        hint=f"write one of {expect_tokens(enum)}")
    parsed = parse_token(enum, kv.value.text)
    if parsed is None:
        raise ReadError(doc.path, (kv.value.span.line,),
                        f"`{keys[0]}` is {kv.value.text!r}, expected one of {expect_tokens(enum)}",
                        hint=f"write one of {expect_tokens(enum)}")
    return parsed[0], kv.value.span.line


def read_text_field(doc: md.Document, *keys: str) -> Located | None:
    ids = {ex.name_id(k) for k in keys}
    kv = single_value(doc, [p for p in doc.pairs if ex.name_id(p.key) in ids], keys[0])
    if kv is None or is_empty(kv.value.text) or placeholder(kv.value.text) is not None:
        return None
    return Located(kv.value.text, kv.value.span.line)


def find_ids(doc: md.Document, prefix: str) -> list[Located]:
    """Stable ids (``R-001``, ``SC-002``...) on visible lines, first sighting
    of each, in file order."""
    pattern = re.compile(rf"(?<![A-Za-z0-9-]){re.escape(prefix)}-[0-9]{{3,}}(?![0-9])")
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


def find_sections(doc: md.Document, expect: ex.Expect) -> list[md.Heading]:
    """Every heading that names ``expect``, in file order."""
    return [h for h in doc.headings if ex.heading_name_id(h.text) in expect.ids]


def section_text(doc: md.Document, *names: str) -> tuple[md.Heading | None, str]:
    """The visible content under the first heading named like ``names``
    (the first of them with content), markup and template leftovers aside:
    an unfilled ``Key:`` line, a table's header, a row that holds no more
    than its fixed first cell."""
    headings = find_sections(doc, ex.Expect(tuple(names)))
    if not headings:
        return None, ""
    for heading in headings:
        text = _content(doc, heading)
        if text:
            return heading, text
    return headings[0], ""


def _content(doc: md.Document, heading: md.Heading) -> str:
    headers = {t.header_line for t in doc.tables}
    kept: list[str] = []
    for number in doc.section_lines(heading):
        text = md._strip_comment(doc.line_text(number)).strip()
        if number in headers:
            continue
        if text.startswith("|"):
            cells = [c.strip().strip("`*_ ") for c in text.strip("|").split("|")]
            if not any(md.key_id(c) not in {"", "na", "tbd", "todo"} for c in cells[1:]):
                continue
        text = re.sub(r"^(?:[-*+]|[0-9]+[.)])\s*", "", text).strip()
        if not text or re.fullmatch(r"[|\-: ]+", text):
            continue
        if re.fullmatch(r"[^:`]{1,80}[:=]", text):
            continue  # `Key:` with nothing filled in yet
        if md.key_id(text) in {"tbd", "todo", "na", "none"}:
            continue
        kept.append(text)
    return "\n".join(kept)


def placeholder_lines(doc: md.Document, lines: Iterable[int] | None = None) -> list[tuple[int, str]]:
    """Lines that still hold a template slot (``<what goes here>``)."""
    numbers = range(1, len(doc.lines) + 1) if lines is None else lines
    out: list[tuple[int, str]] = []
    for number in numbers:
        if number in doc.hidden:
            continue
        slots = slots_in(doc.line_text(number))
        if slots:
            out.append((number, slots[0]))
    return out


@dataclass(slots=True)
class CheckRow:
    name: str
    result_text: str
    line: int
    reason: str = ""


@dataclass(slots=True)
class CheckTable:
    """Check rows found, and where a missing one belongs."""

    rows: dict[str, CheckRow]
    anchor: int | None


def read_checks(doc: md.Document, expects: tuple[ex.Expect, ...]) -> CheckTable:
    """Results of the expected checks, from a ``| Check | Result | Evidence |``
    table or from ``- Check name: `Result``` lines, keyed by the first name of
    each expectation. ``anchor`` is the line a missing check's refusal names:
    the header of the table that holds the others."""
    wanted: dict[str, str] = {}
    for expect in expects:
        for ident in expect.ids:
            wanted.setdefault(ident, expect.name)
    found: dict[str, CheckRow] = {}
    anchor: int | None = None
    for table in doc.tables:
        name_col = column(table, *ex.CHECK_COLUMN.names)
        result_col = column(table, *ex.RESULT_COLUMN.names)
        if name_col is None or result_col is None:
            continue
        reason_col = column(table, *ex.REASON_COLUMN.names)
        for row in table.rows:
            name = row.get(name_col)
            if name is None:
                continue
            key = wanted.get(ex.name_id(name.text))
            if key is None:
                continue
            anchor = anchor or table.header_line
            result = row.get(result_col)
            reason = row.get(reason_col)
            _put(doc, found, key, CheckRow(name.text, result.text if result else "", row.line,
                                           reason.text if reason else ""))
    for pair in doc.pairs:
        key = wanted.get(ex.name_id(pair.key))
        if key is not None and not pair.in_table:
            anchor = anchor or pair.value.span.line
            _put(doc, found, key, CheckRow(pair.key, pair.value.text, pair.value.span.line))
    return CheckTable(found, anchor)


def read_check_table(doc: md.Document, names: tuple[str, ...]) -> dict[str, CheckRow]:
    """Results of named checks, keyed by their normalised names."""
    rows = read_checks(doc, tuple(ex.Expect((n,)) for n in names)).rows
    return {ex.name_id(key): row for key, row in rows.items()}


def _put(doc: md.Document, found: dict[str, CheckRow], key: str, row: CheckRow) -> None:
    if key in found and md.key_id(found[key].result_text) != md.key_id(row.result_text):
        raise ReadError(doc.path, (found[key].line, row.line),
                        f"check {row.name!r} has two different results "
                        f"({found[key].result_text!r} and {row.result_text!r})",
                        hint="keep one result per check")
    found.setdefault(key, row)


def _cell(table: md.Table, row: md.TableRow, *names: str) -> str:
    value = row.get(column(table, *names))
    return value.text if value else ""


@dataclass(slots=True)
class CheckResult:
    row: CheckRow
    result: Enum | None
    # Text after the token in the result cell, else the evidence cell.
    reason: str
    # `N/A`: whether the check allows it is the gate's call, not the reader's.
    na: bool = False


_NA = re.compile(r"\s*n\s*/\s*a\b", re.IGNORECASE)


def judge_checks(doc: md.Document, expects: tuple[ex.Expect, ...], enum: type[E]) -> tuple[
        dict[str, CheckResult], int | None]:
    """Each found check with its parsed result (None while pending), keyed by
    the first name of its expectation. A misspelt result or a list of choices
    left in is refused with its line."""
    table = read_checks(doc, expects)
    out: dict[str, CheckResult] = {}
    for key, row in table.rows.items():
        text = row.result_text
        if md.key_id(text) in PENDING_RESULTS:
            out[key] = CheckResult(row, None, row.reason)
            continue
        na = _NA.match(text)
        if vocabulary_list(text, enum) or (na is not None and text[na.end():].lstrip(" `").startswith("/")):
            raise ReadError(doc.path, (row.line,), f"check {row.name!r} still holds the template's choices ({text!r})",
                            hint=f"write one of {expect_tokens(enum)}")
        if na is not None:
            own = text[na.end():].strip(" -:–—()`").strip()
            out[key] = CheckResult(row, None, own or row.reason, na=True)
            continue
        parsed = parse_token(enum, text)
        if parsed is None:
            raise ReadError(doc.path, (row.line,),
                            f"check {row.name!r} result is {text!r}, expected one of {expect_tokens(enum)}",
                            hint=f"write one of {expect_tokens(enum)}")
        member, length = parsed
        own = text[length:].strip(" -:–—()`").strip()
        out[key] = CheckResult(row, member, own or row.reason)
    return out, table.anchor


def not_applicable(result: CheckResult) -> bool:
    return result.na


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
        requirement = re.search(r"(?<![A-Za-z0-9-])R-[0-9]{3,}", text)
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
        sc_col = column(table, "Success Criteria ID", "Success Criterion ID", "SC ID", "Criterion")
        decision_col = column(table, "Decision", "Status")
        if sc_col is None or decision_col is None:
            continue
        for row in table.rows:
            ident = row.get(sc_col)
            if ident is None or not re.match(r"^SC-[0-9]{3,}$", ident.text):
                continue
            decision_cell = row.get(decision_col)
            decision_text = decision_cell.text if decision_cell else ""
            parsed = parse_token(CriterionDecision, decision_text) if decision_text else None
            if decision_text and parsed is None and md.key_id(decision_text) not in PENDING_RESULTS | {"open"}:
                raise ReadError(doc.path, (row.line,),
                                f"decision for {ident.text} is {decision_text!r}, expected one of "
                                f"{expect_tokens(CriterionDecision)}")
            def cell(*names: str, table: md.Table = table, row: md.TableRow = row) -> str:
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
        run_col = column(table, "Run ID")
        status_col = column(table, "Status")
        if run_col is None or status_col is None:
            continue
        for row in table.rows:
            run = row.get(run_col)
            if run is None or not re.match(r"^RUN-[0-9]{3,}$", run.text):
                continue
            status_cell = row.get(status_col)
            status_text = status_cell.text if status_cell else ""
            parsed = parse_token(RunStatus, status_text) if status_text else None
            if status_text and parsed is None:
                raise ReadError(doc.path, (row.line,),
                                f"run {run.text} status is {status_text!r}, expected one of {expect_tokens(RunStatus)}")
            cells = {table.header[i]: (row.cells[i].text if i < len(row.cells) else "")
                     for i in range(len(table.header))}
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
        run_col = column(table, "Run ID")
        metric_col = column(table, "Metric Or Rubric", "Metric", "Metric / Rubric")
        if run_col is None or metric_col is None or column(table, "Baseline") is None:
            continue
        for row in table.rows:
            run = row.get(run_col)
            if run is None or not run.text:
                continue
            def cell(*names: str, table: md.Table = table, row: md.TableRow = row) -> str:
                return _cell(table, row, *names)

            out.append(MetricRow(run.text, cell("Metric Or Rubric", "Metric", "Metric / Rubric"),
                                 cell("Result"), cell("Baseline"), cell("Delta"), row.line))
    return out


def read_decision(doc: md.Document, stage: int) -> tuple[StageDecision, int] | None:
    return read_token(doc, StageDecision, f"Stage {stage} Decision")


def read_yes_no(doc: md.Document, *keys: str) -> tuple[YesNo, int] | None:
    return read_token(doc, YesNo, *keys)


__all__ = [
    "CheckResult",
    "Criterion",
    "Located",
    "ReadinessResult",
    "ReviewResult",
    "column",
    "find_ids",
    "find_sections",
    "id_lines",
    "judge_checks",
    "not_applicable",
    "placeholder",
    "placeholder_lines",
    "read_check_table",
    "read_decision",
    "read_metric_summary",
    "read_run_registry",
    "read_sc_closure",
    "read_status",
    "read_success_criteria",
    "read_text_field",
    "read_token",
    "read_yes_no",
    "section_text",
]
