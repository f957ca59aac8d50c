"""The shapes of the evidence files and the data manifest, as pydantic models.

The trainer writes these files and the Stage 5 verifier, ``ftgate evidence
verify`` and ``ftgate train --resume`` read them back. Every reader goes
through :func:`load_record`, so a file of the wrong shape is a
:class:`RecordShapeError` that names the file and the key, never a
``KeyError`` from deep inside a check.

Models are tolerant of keys they do not name (``extra="allow"``): a newer
writer may add a key, and an older reader must still check what it knows.
Keys a reader relies on are typed; those it only copies into the report are
kept as plain mappings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ftgate.errors import FtgateError
from ftgate.evidence.criteria import SuccessCriterion
from ftgate.evidence.metrics import MetricValue

Record = TypeVar("Record", bound=BaseModel)


class RecordShapeError(FtgateError):
    """An evidence file that is JSON but not the shape its reader needs."""

    def __init__(self, label: str, key: str, problem: str) -> None:
        self.label, self.key, self.problem = label, key, problem
        super().__init__(f"{label}: `{key}`: {problem}",
                         hint="evidence files are written by `ftgate train`; restore the file or re-run")


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow")


# ------------------------------------------------------------------ run.json


class Attempt(_Shape):
    started_at: str
    status: str
    resumed: bool = False
    finished_at: str | None = None
    error: str | None = None


class GitInfo(_Shape):
    commit: str | None = None
    dirty: bool | None = None


class SourceInfo(_Shape):
    """The tracked source the run saw: {path: sha256} and one hash over it (None outside git)."""

    hash: str | None = None
    files: dict[str, str] | None = None


class ConfigInfo(_Shape):
    path: str | None = None
    sha256: str | None = None
    resolved: dict[str, Any] = Field(default_factory=dict)
    resolved_sha256: str | None = None


class InputEntry(_Shape):
    """One hashed input; ``tracked`` inputs must still exist, untracked ones may be absent."""

    role: str = "input"
    path: str | None = None
    sha256: str | None = None
    tracked: bool = False


class OutputInfo(_Shape):
    path: str | None = None
    checkpoints: str | None = None
    sha256: str | None = None
    kind: str | None = None
    resumed_from: str | None = None


class RunRecord(_Shape):
    """``evidence/RUN-NNN/run.json``. Only ``status`` is needed to read a run
    at all: a ``Running`` or ``Failed`` record has few of the other keys."""

    schema_: int | None = Field(default=None, alias="schema")
    run_id: str | None = None
    status: str = "unknown"
    started_at: str | None = None
    finished_at: str | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    planned_run: str | None = None
    purpose: str = ""
    ticket: str | None = None
    # The run folder, repository-relative: evidence copied elsewhere says where it belongs.
    run_path: str | None = None
    # {source, path, weights_sha256} for local weights, {source, revision} for a pinned hub model.
    base_model: dict[str, Any] | None = None
    # sha256 of the baseline state a resumed run reused.
    baseline_state: dict[str, Any] | None = None
    git: GitInfo = Field(default_factory=GitInfo)
    source: SourceInfo = Field(default_factory=SourceInfo)
    config: ConfigInfo = Field(default_factory=ConfigInfo)
    inputs: list[InputEntry] = Field(default_factory=list)
    output: OutputInfo = Field(default_factory=OutputInfo)
    # {file name in the run folder: sha256}; absent until the run completes.
    artifacts: dict[str, str] | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    error: str | None = None


# ------------------------------------------------------------------ metrics.json


class MetricRecord(_Shape):
    """One ``MetricValue`` as written; NaN survives (the writer allows it)."""

    name: str
    value: float | None
    n: int
    ci_low: float | None = None
    ci_high: float | None = None
    proportion: bool = False

    def value_object(self) -> MetricValue:
        return MetricValue(self.name, self.value, self.n, self.ci_low, self.ci_high, self.proportion)


class DecisionRecord(_Shape):
    id: str
    requirement: str | None = None
    metric: str = ""
    expected: str = ""
    observed: str = ""
    decision: str
    reason: str = ""


class MetricsRecord(_Shape):
    """``evidence/RUN-NNN/metrics.json``: both models' numbers and the decisions made from them."""

    run_id: str | None = None
    min_n: int = 1
    confidence: float | None = None
    specs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    baseline: dict[str, MetricRecord] = Field(default_factory=dict)
    result: dict[str, MetricRecord] = Field(default_factory=dict)
    delta: dict[str, float | None] = Field(default_factory=dict)
    criteria_config: list[SuccessCriterion] = Field(default_factory=list)
    criteria: list[DecisionRecord] = Field(default_factory=list)
    anomalies: list[str] = Field(default_factory=list)

    def decisions(self) -> dict[str, DecisionRecord]:
        return {d.id: d for d in self.criteria}

    def values(self, which: Mapping[str, MetricRecord]) -> dict[str, MetricValue]:
        return {name: record.value_object() for name, record in which.items()}


# ------------------------------------------------------------------ the data manifest


class ManifestConfig(_Shape):
    file: str | None = None
    sha256: str
    preparation_sha256: str


class ManifestSource(_Shape):
    path: str
    sha256: str
    rows: int


class ManifestTokenizer(_Shape):
    source: str | None = None
    files_sha256: str


class ManifestTemplate(_Shape):
    source: str | None = None
    sha256: str
    text: str = ""


class ManifestCheck(_Shape):
    name: str
    verdict: str


class DataManifest(_Shape):
    """``<prepared_dir>/manifest.json``: what ``ftgate data prepare`` made the data from."""

    manifest_version: int
    config: ManifestConfig
    sources: dict[str, list[ManifestSource]]
    tokenizer: ManifestTokenizer
    template: ManifestTemplate
    checks: list[ManifestCheck] = Field(default_factory=list)
    passed: bool = False


# ------------------------------------------------------------------ the run state


class RunState(_Shape):
    """``ftgate-run-state.json`` beside the checkpoints: the baseline a resumed run reuses."""

    baseline_eval: dict[str, float]
    baseline_outputs: list[dict[str, Any]]
    trainable_before: dict[str, str]
    baseline_seconds: float


# ------------------------------------------------------------------ reading


def parse_record(model: type[Record], data: Any, label: str) -> Record:
    """``data`` as ``model``, or :class:`RecordShapeError` naming ``label`` and the first bad key."""
    if not isinstance(data, dict):
        raise RecordShapeError(label, "(top level)", f"expected a JSON object, found {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise RecordShapeError(label, key, err["msg"].removeprefix("Value error, ")) from None


def load_record(model: type[Record], path: Path, label: str | None = None) -> Record:
    """Read and validate one JSON evidence file.

    ``FileNotFoundError`` passes through (absent is its own finding);
    unreadable JSON is an :class:`FtgateError`, the wrong shape a
    :class:`RecordShapeError`.
    """
    label = label or str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise FtgateError(f"{label}: cannot read as JSON ({exc})") from exc
    return parse_record(model, data, label)
