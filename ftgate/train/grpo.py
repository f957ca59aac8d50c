"""``objective: grpo``: TRL's ``GRPOTrainer`` with the rewards the run config declares.

The run itself (evidence folder, baseline, evaluation, ``run.json``) is the
one ``ftgate.train.run`` drives for every objective; this module supplies what
differs: the prompt dataset TRL samples from, the trainer, the held-out reward
metrics, the reward curve and the record of every held-out generation.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ftgate.evidence.metrics import MetricValue
from ftgate.train import rewards as rw
from ftgate.train.config import RunConfig

REWARD_CURVE_JSON = "reward_curve.json"
# Beside the generic generations.jsonl (both models' outputs, which verify
# rescores): the same prompts with every reward function's score.
GENERATIONS_JSONL = "rewards.jsonl"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "".join(str(m.get("content", "")) for m in value)


def train_dataset(config: RunConfig) -> Any:
    """Prompts and references for TRL to sample from, read from the checked source rows.

    Conversational prompts stay message lists, so TRL renders them with the
    same chat template the held-out prompts were prepared with.
    """
    import datasets

    from ftgate.train.data.load import read_split

    rows = read_split(config, "train").rows
    return datasets.Dataset.from_list([{"prompt": r.prompt, "reference": _text(r.targets[0])} for r in rows])


def build_trainer(config: RunConfig, model: Any, tokenizer: Any, out_dir: Path, kwargs: dict[str, Any],
                  root: Path) -> Any:
    from trl import GRPOConfig, GRPOTrainer  # type: ignore[attr-defined]

    from ftgate.train.config import peft_config

    funcs: list[Any] = [rw.for_trl(label, func) for label, func in rw.resolve_all(config, root)]
    return GRPOTrainer(
        model=model,
        reward_funcs=funcs,
        args=GRPOConfig(**kwargs),
        train_dataset=train_dataset(config),
        processing_class=tokenizer,
        peft_config=peft_config(config),
    )


def scores(config: RunConfig, root: Path, examples: Sequence[Any], outputs: Sequence[Any]) -> list[dict[str, float]]:
    """Each held-out output's rewards by label, plus their weighted sum under ``reward``."""
    assert config.grpo is not None
    prompts = [e.prompt for e in examples]
    refs = [e.expected for e in examples]
    texts = [o.text for o in outputs]
    per: list[dict[str, float]] = [{} for _ in texts]
    weights = {s.label(): s.weight for s in config.grpo.rewards}
    for label, func in rw.resolve_all(config, root):
        for row, value in zip(per, rw.checked(label, func(prompts, texts, refs), len(texts)), strict=True):
            row[label] = value
    for row in per:
        row["reward"] = sum(weights[k] * v for k, v in row.items())
    return per


def reward_metrics(per: list[dict[str, float]]) -> dict[str, MetricValue]:
    """``reward_mean`` (what criteria name) and one mean per reward function."""
    n = len(per)
    out = {"reward_mean": MetricValue("reward_mean", statistics.fmean(r["reward"] for r in per) if n else None, n)}
    for label in (k for k in (per[0] if per else {}) if k != "reward"):
        name = f"reward/{label}"
        out[name] = MetricValue(name, statistics.fmean(r[label] for r in per), n)
    return out


def reward_curve(history: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The training reward by step, from TRL's log history (``reward``, ``reward_std``, ``rewards/*``)."""
    keep = ("reward", "reward_std")
    return [{"step": h["step"], **{k: v for k, v in h.items() if k in keep or k.startswith("rewards/")}}
            for h in history if "reward" in h and "step" in h]


def generation_rows(examples: Sequence[Any], baseline: Sequence[Any], tuned: Sequence[Any],
                    base_scores: list[dict[str, float]], tuned_scores: list[dict[str, float]]) -> list[dict[str, Any]]:
    """Every held-out generation, before and after, with its rewards: the metrics recompute from this."""
    return [{"prompt": ex.prompt, "expected": ex.expected,
             "baseline": b.text, "baseline_rewards": bs,
             "tuned": t.text, "tuned_rewards": ts}
            for ex, b, t, bs, ts in zip(examples, baseline, tuned, base_scores, tuned_scores, strict=True)]


def reward_plot_png(curve: list[dict[str, Any]], *, title: str, baseline: float | None, result: float | None) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    if curve:
        ax.plot([c["step"] for c in curve], [c["reward"] for c in curve], marker=".", label="training reward (sampled)")
    if baseline is not None:
        ax.axhline(baseline, linestyle="--", color="grey", label="held-out reward, baseline")
    if result is not None:
        ax.axhline(result, linestyle="-", color="green", label="held-out reward, tuned")
    ax.set_xlabel("step")
    ax.set_ylabel("reward")
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()
