"""Success criteria as ``requirements.md`` states them, read as terms a run can be held to.

A criterion line such as ``- SC-001 (R-001): `exact_match >= 0.8` on held-out
prompts`` states a metric, a comparison and a threshold; ``- SC-002 (R-001):
`exact_match` improves on the base model by at least 0.5`` states a minimum
improvement. A line that states neither (a rubric a person judges) is kept
with no terms, so it can only be closed by a person in the report.

Pure functions over text: the trainer refuses a run whose config says
something else under the same id, the verifier refuses evidence that does,
and the hooks can compare two versions of the file (:func:`criteria_changes`)
to tell a requirement change after Stage 2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ftgate.workflow import markdown as md
from ftgate.workflow.artifacts import read_success_criteria

# A metric is named as an identifier with an underscore or in backticks, so
# prose such as "held-out prompts >= 0.8" is not mistaken for a metric.
_METRIC = r"`?(?P<metric>[a-z][a-z0-9]*(?:_[a-z0-9]+)+|(?<=`)[a-z][a-z0-9_]*)`?"
_NUMBER = r"(?P<num>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)"
_THRESHOLD = re.compile(_METRIC + r"\s*(?P<op>>=|<=|==|>|<|≥|≤)\s*" + _NUMBER)
_IMPROVEMENT = re.compile(
    _METRIC + r"`?\s+(?:improves?|gains?|rises?)\b[^0-9\n]*?(?:by\s+)?(?:at\s+least\s+|>=\s*|≥\s*)" + _NUMBER
)
_UNICODE_OPS = {"≥": ">=", "≤": "<="}


@dataclass(frozen=True)
class StatedCriterion:
    """One SC line: its id, line, text and, when stated, the terms a run must use."""

    ident: str
    line: int
    text: str
    metric: str | None = None
    op: str | None = None
    threshold: float | None = None
    min_delta: float | None = None

    @property
    def measurable(self) -> bool:
        return self.metric is not None

    def terms(self) -> str:
        """The stated terms in the config's words, for messages."""
        parts = []
        if self.threshold is not None:
            parts.append(f"{self.metric} {self.op} {self.threshold:g}")
        if self.min_delta is not None:
            parts.append(f"{self.metric} min_delta {self.min_delta:g}")
        return ", ".join(parts) or "(no measurable terms: a rubric closed by a person)"


def _body(text: str) -> str:
    # The id and requirement prefix carry numbers ("SC-001", "R-001") that
    # are not terms.
    return re.sub(r"\b(?:SC|R)-\d{3,}\b", " ", text)


def parse_line(ident: str, line: int, text: str) -> StatedCriterion:
    body = _body(text)
    threshold = _THRESHOLD.search(body)
    improvement = _IMPROVEMENT.search(body)
    metric = op = None
    value = delta = None
    if threshold:
        metric, op, value = threshold.group("metric"), threshold.group("op"), float(threshold.group("num"))
        op = _UNICODE_OPS.get(op, op)
    if improvement and (metric is None or improvement.group("metric") == metric):
        metric = improvement.group("metric")
        delta = float(improvement.group("num"))
        if threshold and threshold.start() >= improvement.start() and threshold.end() <= improvement.end():
            # "improves by >= 0.5" is the improvement, not a threshold on the metric.
            op, value = None, None
    return StatedCriterion(ident, line, text.strip(), metric, op, value, delta)


def stated_criteria(text: str, path: str = "requirements.md") -> dict[str, StatedCriterion]:
    """Every SC line of a requirements.md text, by id (the first line wins)."""
    doc = md.parse(text, path)
    out: dict[str, StatedCriterion] = {}
    for criterion in read_success_criteria(doc):
        out.setdefault(criterion.ident, parse_line(criterion.ident, criterion.line, criterion.text))
    return out


def criteria_changes(before: str, after: str, path: str = "requirements.md") -> list[str]:
    """What changed in the success criteria between two versions of requirements.md.

    Wording that keeps the same terms is no change; a new, removed or
    re-termed criterion is, and each is named. Empty when nothing changed.
    """
    old, new = stated_criteria(before, path), stated_criteria(after, path)
    out: list[str] = []
    for ident in sorted(old.keys() - new.keys()):
        out.append(f"{ident} was removed")
    for ident in sorted(new.keys() - old.keys()):
        out.append(f"{ident} was added ({new[ident].terms()})")
    for ident in sorted(old.keys() & new.keys()):
        a, b = old[ident], new[ident]
        if (a.metric, a.op, a.threshold, a.min_delta) != (b.metric, b.op, b.threshold, b.min_delta):
            out.append(f"{ident} changed from {a.terms()} to {b.terms()}")
        elif not a.measurable and _norm(a.text) != _norm(b.text):
            out.append(f"{ident}'s rubric was reworded")
    return out


def _norm(text: str) -> str:
    return " ".join(text.split())


def config_disagreements(
    stated: dict[str, StatedCriterion],
    configured: list[tuple[str, str, str | None, float | None, float | None]],
) -> list[str]:
    """Configured criteria (id, metric, op, threshold, min_delta) that say
    something other than requirements.md under the same id; one line each."""
    out: list[str] = []
    for ident, metric, op, threshold, min_delta in configured:
        want = stated.get(ident)
        if want is None or not want.measurable:
            continue
        problems = []
        if metric != want.metric:
            problems.append(f"metric {metric!r} instead of {want.metric!r}")
        if want.threshold is not None and (op != want.op or threshold is None
                                           or abs(threshold - want.threshold) > 1e-12):
            problems.append(f"threshold `{op} {threshold}` instead of `{want.op} {want.threshold:g}`")
        if want.min_delta is not None and (min_delta is None or abs(min_delta - want.min_delta) > 1e-12):
            problems.append(f"min_delta {min_delta} instead of {want.min_delta:g}")
        if problems:
            out.append(f"{ident} in requirements.md line {want.line} states {want.terms()}; "
                       f"the config's {ident} has " + " and ".join(problems))
    return out
