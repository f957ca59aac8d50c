"""Reading ``workflow-state.md`` without guessing, and editing it in place.

The reader accepts the shapes people really write (see the spec) and refuses
what it cannot read for certain: a key written twice with different values, a
value that is not one of its tokens, a missing Current Stage. A refusal is a
:class:`ReadError` naming the file, the line numbers and what was expected.

The writer changes only the spans ftgate owns (a value, a gate cell, a new
transition row) and leaves every other byte alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from ftgate.errors import ReadError
from ftgate.limits import STATE_FILE_MAX_BYTES, ascii_int
from ftgate.workflow import markdown as md
from ftgate.workflow.model import (
    STAGE_TITLES,
    BootstrapMode,
    BootstrapRecord,
    GateRow,
    GateStatus,
    Permission,
    ReentryClass,
    ReentryDeclaration,
    RefreshPerformed,
    Stage,
    TransitionRow,
    ViolationRow,
    WorkflowState,
    YesNo,
)
from ftgate.workflow.stages import parse_path

E = TypeVar("E", bound=Enum)

# The checklist describes an edit about to be made, never the ticket itself.
_CHECKLIST = md.heading_id("Pre-Edit Checklist")
# Tables in these sections are logs, not key/value lists (a bullet written
# there still counts: it is somebody stating a value).
_LOG_SECTIONS = {md.heading_id(name) for name in ("Transition Log", "Process Violation Log", "Stage Gates")}
_REENTRY_SECTION = md.heading_id("Re-Entry Declaration")

SNAPSHOT_KEYS = {
    "ticket": "Ticket",
    "currentstage": "Current Stage",
    "nextstage": "Next Stage",
    "codeeditpermission": "Code Edit Permission",
    "activereentry": "Active Re-Entry",
    "reentryclassification": "Re-Entry Classification",
    "lasttransitionid": "Last Transition ID",
    "lastupdated": "Last Updated",
}
BOOTSTRAP_KEYS = {
    "bootstrapmode": "Bootstrap Mode",
    "userspecifiedbasebranch": "User-Specified Base Branch",
    "resolvedbaseremote": "Resolved Base Remote",
    "resolvedbasebranch": "Resolved Base Branch",
    "defaultfinalizationtargetremote": "Default Finalization Target Remote",
    "defaultfinalizationtargetbranch": "Default Finalization Target Branch",
    "remoterefreshperformed": "Remote Refresh Performed",
    "remoterefreshresult": "Remote Refresh Result",
    "ticketworktreepath": "Ticket Worktree Path",
    "ticketbranch": "Ticket Branch",
}
REENTRY_KEYS = {
    "triggerstage": "Trigger Stage",
    "classification": "Classification",
    "requiredreturnpath": "Required Return Path",
    "requiredupstreamartifactstoupdatebeforemoresourceedits":
        "Required Upstream Artifacts To Update Before More Source Edits",
    "resumecondition": "Resume Condition",
}
# Values that mean "nothing written yet".
EMPTY_VALUES = {"", "na", "none", "tbd", "todo", "-", "—"}

_LABEL_SEP = re.compile(r"^\s*(?:$|[-–—:(#,;]|\s)")
# ASCII digits only, and possessive runs: these read text a pusher wrote.
_STAGE_VALUE = re.compile(r"^(?:stage\s*+)?([0-9]++)")
_TRANSITION_ID = re.compile(r"^T-([0-9]++)$")
_VIOLATION_ID = re.compile(r"^V-[0-9]++$")


@dataclass(slots=True)
class StateFile:
    """A parsed state file: what it says plus where each thing is written."""

    state: WorkflowState
    doc: md.Document
    fields: dict[str, list[md.KeyValue]]
    gate_table: md.Table | None
    gate_stage_col: int | None
    gate_status_col: int | None
    gate_rows: dict[Stage, md.TableRow]
    transition_table: md.Table | None


def is_empty(text: str | None) -> bool:
    return text is None or md.key_id(text) in EMPTY_VALUES


def parse_token(enum: type[E], text: str) -> tuple[E, int] | None:
    """Match ``text`` against ``enum``'s tokens: case-insensitive, the token
    first, optionally followed by a label (``Unlocked (stage 4)``). Returns
    the member and the token's length, or None."""
    lowered = text.lower()
    best: tuple[E, int] | None = None
    for member in enum:
        token = str(member.value)
        if (lowered.startswith(token.lower()) and _LABEL_SEP.match(text[len(token):])
                and (best is None or len(token) > best[1])):
            best = (member, len(token))
    if best is not None:
        rest = text[best[1]:].strip()
        # ``Locked / Unlocked`` is an unfilled choice, not a value.
        if rest.startswith(("/", "|")):
            return None
    return best


def parse_stage(text: str) -> tuple[Stage, int, int] | None:
    """Read ``4``, ``4 - Implementation``, ``Stage 4``. Returns the stage and
    the digits' [start, end) inside ``text``, so an edit replaces only them."""
    lead = len(text) - len(text.lstrip())
    match = _STAGE_VALUE.match(text[lead:].lower())
    if not match:
        return None
    rest = text[lead + match.end():]
    if not _LABEL_SEP.match(rest) or rest.strip().startswith("/"):
        return None
    number = ascii_int(match.group(1))
    if number is None or not 0 <= number <= 8:
        return None
    return Stage(number), lead + match.start(1), lead + match.end(1)


def expect_tokens(enum: type[Enum]) -> str:
    return " / ".join(f"`{m.value}`" for m in enum)


def single_value(doc: md.Document, pairs: list[md.KeyValue], label: str) -> md.KeyValue | None:
    """The one value of a key, or a refusal naming every line when the file
    says two different things."""
    if not pairs:
        return None
    distinct = {md.key_id(p.value.text) for p in pairs}
    if len(distinct) > 1:
        lines = tuple(p.value.span.line for p in pairs)
        shown = "; ".join(f"line {p.value.span.line}: {p.value.text!r}" for p in pairs)
        raise ReadError(
            doc.path,
            lines,
            f"`{label}` is written {len(pairs)} times with different values ({shown}); "
            "ftgate will not guess which one is meant",
            hint=f"keep exactly one `{label}` line and delete the others",
        )
    return pairs[0]


def _token_field(doc: md.Document, kv: md.KeyValue | None, enum: type[E], label: str) -> E | None:
    if kv is None or is_empty(kv.value.text):
        return None
    parsed = parse_token(enum, kv.value.text)
    if parsed is None:
        raise ReadError(
            doc.path,
            (kv.value.span.line,),
            f"`{label}` is {kv.value.text!r}, expected one of {expect_tokens(enum)}",
        )
    return parsed[0]


def _collect(doc: md.Document) -> dict[str, list[md.KeyValue]]:
    fields: dict[str, list[md.KeyValue]] = {}
    for pair in doc.pairs:
        sections = set(pair.sections)
        if pair.key_id in REENTRY_KEYS:
            if _REENTRY_SECTION in sections:
                fields.setdefault("reentry." + pair.key_id, []).append(pair)
            continue
        if pair.key_id in SNAPSHOT_KEYS or pair.key_id in BOOTSTRAP_KEYS:
            if _CHECKLIST in sections or (pair.in_table and sections & _LOG_SECTIONS):
                continue
            fields.setdefault(pair.key_id, []).append(pair)
    return fields


def read_state(text: str, path: str) -> StateFile:
    if len(text) > STATE_FILE_MAX_BYTES:
        raise ReadError(path, (), f"the file is {len(text)} characters long, more than ftgate reads "
                        f"({STATE_FILE_MAX_BYTES}); a state file is a page of markdown",
                        hint="trim the file: move long notes into the ticket's other files")
    doc = md.parse(text, path)
    fields = _collect(doc)

    def one(key: str) -> md.KeyValue | None:
        label = SNAPSHOT_KEYS.get(key) or BOOTSTRAP_KEYS.get(key) or REENTRY_KEYS.get(key.split(".")[-1], key)
        return single_value(doc, fields.get(key, []), label)

    stage_kv = one("currentstage")
    if stage_kv is None:
        raise ReadError(
            path, (), "no `Current Stage` line, so the ticket's stage is unknown",
            hint="add `- Current Stage: `0`` under `## Current Snapshot` (0-8)",
        )
    stage = _stage_value(doc, stage_kv, "Current Stage", required=True)
    assert stage is not None
    next_kv = one("nextstage")
    next_stage = _stage_value(doc, next_kv, "Next Stage", required=False) if next_kv else None

    perm_kv = one("codeeditpermission")
    permission = _token_field(doc, perm_kv, Permission, "Code Edit Permission") or Permission.LOCKED
    if perm_kv is not None and is_empty(perm_kv.value.text):
        permission = Permission.LOCKED

    reentry_kv = one("activereentry")
    active = _token_field(doc, reentry_kv, YesNo, "Active Re-Entry") == YesNo.YES
    class_kv = one("reentryclassification")
    reentry_class = _token_field(doc, class_kv, ReentryClass, "Re-Entry Classification")

    state = WorkflowState(
        path=path,
        ticket=_plain(one("ticket")),
        current_stage=stage,
        next_stage=next_stage,
        permission=permission,
        active_reentry=active,
        reentry_class=reentry_class,
        last_transition_id=_plain(one("lasttransitionid")),
        last_updated=_plain(one("lastupdated")),
        permission_written=perm_kv is not None,
    )
    state.bootstrap = BootstrapRecord(
        mode=_token_field(doc, one("bootstrapmode"), BootstrapMode, "Bootstrap Mode"),
        user_base_branch=_plain(one("userspecifiedbasebranch")),
        resolved_base_remote=_plain(one("resolvedbaseremote")),
        resolved_base_branch=_plain(one("resolvedbasebranch")),
        finalization_remote=_plain(one("defaultfinalizationtargetremote")),
        finalization_branch=_plain(one("defaultfinalizationtargetbranch")),
        refresh_performed=_refresh(doc, one("remoterefreshperformed")),
        refresh_result=_plain(one("remoterefreshresult")),
        worktree_path=_plain(one("ticketworktreepath")),
        ticket_branch=_plain(one("ticketbranch")),
    )
    trigger_kv = one("reentry.triggerstage")
    path_kv = one("reentry.requiredreturnpath")
    return_path = parse_path(path_kv.value.text) if path_kv and not is_empty(path_kv.value.text) else None
    if path_kv is not None and not is_empty(path_kv.value.text) and return_path is None:
        raise ReadError(path, (path_kv.value.span.line,),
                        f"`Required Return Path` is {path_kv.value.text!r}, expected stage numbers like `1 -> 3 -> 4`")
    state.reentry = ReentryDeclaration(
        trigger_stage=_stage_value(doc, trigger_kv, "Trigger Stage", required=False) if trigger_kv else None,
        classification=_token_field(doc, one("reentry.classification"), ReentryClass, "Classification"),
        return_path=return_path or (),
        upstream_artifacts=_plain(one("reentry.requiredupstreamartifactstoupdatebeforemoresourceedits")),
        resume_condition=_plain(one("reentry.resumecondition")),
    )

    gate_table, stage_col, status_col, gate_rows = _read_gates(doc, state)
    transition_table = _find_table(doc, "Transition Log", "transitionid")
    if transition_table is not None:
        state.transitions = _read_transitions(transition_table)
    violation_table = _find_table(doc, "Process Violation Log", "violationid")
    if violation_table is not None:
        state.violations = _read_violations(violation_table)
    return StateFile(
        state=state,
        doc=doc,
        fields=fields,
        gate_table=gate_table,
        gate_stage_col=stage_col,
        gate_status_col=status_col,
        gate_rows=gate_rows,
        transition_table=transition_table,
    )


def _plain(kv: md.KeyValue | None) -> str | None:
    if kv is None or is_empty(kv.value.text):
        return None
    return kv.value.text


def _refresh(doc: md.Document, kv: md.KeyValue | None) -> RefreshPerformed | None:
    if kv is None or kv.value.text.strip() == "":
        return None
    parsed = parse_token(RefreshPerformed, kv.value.text)
    if parsed is None:
        raise ReadError(doc.path, (kv.value.span.line,),
                        f"`Remote Refresh Performed` is {kv.value.text!r}, expected {expect_tokens(RefreshPerformed)}")
    return parsed[0]


def _stage_value(doc: md.Document, kv: md.KeyValue | None, label: str, *, required: bool) -> Stage | None:
    if kv is None:
        return None
    if not required and is_empty(kv.value.text):
        return None
    parsed = parse_stage(kv.value.text)
    if parsed is None:
        raise ReadError(
            doc.path,
            (kv.value.span.line,),
            f"`{label}` is {kv.value.text!r}, expected a stage number 0-8 "
            "(optionally followed by its name, like `4 - Implementation`)",
        )
    return parsed[0]


def _find_table(doc: md.Document, section: str, column: str) -> md.Table | None:
    candidates = [t for t in doc.tables if column in t.header_ids]
    preferred = [t for t in candidates if md.heading_id(section) in t.sections]
    pick = preferred or candidates
    return pick[0] if pick else None


def _read_gates(
    doc: md.Document, state: WorkflowState
) -> tuple[md.Table | None, int | None, int | None, dict[Stage, md.TableRow]]:
    gate_section = md.heading_id("Stage Gates")
    skip = {md.heading_id("Pre-Edit Checklist"), md.heading_id("Transition Log"),
            md.heading_id("Process Violation Log")}
    tables = [t for t in doc.tables if gate_section in t.sections] or [
        t for t in doc.tables if not skip.intersection(t.sections)
    ]
    for table in tables:
        stage_col = table.column("Stage")
        status_col = table.column("Gate Status", "Status", "Gate")
        if stage_col is None or status_col is None or stage_col == status_col:
            continue
        rows: dict[Stage, md.TableRow] = {}
        for row in table.rows:
            stage_cell = row.get(stage_col)
            status_cell = row.get(status_col)
            if stage_cell is None or not stage_cell.text:
                continue
            parsed_stage = parse_stage(stage_cell.text)
            if parsed_stage is None:
                raise ReadError(doc.path, (row.line,),
                                f"gate row's stage is {stage_cell.text!r}, expected `0 Bootstrap` ... `8 Handoff`")
            stage = parsed_stage[0]
            if status_cell is None or not status_cell.text:
                status = GateStatus.NOT_STARTED
            else:
                parsed = parse_token(GateStatus, status_cell.text)
                if parsed is None:
                    raise ReadError(doc.path, (row.line,),
                                    f"gate status for stage {int(stage)} is {status_cell.text!r}, "
                                    f"expected one of {expect_tokens(GateStatus)}")
                status = parsed[0]
            if stage in rows:
                other = state.gates[stage]
                if other.status != status:
                    raise ReadError(
                        doc.path, (rows[stage].line, row.line),
                        f"stage {int(stage)} has two gate rows that disagree "
                        f"({other.status.value!r} and {status.value!r})",
                        hint="keep one row per stage in the Stage Gates table",
                    )
                continue
            rows[stage] = row
            evidence_col = table.column("Evidence")
            evidence = row.get(evidence_col)
            state.gates[stage] = GateRow(stage=stage, status=status, line=row.line,
                                         evidence=evidence.text if evidence else "")
        if rows:
            return table, stage_col, status_col, rows
    return None, None, None, {}


def _cell(row: md.TableRow, index: int | None) -> str:
    value = row.get(index)
    return value.text if value else ""


def _read_transitions(table: md.Table) -> list[TransitionRow]:
    cols = [
        table.column("Transition ID"),
        table.column("Date"),
        table.column("From Stage", "From"),
        table.column("To Stage", "To"),
        table.column("Reason"),
        table.column("Classification"),
        table.column_containing("Code Edit Permission", "Permission"),
        table.column_containing("Evidence"),
    ]
    out = []
    for row in table.rows:
        values = [_cell(row, c) for c in cols]
        if not _TRANSITION_ID.match(values[0].strip()):
            continue
        ident, date, frm, to, reason, klass, permission, evidence = values
        out.append(TransitionRow(ident, date, frm, to, reason, klass, permission, evidence, line=row.line))
    return out


def _read_violations(table: md.Table) -> list[ViolationRow]:
    cols = [
        table.column("Date"),
        table.column("Violation ID"),
        table.column("Violation"),
        table.column("Detected At Stage"),
        table.column("Action Taken"),
        table.column("Cleared"),
    ]
    out = []
    for row in table.rows:
        values = [_cell(row, c) for c in cols]
        if not _VIOLATION_ID.match(values[1].strip()):
            continue
        date, ident, what, detected, action, cleared = values
        out.append(ViolationRow(date, ident, what, detected, action, cleared, line=row.line))
    return out


# ---------------------------------------------------------------- editing


class StateEditor:
    """Edits one parsed state file. Each setter touches only the spans of its
    own field; :meth:`render` gives the new text."""

    def __init__(self, parsed: StateFile) -> None:
        self.parsed = parsed
        self.editor = md.Editor.for_document(parsed.doc)
        self._appended_rows: dict[int, list[str]] = {}

    # -- key/value fields -------------------------------------------------
    def _set_field(self, key: str, new: str) -> None:
        pairs = self.parsed.fields.get(key, [])
        if not pairs:
            self._insert_field(key, new)
            return
        for pair in pairs:  # a key written twice with one value: keep both in step
            self._replace_value(pair.value, new)

    def _replace_value(self, value: md.Value, new: str) -> None:
        span = value.span
        if span.start == span.end and self.parsed.doc.line_text(span.line)[:span.start].endswith((":", "=")):
            new = " " + new  # `- Key:` with nothing after it yet
        self.editor.replace(span, new)

    def set_reentry(self, values: dict[str, str]) -> None:
        """Fill the Re-Entry Declaration, adding lines or the section where
        the person's file has none."""
        missing: list[str] = []
        for key, value in values.items():
            pairs = self.parsed.fields.get("reentry." + key, [])
            if not pairs:
                missing.append(f"- {REENTRY_KEYS[key]}: `{value}`")
            for pair in pairs:
                self._replace_value(pair.value, value)
        if not missing:
            return
        existing = [p for k, ps in self.parsed.fields.items() if k.startswith("reentry.") for p in ps]
        if existing:
            at = max(p.value.span.line for p in existing)
        else:
            heading = self.parsed.doc.find_heading("Re-Entry Declaration")
            if heading is not None:
                at = heading.line
                missing.insert(0, "")
            else:
                at = len(self.parsed.doc.lines)
                missing[0:0] = ["", "## Re-Entry Declaration", ""]
        for text in missing:
            self.editor.insert_after(at, text)

    def _retitle(self, value: md.Value, old: Stage, new: Stage) -> None:
        """``Current Stage: `4` - Implementation`` -> ``5 - Training ...``: a
        trailing label that names the old stage is renamed with it."""
        line = self.parsed.doc.line_text(value.span.line)
        old_title = STAGE_TITLES[old]
        # The label follows the digits, inside the value or after its backticks.
        start = line.lower().find(old_title.lower(), value.span.start)
        if start < 0:
            return
        self.editor.replace(md.Span(value.span.line, start, start + len(old_title)), STAGE_TITLES[new])

    def _insert_field(self, key: str, new: str) -> None:
        """Add a missing key next to a sibling, in the sibling's own style."""
        label = SNAPSHOT_KEYS.get(key) or BOOTSTRAP_KEYS.get(key) or key
        anchor_keys = ["currentstage"] + list(SNAPSHOT_KEYS) if key in SNAPSHOT_KEYS else list(BOOTSTRAP_KEYS)
        anchor = None
        for candidate in anchor_keys:
            if self.parsed.fields.get(candidate):
                anchor = self.parsed.fields[candidate][-1]
                break
        if anchor is None:
            anchor = self.parsed.fields["currentstage"][-1]
        line = self.parsed.doc.line_text(anchor.value.span.line)
        span = anchor.value.span
        if anchor.in_table:
            text = md.format_row([label, new])
        else:
            key_at = line.lower().find(anchor.key.lower())
            prefix = line[:key_at] if key_at >= 0 else "- "
            between = line[key_at + len(anchor.key):span.start] if key_at >= 0 else ": "
            closing = "`" if between.endswith("`") else ""
            text = prefix + label + between + new + closing
        self.editor.insert_after(span.line, text)

    def set_stage(self, stage: Stage) -> None:
        old = self.parsed.state.current_stage
        for pair in self.parsed.fields["currentstage"]:
            self._replace_stage_digits(pair.value, str(int(stage)))
            self._retitle(pair.value, old, stage)
        self.parsed.state.current_stage = stage

    def set_next_stage(self, stage: Stage | None) -> None:
        text = "N/A" if stage is None else str(int(stage))
        pairs = self.parsed.fields.get("nextstage", [])
        if not pairs:
            self._insert_field("nextstage", text)
            return
        for pair in pairs:
            old = parse_stage(pair.value.text)
            if old is not None and stage is not None:
                self._replace_stage_digits(pair.value, text)
                self._retitle(pair.value, old[0], stage)
            elif old is not None:
                self._drop_title(pair.value, old[0])
                self._replace_value(pair.value, text)
            else:
                self._replace_value(pair.value, text)

    def _drop_title(self, value: md.Value, old: Stage) -> None:
        """Remove a trailing ``- Stage Title`` label (there is no next stage)."""
        line = self.parsed.doc.line_text(value.span.line)
        title = re.compile(r"`?\s*+(?:[-–—:]\s*+)?" + re.escape(STAGE_TITLES[old]), re.IGNORECASE)
        match = title.search(line, value.span.end)
        if match:
            start = match.start() + (1 if match.group(0).startswith("`") else 0)
            self.editor.replace(md.Span(value.span.line, start, match.end()), "")

    def _replace_stage_digits(self, value: md.Value, digits: str) -> None:
        parsed = parse_stage(value.text)
        assert parsed is not None
        _, start, end = parsed
        span = value.span
        self.editor.replace(md.Span(span.line, span.start + start, span.start + end), digits)

    def set_token(self, key: str, token: Enum) -> None:
        """Set a token field (permission, re-entry flags...). Only the old
        token is replaced; a trailing note after it stays."""
        pairs = self.parsed.fields.get(key, [])
        if not pairs:
            self._insert_field(key, str(token.value))
            return
        for pair in pairs:
            parsed = parse_token(type(token), pair.value.text)
            if parsed is not None:
                self.editor.replace(pair.value.head(parsed[1]), str(token.value))
            else:
                self._replace_value(pair.value, str(token.value))

    def set_text(self, key: str, text: str) -> None:
        self._set_field(key, text)

    # -- gate table -------------------------------------------------------
    def set_gate(self, stage: Stage, status: GateStatus, evidence: str | None = None) -> None:
        row = self.parsed.gate_rows.get(stage)
        table = self.parsed.gate_table
        if row is None:
            if table is None:
                raise ReadError(self.parsed.doc.path, (), "no Stage Gates table to record the gate in",
                                hint="add a `## Stage Gates` table with columns "
                                     "`Stage | Gate Status | Gate Rule Summary | Evidence`")
            cells = [""] * len(table.header)
            cells[self.parsed.gate_stage_col or 0] = stage.label
            cells[self.parsed.gate_status_col or 1] = status.value
            evidence_col = table.column("Evidence")
            if evidence is not None and evidence_col is not None:
                cells[evidence_col] = evidence
            self._append_row(table, cells)
            return
        self._write_cell(row, self.parsed.gate_status_col, status.value, token_enum=GateStatus)
        if evidence is not None and table is not None:
            self._write_cell(row, table.column("Evidence"), evidence)
        self.parsed.state.gates[stage] = GateRow(stage=stage, status=status, line=row.line)

    def _write_cell(self, row: md.TableRow, column: int | None, text: str,
                    token_enum: type[Enum] | None = None) -> None:
        cell = row.get(column)
        if cell is None:
            raise ReadError(self.parsed.doc.path, (row.line,),
                            "this table row has fewer cells than its header",
                            hint="give the row one cell per column")
        if not cell.text:
            self.editor.replace(cell.span, text + " ")
            return
        span = cell.span
        if token_enum is not None:
            parsed = parse_token(token_enum, cell.text)
            if parsed is not None:
                span = cell.head(parsed[1])
        self.editor.replace_cell(span, text)

    # -- transition log ---------------------------------------------------
    def append_transition(self, row: TransitionRow) -> None:
        table = self.parsed.transition_table
        values = {
            "transitionid": row.transition_id,
            "date": row.date,
            "fromstage": row.from_stage,
            "from": row.from_stage,
            "tostage": row.to_stage,
            "to": row.to_stage,
            "reason": row.reason,
            "classification": row.classification,
            "codeeditpermissionaftertransition": row.permission_after,
            "evidenceupdated": row.evidence,
        }
        if table is None:
            # No log yet: start one (under the heading if the person wrote it).
            header = ["Transition ID", "Date", "From Stage", "To Stage", "Reason", "Classification",
                      "Code Edit Permission After Transition", "Evidence Updated"]
            lines = ["", md.format_row(header), "|" + "|".join("---" for _ in header) + "|",
                     md.format_row([values[md.key_id(h)] for h in header])]
            heading = self.parsed.doc.find_heading("Transition Log")
            if heading is None:
                lines[1:1] = ["## Transition Log", ""]
                at = len(self.parsed.doc.lines)
            else:
                at = heading.line
            for text in lines:
                self.editor.insert_after(at, text)
            return
        cells = []
        for header_id in table.header_ids:
            value = values.get(header_id)
            if value is None:
                for key, candidate in values.items():
                    if key and key in header_id:
                        value = candidate
                        break
            cells.append(value or "")
        self._append_row(table, cells)

    def _append_row(self, table: md.Table, cells: list[str]) -> None:
        self.editor.insert_after(table.last_line, md.format_row(cells))

    def render(self) -> str:
        return self.editor.render()


def next_transition_id(state: WorkflowState) -> str:
    highest = 0
    for row in state.transitions:
        match = _TRANSITION_ID.match(row.transition_id.strip())
        number = ascii_int(match.group(1)) if match else None
        if number is not None:
            highest = max(highest, number)
    if state.last_transition_id:
        match = re.match(r"^T-([0-9]++)", state.last_transition_id)
        number = ascii_int(match.group(1)) if match else None
        if number is not None:
            highest = max(highest, number)
    return f"T-{highest + 1:03d}"
