"""How a run is judged: generation settings, task metrics, success criteria.

Owned by the evidence layer and torch-free (pydantic only): the Stage 5
verifier re-reads these definitions from ``metrics.json`` without the `train`
extra, and the trainer's run config imports them from here.

A config block looks like::

    evaluation:
      generation: {max_new_tokens: 16}        # greedy unless do_sample: true
      metrics:
        - exact_match
        - {kind: regex, name: has_digit, pattern: "\\d"}
        - {kind: function, name: my_score, function: "mypkg.scoring:score"}
      min_n: 20
      samples: 8
      confidence: 0.95
    success_criteria:
      - {id: SC-001, requirement: R-001, metric: exact_match, op: ">=", threshold: 0.8}
      - {id: SC-002, metric: exact_match, min_delta: 0.2}
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SC_ID = re.compile(r"^SC-\d{3,}$")
R_ID = re.compile(r"^R-\d{3,}$")
_FUNCTION_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")

MetricKind = Literal["exact_match", "normalized_exact_match", "contains", "regex", "function"]
Op = Literal[">=", ">", "<=", "<", "=="]
# `point` judges the measured value; `lower_bound` judges the pessimistic end
# of its confidence interval (the low end when higher is better), so a small
# held-out set cannot pass on luck.
DecideOn = Literal["point", "lower_bound"]
# Below this many held-out examples a proportion says little; a criterion on
# fewer is Inconclusive unless the config lowers min_n on purpose.
DEFAULT_MIN_N = 20

# Metrics the evaluator always produces, so a criterion may name them without
# declaring them under `metrics`.
BUILTIN_METRICS: frozenset[str] = frozenset(
    {
        "eval_loss",
        "perplexity",
        "eos_rate",
        "preference_accuracy",
        "reward_margin",
        # GRPO: the mean summed reward of the held-out outputs.
        "reward_mean",
    }
)
# Lower is better for these; the direction matters for a `min_delta`.
LOWER_IS_BETTER: frozenset[str] = frozenset({"eval_loss", "perplexity"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GenerationSettings(_Strict):
    """Settings used for both baseline and tuned outputs, so the comparison is fair."""

    max_new_tokens: int = Field(default=32, ge=1, le=4096)
    do_sample: bool = False
    temperature: float = Field(default=1.0, gt=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    num_beams: int = Field(default=1, ge=1)
    repetition_penalty: float = Field(default=1.0, gt=0)
    batch_size: int = Field(default=8, ge=1)

    def generate_kwargs(self) -> dict[str, Any]:
        """Arguments for ``model.generate``; sampling knobs only when sampling."""
        kwargs: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens,
            "do_sample": self.do_sample,
            "num_beams": self.num_beams,
            "repetition_penalty": self.repetition_penalty,
        }
        if self.do_sample:
            kwargs["temperature"] = self.temperature
            kwargs["top_p"] = self.top_p
            if self.top_k is not None:
                kwargs["top_k"] = self.top_k
        return kwargs


class MetricSpec(_Strict):
    """One task metric computed on generated text against the expected answer."""

    kind: MetricKind
    name: str = ""
    pattern: str | None = None
    function: str | None = None
    # contains: does the output contain the expected answer (default) or a fixed string?
    needle: str | None = None
    case_sensitive: bool = True

    @model_validator(mode="before")
    @classmethod
    def _from_shorthand(cls, value: Any) -> Any:
        # `- exact_match` is the common case; spell the mapping form only when needed.
        if isinstance(value, str):
            return {"kind": value}
        return value

    @model_validator(mode="after")
    def _check(self) -> MetricSpec:
        if self.kind == "regex":
            if not self.pattern:
                raise ValueError("a regex metric needs `pattern`")
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"regex pattern {self.pattern!r} does not compile: {exc}") from exc
        elif self.pattern is not None:
            raise ValueError(f"`pattern` only applies to regex metrics, not {self.kind}")
        if self.kind == "function":
            if not self.function or not _FUNCTION_REF.match(self.function):
                raise ValueError("a function metric needs `function: module.path:callable`")
        elif self.function is not None:
            raise ValueError(f"`function` only applies to function metrics, not {self.kind}")
        if self.needle is not None and self.kind != "contains":
            raise ValueError("`needle` only applies to contains metrics")
        if not self.name:
            object.__setattr__(self, "name", self._default_name())
        if self.name in BUILTIN_METRICS:
            raise ValueError(f"metric name {self.name!r} is reserved for a built-in metric")
        return self

    def _default_name(self) -> str:
        if self.kind == "function":
            return str(self.function).rsplit(":", 1)[1]
        return self.kind

    @property
    def is_proportion(self) -> bool:
        # A user function may return any score, so no binomial interval for it.
        return self.kind != "function"


class EvaluationConfig(_Strict):
    metrics: list[MetricSpec] = Field(default_factory=lambda: [MetricSpec(kind="exact_match")])
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    min_n: int = Field(default=DEFAULT_MIN_N, ge=1)
    samples: int = Field(default=8, ge=0)
    confidence: float = Field(default=0.95, gt=0, lt=1)
    # Cap on held-out examples evaluated; None means all.
    max_examples: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _unique_names(self) -> EvaluationConfig:
        names = [m.name for m in self.metrics]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"metric names must be unique; repeated: {', '.join(dupes)}")
        return self

    def metric_names(self) -> set[str]:
        return {m.name for m in self.metrics} | set(BUILTIN_METRICS)


class SuccessCriterion(_Strict):
    """Closes one `SC-###` of requirements.md with a measurable rule.

    Either an absolute rule (`op` + `threshold` on the tuned result) or a
    relative one (`min_delta` over the baseline, in the metric's better
    direction). Both may be given; then both must hold.
    """

    id: Annotated[str, Field(description="SC-### from requirements.md")]
    requirement: str | None = None
    metric: str
    op: Op = ">="
    threshold: float | None = None
    min_delta: float | None = None
    decide_on: DecideOn = "point"
    description: str = ""

    @field_validator("id")
    @classmethod
    def _sc_id(cls, value: str) -> str:
        if not SC_ID.match(value):
            raise ValueError(f"success criterion id {value!r} must look like SC-001")
        return value

    @field_validator("requirement")
    @classmethod
    def _r_id(cls, value: str | None) -> str | None:
        if value is not None and not R_ID.match(value):
            raise ValueError(f"requirement id {value!r} must look like R-001")
        return value

    @model_validator(mode="after")
    def _has_rule(self) -> SuccessCriterion:
        if self.threshold is None and self.min_delta is None:
            raise ValueError(f"{self.id}: give `threshold` (with `op`) or `min_delta`, or both")
        return self

    def expected_outcome(self) -> str:
        parts = []
        if self.threshold is not None:
            parts.append(f"{self.metric} {self.op} {self.threshold:g}")
        if self.min_delta is not None:
            sign = "-" if self.metric in LOWER_IS_BETTER else "+"
            parts.append(f"{self.metric} delta {sign}{self.min_delta:g} or better vs baseline")
        text = " and ".join(parts)
        return text + " (on the CI bound)" if self.decide_on == "lower_bound" else text


def check_criteria_metrics(
    criteria: list[SuccessCriterion], evaluation: EvaluationConfig
) -> list[str]:
    """Problems with criteria that name unknown metrics or repeat an id."""
    problems: list[str] = []
    known = evaluation.metric_names()
    seen: set[str] = set()
    for sc in criteria:
        if sc.id in seen:
            problems.append(f"{sc.id} appears twice in success_criteria")
        seen.add(sc.id)
        if sc.metric not in known:
            problems.append(
                f"{sc.id} uses metric {sc.metric!r}, which evaluation does not compute "
                f"(known: {', '.join(sorted(known))})"
            )
    return problems
