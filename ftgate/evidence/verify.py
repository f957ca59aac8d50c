"""Stage 5 evidence verification: may the gate trust this ticket's runs?

Recomputes, from the files alone, what each run recorded: that it finished,
that its config, manifest and data still hash the same, that the tree's
source still hashes the same, that no evidence file was edited afterwards,
that every success criterion in requirements.md is closed ``Passed`` or
``Waived`` (with a reason) by a run that passes all of that, and that the
report's numbers are the numbers in ``metrics.json``.

No torch, transformers or datasets here: the Stage 5 gate and ``ftgate ci``
run this without the `train` extra. The decision rules are this layer's own
``ftgate.evidence.metrics`` and ``criteria``, which the trainer imports too.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftgate import hashing
from ftgate.errors import FtgateError
from ftgate.evidence import record as rec
from ftgate.evidence.metrics import decide
from ftgate.evidence.paths import EvidencePathError, confine, confine_file
from ftgate.evidence.schema import DecisionRecord, MetricsRecord, RecordShapeError, RunRecord, load_record
from ftgate.evidence.statement import STATEMENT_JSON, check_statement
from ftgate.limits import EVIDENCE_TREE_MAX_BYTES
from ftgate.workflow.findings import Finding

_SC_TOKEN = re.compile(r"\bSC-\d{3,}\b")
_RUN_TOKEN = re.compile(r"\bRUN-\d{3,}\b")
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
# The report prints 4 decimals; anything within rounding of that matches.
NUMBER_TOLERANCE = 6e-5

CONSISTENCY_ONLY = ("note: no evidence signers are configured (ftgate.yaml `evidence_signers`): this proves the "
                    "evidence is consistent, not who produced it")

_RERUN_HINT = "re-run the training (`ftgate train CONFIG`) so the evidence matches the current files"


@dataclass
class RunCheck:
    """One evidence folder, checked on its own."""

    run_id: str
    path: Path
    status: str = "unreadable"
    run: RunRecord | None = None
    metrics: MetricsRecord | None = None
    problems: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return self.status == rec.STATUS_COMPLETED and not self.problems

    def decisions(self) -> dict[str, DecisionRecord]:
        return self.metrics.decisions() if self.metrics else {}


@dataclass
class VerifyResult:
    ticket_path: Path
    runs: list[RunCheck]
    findings: list[Finding]
    notes: list[str]
    # SC id -> (decision, run id or None)
    closure: dict[str, tuple[str, str | None]]
    # Whether trusted evidence signers are configured (ftgate.yaml `evidence_signers`).
    signed: bool = False

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


class _Problems:
    """Adds findings to one run's check, placed at its run.json unless told otherwise."""

    def __init__(self, check: RunCheck, where: str) -> None:
        self.check, self.where = check, where

    def __call__(self, message: str, hint: str | None = None, path: str | None = None) -> None:
        self.check.problems.append(Finding(path or self.where, None, f"{self.check.run_id}: {message}", hint))


def verify_run(run_path: Path, *, root: Path, current_sources: dict[str, str] | None) -> RunCheck:
    check = RunCheck(run_id=run_path.name, path=run_path)
    where = _rel(root, run_path / rec.RUN_JSON)
    problem = _Problems(check, where)
    try:
        run = load_record(RunRecord, confine_file(root, run_path / rec.RUN_JSON, label=where), where)
    except EvidencePathError as exc:
        problem(exc.message, exc.hint)
        return check
    except FileNotFoundError:
        problem("has no run.json, so nothing about it can be checked", "remove the folder or re-run")
        return check
    except RecordShapeError as exc:
        problem(f"run.json does not have the expected shape: `{exc.key}`: {exc.problem}", exc.hint)
        return check
    except FtgateError as exc:
        problem(f"run.json is not readable ({exc.message})")
        return check
    check.run = run
    check.status = run.status
    if run.run_id not in (None, check.run_id):
        problem(f"run.json says run_id {run.run_id!r} but lives in folder {check.run_id}")
    if check.status != rec.STATUS_COMPLETED:
        # Not finished: nothing else about it can close a criterion.
        return check

    from ftgate.evidence import attach

    attached = attach.is_attached(run)
    try:
        if not attached:
            # An attached run is bound and rescored by its own checks below.
            _check_binding(run, run_path, root, problem)
        _check_artifacts(run, run_path, root, problem)
        _check_inputs(check, run, root, problem)
        _check_sources(check, run, current_sources, problem)
        if not attached:
            _check_base_weights(check, run, root, problem)
        _check_outputs(check, run, root)
        _check_metrics(check, run_path, root, problem)
        if check.metrics is not None and not attached:
            _check_recomputed(check, run, run_path, root, problem)
    except EvidencePathError as exc:
        # A path that leaves the tree ends the run's check: what it would
        # have hashed is never opened.
        problem(exc.message, exc.hint)
        return check
    if attached:
        # A run made elsewhere: its numbers are recomputed from its recorded generations.
        check.problems.extend(attach.findings_for(run_path, run, root=root))
    if (run_path / STATEMENT_JSON).is_file():
        for message in check_statement(run_path, rec.read_json(run_path / rec.RUN_JSON)):
            problem(f"{message}: the files are not the ones the run's statement lists",
                    "evidence files are written by `ftgate train` only; restore them from git or re-run")
    return check


def _check_binding(run: RunRecord, run_path: Path, root: Path, problem: _Problems) -> None:
    """The record names its ticket and folder: evidence moved elsewhere proves nothing there."""
    ticket = run_path.parent.parent.name
    if run.ticket != ticket:
        problem(f"run.json belongs to ticket {run.ticket!r}, but it sits in ticket {ticket!r}",
                "evidence cannot be copied between tickets; run the training for this ticket")
    stored = getattr(run, "run_path", None)
    here = _rel(root, run_path)
    if stored is None:
        problem("run.json does not record its run folder (written before evidence was bound to its place)",
                _RERUN_HINT)
    elif _place(stored) != _place(here):
        problem(f"run.json was written for {stored}, but it sits in {here}",
                "evidence cannot be moved or copied between run folders; re-run")


def _place(run_path: str) -> str:
    # Archiving moves a ticket from in-progress/ to done/; it stays the same place.
    return re.sub(r"(^|/)tickets/(?:in-progress|done)/", r"\1tickets/", run_path)


def _check_base_weights(check: RunCheck, run: RunRecord, root: Path, problem: _Problems) -> None:
    base = getattr(run, "base_model", None)
    if not isinstance(base, dict):
        problem("run.json records no base model", _RERUN_HINT)
        return
    stored, expected = base.get("path"), base.get("weights_sha256")
    if not stored or not expected:
        if base.get("revision"):
            check.notes.append(f"{check.run_id}: base model {base.get('source')} pinned at revision "
                               f"{base['revision']}; its weights were not checked here")
        else:
            problem("run.json records neither a base-weights hash nor a pinned revision", _RERUN_HINT)
        return
    try:
        path = _resolve(root, stored, label="run.json", key="base_model.path", folder=True)
    except EvidencePathError as exc:
        # Weights usually live outside the checkout; what lies outside it is
        # never opened by a verifier that may run inside a server hook.
        check.notes.append(f"{check.run_id}: base weights at {stored} not checked ({exc.message})")
        return
    if not path.exists():
        check.notes.append(f"{check.run_id}: base weights at {stored} not checked (not present here)")
        return
    from ftgate.evidence.weights import weights_hash

    actual = weights_hash(path)
    if actual != expected:
        problem(f"the base model's weights at {stored} differ from the ones the run trained on "
                f"(sha256 {expected[:12]} -> {actual[:12]})", _RERUN_HINT)


def _check_recomputed(check: RunCheck, run: RunRecord, run_path: Path, root: Path, problem: _Problems) -> None:
    """Every task metric and decision again from the raw outputs; the losses from the trainer's log."""
    from ftgate.evidence import recompute as rc

    metrics = check.metrics
    assert metrics is not None
    gen_path, log_path = run_path / rec.GENERATIONS_JSONL, run_path / rec.LOG_HISTORY_JSON
    gen_rel, log_rel, met_rel = _rel(root, gen_path), _rel(root, log_path), _rel(root, run_path / rec.METRICS_JSON)
    if not gen_path.is_file():
        problem(f"{rec.GENERATIONS_JSONL} is missing, so no metric can be recomputed from raw outputs",
                _RERUN_HINT, gen_rel)
        return
    try:
        rows = rc.read_generations(gen_path, gen_rel)
        history = rec.read_json(log_path) if log_path.is_file() else []
    except FtgateError as exc:
        problem(exc.message, _RERUN_HINT, gen_rel)
        return
    from ftgate.evidence.criteria import MetricSpec

    specs = []
    for name, spec in metrics.specs.items():
        parsed = MetricSpec.model_validate(spec)
        if parsed.kind == "function":
            check.notes.append(f"{check.run_id}: {name} is a user function; not recomputed here")
            continue
        specs.append(parsed)
    recomputed = rc.recompute_metrics(rows, specs, confidence=metrics.confidence or 0.95)
    recorded = {"baseline": metrics.values(metrics.baseline), "result": metrics.values(metrics.result)}
    found = rc.compare_metrics(recorded, recomputed, file=met_rel)
    logged = rc.loss_from_history(history if isinstance(history, list) else [])
    if not logged and any(k in metrics.result for k in ("eval_loss", "preference_accuracy")):
        problem(f"{rec.LOG_HISTORY_JSON} logs no evaluation, so the loss metrics cannot be checked",
                _RERUN_HINT, log_rel)
    found += rc.compare_losses(recorded, logged, file=met_rel)
    # Decide again from the raw sources' numbers, not from metrics.json's.
    for key in ("baseline", "result"):
        recorded[key].update(recomputed[key])
        for name, loss in logged.get(key, {}).items():
            if name in recorded[key]:
                old = recorded[key][name]
                recorded[key][name] = type(old)(old.name, loss, old.n, old.ci_low, old.ci_high, old.proportion)
    for name, claimed in metrics.delta.items():
        res, base = recorded["result"].get(name), recorded["baseline"].get(name)
        if res is not None and base is not None and res.value is not None and base.value is not None \
                and claimed is not None and abs((res.value - base.value) - claimed) > 1e-9 * max(1.0, abs(claimed)):
            found.append(rc.Disagreement(met_rel, f"delta.{name}", claimed, res.value - base.value))
    found += rc.redecide(metrics.criteria_config, recorded["baseline"], recorded["result"],
                         {d.id: d.decision for d in metrics.criteria}, min_n=metrics.min_n, file=met_rel)
    for item in found:
        problem(item.message(), "metrics are recomputed from generations.jsonl and log_history.json; "
                                "do not edit the evidence, re-run", item.file)


def _check_artifacts(run: RunRecord, run_path: Path, root: Path, problem: _Problems) -> None:
    artifacts = run.artifacts or {}
    if rec.METRICS_JSON not in artifacts:
        problem("run.json records no metrics.json hash; the run did not finish writing its evidence")
    for name, expected in artifacts.items():
        path = confine(run_path, name, label=_rel(root, run_path / rec.RUN_JSON), key=f"artifacts.{name}")
        if not path.is_file():
            problem(f"{name} is missing from the evidence folder", _RERUN_HINT, _rel(root, path))
        elif hashing.sha256_file(path) != expected:
            problem(
                f"{name} was changed after the run wrote it (hash differs from run.json)",
                "evidence files are written by `ftgate train` only; restore the file from git or re-run",
                _rel(root, path),
            )


def _check_inputs(check: RunCheck, run: RunRecord, root: Path, problem: _Problems) -> None:
    for item in run.inputs:
        role, stored, expected = item.role, item.path, item.sha256
        if not stored or not expected:
            continue
        try:
            path = _resolve(root, stored, label=_rel(root, check.path / rec.RUN_JSON), key=f"inputs.{role}.path",
                            folder=True)
        except EvidencePathError as exc:
            if item.tracked:
                raise
            # An untracked input may live outside the repository (a local
            # base model); it is never opened, and says so, like an absent one.
            check.notes.append(f"{check.run_id}: {role} {stored} was not opened ({exc.problem}); "
                               "its hash was not checked")
            continue
        if not path.exists():
            if item.tracked:
                problem(f"{role} {stored} no longer exists", _RERUN_HINT)
            else:
                # Untracked inputs (prepared data, local data) are absent on
                # a fresh CI checkout; absent is not the same as changed.
                check.notes.append(f"{check.run_id}: {role} {stored} is not present here; its hash was not checked")
            continue
        actual = hashing.sha256_path(path)
        if actual != expected:
            hint = _RERUN_HINT
            if role in ("data", "prepared", "manifest"):
                hint = "run `ftgate data prepare CONFIG`, then `ftgate train CONFIG`"
            problem(f"{role} {stored} changed since the run (sha256 {expected[:12]} -> {actual[:12]})", hint)


def _check_sources(check: RunCheck, run: RunRecord, current: dict[str, str] | None, problem: _Problems) -> None:
    recorded = run.source.files
    if recorded is None or current is None:
        check.notes.append(f"{check.run_id}: not a git checkout, source hash not compared")
        return
    if hashing.combine_hashes(recorded) != run.source.hash:
        problem("run.json's source file list does not add up to its recorded source hash")
    if hashing.combine_hashes(current) == run.source.hash:
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


def _check_outputs(check: RunCheck, run: RunRecord, root: Path) -> None:
    stored, expected = run.output.path, run.output.sha256
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
    if hashing.sha256_tree(path) != expected:
        check.problems.append(
            Finding(
                str(stored),
                None,
                f"{check.run_id}: the trained weights at {stored} differ from the ones the run evaluated",
                _RERUN_HINT,
            )
        )


def _check_metrics(check: RunCheck, run_path: Path, root: Path, problem: _Problems) -> None:
    where = _rel(root, run_path / rec.METRICS_JSON)
    path = confine_file(root, run_path / rec.METRICS_JSON, label=where)
    try:
        metrics = load_record(MetricsRecord, path, where)
    except FileNotFoundError:
        return  # already reported as a missing artifact
    except RecordShapeError as exc:
        problem(f"metrics.json does not have the expected shape: `{exc.key}`: {exc.problem}", exc.hint, where)
        return
    except FtgateError as exc:
        problem(f"metrics.json is not readable ({exc.message})")
        return
    check.metrics = metrics
    # Re-decide every criterion from the recorded numbers: a decision the
    # numbers do not support is not evidence.
    base, res = metrics.values(metrics.baseline), metrics.values(metrics.result)
    recorded = metrics.decisions()
    for criterion in metrics.criteria_config:
        again = decide(criterion, base, res, min_n=metrics.min_n)
        claimed = recorded[criterion.id].decision if criterion.id in recorded else None
        if claimed != again.decision:
            problem(
                f"metrics.json records {criterion.id} as {claimed!r} but its own numbers give {again.decision!r}",
                "do not edit metrics.json by hand; re-run",
                where,
            )


# ------------------------------------------------------------------ the ticket


def requirements_criteria(requirements: Path) -> list[tuple[str, str | None]]:
    """(SC id, R id or None) declared in requirements.md, in file order.

    Lines inside HTML comments and code fences do not count: templates keep
    their examples there.
    """
    if not requirements.is_file():
        return []
    from ftgate.workflow.artifacts import read_success_criteria
    from ftgate.workflow.markdown import parse

    doc = parse(requirements.read_text(encoding="utf-8"), str(requirements))
    return [(c.ident, c.requirement) for c in read_success_criteria(doc)]


def success_criteria_ids(requirements: Path) -> list[str]:
    return [sc for sc, _ in requirements_criteria(requirements)]


# A waiver's approval, when approvals are configured: (SC id, reason, report
# line) -> a problem, or None when a valid signed approval exists. The one a
# checkout's ftgate.yaml asks for is ftgate.evidence.approval_files.waiver_check;
# the git doors check the `waive` approval in the transition check instead,
# against the policy in force (the parent's), where a signed commit counts too.
WaiverApproval = Callable[[str, str, int], str | None]


def verify_ticket(ticket_path: Path, *, root: Path | None = None,
                  waiver_approval: WaiverApproval | None = None) -> VerifyResult:
    """Every run checked on its own, then every success criterion closed by the latest run that decides it.

    ``waiver_approval`` is the approvals layer's hook: called for each
    waived criterion that has a person's reason, its answer is a finding.
    """
    ticket_path = ticket_path.resolve()
    root = (root or rec.find_repo_root(ticket_path)).resolve()
    current_sources = rec.source_hashes(root)
    checks = [verify_run(p, root=root, current_sources=current_sources) for p in rec.run_dirs(ticket_path)]
    findings: list[Finding] = []
    notes: list[str] = []
    signers = _signers(root, findings)
    report_path = ticket_path / rec.REPORT_FILE
    report = _read_report(report_path, root, findings)
    requirements = ticket_path / rec.REQUIREMENTS_FILE
    stated = _stated(requirements)
    for check in checks:
        if check.status == rec.STATUS_COMPLETED:
            if signers is not None:
                _check_signed(check, signers, root)
            if check.metrics is not None:
                _check_against_requirements(check, stated, root)

    findings += _status_findings(checks, root, notes)
    if not any(c.status == rec.STATUS_COMPLETED for c in checks):
        findings.append(
            Finding(
                _rel(root, ticket_path / rec.EVIDENCE_DIR),
                None,
                "no completed training run has evidence in this ticket",
                "run `ftgate train CONFIG` with the ticket's config",
            )
        )
    sc_ids = _declared_criteria(requirements, root, findings)
    completed = [c for c in checks if c.status == rec.STATUS_COMPLETED]
    closing = _Closure(
        root=root, requirements=requirements, report_path=report_path, waived=report.waivers if report else {},
        machine_reasons=_machine_reasons(checks), waiver_approval=waiver_approval,
    )
    for sc in sc_ids:
        closing.close(sc, completed)
    # A run's own problems before the criteria that rest on it: a door that
    # shows only the first few findings must show why, not only that.
    findings += _run_problems(completed, closing.relied, bool(sc_ids), notes)
    findings += closing.findings
    if report is not None:
        findings.extend(_check_report(report, checks, root))
    return VerifyResult(ticket_path, checks, findings, notes, closing.closure, signed=signers is not None)


def _signers(root: Path, findings: list[Finding]) -> bytes | None:
    from ftgate.constants import CONFIG_FILE
    from ftgate.evidence.statement import load_signers
    from ftgate.policy.config import load_config

    try:
        return load_signers(root, load_config(root).evidence_signers)
    except FtgateError as exc:
        # Fail closed: a trust list nobody can read trusts nobody.
        findings.append(Finding(CONFIG_FILE, None, exc.message, exc.hint))
        return b""


def _check_signed(check: RunCheck, signers: bytes, root: Path) -> None:
    from ftgate.evidence.statement import check_signature
    from ftgate.sshsig import SignatureError

    where = _rel(root, check.path / STATEMENT_JSON)
    try:
        principal = check_signature(check.path, signers)
    except SignatureError as exc:
        check.problems.append(Finding(where, None, f"{check.run_id}: evidence signature refused: {exc.message}",
                                      exc.hint or "evidence must be signed by a key in evidence_signers"))
        return
    check.notes.append(f"{check.run_id}: signed by {principal}")


def _stated(requirements: Path) -> dict[str, Any]:
    from ftgate.workflow.stated_criteria import stated_criteria

    if not requirements.is_file():
        return {}
    return stated_criteria(requirements.read_text(encoding="utf-8"), str(requirements))


def _check_against_requirements(check: RunCheck, stated: dict[str, Any], root: Path) -> None:
    """A run that decides an SC id on other terms than requirements.md states does not decide it."""
    from ftgate.workflow.stated_criteria import config_disagreements

    assert check.metrics is not None
    configured: list[tuple[str, str, str | None, float | None, float | None]] = [
        (c.id, c.metric, c.op if c.threshold is not None else None, c.threshold, c.min_delta)
        for c in check.metrics.criteria_config]
    for message in config_disagreements(stated, configured):
        check.problems.append(Finding(_rel(root, check.path / rec.METRICS_JSON), None, f"{check.run_id}: {message}",
                                      "a criterion is changed in requirements.md at Stage 2 (a Requirement Gap "
                                      "re-entry), never by a run config"))


def _machine_reasons(checks: list[RunCheck]) -> dict[str, set[str]]:
    """Every reason ftgate itself wrote for a criterion: a waiver citing one was not written by a person."""
    out: dict[str, set[str]] = {}
    for check in checks:
        for decision in check.decisions().values():
            for text in (decision.reason, decision.observed, f"{decision.observed}: {decision.reason}"):
                if text.strip():
                    out.setdefault(decision.id, set()).add(" ".join(text.split()))
    return out


def _status_findings(checks: list[RunCheck], root: Path, notes: list[str]) -> list[Finding]:
    """Runs that are not finished, or whose status is not one the trainer writes."""
    findings: list[Finding] = []
    for check in checks:
        if check.status == rec.STATUS_RUNNING:
            findings.append(
                Finding(
                    _rel(root, check.path / rec.RUN_JSON),
                    None,
                    f"{check.run_id} is still Running (interrupted, or in progress)",
                    "resume it with `ftgate train CONFIG --resume`, or let it finish",
                )
            )
        elif check.status == rec.STATUS_FAILED:
            notes.append(f"{check.run_id} is Failed and closes nothing")
        elif check.status != rec.STATUS_COMPLETED:
            findings.extend(
                check.problems
                or [
                    Finding(
                        _rel(root, check.path / rec.RUN_JSON),
                        None,
                        f"{check.run_id} has status {check.status!r}, expected Completed, Failed or Running",
                    )
                ]
            )
    return findings



def _declared_criteria(requirements: Path, root: Path, findings: list[Finding]) -> list[str]:
    try:
        confine_file(root, requirements, label=_rel(root, requirements))
    except EvidencePathError as exc:
        findings.append(Finding(_rel(root, requirements), None, exc.message, exc.hint))
        return []
    if not requirements.is_file():
        findings.append(Finding(_rel(root, requirements), None, "requirements.md is missing; no criteria to close"))
        return []
    sc_ids = success_criteria_ids(requirements)
    if not sc_ids:
        findings.append(
            Finding(_rel(root, requirements), None, "requirements.md declares no success criteria (SC-001...)")
        )
    return sc_ids


@dataclass
class _Closure:
    """How each success criterion is closed: waived in the report, or decided by a run."""

    root: Path
    requirements: Path
    report_path: Path
    waived: dict[str, tuple[str, int]]
    machine_reasons: dict[str, set[str]] = field(default_factory=dict)
    waiver_approval: WaiverApproval | None = None
    closure: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    relied: dict[str, RunCheck] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def close(self, sc: str, completed: list[RunCheck]) -> None:
        if sc in self.waived:
            self._waive(sc)
            return
        deciding = [c for c in completed if sc in c.decisions()]
        if not deciding:
            self.closure[sc] = ("Open", None)
            self.findings.append(
                Finding(
                    _rel(self.root, self.requirements),
                    None,
                    f"{sc} is still open: no completed run's success_criteria decides it",
                    f"add a criterion with id {sc} to a training config and run it, or waive it with a reason",
                )
            )
            return
        # The latest run that decides a criterion supersedes earlier ones.
        latest = deciding[-1]
        self.relied[latest.run_id] = latest
        decision = latest.decisions()[sc]
        self.closure[sc] = (decision.decision, latest.run_id)
        if not latest.verified:
            self.findings.append(
                Finding(
                    _rel(self.root, latest.path / rec.RUN_JSON),
                    None,
                    f"{sc} rests on {latest.run_id}, which does not verify (see its findings)",
                )
            )
        elif decision.decision != "Passed":
            self.findings.append(
                Finding(
                    _rel(self.root, latest.path / rec.METRICS_JSON),
                    None,
                    f"{sc} is {decision.decision} in {latest.run_id}: {decision.reason}".rstrip(": "),
                    "improve the run and train again, or waive the criterion with a reason",
                )
            )

    def _waive(self, sc: str) -> None:
        reason, line = self.waived[sc]
        self.closure[sc] = ("Waived", None)
        if not reason:
            self.findings.append(
                Finding(
                    _rel(self.root, self.report_path),
                    line,
                    f"{sc} is Waived without a reason",
                    "write why it is waived in the row's Notes",
                )
            )
            return
        if " ".join(reason.split()) in self.machine_reasons.get(sc, set()):
            self.findings.append(
                Finding(
                    _rel(self.root, self.report_path),
                    line,
                    f"{sc} is Waived with ftgate's own measurement as its reason, not a reason a person wrote",
                    "a waiver needs a person's reason in the row's Notes: why the criterion may stay unmet",
                )
            )
            return
        if self.waiver_approval is not None:
            problem = self.waiver_approval(sc, reason, line)
            if problem:
                self.findings.append(Finding(_rel(self.root, self.report_path), line, f"{sc}: {problem}"))


def _run_problems(
    completed: list[RunCheck], relied: dict[str, RunCheck], any_criteria: bool, notes: list[str]
) -> list[Finding]:
    """A completed run's problems count when a criterion rests on it, or when it is the latest
    run and its metrics.json cannot be read (so it cannot say what it decides); a superseded
    run's problems are notes."""
    findings: list[Finding] = []
    for check in completed:
        unreadable_latest = check is completed[-1] and check.metrics is None
        if check.run_id in relied or not any_criteria or unreadable_latest:
            findings.extend(check.problems)
        elif check.problems:
            notes.append(
                f"{check.run_id} is superseded by a later run; its {len(check.problems)} problem(s) do not count"
            )
        notes.extend(check.notes)
    return findings


def gate_findings(ticket_path: Path, *, root: Path | None = None, notes: list[str] | None = None,
                  waiver_approval: WaiverApproval | None = None) -> list[Finding]:
    """What the Stage 5 gate and ``ftgate ci`` add: the evidence's findings.

    Findings the report-only gate already states (no completed run, a
    missing report) are left to it, so nothing is said twice. ``notes``,
    when given, receives what verify could not check here (absent weights,
    inputs outside git), so a door can say so instead of passing silently.
    """
    result = verify_ticket(ticket_path, root=root, waiver_approval=waiver_approval)
    if notes is not None:
        notes.extend(result.notes)
    return result.findings


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
        findings.append(
            Finding(rel, None, "training-validation-report.md is missing", "`ftgate train` creates and updates it")
        )
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
            if check and check.run is not None and status_cell.text.strip("` ") != check.status:
                findings.append(
                    Finding(
                        report.rel,
                        row.line,
                        f"Run Registry says {check.run_id} is {status_cell.text!r}, its run.json says {check.status!r}",
                    )
                )

    seen: set[tuple[str, str]] = set()
    for table in doc.tables_in("Metric Summary"):
        cols = {
            name: table.column(*alts)
            for name, alts in {
                "run": ("Run ID", "Run"),
                "metric": ("Metric Or Rubric", "Metric"),
                "result": ("Result",),
                "baseline": ("Baseline",),
                "delta": ("Delta",),
            }.items()
        }
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
            if metric not in m.result:
                findings.append(
                    Finding(
                        report.rel,
                        row.line,
                        f"Metric Summary lists {metric!r} for {run_id}, which its metrics.json lacks",
                    )
                )
                continue
            base = m.baseline.get(metric)
            expected = {
                "result": m.result[metric].value,
                "baseline": base.value if base else None,
                "delta": m.delta.get(metric),
            }
            for column, actual in expected.items():
                cell = row.get(cols[column])
                if cell is None:
                    continue
                if not _same(cell.text, actual):
                    findings.append(
                        Finding(
                            report.rel,
                            row.line,
                            f"Metric Summary {column} for {run_id} {metric} reads {cell.text!r} "
                            f"but metrics.json has {_show(actual)}",
                            "the report's numbers must be the evidence's; restore them from metrics.json",
                        )
                    )

    for check in checks:
        if check.run_id and check.metrics and check.status == rec.STATUS_COMPLETED:
            missing = [k for k in check.metrics.result if (check.run_id, k) not in seen]
            if missing and not any(r == check.run_id for r, _ in seen):
                findings.append(
                    Finding(
                        report.rel,
                        None,
                        f"Metric Summary has no rows for {check.run_id}",
                        "`ftgate train` writes them; restore the rows from metrics.json",
                    )
                )

    for table in doc.tables_in("Success Criteria Closure"):
        sc_col = table.column("Success Criteria ID", "SC ID", "Success Criterion")
        dec_col = table.column("Decision", "Status")
        runs_col = table.column("Evidence Run(s)", "Evidence Runs", "Evidence Run", "Evidence")
        obs_col = table.column("Observed Result", "Observed")
        for row in table.rows:
            sc_cell, dec_cell, runs_cell = row.get(sc_col), row.get(dec_col), row.get(runs_col)
            if not sc_cell or not dec_cell:
                continue
            sc_match = _SC_TOKEN.search(sc_cell.text)
            written = dec_cell.text.strip("` ")
            if not sc_match or written.lower() == "waived":
                continue
            obs_cell = row.get(obs_col)
            for run_id in _RUN_TOKEN.findall(runs_cell.text if runs_cell else ""):
                check = by_id.get(run_id)
                decision = check.decisions().get(sc_match.group(0)) if check else None
                if decision and obs_cell is not None and not _observed_matches(obs_cell.text, decision):
                    findings.append(
                        Finding(
                            report.rel,
                            row.line,
                            f"Success Criteria Closure's Observed Result for {sc_match.group(0)} reads "
                            f"{obs_cell.text!r}, but {run_id}'s metrics.json observed {decision.observed!r}",
                            "the report's numbers must be the evidence's; restore the cell from metrics.json",
                        )
                    )
                if decision and written != decision.decision:
                    findings.append(
                        Finding(
                            report.rel,
                            row.line,
                            f"Success Criteria Closure says {sc_match.group(0)} is {written!r}, "
                            f"but {run_id}'s metrics.json decides {decision.decision!r}",
                        )
                    )
    return findings


def _observed_matches(cell: str, decision: DecisionRecord) -> bool:
    # The cell starts with what the run observed; a person may append to it.
    return " ".join(cell.split()).startswith(" ".join(decision.observed.split()))


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return json.dumps(value)


# ------------------------------------------------------------------ entry points


def resolve_ticket(ticket: str | None, *, cwd: Path | None = None) -> Path:
    """The ticket folder for a name or folder, FTGATE_TICKET, the codex/<name>
    branch, or the only ticket in progress (the core's resolution rules)."""
    from ftgate.workflow.tickets import find_repo_root
    from ftgate.workflow.tickets import resolve_ticket as core_resolve

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
    if not result.signed:
        lines.append(CONSISTENCY_ONLY)
    lines.append("evidence: OK" if result.ok else f"evidence: {len(result.findings)} problem(s)")
    return "\n".join(lines)
