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
    """One output: ``text`` is what metrics score, ``raw`` what the model wrote.

    ``raw`` keeps special tokens literally, so an output of eight role or pad
    tokens reads as those tokens in the evidence and not as an empty string.
    """

    text: str
    stopped_on_eos: bool
    new_tokens: int
    raw: str = ""


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
                raw = tokenizer.decode(kept, skip_special_tokens=False)
                outputs.append(Generation(text, stop is not None, len(kept), raw))
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
        margin = eval_output.get("eval_rewards/margins")
        pairs = eval_output.get(PREF_PAIRS)
        if pairs:
            # Ties count as half a win: a model that cannot tell the two
            # answers apart scores chance (0.5), not zero. Before training
            # the policy *is* the reference, so every pair ties.
            wins = float(eval_output.get(PREF_WINS, 0)) + 0.5 * float(eval_output.get(PREF_TIES, 0))
            out["preference_accuracy"] = _proportion("preference_accuracy", wins / pairs, int(pairs), confidence)
        if margin is not None:
            out["reward_margin"] = MetricValue("reward_margin", float(margin), n)
    return out


PREF_WINS, PREF_TIES, PREF_PAIRS = "eval_preference_wins", "eval_preference_ties", "eval_preference_pairs"


def preference_counts(trainer: Any, dataset: Any) -> dict[str, float]:
    """Wins, ties and pairs of the DPO implicit reward on the held-out pairs.

    TRL's ``rewards/accuracies`` counts a tie as a loss, which puts the
    untrained model (policy equal to reference: every pair a tie) at 0 and
    makes any gain look large. Here each pair is scored on its own: the
    reward margin is the chosen answer's log-ratio minus the rejected one's,
    a tie is a margin of exactly zero.
    """
    import contextlib

    import torch

    model = trainer.accelerator.unwrap_model(trainer.model)
    ref = getattr(trainer, "ref_model", None)
    device = next(model.parameters()).device

    def logp(m: Any, prompt: list[int], completion: list[int]) -> float:
        ids = torch.tensor([prompt + completion], dtype=torch.long, device=device)
        logits = m(input_ids=ids).logits[0, len(prompt) - 1:-1].float()
        target = ids[0, len(prompt):]
        return float(torch.log_softmax(logits, -1).gather(1, target[:, None]).sum())

    def scores(m: Any, context: Any) -> list[float]:
        with context, torch.no_grad():
            return [logp(m, list(r["prompt_ids"]), list(r["chosen_ids"]))
                    - logp(m, list(r["prompt_ids"]), list(r["rejected_ids"])) for r in dataset]

    was_training = model.training
    model.eval()
    try:
        policy = scores(model, contextlib.nullcontext())
        if ref is not None:
            reference = scores(ref, contextlib.nullcontext())
        else:
            # PEFT: the reference is the base model, i.e. the adapter switched off.
            reference = scores(model, model.disable_adapter())
    finally:
        if was_training:
            model.train()
    margins = [p - r for p, r in zip(policy, reference, strict=True)]
    return {PREF_WINS: float(sum(m > 0 for m in margins)), PREF_TIES: float(sum(m == 0 for m in margins)),
            PREF_PAIRS: float(len(margins))}


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
    """The first ``count`` held-out rows: a fixed choice, so runs compare like for like.

    ``baseline``/``tuned`` show the output as generated, special tokens
    included; ``*_scored`` is the text the metrics compared.
    """
    rows = []
    for ex, base, new in list(zip(examples, baseline, tuned, strict=True))[:count]:
        rows.append({
            "prompt": ex.prompt,
            "expected": ex.expected,
            "baseline": base.raw or base.text,
            "tuned": new.raw or new.text,
            "baseline_scored": base.text,
            "tuned_scored": new.text,
            "baseline_tokens": base.new_tokens,
            "tuned_tokens": new.new_tokens,
            "baseline_stopped_on_eos": base.stopped_on_eos,
            "tuned_stopped_on_eos": new.stopped_on_eos,
            "baseline_correct": base.text.strip() == ex.expected.strip(),
            "tuned_correct": new.text.strip() == ex.expected.strip(),
        })
    return rows
