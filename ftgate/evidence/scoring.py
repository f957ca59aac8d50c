"""Task metrics on generated text: scoring each (prediction, reference) pair.

Pure Python and owned by the evidence layer, so `ftgate evidence verify`
recomputes every task metric from the recorded generations without torch;
the trainer scores with the very same functions (``ftgate.train.metrics``).
What a score adds up to (``MetricValue``, intervals, decisions) is
``ftgate.evidence.metrics``.
"""

from __future__ import annotations

import importlib
import re
import string
from collections.abc import Callable, Sequence
from typing import cast

from ftgate.errors import FtgateError
from ftgate.evidence.criteria import MetricSpec
from ftgate.evidence.metrics import MetricValue, aggregate

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
    return cast(UserFunction, fn)


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


