"""Update ``training-validation-report.md`` in place from a run's evidence.

The report is a file people write in. ftgate owns only what it puts there:
its rows (keyed by run id, by run id + metric, by criterion id), one line per
run in the Reproducibility Record, and one "Proposed Stage 5 Decision" line.
Every other byte stays as the person left it; a cell a person filled in that
ftgate does not own (Notes, a qualitative Decision) is kept on update.

Works from plain ``run.json``/``metrics.json`` dicts, so it needs no torch.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ftgate.evidence import record as rec
from ftgate.workflow import markdown as md
from ftgate.workflow.expectations import STATUS_KEYS
from ftgate.workflow.fileio import atomic_write_text

OBJECTIVE_TYPE = {"sft": "Supervised Fine-Tuning", "dpo": "Preference Optimization"}
STRATEGY_TYPE = {"full": "Full-Parameter", "lora": "Adapter-Based", "qlora": "Quantized Adapter-Based"}

REGISTRY_HEADER = [
    "Run ID",
    "Purpose",
    "Objective Type",
    "Base Model",
    "Update Strategy",
    "Config",
    "Seed",
    "Dataset Manifest / Split",
    "Prepared Data Artifact(s)",
    "Tokenizer / Template Version",
    "Evaluation Generation Settings",
    "Hardware / Environment",
    "Status",
    "Notes",
]
METRIC_HEADER = ["Run ID", "Evaluator / Judge", "Metric Or Rubric", "Result", "Baseline", "Delta", "Notes"]
REVIEW_HEADER = ["Run ID", "Sample", "Expected", "Baseline Output", "Tuned Output", "Decision"]
CLOSURE_HEADER = [
    "Success Criteria ID",
    "Requirement ID",
    "Expected Outcome",
    "Evidence Run(s)",
    "Observed Result",
    "Decision",
    "Notes",
]
# Cells a person may fill in and ftgate must not overwrite once non-empty.
PERSON_CELLS = {md.key_id("Notes"), md.key_id("Decision")}
_PLACEHOLDER = re.compile(r"^(?:|-|—|n/?a|tbd|todo|<.*>)$", re.IGNORECASE)

PROPOSED_KEY = "Proposed Stage 5 Decision"
SAMPLE_CHARS = 80


def fmt_number(value: float | None, *, signed: bool = False) -> str:
    """4 decimals, the precision ``ftgate evidence verify`` compares at."""
    if value is None:
        return "n/a"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def fmt_metric(value: Mapping[str, Any] | None, confidence: float) -> str:
    if not value or value.get("value") is None:
        return "n/a"
    text = fmt_number(value["value"])
    extra = [f"n={value.get('n')}"]
    if value.get("ci_low") is not None and value.get("ci_high") is not None:
        extra.append(f"{confidence:.0%} CI {value['ci_low']:.2f}-{value['ci_high']:.2f}")
    return f"{text} ({', '.join(extra)})"


def _cell_text(text: str, limit: int = SAMPLE_CHARS) -> str:
    # Backticks would open code spans that swallow the table's pipes.
    flat = " ".join(str(text).replace("`", "'").split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return flat or "(empty)"


# ------------------------------------------------------------------ table edits


@dataclass
class _RowSpec:
    key: tuple[str, ...]
    cells: dict[str, str]  # header key_id -> text


class _TableWriter:
    """Upserts keyed rows into one report table, by column name not position."""

    def __init__(
        self, doc: md.Document, editor: md.Editor, section: str, header: list[str], key_columns: Sequence[str]
    ) -> None:
        self.doc, self.editor, self.section, self.header = doc, editor, section, header
        self.key_ids = [md.key_id(k) for k in key_columns]
        tables = doc.tables_in(section)
        self.table = tables[0] if tables else None
        self.pending: list[str] = []

    def _col(self, hid: str) -> int | None:
        if self.table is None:
            return None
        for i, h in enumerate(self.table.header_ids):
            if h == hid:
                return i
        return None

    def _row_key(self, row: md.TableRow) -> tuple[str, ...] | None:
        out = []
        for kid in self.key_ids:
            cell = row.get(self._col(kid))
            if cell is None:
                return None
            out.append(cell.text.strip("` "))
        return tuple(out)

    def upsert(self, spec: _RowSpec, *, keep: Callable[[md.TableRow], bool] | None = None) -> None:
        if self.table is not None:
            for row in self.table.rows:
                if self._row_key(row) == spec.key:
                    if keep is not None and keep(row):
                        return
                    self._update(row, spec)
                    return
        self.pending.append(self._new_row(spec))

    def has(self, key: tuple[str, ...]) -> bool:
        return self.table is not None and any(self._row_key(r) == key for r in self.table.rows)

    def _new_row(self, spec: _RowSpec) -> str:
        header = self.table.header if self.table is not None else self.header
        return md.format_row([spec.cells.get(md.key_id(h), "") for h in header])

    def _update(self, row: md.TableRow, spec: _RowSpec) -> None:
        assert self.table is not None
        if len(row.cells) < len(self.table.header):
            # A short row cannot be edited cell by cell; rewrite it, keeping
            # whatever person-owned text it had.
            merged = dict(spec.cells)
            for i, hid in enumerate(self.table.header_ids):
                cell = row.get(i)
                if hid in PERSON_CELLS and cell is not None and not _PLACEHOLDER.match(cell.text):
                    merged[hid] = cell.text
            line = self.doc.line_text(row.line)
            self.editor.replace(
                md.Span(row.line, 0, len(line)), md.format_row([merged.get(h, "") for h in self.table.header_ids])
            )
            return
        for i, hid in enumerate(self.table.header_ids):
            if hid not in spec.cells:
                continue
            cell = row.cells[i]
            if hid in PERSON_CELLS and not _PLACEHOLDER.match(cell.text) and hid not in self.key_ids:
                continue
            new = spec.cells[hid].replace("|", "\\|")
            if cell.text != new:
                self.editor.replace_cell(cell.span, new)

    def flush(self) -> None:
        if not self.pending:
            return
        if self.table is not None:
            for line in self.pending:
                self.editor.insert_after(self.table.last_line, line)
            return
        block = ["", md.format_row(self.header), "|" + "---|" * len(self.header), *self.pending]
        _insert_in_section(self.doc, self.editor, self.section, block)


def _insert_in_section(doc: md.Document, editor: md.Editor, section: str, block: list[str]) -> None:
    """Insert lines at the end of a section's content, creating the section if absent."""
    heading = doc.find_heading(section)
    if heading is None:
        level = min((h.level for h in doc.headings if h.level > 1), default=2)
        lines = ["", f"{'#' * level} {section}", *block]
        for line in lines if doc.lines else lines[1:]:
            editor.insert_after(len(doc.lines), line)
        return
    end = doc.section_end(heading)
    # Skip trailing blank lines so the block sits right under the content.
    while end > heading.line and not doc.line_text(end).strip():
        end -= 1
    # One insert per line so the file's own line ending is used throughout.
    for line in block:
        editor.insert_after(end, line)


def _upsert_line(doc: md.Document, editor: md.Editor, section: str, prefix: str, text: str) -> None:
    """Replace the visible line in ``section`` that starts with ``prefix``, or add it."""
    heading = doc.find_heading(section)
    if heading is None:
        _insert_in_section(doc, editor, section, ["", text])
        return
    last_item = None
    for number in doc.section_lines(heading):
        line = doc.line_text(number)
        if line.lstrip().startswith(prefix):
            editor.replace(md.Span(number, 0, len(line)), text)
            return
        if line.lstrip().startswith(("- ", "* ")):
            last_item = number
    if last_item is not None:
        # Beside the section's other items, not after a person's prose.
        editor.insert_after(last_item, text)
    else:
        _insert_in_section(doc, editor, section, ["", text])


# ------------------------------------------------------------------ the update


def template_text(ticket: str) -> str:
    raw = resources.files("ftgate.workflow").joinpath("templates/training-validation-report.md").read_text("utf-8")
    return string.Template(raw).safe_substitute(ticket=ticket)


def read_or_create(report: Path, ticket: str) -> str:
    if report.exists():
        from ftgate.workflow.fileio import read_text

        return read_text(report)
    return template_text(ticket)


def registry_cells(run: Mapping[str, Any]) -> dict[str, str]:
    cfg = run.get("config") or {}
    resolved = cfg.get("resolved") or {}
    inputs = {i.get("role"): i for i in run.get("inputs") or []}
    manifest = inputs.get("manifest") or {}
    prepared = inputs.get("prepared") or {}
    gen = run.get("generation") or {}
    env = run.get("environment") or {}
    versions = env.get("versions") or {}
    tok = run.get("tokenizer") or {}
    sampling = "greedy" if not gen.get("do_sample") else f"sampled T={gen.get('temperature')} top_p={gen.get('top_p')}"
    notes = f"evidence/{run.get('run_id')}/"
    if run.get("planned_run") and run.get("planned_run") != run.get("run_id"):
        notes += f"; plan run {run.get('planned_run')}"
    for anomaly in run.get("anomalies") or []:
        notes += f"; {_cell_text(anomaly, 100)}"
    if run.get("status") == rec.STATUS_FAILED and run.get("error"):
        notes += f"; {_cell_text(run['error'], 100)}"
    cells = {
        "Run ID": str(run.get("run_id")),
        "Purpose": _cell_text(run.get("purpose", ""), 100),
        "Objective Type": OBJECTIVE_TYPE.get(resolved.get("objective", ""), "Other"),
        "Base Model": _cell_text((resolved.get("model") or {}).get("base", ""), 100),
        "Update Strategy": STRATEGY_TYPE.get(resolved.get("strategy", ""), "Other"),
        "Config": f"{cfg.get('path')} (sha256 {str(cfg.get('sha256', ''))[:12]})",
        "Seed": str(run.get("seed")),
        "Dataset Manifest / Split": f"{manifest.get('path')} (sha256 {str(manifest.get('sha256', ''))[:12]})",
        "Prepared Data Artifact(s)": f"{prepared.get('path')}",
        "Tokenizer / Template Version": (
            f"tokenizer {str(tok.get('sha256', ''))[:12]}, template {str(tok.get('template_sha256', ''))[:12]}"
        ),
        "Evaluation Generation Settings": f"{sampling}, max_new_tokens={gen.get('max_new_tokens')}",
        "Hardware / Environment": (
            f"{env.get('device', '?')} x{env.get('world_size', 1)}; torch {versions.get('torch', '?')}, "
            f"transformers {versions.get('transformers', '?')}, trl {versions.get('trl', '?')}, "
            f"peft {versions.get('peft', '?')}"
        ),
        "Status": str(run.get("status")),
        "Notes": notes,
    }
    return {md.key_id(k): v for k, v in cells.items()}


def update_report(
    report: Path,
    *,
    run: Mapping[str, Any],
    metrics: Mapping[str, Any] | None = None,
    samples: Sequence[Mapping[str, Any]] = (),
    criteria_in_requirements: Sequence[tuple[str, str | None]] = (),
) -> None:
    """Write this run's rows into the report; only ftgate's own rows and lines change.

    ``criteria_in_requirements`` lists (SC id, R id) from requirements.md, so
    a criterion no config closes gets an ``Open`` row that says so.
    """
    ticket = str(run.get("ticket", ""))
    text = read_or_create(report, ticket)
    doc = md.parse(text, str(report))
    editor = md.Editor.for_document(doc)
    run_id = str(run.get("run_id"))

    registry = _TableWriter(doc, editor, "Run Registry", REGISTRY_HEADER, ["Run ID"])
    registry.upsert(_RowSpec((run_id,), registry_cells(run)))
    writers = [registry]

    if metrics is not None:
        writers += _metric_rows(doc, editor, run, metrics, samples, criteria_in_requirements)
        _upsert_line(doc, editor, "Reproducibility Record", f"- {run_id}:", reproducibility_line(run))
        proposal = proposed_decision(run_id, metrics, criteria_in_requirements)
        _upsert_line(doc, editor, "Gate Decision", f"- {PROPOSED_KEY}:", f"- {PROPOSED_KEY}: {proposal}")

    # Upstream writes `## Document Status` then `- Current Status: X`; older
    # reports wrote `- Document Status: X`. Either is the status line.
    status = doc.pairs_for(*STATUS_KEYS)
    if status and md.key_id(status[0].value.text) == md.key_id("Draft"):
        # ftgate has written results, so the report is no longer an empty draft;
        # `Current` stays the person's call.
        editor.replace(status[0].value.span, "In Progress")

    for writer in writers:
        writer.flush()
    new_text = editor.render()
    if new_text != text or not report.exists():
        atomic_write_text(report, new_text)


def _metric_rows(
    doc: md.Document,
    editor: md.Editor,
    run: Mapping[str, Any],
    metrics: Mapping[str, Any],
    samples: Sequence[Mapping[str, Any]],
    criteria_in_requirements: Sequence[tuple[str, str | None]],
) -> list[_TableWriter]:
    run_id = str(run.get("run_id"))
    confidence = float(metrics.get("confidence", 0.95))
    gen = run.get("generation") or {}
    judge_gen = (
        f"ftgate exact scorer, {'greedy' if not gen.get('do_sample') else 'sampled'}, "
        f"max_new_tokens={gen.get('max_new_tokens')}"
    )

    summary = _TableWriter(doc, editor, "Metric Summary", METRIC_HEADER, ["Run ID", "Metric Or Rubric"])
    for name, value in (metrics.get("result") or {}).items():
        base = (metrics.get("baseline") or {}).get(name)
        objective = ((run.get("config") or {}).get("resolved") or {}).get("objective")
        loss_judge = "held-out DPO loss vs reference model" if objective == "dpo" else "held-out loss (teacher forcing)"
        judge = (
            loss_judge
            if name in ("eval_loss", "perplexity")
            else ("TRL DPO eval vs reference model" if name in ("preference_accuracy", "reward_margin") else judge_gen)
        )
        notes = ""
        spec = (metrics.get("specs") or {}).get(name) or {}
        if spec.get("pattern"):
            notes = f"regex {spec['pattern']}"
        elif spec.get("function"):
            notes = f"user function {spec['function']}"
        elif spec.get("needle"):
            notes = f"contains {spec['needle']!r}"
        if name == "eos_rate":
            notes = "share of outputs that stopped on EOS rather than max_new_tokens"
        summary.upsert(
            _RowSpec(
                (run_id, name),
                {
                    md.key_id("Run ID"): run_id,
                    md.key_id("Evaluator / Judge"): judge,
                    md.key_id("Metric Or Rubric"): name,
                    md.key_id("Result"): fmt_metric(value, confidence),
                    md.key_id("Baseline"): fmt_metric(base, confidence),
                    md.key_id("Delta"): fmt_number((metrics.get("delta") or {}).get(name), signed=True),
                    md.key_id("Notes"): notes,
                },
            )
        )

    review = _TableWriter(doc, editor, "Qualitative Or Behavioral Review", REVIEW_HEADER, ["Run ID", "Sample"])
    for index, sample in enumerate(samples, start=1):
        label = f"S{index:02d}: {_cell_text(sample.get('prompt', ''), 60)}"
        review.upsert(
            _RowSpec(
                (run_id, label),
                {
                    md.key_id("Run ID"): run_id,
                    md.key_id("Sample"): label,
                    md.key_id("Expected"): _cell_text(sample.get("expected", "")),
                    md.key_id("Baseline Output"): _cell_text(sample.get("baseline", "")),
                    md.key_id("Tuned Output"): _cell_text(sample.get("tuned", "")),
                    # A proposal from exact match; a reviewer overrules it in place.
                    md.key_id("Decision"): "Good" if sample.get("tuned_correct") else "Bad",
                },
            )
        )

    closure = _TableWriter(doc, editor, "Success Criteria Closure", CLOSURE_HEADER, ["Success Criteria ID"])

    def waived(row: md.TableRow) -> bool:
        col = closure._col(md.key_id("Decision"))
        cell = row.get(col)
        return cell is not None and cell.text.strip("` ").lower() == "waived"

    decided = {d["id"]: d for d in metrics.get("criteria") or []}
    for sc_id, decision in decided.items():
        closure.upsert(
            _RowSpec(
                (sc_id,),
                {
                    md.key_id("Success Criteria ID"): sc_id,
                    md.key_id("Requirement ID"): decision.get("requirement")
                    or dict(criteria_in_requirements).get(sc_id)
                    or "",
                    md.key_id("Expected Outcome"): decision.get("expected", ""),
                    md.key_id("Evidence Run(s)"): run_id,
                    md.key_id("Observed Result"): _observed(decision),
                    md.key_id("Decision"): decision.get("decision", ""),
                    # Notes are a person's: a waiver's reason must be one a
                    # person wrote, so ftgate never writes its own there.
                    md.key_id("Notes"): "",
                },
            ),
            keep=waived,
        )
    # The Decision cell is ftgate's for criteria it decides: force it even
    # when a person typed something there, since verify compares it.
    _force_decisions(doc, editor, closure, decided)
    for sc_id, req in criteria_in_requirements:
        if sc_id in decided or closure.has((sc_id,)):
            continue
        closure.upsert(
            _RowSpec(
                (sc_id,),
                {
                    md.key_id("Success Criteria ID"): sc_id,
                    md.key_id("Requirement ID"): req or "",
                    md.key_id("Expected Outcome"): "see requirements.md",
                    md.key_id("Evidence Run(s)"): "",
                    md.key_id("Observed Result"): (
                        f"not measured: no training config has a success criterion {sc_id} yet "
                        "(add one, or waive it with a reason)"
                    ),
                    md.key_id("Decision"): "Open",
                    md.key_id("Notes"): "",
                },
            )
        )
    return [summary, review, closure]


def _observed(decision: Mapping[str, Any]) -> str:
    """What was measured, and why it decides as it does (verify compares this cell)."""
    observed, reason = str(decision.get("observed", "")), str(decision.get("reason", ""))
    return f"{observed}: {reason}" if reason else observed


def _force_decisions(
    doc: md.Document, editor: md.Editor, closure: _TableWriter, decided: Mapping[str, Mapping[str, Any]]
) -> None:
    if closure.table is None:
        return
    col = closure._col(md.key_id("Decision"))
    for row in closure.table.rows:
        key = closure._row_key(row)
        cell = row.get(col)
        if not key or cell is None or key[0] not in decided:
            continue
        wanted = str(decided[key[0]].get("decision", ""))
        if cell.text.strip("` ").lower() != "waived" and cell.text != wanted and not _PLACEHOLDER.match(cell.text):
            editor.replace_cell(cell.span, wanted)


def reproducibility_line(run: Mapping[str, Any]) -> str:
    git = run.get("git") or {}
    source = run.get("source") or {}
    cfg = run.get("config") or {}
    inputs = {i.get("role"): i for i in run.get("inputs") or []}
    output = run.get("output") or {}
    env = run.get("environment") or {}
    versions = ", ".join(f"{k} {v}" for k, v in (env.get("versions") or {}).items())
    # A run made elsewhere is not reproduced by `ftgate train`; say where it came from.
    how = (f"attached with `ftgate evidence attach` from {cfg.get('path')}" if run.get("kind") == "attached"
           else f"`ftgate train {cfg.get('path')}`")
    commit = str(git.get("commit") or "N/A (Non-Git)")[:12]
    dirty_flag = git.get("dirty")
    dirty = (
        "uncommitted changes" if dirty_flag is True else "clean tree" if dirty_flag is False else "tree state unknown"
    )
    return (
        f"- {run.get('run_id')}: {how} at commit {commit} ({dirty}); "
        f"source sha256 {str(source.get('hash', 'n/a'))[:12]}; config sha256 {str(cfg.get('sha256', ''))[:12]}; "
        f"manifest sha256 {str((inputs.get('manifest') or {}).get('sha256', ''))[:12]}; seed {run.get('seed')}; "
        f"weights {output.get('path')} (sha256 {str(output.get('sha256', ''))[:12]}); {versions}; "
        f"evidence evidence/{run.get('run_id')}/"
    )


def proposed_decision(
    run_id: str, metrics: Mapping[str, Any], criteria_in_requirements: Sequence[tuple[str, str | None]]
) -> str:
    decided = {d["id"]: d.get("decision") for d in metrics.get("criteria") or []}
    open_ids = [sc for sc, _ in criteria_in_requirements if sc not in decided]
    failed = [sc for sc, d in decided.items() if d == "Failed"]
    unsure = [sc for sc, d in decided.items() if d == "Inconclusive"]
    if failed:
        return f"`Fail` ({run_id}: {', '.join(failed)} Failed; recommend re-entry `Local Fix` or `Plan Impact`)"
    if unsure or open_ids:
        parts = []
        if unsure:
            parts.append(f"{', '.join(unsure)} Inconclusive")
        if open_ids:
            parts.append(f"{', '.join(open_ids)} still open")
        return f"`Blocked` ({run_id}: {'; '.join(parts)})"
    return f"`Pass` ({run_id}: every criterion Passed; confirm with `ftgate evidence verify`)"
