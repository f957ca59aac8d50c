"""``ftgate evidence reeval RUN``: score the saved weights again and compare.

``evidence verify`` proves the files agree with each other; it cannot tell
whether the weights ever produced those outputs. Where the weights are at
hand (the trainer's machine, a GPU runner), this loads the run's base model
and trained weights, checks both against the hashes the run recorded,
generates on the same prepared held-out prompts with the same settings, and
compares each task metric with ``metrics.json``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftgate import hashing
from ftgate.errors import FtgateError
from ftgate.evidence import record as rec
from ftgate.evidence.schema import MetricsRecord, RunRecord, load_record

# Greedy decoding on the same weights gives the same tokens up to kernel
# nondeterminism (another GPU, another batch layout); a proportion over n
# prompts may then move by a prompt or two.
DEFAULT_TOLERANCE = 0.02


@dataclass
class Reeval:
    run_id: str
    tolerance: float
    rows: list[tuple[str, float | None, float | None]] = field(default_factory=list)
    same_outputs: int = 0
    total: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(r is not None and a is not None and abs(r - a) <= self.tolerance for _, r, a in self.rows)

    def render(self) -> str:
        lines = [f"{self.run_id}: re-scored {self.total} held-out prompts in {self.seconds:.1f}s "
                 f"({self.same_outputs}/{self.total} outputs identical to generations.jsonl); "
                 f"tolerance {self.tolerance:g}"]
        for name, recorded, again in self.rows:
            diff = None if recorded is None or again is None else again - recorded
            verdict = "agrees" if diff is not None and abs(diff) <= self.tolerance else "DISAGREES"
            lines.append(f"  {name:<24} recorded {_f(recorded):>8}  re-scored {_f(again):>8}  {verdict}")
        lines.append("reeval: metrics reproduced" if self.ok else "reeval: metrics NOT reproduced")
        return "\n".join(lines)


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def reeval(run_path: Path, *, tolerance: float = DEFAULT_TOLERANCE) -> Reeval:
    from ftgate.evidence.weights import weights_hash
    from ftgate.train import evaluate as evl
    from ftgate.train.config import load_config
    from ftgate.train.data.prepare import load_prepared
    from ftgate.train.data.tokenizer import tokenizer_info

    t0 = time.perf_counter()
    run_path = run_path.resolve()
    root = rec.find_repo_root(run_path)
    run = load_record(RunRecord, run_path / rec.RUN_JSON)
    if run.status != rec.STATUS_COMPLETED:
        raise FtgateError(f"{run_path.name} is {run.status}, not Completed; there is nothing to re-score")
    metrics = load_record(MetricsRecord, run_path / rec.METRICS_JSON)
    if not run.config.path:
        raise FtgateError(f"{run_path.name}/run.json records no config path")
    config = load_config(root / run.config.path)
    if config.config_hash() != run.config.resolved_sha256:
        raise FtgateError(f"{run.config.path} changed since {run_path.name}; re-scoring would not be the same run")
    final = root / run.output.path if run.output.path else None
    if final is None or not final.exists():
        raise FtgateError(f"the trained weights of {run_path.name} are not here ({run.output.path})",
                          hint="run reeval where the weights are: the trainer's machine or a runner with them")
    if run.output.sha256 and hashing.sha256_tree(final) != run.output.sha256:
        raise FtgateError(f"the trained weights at {run.output.path} differ from the ones {run_path.name} evaluated")
    base = run.base_model or {}
    where, _local = config.base_model()
    if base.get("weights_sha256") and weights_hash(Path(where)) != base["weights_sha256"]:
        raise FtgateError(f"the base weights at {base.get('path')} differ from the ones {run_path.name} trained on")

    tok = tokenizer_info(config)
    model = _load(where, final, run.output.kind or "adapter")
    prepared = load_prepared(config)
    examples = evl.held_out_examples(prepared["eval_generation"], limit=config.evaluation.max_examples)
    outputs = evl.generate(model, tok.tokenizer, examples, config.evaluation.generation, seed=config.seed,
                           stop_ids=tok.generation_eos_ids)
    again = evl.score(config.evaluation, examples, outputs)
    result = Reeval(run_path.name, tolerance, total=len(outputs))
    recorded_rows = _recorded_outputs(run_path)
    result.same_outputs = sum(1 for i, o in enumerate(outputs) if i < len(recorded_rows) and recorded_rows[i] == o.text)
    for name, value in again.items():
        have = metrics.result.get(name)
        result.rows.append((name, have.value if have else None, value.value))
    result.seconds = time.perf_counter() - t0
    return result


def _recorded_outputs(run_path: Path) -> list[str]:
    from ftgate.evidence.recompute import read_generations

    path = run_path / rec.GENERATIONS_JSONL
    if not path.is_file():
        return []
    return [str(r["tuned"]["text"]) for r in read_generations(path, str(path))]


def _load(base: str, final: Path, kind: str) -> Any:
    from transformers import AutoModelForCausalLM

    if kind == "full":
        return AutoModelForCausalLM.from_pretrained(str(final))
    from peft import PeftModel

    return PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), str(final))
