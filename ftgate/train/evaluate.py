"""Held-out evaluation: the same prompts, template and generation settings for
the base model and the tuned one, so their difference is the training's doing.

Task metrics come from ``ftgate.train.metrics`` and ``ftgate.evidence.metrics`` (pure Python); this module
does the torch side: rendering prompts, batched greedy generation, and
telling whether each output stopped on EOS or ran out of tokens.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ftgate.evidence.criteria import EvaluationConfig, GenerationSettings
from ftgate.evidence.metrics import MetricValue, aggregate
from ftgate.train.metrics import score_outputs


@dataclass(frozen=True)
class HeldOutExample:
    """One held-out prompt as inference sees it, and the answer expected."""

    prompt: str
    prompt_ids: list[int]
    expected: str


@dataclass(frozen=True)
class Generation:
    text: str
    stopped_on_eos: bool
    new_tokens: int


def held_out_examples(eval_generation: Any, *, limit: int | None = None) -> list[HeldOutExample]:
    """Examples from the prepared ``eval_generation`` split.

    Its ``prompt_ids`` were rendered by ``ftgate data prepare`` with the
    training template and checked there, so generation starts exactly where
    training taught the model to answer; nothing is re-rendered here.
    """
    rows = eval_generation if limit is None else eval_generation.select(range(min(limit, len(eval_generation))))
    return [
        HeldOutExample(_preview(r["prompt"]), [int(t) for t in r["prompt_ids"]], str(r["reference"]))
        for r in rows
    ]


def _preview(prompt: str) -> str:
    """A conversational prompt is stored as JSON; show its non-system turns."""
    try:
        messages = json.loads(prompt)
    except (TypeError, ValueError):
        return prompt
    if not isinstance(messages, list):
        return prompt
    return " | ".join(str(m.get("content", "")) for m in messages if isinstance(m, dict) and m.get("role") != "system")


def eos_token_ids(model: Any, tokenizer: Any, extra: Sequence[int] = ()) -> set[int]:
    ids: set[int] = {int(i) for i in extra}
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(int(i) for i in configured)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return ids


def generate(
    model: Any,
    tokenizer: Any,
    examples: Sequence[HeldOutExample],
    settings: GenerationSettings,
    *,
    seed: int,
    stop_ids: Sequence[int] = (),
    synced: bool = False,
) -> list[Generation]:
    """Batched generation, left-padded so every prompt ends where generation starts.

    ``stop_ids`` adds the model's generation EOS ids (a chat model's
    end-of-turn token) to the tokenizer's EOS.
    """
    import torch

    eos = eos_token_ids(model, tokenizer, stop_ids)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos)
    device = next(model.parameters()).device
    kwargs = settings.generate_kwargs()
    kwargs["eos_token_id"] = sorted(eos)
    kwargs["pad_token_id"] = pad_id
    if synced:
        # Sharded weights (FSDP, ZeRO-3): every process must keep stepping
        # until all are done, or the collectives deadlock.
        kwargs["synced_gpus"] = True
    was_training = model.training
    model.eval()
    # Sampling, when asked for, must be repeatable run to run.
    torch.manual_seed(seed)
    outputs: list[Generation] = []
    try:
        for start in range(0, len(examples), settings.batch_size):
            batch = [ex.prompt_ids for ex in examples[start:start + settings.batch_size]]
            width = max(len(ids) for ids in batch)
            input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            attention = torch.zeros((len(batch), width), dtype=torch.long)
            for i, ids in enumerate(batch):
                input_ids[i, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
                attention[i, width - len(ids):] = 1
            with torch.no_grad():
                out = model.generate(
                    input_ids=input_ids.to(device), attention_mask=attention.to(device), **kwargs
                )
            for row in out[:, width:].tolist():
                stop = next((i for i, tok in enumerate(row) if tok in eos), None)
                kept = row if stop is None else row[:stop]
                text = tokenizer.decode(kept, skip_special_tokens=True).strip()
                outputs.append(Generation(text, stop is not None, len(kept)))
    finally:
        if was_training:
            model.train()
    return outputs


def score(
    evaluation: EvaluationConfig,
    examples: Sequence[HeldOutExample],
    outputs: Sequence[Generation],
) -> dict[str, MetricValue]:
    """Task metrics plus the EOS stop rate for one model's outputs."""
    preds = [o.text for o in outputs]
    refs = [e.expected for e in examples]
    scores = score_outputs(evaluation.metrics, preds, refs, confidence=evaluation.confidence)
    scores["eos_rate"] = aggregate(
        "eos_rate", [float(o.stopped_on_eos) for o in outputs], proportion=True, confidence=evaluation.confidence
    )
    return scores


def loss_metrics(eval_output: dict[str, float], *, n: int, objective: str, confidence: float) -> dict[str, MetricValue]:
    """Metrics from a ``Trainer.evaluate`` result: loss, and perplexity or DPO rewards."""
    out: dict[str, MetricValue] = {}
    loss = eval_output.get("eval_loss")
    if loss is not None:
        out["eval_loss"] = MetricValue("eval_loss", float(loss), n)
        if objective == "sft":
            # exp of a mean token loss; capped so a diverged run still serialises.
            out["perplexity"] = MetricValue("perplexity", math.exp(min(float(loss), 50.0)), n)
    if objective == "dpo":
        acc = eval_output.get("eval_rewards/accuracies")
        margin = eval_output.get("eval_rewards/margins")
        if acc is not None:
            out["preference_accuracy"] = _proportion("preference_accuracy", float(acc), n, confidence)
        if margin is not None:
            out["reward_margin"] = MetricValue("reward_margin", float(margin), n)
    return out


def _proportion(name: str, value: float, n: int, confidence: float) -> MetricValue:
    from ftgate.evidence.metrics import wilson_interval

    lo, hi = wilson_interval(value * n, n, confidence)
    return MetricValue(name, value, n, lo, hi, True)


def sample_rows(
    examples: Sequence[HeldOutExample],
    baseline: Sequence[Generation],
    tuned: Sequence[Generation],
    count: int,
) -> list[dict[str, Any]]:
    """The first ``count`` held-out rows: a fixed choice, so runs compare like for like."""
    rows = []
    for ex, base, new in list(zip(examples, baseline, tuned, strict=True))[:count]:
        rows.append({
            "prompt": ex.prompt,
            "expected": ex.expected,
            "baseline": base.text,
            "tuned": new.text,
            "baseline_stopped_on_eos": base.stopped_on_eos,
            "tuned_stopped_on_eos": new.stopped_on_eos,
            "baseline_correct": base.text.strip() == ex.expected.strip(),
            "tuned_correct": new.text.strip() == ex.expected.strip(),
        })
    return rows
