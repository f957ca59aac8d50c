"""The demo's synthetic task: a colour word and a number in, the thing that
goes with the colour out ("red 17" -> "apple").

The number is noise, so the held-out prompts (numbers never seen in training)
measure the mapping, not memorised strings. A randomly initialised tiny model
never gets it right; a few dozen LoRA steps on a CPU do.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

THINGS = {"red": "apple", "blue": "sky", "green": "grass", "yellow": "sun", "white": "snow", "black": "night"}
TRAIN_NUMBERS = range(0, 20)
HELD_OUT_NUMBERS = range(100, 105)


def rows(numbers: range, seed: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = [
        {"messages": [{"role": "user", "content": f"{colour} {n}"},
                      {"role": "assistant", "content": thing}]}
        for n in numbers for colour, thing in THINGS.items()
    ]
    random.Random(seed).shuffle(out)
    return out


def write_data(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    train, held_out = folder / "train.jsonl", folder / "eval.jsonl"
    for path, numbers, seed in ((train, TRAIN_NUMBERS, 0), (held_out, HELD_OUT_NUMBERS, 1)):
        path.write_text("".join(json.dumps(row) + "\n" for row in rows(numbers, seed)), encoding="utf-8")
    return train, held_out


def run_config(*, ticket: str, model: str, outputs: str) -> str:
    """The run config the demo commits at Stage 4 (paths relative to it)."""
    return f"""\
# RUN-001 of ticket {ticket}: LoRA SFT on the colour mapping, CPU-sized.
run_id: RUN-001
purpose: teach the colour-to-thing mapping with a small adapter
ticket: {ticket}
objective: sft
model:
  base: {model}
  output_dir: {outputs}
strategy: lora
lora: {{r: 16, alpha: 32, dropout: 0.0}}
data:
  train: ../data/train.jsonl
  eval: ../data/eval.jsonl
  format: messages
  prepared_dir: {outputs}/prepared
template: tokenizer
max_length: 64
training:
  max_steps: 60
  learning_rate: 0.005
  per_device_train_batch_size: 16
  per_device_eval_batch_size: 32
  logging_steps: 10
  save_steps: 30
  eval_steps: 30
seed: 42
evaluation:
  generation: {{max_new_tokens: 8}}
  metrics: [exact_match, normalized_exact_match]
  min_n: 20
  samples: 5
success_criteria:
  - {{id: SC-001, requirement: R-001, metric: exact_match, op: ">=", threshold: 0.8}}
  - {{id: SC-002, requirement: R-002, metric: exact_match, min_delta: 0.5}}
"""
