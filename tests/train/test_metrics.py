"""Metrics and criterion decisions: pure functions, checked against hand-worked values."""

from __future__ import annotations

import math
import sys
import textwrap

import pytest
from pydantic import ValidationError

from ftgate.errors import FtgateError
from ftgate.evidence.criteria import (
    EvaluationConfig,
    MetricSpec,
    SuccessCriterion,
    check_criteria_metrics,
)
from ftgate.evidence.metrics import (
    FAILED,
    INCONCLUSIVE,
    PASSED,
    MetricValue,
    decide,
    wilson_interval,
)
from ftgate.train.metrics import normalize_text, score_outputs

pytestmark = pytest.mark.train


def _scores(spec: dict | str, preds: list[str], refs: list[str]) -> MetricValue:
    ev = EvaluationConfig.model_validate({"metrics": [spec]})
    return next(iter(score_outputs(ev.metrics, preds, refs, confidence=0.95).values()))


def test_each_builtin_metric_scores_as_defined() -> None:
    preds = ["Paris", "the  Paris!", "I think Paris", "42 cats"]
    refs = ["Paris", "paris", "Paris", "Rome"]
    assert _scores("exact_match", preds, refs).value == 0.25
    assert _scores("normalized_exact_match", preds, refs).value == 0.5
    # case-sensitive by default: "the  Paris!" does not contain "paris"
    assert _scores("contains", preds, refs).value == 0.5
    assert _scores({"kind": "contains", "case_sensitive": False}, preds, refs).value == 0.75
    assert _scores({"kind": "regex", "pattern": r"^\d+"}, preds, refs).value == 0.25
    assert _scores({"kind": "contains", "needle": "cats", "name": "cats"}, preds, refs).value == 0.25
    assert normalize_text("An  Apple, the pie.") == "apple pie"


def test_user_function_metric(tmp_path, monkeypatch) -> None:
    (tmp_path / "my_scoring.py").write_text(
        textwrap.dedent(
            """
            def length_ratio(pred, ref):
                return len(pred) / max(1, len(ref))
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    value = _scores({"kind": "function", "function": "my_scoring:length_ratio"}, ["ab", "abcd"], ["ab", "ab"])
    assert value.name == "length_ratio"
    assert value.value == pytest.approx(1.5)
    assert value.ci_low is None  # not a proportion, no binomial interval
    sys.modules.pop("my_scoring", None)
    with pytest.raises(FtgateError, match="cannot import"):
        _scores({"kind": "function", "function": "no_such_mod_xyz:f"}, ["a"], ["a"])


def test_wilson_interval_matches_known_values() -> None:
    lo, hi = wilson_interval(8, 10, 0.95)
    # Reference values of the Wilson interval for 8/10 at 95%.
    assert lo == pytest.approx(0.4902, abs=1e-3)
    assert hi == pytest.approx(0.9433, abs=1e-3)
    lo, hi = wilson_interval(0, 5, 0.95)
    assert lo == 0.0 and 0.4 < hi < 0.5


def _mv(name: str, value: float | None, n: int = 50) -> dict[str, MetricValue]:
    return {name: MetricValue(name, value, n, proportion=True)}


def test_threshold_and_delta_decisions() -> None:
    sc = SuccessCriterion(id="SC-001", requirement="R-001", metric="exact_match", op=">=", threshold=0.8)
    assert decide(sc, {}, _mv("exact_match", 0.9), min_n=10).decision == PASSED
    failed = decide(sc, {}, _mv("exact_match", 0.7), min_n=10)
    assert failed.decision == FAILED and "not >= 0.8" in failed.reason
    small = decide(sc, {}, _mv("exact_match", 1.0, n=3), min_n=10)
    assert small.decision == INCONCLUSIVE and "below min_n=10" in small.reason

    d = SuccessCriterion(id="SC-002", metric="exact_match", min_delta=0.2)
    assert decide(d, _mv("exact_match", 0.1), _mv("exact_match", 0.3), min_n=1).decision == PASSED
    assert decide(d, _mv("exact_match", 0.1), _mv("exact_match", 0.25), min_n=1).decision == FAILED
    assert decide(d, {}, _mv("exact_match", 0.9), min_n=1).decision == INCONCLUSIVE

    # Lower is better for loss: a drop is an improvement.
    loss = SuccessCriterion(id="SC-003", metric="eval_loss", min_delta=0.5)
    base = {"eval_loss": MetricValue("eval_loss", 3.0, 20)}
    assert decide(loss, base, {"eval_loss": MetricValue("eval_loss", 2.0, 20)}, min_n=1).decision == PASSED
    assert decide(loss, base, {"eval_loss": MetricValue("eval_loss", 2.9, 20)}, min_n=1).decision == FAILED
    missing = decide(sc, {}, {"exact_match": MetricValue("exact_match", math.nan, 5)}, min_n=1)
    assert missing.decision == INCONCLUSIVE


def test_config_rejects_bad_specs() -> None:
    with pytest.raises(ValidationError):
        MetricSpec.model_validate({"kind": "regex"})
    with pytest.raises(ValidationError):
        MetricSpec.model_validate({"kind": "regex", "pattern": "("})
    with pytest.raises(ValidationError):
        MetricSpec.model_validate({"kind": "function", "function": "not a ref"})
    with pytest.raises(ValidationError):
        SuccessCriterion.model_validate({"id": "SC-1", "metric": "exact_match", "threshold": 1})
    with pytest.raises(ValidationError):
        SuccessCriterion.model_validate({"id": "SC-001", "metric": "exact_match"})
    with pytest.raises(ValidationError):
        EvaluationConfig.model_validate({"metrics": ["exact_match", "exact_match"]})
    with pytest.raises(ValidationError):
        EvaluationConfig.model_validate({"metrics": ["exact_match"], "bogus": 1})
    problems = check_criteria_metrics(
        [SuccessCriterion(id="SC-001", metric="accuracy", threshold=0.5)], EvaluationConfig()
    )
    assert problems and "accuracy" in problems[0]
