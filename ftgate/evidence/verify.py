"""Stage 5 evidence verification: may the gate trust this ticket's runs?

Recomputes, from the files alone, what each run recorded: that it finished,
that its config, manifest and data still hash the same, that the tree's
source still hashes the same, that no evidence file was edited afterwards,
that every success criterion in requirements.md is closed ``Passed`` or
``Waived`` (with a reason) by a run that passes all of that, and that the
report's numbers are the numbers in ``metrics.json``.

No torch, transformers or datasets here: the Stage 5 gate and ``ftgate ci``
run this without the `train` extra. The decision rules come from
``ftgate.train.metrics``/``eval_config``, which are pure Python on purpose.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftgate.errors import FtgateError
from ftgate.evidence import record as rec
from ftgate.evidence.paths import EvidencePathError, confine, confine_file
from ftgate.limits import EVIDENCE_TREE_MAX_BYTES
from ftgate.workflow.findings import Finding

_SC_TOKEN = re.compile(r"\bSC-\d{3,}\b")
_RUN_TOKEN = re.compile(r"\bRUN-\d{3,}\b")
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
# The report prints 4 decimals; anything within rounding of that matches.
NUMBER_TOLERANCE = 6e-5

_RERUN_HINT = "re-run the training (`ftgate train CONFIG`) so the evidence matches the current files"


@dataclass
class RunCheck:
    """One evidence folder, checked on its own."""

    run_id: str
    path: Path
    status: str = "unreadable"
    run: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    problems: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return self.status == rec.STATUS_COMPLETED and not self.problems

    def decisions(self) -> dict[str, dict[str, Any]]:
        if not self.metrics:
            return {}
        return {d["id"]: d for d in self.metrics.get("criteria", []) if isinstance(d, dict) and "id" in d}


@dataclass
class VerifyResult:
    ticket_path: Path
    runs: list[RunCheck]
    findings: list[Finding]
    notes: list[str]
    # SC id -> (decision, run id or None)
    closure: dict[str, tuple[str, str | None]]

    @property
    def ok(self) -> bool:
        return not self.findings


# ------------------------------------------------------------------ one run


def _rel(root: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _resolve(root: Path, stored: object, *, label: str, key: str, folder: bool = False) -> Path:
    """A path written in an evidence file, confined to the checkout
    (:func:`ftgate.evidence.paths.confine`); raises EvidencePathError."""
    return confine(root, stored, label=label, key=key, folder=folder, max_bytes=EVIDENCE_TREE_MAX_BYTES)


def verify_run(run_path: Path, *, root: Path, current_sources: dict[str, str] | None) -> RunCheck:
    check = RunCheck(run_id=run_path.name, path=run_path)
    where = _rel(root, run_path / rec.RUN_JSON)

    def problem(message: str, hint: str | None = None, path: str | None = None) -> None:
        check.problems.append(Finding(path or where, None, f"{check.run_id}: {message}", hint))

    try:
        run = rec.read_json(confine_file(root, run_path / rec.RUN_JSON, label=where))
    except EvidencePathError as exc:
        problem(exc.message)
        return check
    except FileNotFoundError:
        problem("has no run.json, so nothing about it can be checked", "remove the folder or re-run")
        return check
    except FtgateError as exc:
        problem(f"run.json is not readable ({exc.message})")
        return check
    if not isinstance(run, dict):
        problem("run.json is not a JSON object")
        return check
    check.run = run
    check.status = str(run.get("status", "unknown"))
    if run.get("run_id") not in (None, check.run_id):
        problem(f"run.json says run_id {run.get('run_id')!r} but lives in folder {check.run_id}")
    if check.status != rec.STATUS_COMPLETED:
        # Not finished: nothing else about it can close a criterion.
        return check

    try:
        _check_artifacts(check, run, run_path, root, problem)
        _check_inputs(check, run, root, problem)
        _check_sources(check, run, current_sources, problem)
        _check_outputs(check, run, root)
        _check_metrics(check, run_path, root, problem)
    except EvidencePathError as exc:
        problem(exc.message, exc.hint)
    except (AttributeError, TypeError, KeyError, ValueError) as exc:
        # A value of the wrong JSON type deep inside run.json or metrics.json:
        # a finding about that run, never a traceback in a hook.
        problem(f"run.json or metrics.json does not have the expected shape ({type(exc).__name__}: {exc})",
                "evidence files are written by `ftgate train`; restore them from git or re-run")
    return check


def _check_artifacts(check: RunCheck, run: dict[str, Any], run_path: Path, root: Path, problem: Any) -> None:
    artifacts = run.get("artifacts") or {}
    if rec.METRICS_JSON not in artifacts:
        problem("run.json records no metrics.json hash; the run did not finish writing its evidence")
    for name, expected in artifacts.items():
        path = confine(run_path, name, label=_rel(root, run_path / rec.RUN_JSON), key=f"artifacts.{name}")
        if not path.is_file():
            problem(f"{name} is missing from the evidence folder", _RERUN_HINT, _rel(root, path))
        elif rec.sha256_file(path) != expected:
            problem(
                f"{name} was changed after the run wrote it (hash differs from run.json)",
                "evidence files are written by `ftgate train` only; restore the file from git or re-run",
                _rel(root, path),
            )


def _check_inputs(check: RunCheck, run: dict[str, Any], root: Path, problem: Any) -> None:
    for item in run.get("inputs") or []:
        role, stored, expected = item.get("role", "input"), item.get("path"), item.get("sha256")
        if not stored or not expected:
            continue
        try:
            path = _resolve(root, stored, label=_rel(root, check.path / rec.RUN_JSON), key=f"inputs.{role}.path",
                            folder=True)
        except EvidencePathError as exc:
            if item.get("tracked"):
                raise
            # An untracked input may live outside the repository (a local
            # base model); it is never opened, and says so, like an absent one.
            check.notes.append(f"{check.run_id}: {role} {stored} was not opened ({exc.problem}); "
                               "its hash was not checked")
            continue
        if not path.exists():
            if item.get("tracked"):
                problem(f"{role} {stored} no longer exists", _RERUN_HINT)
            else:
                # Untracked inputs (prepared data, local data) are absent on
                # a fresh CI checkout; absent is not the same as changed.
                check.notes.append(f"{check.run_id}: {role} {stored} is not present here; its hash was not checked")
            continue
        actual = rec.sha256_tree(path) if path.is_dir() else rec.sha256_file(path)
        if actual != expected:
            hint = _RERUN_HINT
            if role in ("data", "prepared", "manifest"):
                hint = "run `ftgate data prepare CONFIG`, then `ftgate train CONFIG`"
            problem(f"{role} {stored} changed since the run (sha256 {expected[:12]} -> {actual[:12]})", hint)


def _check_sources(check: RunCheck, run: dict[str, Any], current: dict[str, str] | None, problem: Any) -> None:
    source = run.get("source") or {}
    recorded = source.get("files")
    if recorded is None or current is None:
        check.notes.append(f"{check.run_id}: not a git checkout, source hash not compared")
        return
    if rec.combine_hashes(recorded) != source.get("hash"):
        problem("run.json's source file list does not add up to its recorded source hash")
    if rec.combine_hashes(current) == source.get("hash"):
        return
    changed, added, removed = rec.diff_hashes(recorded, current)
    parts = []
    for label, paths in (("changed", changed), ("added", added), ("removed", removed)):
        if paths:
            shown = ", ".join(paths[:8]) + (f" and {len(paths) - 8} more" if len(paths) > 8 else "")
            parts.append(f"{label}: {shown}")
    problem(
        "the source changed after the run, so its evidence is stale (" + "; ".join(parts) + ")",
        _RERUN_HINT,
    )


def _check_outputs(check: RunCheck, run: dict[str, Any], root: Path) -> None:
    output = run.get("output") or {}
    stored, expected = output.get("path"), output.get("sha256")
    if not stored or not expected:
        return
    try:
        path = _resolve(root, stored, label=_rel(root, check.path / rec.RUN_JSON), key="output.path", folder=True)
    except EvidencePathError as exc:
        check.notes.append(f"{check.run_id}: weights at {stored} were not opened ({exc.problem}); "
                           "their hash was not checked")
        return
    if not path.exists():
        check.notes.append(f"{check.run_id}: weights at {stored} are not present here; their hash was not checked")
        return
    if rec.sha256_tree(path) != expected:
        check.problems.append(
            Finding(
                str(stored), None,
                f"{check.run_id}: the trained weights at {stored} differ from the ones the run evaluated",
                _RERUN_HINT,
            )
        )


def _check_metrics(check: RunCheck, run_path: Path, root: Path, problem: Any) -> None:
    path = confine_file(root, run_path / rec.METRICS_JSON, label=_rel(root, run_path / rec.METRICS_JSON))
    try:
        metrics = rec.read_json(path)
    except FileNotFoundError:
        return  # already reported as a missing artifact
    except FtgateError as exc:
        problem(f"metrics.json is not readable ({exc.message})")
        return
    check.metrics = metrics
    # Re-decide every criterion from the recorded numbers: a decision the
    # numbers do not support is not evidence.
    from ftgate.train.eval_config import SuccessCriterion
    from ftgate.train.metrics import MetricValue, decide

    try:
        base = {k: MetricValue.from_dict(v) for k, v in (metrics.get("baseline") or {}).items()}
        res = {k: MetricValue.from_dict(v) for k, v in (metrics.get("result") or {}).items()}
        criteria = [SuccessCriterion.model_validate(c) for c in metrics.get("criteria_config") or []]
        min_n = int(metrics.get("min_n", 1))
    except (TypeError, ValueError) as exc:
        problem(f"metrics.json does not have the expected shape ({exc})")
        return
    recorded = check.decisions()
    for criterion in criteria:
        again = decide(criterion, base, res, min_n=min_n)
        claimed = recorded.get(criterion.id, {}).get("decision")
        if claimed != again.decision:
            problem(
                f"metrics.json records {criterion.id} as {claimed!r} but its own numbers give {again.decision!r}",
                "do not edit metrics.json by hand; re-run",
                _rel(root, path),
            )


# ------------------------------------------------------------------ the ticket


def requirements_criteria(requirements: Path) -> list[tuple[str, str | None]]:
    """(SC id, R id or None) declared in requirements.md, in file order.

    Lines inside HTML comments and code fences do not count: templates keep
    their examples there.
    """
    if not requirements.is_file():
        return []
    from ftgate.workflow.markdown import parse

    from ftgate.workflow.artifacts import read_success_criteria

    doc = parse(requirements.read_text(encoding="utf-8"), str(requirements))
    return [(c.ident, c.requirement) for c in read_success_criteria(doc)]


def success_criteria_ids(requirements: Path) -> list[str]:
    return [sc for sc, _ in requirements_criteria(requirements)]


def verify_ticket(ticket_path: Path, *, root: Path | None = None) -> VerifyResult:
    ticket_path = ticket_path.resolve()
    root = (root or rec.find_repo_root(ticket_path)).resolve()
    findings: list[Finding] = []
    notes: list[str] = []
    current_sources = rec.source_hashes(root)

    checks = [verify_run(p, root=root, current_sources=current_sources) for p in rec.run_dirs(ticket_path)]
    report_path = ticket_path / rec.REPORT_FILE
    report = _read_report(report_path, root, findings)

    for check in checks:
        if check.status == rec.STATUS_RUNNING:
            findings.append(
                Finding(
                    _rel(root, check.path / rec.RUN_JSON), None,
                    f"{check.run_id} is still Running (interrupted, or in progress)",
                    "resume it with `ftgate train CONFIG --resume`, or let it finish",
                )
            )
        elif check.status == rec.STATUS_FAILED:
            notes.append(f"{check.run_id} is Failed and closes nothing")
        elif check.status != rec.STATUS_COMPLETED:
            findings.extend(check.problems or [
                Finding(_rel(root, check.path / rec.RUN_JSON), None,
                        f"{check.run_id} has status {check.status!r}, expected Completed, Failed or Running")
            ])

    if not any(c.status == rec.STATUS_COMPLETED for c in checks):
        findings.append(
            Finding(
                _rel(root, ticket_path / rec.EVIDENCE_DIR), None,
                "no completed training run has evidence in this ticket",
                "run `ftgate train CONFIG` with the ticket's config",
            )
        )

    requirements = ticket_path / rec.REQUIREMENTS_FILE
    try:
        confine_file(root, requirements, label=_rel(root, requirements))
        confined = None
    except EvidencePathError as exc:
        confined = exc
    if confined is not None:
        findings.append(Finding(_rel(root, requirements), None, confined.message, confined.hint))
        sc_ids: list[str] = []
    elif not requirements.is_file():
        findings.append(Finding(_rel(root, requirements), None, "requirements.md is missing; no criteria to close"))
        sc_ids = []
    else:
        sc_ids = success_criteria_ids(requirements)
        if not sc_ids:
            findings.append(
                Finding(_rel(root, requirements), None, "requirements.md declares no success criteria (SC-001...)")
            )

    waived = report.waivers if report else {}
    closure: dict[str, tuple[str, str | None]] = {}
    relied: dict[str, RunCheck] = {}
    completed = [c for c in checks if c.status == rec.STATUS_COMPLETED]
    for sc in sc_ids:
        if sc in waived:
            reason, line = waived[sc]
            if reason:
                closure[sc] = ("Waived", None)
            else:
                closure[sc] = ("Waived", None)
                findings.append(
                    Finding(_rel(root, report_path), line, f"{sc} is Waived without a reason",
                            "write why it is waived in the row's Notes")
                )
            continue
        deciding = [c for c in completed if sc in c.decisions()]
        if not deciding:
            closure[sc] = ("Open", None)
            findings.append(
                Finding(
                    _rel(root, requirements), None,
                    f"{sc} is still open: no completed run's success_criteria decides it",
                    f"add a criterion with id {sc} to a training config and run it, or waive it with a reason",
                )
            )
            continue
        # The latest run that decides a criterion supersedes earlier ones.
        latest = deciding[-1]
        relied[latest.run_id] = latest
        decision = latest.decisions()[sc]
        closure[sc] = (str(decision.get("decision")), latest.run_id)
        if not latest.verified:
            findings.append(
                Finding(
                    _rel(root, latest.path / rec.RUN_JSON), None,
                    f"{sc} rests on {latest.run_id}, which does not verify (see below)",
                )
            )
        elif decision.get("decision") != "Passed":
            findings.append(
                Finding(
                    _rel(root, latest.path / rec.METRICS_JSON), None,
                    f"{sc} is {decision.get('decision')} in {latest.run_id}: {decision.get('reason', '')}".rstrip(": "),
                    "improve the run and train again, or waive the criterion with a reason",
                )
            )

    for check in completed:
        if check.run_id in relied or not sc_ids:
            findings.extend(check.problems)
        elif check.problems:
            notes.append(f"{check.run_id} is superseded by a later run; its {len(check.problems)} problem(s) do not count")
        notes.extend(check.notes)

    if report is not None:
        findings.extend(_check_report(report, checks, root))
    return VerifyResult(ticket_path, checks, findings, notes, closure)


def gate_findings(ticket_path: Path, *, root: Path | None = None) -> list[Finding]:
    """What the Stage 5 gate and ``ftgate ci`` add: the evidence's findings.

    Findings the report-only gate already states (no completed run, a
    missing report) are left to it, so nothing is said twice.
    """
    return verify_ticket(ticket_path, root=root).findings


# ------------------------------------------------------------------ the report


@dataclass
class _Report:
    path: Path
    rel: str
    doc: Any
    waivers: dict[str, tuple[str, int]]


def _read_report(path: Path, root: Path, findings: list[Finding]) -> _Report | None:
    from ftgate.workflow.markdown import parse

    rel = _rel(root, path)
    try:
        confine_file(root, path, label=rel)
    except EvidencePathError as exc:
        findings.append(Finding(rel, None, exc.message, exc.hint))
        return None
    if not path.is_file():
        findings.append(Finding(rel, None, "training-validation-report.md is missing",
                                "`ftgate train` creates and updates it"))
        return None
    doc = parse(path.read_text(encoding="utf-8"), rel)
    waivers: dict[str, tuple[str, int]] = {}
    for table in doc.tables_in("Success Criteria Closure"):
        sc_col = table.column("Success Criteria ID", "SC ID", "Success Criterion")
        dec_col = table.column("Decision", "Status")
        notes_col = table.column("Notes", "Reason")
        for row in table.rows:
            sc_cell, dec_cell = row.get(sc_col), row.get(dec_col)
            if not sc_cell or not dec_cell:
                continue
            match = _SC_TOKEN.search(sc_cell.text)
            if match and dec_cell.text.strip("` ").lower() == "waived":
                note = row.get(notes_col)
                waivers[match.group(0)] = ((note.text if note else "").strip(), row.line)
    return _Report(path, rel, doc, waivers)


def _first_number(text: str) -> float | None:
    match = _NUMBER.search(text.replace("\u2212", "-"))
    return float(match.group(0)) if match else None


def _same(claimed: str, actual: float | None) -> bool:
    if actual is None or (isinstance(actual, float) and math.isnan(actual)):
        return _first_number(claimed) is None
    value = _first_number(claimed)
    return value is not None and abs(value - actual) <= NUMBER_TOLERANCE * max(1.0, abs(actual))


def _check_report(report: _Report, checks: list[RunCheck], root: Path) -> list[Finding]:
    findings: list[Finding] = []
    by_id = {c.run_id: c for c in checks}
    doc = report.doc

    for table in doc.tables_in("Run Registry"):
        run_col, status_col = table.column("Run ID", "Run"), table.column("Status")
        for row in table.rows:
            run_cell, status_cell = row.get(run_col), row.get(status_col)
            if not run_cell or not status_cell:
                continue
            check = by_id.get(run_cell.text.strip("` "))
            if check and check.run and status_cell.text.strip("` ") != check.status:
                findings.append(Finding(report.rel, row.line,
                                        f"Run Registry says {check.run_id} is {status_cell.text!r}, "
                                        f"its run.json says {check.status!r}"))

    seen: set[tuple[str, str]] = set()
    for table in doc.tables_in("Metric Summary"):
        cols = {name: table.column(*alts) for name, alts in {
            "run": ("Run ID", "Run"), "metric": ("Metric Or Rubric", "Metric"),
            "result": ("Result",), "baseline": ("Baseline",), "delta": ("Delta",)}.items()}
        for row in table.rows:
            run_cell, metric_cell = row.get(cols["run"]), row.get(cols["metric"])
            if not run_cell or not metric_cell:
                continue
            run_id = run_cell.text.strip("` ")
            check = by_id.get(run_id)
            if check is None or not check.metrics:
                continue
            metric = metric_cell.text.strip("` ")
            seen.add((run_id, metric))
            m = check.metrics
            if metric not in (m.get("result") or {}):
                findings.append(Finding(report.rel, row.line,
                                        f"Metric Summary lists {metric!r} for {run_id}, which its metrics.json lacks"))
                continue
            expected = {
                "result": (m["result"].get(metric) or {}).get("value"),
                "baseline": ((m.get("baseline") or {}).get(metric) or {}).get("value"),
                "delta": (m.get("delta") or {}).get(metric),
            }
            for column, actual in expected.items():
                cell = row.get(cols[column])
                if cell is None:
                    continue
                if not _same(cell.text, actual):
                    findings.append(Finding(
                        report.rel, row.line,
                        f"Metric Summary {column} for {run_id} {metric} reads {cell.text!r} "
                        f"but metrics.json has {_show(actual)}",
                        "the report's numbers must be the evidence's; restore them from metrics.json",
                    ))

    for check in checks:
        if check.run_id and check.metrics and check.status == rec.STATUS_COMPLETED:
            missing = [k for k in (check.metrics.get("result") or {}) if (check.run_id, k) not in seen]
            if missing and not any(r == check.run_id for r, _ in seen):
                findings.append(Finding(report.rel, None,
                                        f"Metric Summary has no rows for {check.run_id}",
                                        "`ftgate train` writes them; restore the rows from metrics.json"))

    for table in doc.tables_in("Success Criteria Closure"):
        sc_col = table.column("Success Criteria ID", "SC ID", "Success Criterion")
        dec_col = table.column("Decision", "Status")
        runs_col = table.column("Evidence Run(s)", "Evidence Runs", "Evidence Run", "Evidence")
        for row in table.rows:
            sc_cell, dec_cell, runs_cell = row.get(sc_col), row.get(dec_col), row.get(runs_col)
            if not sc_cell or not dec_cell:
                continue
            sc_match = _SC_TOKEN.search(sc_cell.text)
            written = dec_cell.text.strip("` ")
            if not sc_match or written.lower() == "waived":
                continue
            for run_id in _RUN_TOKEN.findall(runs_cell.text if runs_cell else ""):
                check = by_id.get(run_id)
                decision = check.decisions().get(sc_match.group(0)) if check else None
                if decision and written != decision.get("decision"):
                    findings.append(Finding(
                        report.rel, row.line,
                        f"Success Criteria Closure says {sc_match.group(0)} is {written!r}, "
                        f"but {run_id}'s metrics.json decides {decision.get('decision')!r}",
                    ))
    return findings


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return json.dumps(value)


# ------------------------------------------------------------------ entry points


def resolve_ticket(ticket: str | None, *, cwd: Path | None = None) -> Path:
    """The ticket folder for a name or folder, FTGATE_TICKET, the codex/<name>
    branch, or the only ticket in progress (the core's resolution rules)."""
    from ftgate.workflow.tickets import find_repo_root, resolve_ticket as core_resolve

    cwd = (cwd or Path.cwd()).resolve()
    if ticket and ("/" in ticket or "\\" in ticket):
        folder = (cwd / ticket).resolve()
        if not folder.is_dir():
            raise FtgateError(f"{ticket}: no such ticket folder")
        return folder
    return core_resolve(ticket, find_repo_root(cwd), include_done=True).folder


def render(result: VerifyResult, *, root: Path | None = None) -> str:
    lines: list[str] = []
    for check in result.runs:
        state = "verified" if check.verified else check.status
        lines.append(f"{check.run_id}: {state}")
    for sc, (decision, run_id) in result.closure.items():
        lines.append(f"{sc}: {decision}" + (f" ({run_id})" if run_id else ""))
    for note in result.notes:
        lines.append(f"note: {note}")
    for finding in result.findings:
        lines.append(finding.render())
    lines.append("evidence: OK" if result.ok else f"evidence: {len(result.findings)} problem(s)")
    return "\n".join(lines)
