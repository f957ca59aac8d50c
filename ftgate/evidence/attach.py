"""Evidence for a run made outside ftgate: ``ftgate evidence attach``.

Many teams train with their own scripts, axolotl, torchtune or a cluster.
Their run can still close Stage 5 under ``stage5_evidence: verified`` when it
hands over what a bundled run records: the config, every held-out generation
with its reference, the metrics it claims, the data it used, the hashes of
what it produced, and the commit. ``attach`` copies the generations, the
claim and the config into a new ``evidence/RUN-NNN/`` folder, recomputes the
metrics from the generations with the evidence layer's own definitions, and
refuses a claim that disagrees. ``ftgate evidence verify`` repeats every one
of those checks from the folder alone (:func:`attached_findings`).

Torch-free on purpose: the Stage 5 gate and ``ftgate ci`` verify attached
runs where no ML stack is installed.

The files an attached run needs::

    config.yaml       evaluation: and success_criteria: as in a run config,
                      plus anything the external trainer used (kept, hashed)
    generations.jsonl {"prompt", "reference", "output"[, "baseline"]} per row:
                      every held-out example, the tuned model's output, and
                      the base model's when a criterion needs a delta
    metrics.json      the claimed numbers: {"result": {name: value},
                      "baseline": {name: value}} or just {name: value}
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ftgate import hashing
from ftgate.errors import FtgateError
from ftgate.evidence import record as rec
from ftgate.evidence.criteria import EvaluationConfig, MetricSpec, SuccessCriterion, check_criteria_metrics
from ftgate.evidence.metrics import MetricValue, aggregate, decide_all, delta
from ftgate.evidence.scoring import Scorer
from ftgate.evidence.statement import SIGNING_KEY_ENV, signing_key, write_statement
from ftgate.workflow.findings import Finding

KIND = "attached"
GENERATIONS_JSONL = "generations.jsonl"
CLAIMED_JSON = "claimed-metrics.json"
CONFIG_COPY = "config.yaml"
# A claimed number is the same number when it agrees to this relative
# precision: a script may print a mean with fewer digits than a float holds.
CLAIM_TOLERANCE = 1e-6

_HINT_REATTACH = "fix the external run's files and attach it again (`ftgate evidence attach`)"


class AttachedConfig(BaseModel):
    """The part of an external run's config that ftgate judges; the rest is kept as written."""

    model_config = ConfigDict(extra="allow", frozen=True)

    run_id: str | None = None
    ticket: str | None = None
    purpose: str = ""
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    success_criteria: list[SuccessCriterion] = Field(default_factory=list)


@dataclass(frozen=True)
class GenerationRow:
    prompt: str
    reference: str
    output: str
    baseline: str | None


# ------------------------------------------------------------------ scoring


def _scorer(spec: MetricSpec) -> Scorer:
    """The trainer's own scorer for ``spec``, so an attached run is scored
    exactly as a bundled one. ``function`` metrics are refused before this
    is reached: verifying one would mean running repository code inside the
    gate."""
    if spec.kind == "function":
        raise FtgateError(f"metric {spec.name!r} of kind {spec.kind!r} cannot be recomputed from generations")
    return Scorer(spec)


def recompute(evaluation: EvaluationConfig, rows: Sequence[GenerationRow]) -> tuple[dict[str, MetricValue],
                                                                                   dict[str, MetricValue]]:
    """(baseline, result) metrics from the recorded generations; baseline empty without baseline outputs."""
    result: dict[str, MetricValue] = {}
    baseline: dict[str, MetricValue] = {}
    has_baseline = bool(rows) and all(r.baseline is not None for r in rows)
    for spec in evaluation.metrics:
        score = _scorer(spec)
        scores = [score(r.output, r.reference) for r in rows]
        result[spec.name] = aggregate(spec.name, scores, proportion=spec.is_proportion,
                                      confidence=evaluation.confidence)
        if has_baseline:
            base = [score(str(r.baseline), r.reference) for r in rows]
            baseline[spec.name] = aggregate(spec.name, base, proportion=spec.is_proportion,
                                            confidence=evaluation.confidence)
    return baseline, result


# ------------------------------------------------------------------ reading the inputs


def load_config(path: Path) -> AttachedConfig:
    from ftgate.yamlmodel import parse_yaml, validate

    text = _read_text(path, "config")
    parsed = validate(AttachedConfig, parse_yaml(text, str(path)) or {}, text)
    if parsed.model is None:
        issue = parsed.issues[0]
        where = f"{path}:{issue.line}" if issue.line else str(path)
        raise FtgateError(f"{where}: `{issue.key}`: {issue.message}",
                          hint="the attached config takes `evaluation:` and `success_criteria:` as a run config does")
    config = parsed.model
    problems = check_criteria_metrics(config.success_criteria, config.evaluation)
    for spec in config.evaluation.metrics:
        if spec.kind == "function":
            problems.append(f"metric {spec.name!r} is a function metric, which verify cannot recompute "
                            "without running repository code; use exact_match, normalized_exact_match, "
                            "contains or regex")
    computed = {m.name for m in config.evaluation.metrics}
    for sc in config.success_criteria:
        if sc.metric not in computed:
            problems.append(f"{sc.id} uses {sc.metric!r}, which cannot be recomputed from generations "
                            f"(recomputable here: {', '.join(sorted(computed))})")
    if problems:
        raise FtgateError(f"{path}: " + "; ".join(dict.fromkeys(problems)))
    return config


def read_generations(path: Path, label: str | None = None) -> list[GenerationRow]:
    label = label or str(path)
    rows: list[GenerationRow] = []
    for number, line in enumerate(_read_text(path, "generations").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise FtgateError(f"{label}:{number}: not a JSON object ({exc})") from None
        if not isinstance(data, dict):
            raise FtgateError(f"{label}:{number}: expected a JSON object, found {type(data).__name__}")
        for key in ("prompt", "reference", "output"):
            if not isinstance(data.get(key), str):
                raise FtgateError(f"{label}:{number}: `{key}` must be a string",
                                  hint='each row is {"prompt": ..., "reference": ..., "output": ...}')
        base = data.get("baseline")
        if base is not None and not isinstance(base, str):
            raise FtgateError(f"{label}:{number}: `baseline` must be a string when given")
        rows.append(GenerationRow(data["prompt"], data["reference"], data["output"], base))
    if not rows:
        raise FtgateError(f"{label}: no generations; every held-out example must be recorded")
    with_base = sum(r.baseline is not None for r in rows)
    if with_base not in (0, len(rows)):
        raise FtgateError(f"{label}: {with_base} of {len(rows)} rows have `baseline`; give it on all or none")
    return rows


def read_claim(path: Path, label: str | None = None) -> dict[str, dict[str, float]]:
    """{"result": {...}, "baseline": {...}} from either accepted shape."""
    label = label or str(path)
    try:
        data = json.loads(_read_text(path, "metrics"))
    except ValueError as exc:
        raise FtgateError(f"{label}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise FtgateError(f"{label}: expected a JSON object of metric names and numbers")
    if "result" not in data:
        data = {"result": data}
    claim: dict[str, dict[str, float]] = {}
    for which in ("result", "baseline"):
        part = data.get(which) or {}
        if not isinstance(part, dict):
            raise FtgateError(f"{label}: `{which}` must map metric names to numbers")
        for name, value in part.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise FtgateError(f"{label}: `{which}.{name}` is {value!r}, not a number")
        claim[which] = {str(k): float(v) for k, v in part.items()}
    return claim


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FtgateError(f"{what} file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FtgateError(f"{what} file {path} cannot be read ({exc})") from None


def claim_disagreements(claim: Mapping[str, Mapping[str, float]], baseline: Mapping[str, MetricValue],
                        result: Mapping[str, MetricValue]) -> list[str]:
    """Every claimed number the generations do not give, one sentence each."""
    out: list[str] = []
    for which, computed in (("result", result), ("baseline", baseline)):
        for name, value in claim.get(which, {}).items():
            actual = computed.get(name)
            if actual is None or actual.value is None:
                continue  # not recomputable from generations (a loss); recorded as claimed only
            if not math.isclose(value, actual.value, rel_tol=CLAIM_TOLERANCE, abs_tol=CLAIM_TOLERANCE):
                out.append(f"{which} {name} is claimed as {value:g} but the generations give "
                           f"{actual.value:g} (n={actual.n})")
    return out


# ------------------------------------------------------------------ attaching


@dataclass(frozen=True)
class AttachInputs:
    config: Path
    generations: Path
    metrics: Path
    data: Sequence[Path] = ()
    manifest: Path | None = None
    artifacts: Sequence[Path] = ()
    commit: str | None = None


def attach_run(ticket_path: Path, inputs: AttachInputs, *, root: Path | None = None) -> tuple[str, dict[str, Any],
                                                                                            dict[str, Any]]:
    """Record an external run in a new ``evidence/RUN-NNN/``; returns (run id, run.json, metrics.json).

    Everything is checked before the folder is claimed, so a refused attach
    leaves no run behind.
    """
    ticket_path = ticket_path.resolve()
    root = (root or rec.find_repo_root(ticket_path)).resolve()
    key = signing_key(root)
    if key is not None and not key.is_file():
        raise FtgateError(f"the evidence signing key {key} does not exist",
                          hint=f"set {SIGNING_KEY_ENV} or ftgate.yaml `evidence_signing_key` to a key file")
    config = load_config(inputs.config)
    if config.ticket not in (None, ticket_path.name):
        raise FtgateError(f"{inputs.config}: `ticket: {config.ticket}` but the run is attached to "
                          f"{ticket_path.name}", hint="attach it to the ticket its config names")
    rows = read_generations(inputs.generations)
    claim = read_claim(inputs.metrics)
    baseline, result = recompute(config.evaluation, rows)
    wrong = claim_disagreements(claim, baseline, result)
    if wrong:
        raise FtgateError(f"{inputs.metrics}: " + "; ".join(wrong),
                          hint="the claimed metrics must be what the recorded generations score")
    commit = _resolve_commit(root, inputs.commit)
    for path in [*inputs.data, *inputs.artifacts, *([inputs.manifest] if inputs.manifest else [])]:
        if not path.exists():
            raise FtgateError(f"{path} does not exist", hint="pass the files the external run used and produced")

    run_path = _claim(ticket_path)
    run_id = run_path.name
    shutil.copyfile(inputs.generations, run_path / GENERATIONS_JSONL)
    shutil.copyfile(inputs.metrics, run_path / CLAIMED_JSON)
    shutil.copyfile(inputs.config, run_path / CONFIG_COPY)
    decisions = decide_all(config.success_criteria, baseline, result, min_n=config.evaluation.min_n)
    metrics: dict[str, Any] = {
        "run_id": run_id,
        "min_n": config.evaluation.min_n,
        "confidence": config.evaluation.confidence,
        "specs": {m.name: m.model_dump(mode="json") for m in config.evaluation.metrics},
        "baseline": {k: v.as_dict() for k, v in baseline.items()},
        "result": {k: v.as_dict() for k, v in result.items()},
        "delta": {k: delta(k, baseline[k].value if k in baseline else None, v.value) for k, v in result.items()},
        "criteria_config": [c.model_dump(mode="json") for c in config.success_criteria],
        "criteria": [d.as_dict() for d in decisions],
        "anomalies": [],
    }
    rec.write_json(run_path / rec.METRICS_JSON, metrics)
    artifacts = {name: hashing.sha256_file(run_path / name)
                 for name in (rec.METRICS_JSON, GENERATIONS_JSONL, CLAIMED_JSON, CONFIG_COPY)}
    tracked = _tracked(root)
    entries = [_input(root, "config", inputs.config, tracked)]
    if inputs.manifest:
        entries.append(_input(root, "manifest", inputs.manifest, tracked))
    entries += [_input(root, "data", p, tracked) for p in inputs.data]
    entries += [_input(root, "artifact", p, tracked) for p in inputs.artifacts]
    sources = rec.source_hashes(root)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    run: dict[str, Any] = {
        "schema": rec.SCHEMA_VERSION,
        "run_id": run_id,
        "kind": KIND,
        "status": rec.STATUS_COMPLETED,
        "started_at": now,
        "finished_at": now,
        "attempts": [{"started_at": now, "status": rec.STATUS_COMPLETED, "finished_at": now}],
        "planned_run": config.run_id,
        "purpose": config.purpose,
        "ticket": ticket_path.name,
        "path": _rel(root, run_path),
        "git": {"commit": commit, "dirty": rec.git_dirty(root)},
        "source": {"hash": hashing.combine_hashes(sources) if sources is not None else None, "files": sources},
        "config": {"path": _rel(root, inputs.config), "sha256": hashing.sha256_file(inputs.config),
                   "resolved": config.model_dump(mode="json"),
                   "resolved_sha256": hashing.sha256_json(config.model_dump(mode="json"))},
        "inputs": entries,
        "generation": config.evaluation.generation.model_dump(mode="json"),
        "evaluation": config.evaluation.model_dump(mode="json"),
        "environment": {"device": "external", "world_size": None},
        "attached": {"generations": len(rows), "claimed": claim,
                     "claimed_only": sorted(n for w in claim.values() for n in w if n not in result)},
        "output": {},
        "artifacts": artifacts,
    }
    rec.write_json(run_path / rec.RUN_JSON, run)
    # Last of all, as for a bundled run: the statement lists every file, run.json included.
    write_statement(run_path, run, key=key)
    return run_id, run, metrics


def _claim(ticket_path: Path) -> Path:
    """The next free ``RUN-NNN``; mkdir is the lock, as the trainer's claim is."""
    base = ticket_path / rec.EVIDENCE_DIR
    base.mkdir(parents=True, exist_ok=True)
    number = max((rec.run_number(p.name) for p in rec.run_dirs(ticket_path)), default=0) + 1
    while True:
        path = base / f"RUN-{number:03d}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            number += 1


def _resolve_commit(root: Path, commit: str | None) -> str | None:
    from ftgate import proc

    if commit is None:
        return rec.git_commit(root)
    try:
        out = proc.run(("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"), cwd=root)
    except proc.GitError:
        raise FtgateError(f"commit {commit!r} is not a commit of this repository",
                          hint="pass the commit the external run trained from (`--commit`)") from None
    return out.stdout.decode().strip()


def _tracked(root: Path) -> set[str]:
    out = rec._git(root, "ls-files", "-z")
    return {p for p in (out or "").split("\0") if p}


def _input(root: Path, role: str, path: Path, tracked: set[str]) -> dict[str, Any]:
    rel = _rel(root, path)
    is_tracked = rel in tracked or any(t.startswith(rel.rstrip("/") + "/") for t in tracked)
    return {"role": role, "path": rel, "sha256": hashing.sha256_path(path), "tracked": is_tracked}


def _rel(root: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path.resolve())


# ------------------------------------------------------------------ verifying


def is_attached(run: Any) -> bool:
    extra = getattr(run, "model_extra", None) or {}
    return extra.get("kind") == KIND


def attached_findings(run_path: Path, run: Any, *, root: Path) -> list[tuple[str, str, str | None]]:
    """What an attached run's own files disagree on: (file, message, hint) each.

    The generic checks (artifact hashes, inputs, source, re-decided
    criteria) run for every run; these are the ones only an attached run
    needs, because its metrics come from files and not from a model ftgate ran.
    """
    out: list[tuple[str, str, str | None]] = []
    where = _rel(root, run_path / rec.RUN_JSON)
    folder = run_path.name
    ticket = run_path.parent.parent.name
    if run.ticket != ticket:
        out.append((where, f"run.json names ticket {run.ticket!r} but lives in {ticket}'s evidence",
                    "evidence belongs to the ticket it was attached to; attach the run again there"))
    extra = run.model_extra or {}
    recorded_path = extra.get("path")
    if recorded_path is not None and recorded_path != _rel(root, run_path):
        out.append((where, f"run.json says it lives at {recorded_path}, not {_rel(root, run_path)}",
                    "evidence moved between folders is refused; attach the run again"))
    commit = run.git.commit
    # Only an object id reaches git: a forged value must not be read as an option or a revision expression.
    if commit and not (len(commit) in (40, 64) and all(c in "0123456789abcdef" for c in commit)):
        out.append((where, f"{folder} names commit {commit[:40]!r}, which is not an object id",
                    "attach the run again with --commit set to a full commit id"))
    elif commit and rec._git(root, "cat-file", "-e", f"{commit}^{{commit}}") is None and \
            rec.git_commit(root) is not None:
        out.append((where, f"{folder} names commit {commit[:12]}, which this repository does not have",
                    "push the commit the run trained from"))
    try:
        config = load_config(run_path / CONFIG_COPY)
        rows = read_generations(run_path / GENERATIONS_JSONL, _rel(root, run_path / GENERATIONS_JSONL))
        claim = read_claim(run_path / CLAIMED_JSON, _rel(root, run_path / CLAIMED_JSON))
    except FtgateError as exc:
        out.append((where, f"{folder}: {exc.message}", _HINT_REATTACH))
        return out
    if run.config.sha256 and hashing.sha256_file(run_path / CONFIG_COPY) != run.config.sha256:
        out.append((_rel(root, run_path / CONFIG_COPY), f"{folder}: config.yaml is not the config run.json hashed",
                    _HINT_REATTACH))
    baseline, result = recompute(config.evaluation, rows)
    claimed_file = _rel(root, run_path / CLAIMED_JSON)
    for sentence in claim_disagreements(claim, baseline, result):
        out.append((claimed_file, f"{folder}: {sentence}", _HINT_REATTACH))
    metrics_file = run_path / rec.METRICS_JSON
    try:
        recorded = json.loads(metrics_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return out  # the generic metrics check reports an unreadable metrics.json
    label = _rel(root, metrics_file)
    for which, computed in (("result", result), ("baseline", baseline)):
        written = recorded.get(which) or {}
        for name in sorted(set(written) | set(computed)):
            value = (written.get(name) or {}).get("value")
            actual = computed[name].value if name in computed else None
            if value is None or actual is None or not math.isclose(value, actual, rel_tol=CLAIM_TOLERANCE,
                                                                   abs_tol=CLAIM_TOLERANCE):
                out.append((label, f"{folder}: metrics.json {which} {name} reads {_show(value)} but the "
                                   f"generations give {_show(actual)}", _HINT_REATTACH))
    criteria = [c.model_dump(mode="json") for c in config.success_criteria]
    if recorded.get("criteria_config") != criteria:
        out.append((label, f"{folder}: metrics.json's criteria are not the ones in its config.yaml",
                    _HINT_REATTACH))
    return out


def findings_for(run_path: Path, run: Any, *, root: Path) -> list[Finding]:
    return [Finding(path, None, message, hint) for path, message, hint in attached_findings(run_path, run, root=root)]


def _show(value: float | None) -> str:
    return "nothing" if value is None else f"{value:.6g}"
