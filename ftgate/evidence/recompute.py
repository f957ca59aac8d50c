"""Metrics and decisions recomputed from a run's raw outputs, torch-free.

``generations.jsonl`` holds every held-out prompt the run scored, with its
reference and both models' outputs. From it the task metrics (and the EOS
rate) are scored again with the trainer's own scorers; the loss metrics are
read from ``log_history.json``, the trainer's log of its own evaluations.
Each recomputed number, and each criterion decided again from them, is
compared with ``metrics.json``: a forger must now change the outputs
themselves, consistently, which only a signature or ``reeval`` catches.

Public for ``ftgate evidence attach`` (runs made elsewhere) as well as verify.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftgate.errors import FtgateError
from ftgate.evidence.criteria import MetricSpec, SuccessCriterion
from ftgate.evidence.metrics import MetricValue, aggregate, decide
from ftgate.evidence.scoring import score_outputs

GENERATION_SIDES = ("baseline", "tuned")
# Recomputed values are exact up to float summation order.
RECOMPUTE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class GenerationRow:
    """One held-out example: the prompt, the reference and one output per model."""

    prompt: str
    reference: str
    outputs: Mapping[str, Mapping[str, Any]]

    def as_dict(self, index: int) -> dict[str, Any]:
        return {"index": index, "prompt": self.prompt, "reference": self.reference,
                **{side: dict(self.outputs[side]) for side in GENERATION_SIDES}}


def generation_rows(prompts: Sequence[str], references: Sequence[str],
                    sides: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """The rows of ``generations.jsonl``: every example, both models' outputs."""
    out = []
    for i, (prompt, reference) in enumerate(zip(prompts, references, strict=True)):
        out.append(GenerationRow(prompt, reference, {s: sides[s][i] for s in GENERATION_SIDES}).as_dict(i))
    return out


def read_generations(path: Path, label: str) -> list[dict[str, Any]]:
    """``generations.jsonl`` rows, or an FtgateError naming the line that is wrong."""
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise FtgateError(f"{label} line {number}: not JSON ({exc})") from None
        if not isinstance(row, dict) or "reference" not in row or any(
                not isinstance(row.get(s), dict) or not isinstance(row[s].get("text"), str) for s in GENERATION_SIDES):
            raise FtgateError(f"{label} line {number}: expected reference, baseline.text and tuned.text")
        rows.append(row)
    return rows


def recompute_metrics(generations: Sequence[Mapping[str, Any]], specs: Sequence[MetricSpec], *,
                      confidence: float) -> dict[str, dict[str, MetricValue]]:
    """{"baseline": ..., "result": ...}: each task metric and the EOS rate, scored again."""
    refs = [str(r["reference"]) for r in generations]
    out: dict[str, dict[str, MetricValue]] = {}
    for side, key in (("baseline", "baseline"), ("tuned", "result")):
        preds = [str(r[side]["text"]) for r in generations]
        values = score_outputs(specs, preds, refs, confidence=confidence)
        values["eos_rate"] = aggregate("eos_rate", [float(bool(r[side].get("stopped_on_eos"))) for r in generations],
                                       proportion=True, confidence=confidence)
        out[key] = values
    return out


# Marks the baseline evaluation in log_history.json: the trainer starts a
# fresh log when training starts, so ftgate writes the baseline entry itself.
BASELINE_MARK = "ftgate_baseline"


def loss_from_history(history: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """The baseline evaluation (marked, before step one) and the last one the
    trainer logged (after the last step)."""
    evals = [h for h in history if isinstance(h, Mapping) and "eval_loss" in h]
    pick: dict[str, Mapping[str, Any]] = {}
    marked = [h for h in evals if h.get(BASELINE_MARK)]
    trained = [h for h in evals if not h.get(BASELINE_MARK)]
    if marked:
        pick["baseline"] = marked[0]
    if trained:
        pick["result"] = trained[-1]
    out: dict[str, dict[str, float]] = {}
    for key, entry in pick.items():
        values: dict[str, float] = {"eval_loss": float(entry["eval_loss"])}
        # Preference accuracy is not taken from TRL's log: ftgate counts a
        # tie as half a win, TRL as a loss, so the two need not agree.
        for logged, metric in (("eval_rewards/margins", "reward_margin"),):
            if logged in entry:
                values[metric] = float(entry[logged])
        out[key] = values
    return out


def _differs(a: float | None, b: float | None, tolerance: float) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) != math.isnan(b)
    return abs(a - b) > tolerance * max(1.0, abs(b))


@dataclass(frozen=True)
class Disagreement:
    """One recorded number that its raw source does not give."""

    file: str
    what: str
    recorded: Any
    recomputed: Any

    def message(self) -> str:
        return (f"{self.file} records {self.what} = {_show(self.recorded)}, "
                f"but the raw outputs give {_show(self.recomputed)}")


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return json.dumps(value)


def compare_metrics(recorded: Mapping[str, Mapping[str, MetricValue]],
                    recomputed: Mapping[str, Mapping[str, MetricValue]], *, file: str,
                    tolerance: float = RECOMPUTE_TOLERANCE) -> list[Disagreement]:
    """Each recomputed value, n and interval against the recorded one."""
    out: list[Disagreement] = []
    for key, values in recomputed.items():
        for name, again in values.items():
            have = recorded.get(key, {}).get(name)
            if have is None:
                out.append(Disagreement(file, f"{key}.{name}", None, again.value))
                continue
            for field_name in ("value", "ci_low", "ci_high"):
                a, b = getattr(have, field_name), getattr(again, field_name)
                if _differs(a, b, tolerance):
                    out.append(Disagreement(file, f"{key}.{name}.{field_name}", a, b))
            if have.n != again.n:
                out.append(Disagreement(file, f"{key}.{name}.n", have.n, again.n))
    return out


def compare_losses(recorded: Mapping[str, Mapping[str, MetricValue]],
                   logged: Mapping[str, Mapping[str, float]], *, file: str,
                   tolerance: float = RECOMPUTE_TOLERANCE) -> list[Disagreement]:
    """Loss metrics in metrics.json against the trainer's log of the same evaluations."""
    out: list[Disagreement] = []
    for key, values in logged.items():
        for name, value in values.items():
            have = recorded.get(key, {}).get(name)
            if have is not None and _differs(have.value, value, tolerance):
                out.append(Disagreement(file, f"{key}.{name}", have.value, value))
        have_ppl = recorded.get(key, {}).get("perplexity")
        if have_ppl is not None and "eval_loss" in values:
            again = math.exp(min(values["eval_loss"], 50.0))
            if _differs(have_ppl.value, again, tolerance):
                out.append(Disagreement(file, f"{key}.perplexity", have_ppl.value, again))
    return out


def redecide(criteria: Sequence[SuccessCriterion], baseline: Mapping[str, MetricValue],
             result: Mapping[str, MetricValue], recorded: Mapping[str, str], *, min_n: int,
             file: str) -> list[Disagreement]:
    """Each criterion decided again from recomputed numbers, against the recorded decision."""
    out: list[Disagreement] = []
    for criterion in criteria:
        again = decide(criterion, dict(baseline), dict(result), min_n=min_n).decision
        if recorded.get(criterion.id) != again:
            out.append(Disagreement(file, f"the decision of {criterion.id}", recorded.get(criterion.id), again))
    return out
