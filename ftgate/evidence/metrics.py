"""Metric values, confidence intervals and success-criterion decisions.

Owned by the evidence layer and pure Python on purpose: the trainer decides
every criterion with these functions, and the Stage 5 verifier re-decides
each one from the numbers in ``metrics.json`` without torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

from ftgate.evidence.criteria import LOWER_IS_BETTER, SuccessCriterion

PASSED = "Passed"
FAILED = "Failed"
INCONCLUSIVE = "Inconclusive"
WAIVED = "Waived"
DECISIONS = (PASSED, FAILED, INCONCLUSIVE, WAIVED)

@dataclass(frozen=True)
class MetricValue:
    """An aggregate with its sample size; ci only for proportions."""

    name: str
    value: float | None
    n: int
    ci_low: float | None = None
    ci_high: float | None = None
    proportion: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricValue:
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})  # type: ignore[arg-type]


def wilson_interval(successes: float, n: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval: sane at 0 and 1 and for small n, unlike the normal one."""
    if n <= 0:
        return (0.0, 1.0)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes <= 0 else max(0.0, centre - half)
    hi = 1.0 if successes >= n else min(1.0, centre + half)
    return (lo, hi)


def aggregate(name: str, scores: Sequence[float], *, proportion: bool, confidence: float) -> MetricValue:
    n = len(scores)
    if n == 0:
        return MetricValue(name, None, 0, proportion=proportion)
    mean = sum(scores) / n
    if proportion:
        lo, hi = wilson_interval(sum(scores), n, confidence)
        return MetricValue(name, mean, n, lo, hi, True)
    return MetricValue(name, mean, n)


def delta(metric: str, baseline: float | None, result: float | None) -> float | None:
    """result - baseline; the sign is raw, `improvement` applies the direction."""
    if baseline is None or result is None:
        return None
    return result - baseline


def improvement(metric: str, baseline: float | None, result: float | None) -> float | None:
    d = delta(metric, baseline, result)
    if d is None:
        return None
    return -d if metric in LOWER_IS_BETTER else d


_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12),
}


@dataclass(frozen=True)
class CriterionDecision:
    id: str
    requirement: str | None
    metric: str
    expected: str
    observed: str
    decision: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def decide(
    criterion: SuccessCriterion,
    baseline: dict[str, MetricValue],
    result: dict[str, MetricValue],
    *,
    min_n: int,
) -> CriterionDecision:
    """Passed / Failed / Inconclusive for one criterion; never guesses on missing data."""
    metric = criterion.metric
    res = result.get(metric)
    base = baseline.get(metric)

    def verdict(decision: str, observed: str, reason: str) -> CriterionDecision:
        return CriterionDecision(
            criterion.id, criterion.requirement, metric, criterion.expected_outcome(), observed, decision, reason
        )

    if res is None or res.value is None or (isinstance(res.value, float) and math.isnan(res.value)):
        return verdict(INCONCLUSIVE, "n/a", f"metric {metric!r} was not measured on the tuned model")
    observed = f"{metric}={_fmt(res.value)} (n={res.n})"
    if res.ci_low is not None and res.ci_high is not None:
        observed += f" CI [{_fmt(res.ci_low)}, {_fmt(res.ci_high)}]"
    if criterion.min_delta is not None:
        base_value = base.value if base else None
        observed += f"; baseline {_fmt(base_value)}, delta {_fmt(delta(metric, base_value, res.value))}"
    if res.n < min_n:
        return verdict(INCONCLUSIVE, observed,
                       f"n={res.n} held-out examples is below min_n={min_n}; too few to decide "
                       "(add held-out rows, or lower evaluation.min_n deliberately)")

    value, label = res.value, metric
    if criterion.decide_on == "lower_bound":
        bound = _pessimistic_bound(criterion, res)
        if bound is None:
            return verdict(INCONCLUSIVE, observed,
                           f"decide_on: lower_bound needs a confidence interval, and {metric!r} has none")
        value, label = bound, f"{metric} CI bound"
    failures: list[str] = []
    if criterion.threshold is not None and not _OPS[criterion.op](value, criterion.threshold):
        failures.append(f"{label} {_fmt(value)} is not {criterion.op} {criterion.threshold:g}")
    if criterion.min_delta is not None:
        if base is None or base.value is None:
            return verdict(INCONCLUSIVE, observed, f"no baseline for {metric!r}, so a delta cannot be judged")
        gain = improvement(metric, base.value, value)
        assert gain is not None
        # A tiny epsilon so a delta that equals min_delta up to float noise passes.
        if gain + 1e-12 < criterion.min_delta:
            failures.append(f"improvement {_fmt(gain)} is below the required {criterion.min_delta:g}")
    if failures:
        return verdict(FAILED, observed, "; ".join(failures))
    return verdict(PASSED, observed, "meets " + criterion.expected_outcome())


def _pessimistic_bound(criterion: SuccessCriterion, res: MetricValue) -> float | None:
    """The end of the interval least favourable to passing: low for >=/>, high for <=/<."""
    if res.ci_low is None or res.ci_high is None:
        return None
    if criterion.op in ("<=", "<") or (criterion.threshold is None and criterion.metric in LOWER_IS_BETTER):
        return res.ci_high
    return res.ci_low


def decide_all(
    criteria: Sequence[SuccessCriterion],
    baseline: dict[str, MetricValue],
    result: dict[str, MetricValue],
    *,
    min_n: int,
) -> list[CriterionDecision]:
    return [decide(c, baseline, result, min_n=min_n) for c in criteria]
