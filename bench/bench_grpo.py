"""Benchmark: ftgate's GRPO training phase against a plain TRL ``GRPOTrainer``.

Both sides train the same tiny local model (no network) on the same prompts,
with the same ``GRPOConfig`` (ftgate's mapping of the run config, so nothing
differs but who built the trainer), the same reward and the same steps:

- plain TRL: ``GRPOTrainer(model, reward_funcs=[length], ...)``, where
  ``length`` is written here against TRL's calling convention;
- ftgate: the trainer ``ftgate.train.grpo.build_trainer`` makes from the run
  config, with the reward resolved from the config and wrapped to check its
  output (one finite float per completion).

Only ``trainer.train()`` is timed. Rounds alternate the two sides so drift on
the machine hits both; the report gives medians and the ratio ftgate / TRL
(target: at most 1.05).

    python bench/bench_grpo.py                    # 12 steps, 3 rounds
    python bench/bench_grpo.py --steps 6 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORK = Path(__file__).resolve().parent / ".work" / "grpo"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "train"
TARGET = 5


def _config(steps: int) -> Any:
    from ftgate.train.config import config_from_dict

    for name in ("grpo_train.jsonl", "grpo_eval.jsonl"):
        shutil.copy(EXAMPLES / name, WORK / name)
    raw = {
        "run_id": "RUN-001", "purpose": "bench", "ticket": "bench", "objective": "grpo",
        "model": {"base": str(WORK / "model"), "output_dir": str(WORK / "out")},
        "strategy": "full",
        "data": {"train": "grpo_train.jsonl", "eval": "grpo_eval.jsonl", "prepared_dir": "prepared"},
        "grpo": {"num_generations": 8, "max_completion_length": 8, "rewards": [{"type": "length", "target": TARGET}]},
        "training": {"max_steps": steps, "learning_rate": 0.01, "per_device_train_batch_size": 16,
                     "logging_steps": 1, "save_steps": 10_000},
        "seed": 42,
    }
    return config_from_dict(raw, base_dir=WORK)


def _plain_length(prompts: list[Any], completions: list[Any], **_: Any) -> list[float]:
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [1.0 / (1.0 + abs(len(t.strip()) - TARGET) / TARGET) for t in texts]


def _trainer(side: str, config: Any) -> Any:
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from trl import GRPOConfig, GRPOTrainer

    from ftgate.train import grpo
    from ftgate.train.config import trainer_kwargs

    set_seed(42)
    kwargs = trainer_kwargs(config, cuda=False)
    kwargs.update(output_dir=str(WORK / f"out-{side}"), save_strategy="no", disable_tqdm=True)
    model = AutoModelForCausalLM.from_pretrained(WORK / "model")
    tok = AutoTokenizer.from_pretrained(WORK / "model")
    if side == "ftgate":
        return grpo.build_trainer(config, model, tok, WORK, kwargs, WORK)
    return GRPOTrainer(model=model, reward_funcs=[_plain_length], args=GRPOConfig(**kwargs),
                       train_dataset=grpo.train_dataset(config), processing_class=tok)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from ftgate.train.tiny import build_tiny_model, iter_text

    WORK.mkdir(parents=True, exist_ok=True)
    if not (WORK / "model").is_dir():
        build_tiny_model(WORK / "model", texts=list(iter_text(EXAMPLES / "sft_train.jsonl")))
    config = _config(args.steps)
    times: dict[str, list[float]] = {"trl": [], "ftgate": []}
    for r in range(args.rounds):
        for side in (("trl", "ftgate") if r % 2 == 0 else ("ftgate", "trl")):
            trainer = _trainer(side, config)
            t0 = time.perf_counter()
            trainer.train()
            times[side].append(time.perf_counter() - t0)
            print(f"round {r + 1} {side:<6} {times[side][-1]:.2f}s", flush=True)
    trl_med, ftg_med = statistics.median(times["trl"]), statistics.median(times["ftgate"])
    print(json.dumps({"steps": args.steps, "rounds": args.rounds, "trl_median_s": round(trl_med, 3),
                      "ftgate_median_s": round(ftg_med, 3), "ratio": round(ftg_med / trl_med, 3),
                      "times": times}, indent=2))


if __name__ == "__main__":
    main()
