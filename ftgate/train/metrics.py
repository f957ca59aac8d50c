"""Task metrics on generated text, confidence intervals, and criterion decisions.

Pure Python on purpose: the Stage 5 verifier re-decides every success
criterion from the numbers in ``metrics.json`` and must do so without torch.
"""

from __future__ import annotations

import importlib
import math
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

from ftgate.errors import FtgateError
from ftgate.train.eval_config import LOWER_IS_BETTER, MetricSpec, SuccessCriterion

PASSED = "Passed"
FAILED = "Failed"
INCONCLUSIVE = "Inconclusive"
WAIVED = "Waived"
DECISIONS = (PASSED, FAILED, INCONCLUSIVE, WAIVED)

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)

UserFunction = Callable[[str, str], float | bool]


def normalize_text(text: str) -> str:
    """Case, punctuation, articles and spacing removed: the SQuAD-style comparison."""
    text = text.lower().translate(_PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def load_user_function(ref: str) -> UserFunction:
    module_name, _, attr = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise FtgateError(
            f"metric function {ref!r}: cannot import module {module_name!r} ({exc})",
            hint="make the module importable (install it, or run from the directory that holds it)",
        ) from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise FtgateError(f"metric function {ref!r}: {module_name} has no callable {attr!r}")
    return fn


class Scorer:
    """Scores one (prediction, reference) pair for one metric spec."""

    def __init__(self, spec: MetricSpec) -> None:
        self.spec = spec
        self._fn: UserFunction | None = None
        self._regex: re.Pattern[str] | None = None
        if spec.kind == "function":
            self._fn = load_user_function(str(spec.function))
        elif spec.kind == "regex":
            flags = 0 if spec.case_sensitive else re.IGNORECASE
            self._regex = re.compile(str(spec.pattern), flags)

    def __call__(self, prediction: str, reference: str) -> float:
        spec = self.spec
        pred, ref = prediction.strip(), reference.strip()
        if not spec.case_sensitive and spec.kind in ("exact_match", "contains"):
            pred, ref = pred.lower(), ref.lower()
        if spec.kind == "exact_match":
            return float(pred == ref)
        if spec.kind == "normalized_exact_match":
            return float(normalize_text(pred) == normalize_text(ref))
        if spec.kind == "contains":
            needle = spec.needle if spec.needle is not None else ref
            if not spec.case_sensitive:
                needle = needle.lower()
            return float(needle in pred)
        if spec.kind == "regex":
            assert self._regex is not None
            return float(self._regex.search(prediction) is not None)
        assert self._fn is not None
        value = self._fn(prediction, reference)
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise FtgateError(
                f"metric function {spec.function!r} returned {value!r}; it must return a number or bool"
            ) from exc


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


def score_outputs(
    specs: Sequence[MetricSpec],
    predictions: Sequence[str],
    references: Sequence[str],
    *,
    confidence: float,
) -> dict[str, MetricValue]:
    if len(predictions) != len(references):
        raise ValueError("predictions and references differ in length")
    out: dict[str, MetricValue] = {}
    for spec in specs:
        scorer = Scorer(spec)
        scores = [scorer(p, r) for p, r in zip(predictions, references, strict=True)]
        out[spec.name] = aggregate(spec.name, scores, proportion=spec.is_proportion, confidence=confidence)
    return out


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
        return verdict(INCONCLUSIVE, observed, f"n={res.n} is below the configured minimum {min_n}")

    failures: list[str] = []
    if criterion.threshold is not None and not _OPS[criterion.op](res.value, criterion.threshold):
        failures.append(f"{metric} {_fmt(res.value)} is not {criterion.op} {criterion.threshold:g}")
    if criterion.min_delta is not None:
        if base is None or base.value is None:
            return verdict(INCONCLUSIVE, observed, f"no baseline for {metric!r}, so a delta cannot be judged")
        gain = improvement(metric, base.value, res.value)
        assert gain is not None
        # A tiny epsilon so a delta that equals min_delta up to float noise passes.
        if gain + 1e-12 < criterion.min_delta:
            failures.append(f"improvement {_fmt(gain)} is below the required {criterion.min_delta:g}")
    if failures:
        return verdict(FAILED, observed, "; ".join(failures))
    return verdict(PASSED, observed, "meets " + criterion.expected_outcome())


def decide_all(
    criteria: Sequence[SuccessCriterion],
    baseline: dict[str, MetricValue],
    result: dict[str, MetricValue],
    *,
    min_n: int,
) -> list[CriterionDecision]:
    return [decide(c, baseline, result, min_n=min_n) for c in criteria]
