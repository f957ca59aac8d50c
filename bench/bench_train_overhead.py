"""Benchmark: the training phase of `ftgate train` against a plain TRL script.

Both sides train the same tiny local model (no network) on the same prepared
dataset with the same ``SFTConfig`` and the same number of steps:

- plain TRL: ``AutoModelForCausalLM`` + ``SFTTrainer(...).train()``, nothing else;
- ftgate: ``run_training`` end to end in a throwaway git repo with a ticket.
  Its training phase is the ``trainer.train()`` call it records in
  ``run.json`` (``timings.train_s``); baseline, evaluation and evidence
  writing are reported on their own lines, since the plain script does none
  of that work.

Rounds alternate between the two so drift on the machine hits both. The
report gives medians and the ratio ftgate / TRL for the training phase
(target: at most 1.05).

    python bench/bench_train_overhead.py                 # 300 steps, 5 rounds
    python bench/bench_train_overhead.py --steps 100 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORK = Path(__file__).resolve().parent / ".work" / "train_overhead"
TICKET = "bench-overhead"
WORDS = ["red", "blue", "green", "yellow", "white", "black", "orange", "purple"]
THINGS = ["apple", "sky", "grass", "sun", "snow", "night", "carrot", "plum"]


def _rows(numbers: range, seed: int) -> list[dict[str, Any]]:
    rows = [{"messages": [{"role": "user", "content": f"{w} {n}"}, {"role": "assistant", "content": t}]}
            for n in numbers for w, t in zip(WORDS, THINGS, strict=True)]
    random.Random(seed).shuffle(rows)
    return rows


def _git(root: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid"}
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env=env)


def _setup(steps: int, hidden: int) -> Path:
    """A git repo with a ticket, data, config, tiny model and prepared data."""
    import yaml

    from ftgate.train.config import load_config
    from ftgate.train.data.prepare import prepare
    from ftgate.train.tiny import TinySpec, build_tiny_model
    from ftgate.workflow.tickets import render_template

    if WORK.exists():
        shutil.rmtree(WORK)
    root = WORK / "repo"
    (root / "train" / "data").mkdir(parents=True)
    _git(root, "init", "-q")
    (root / ".gitignore").write_text("outputs/\nprepared/\nmodel/\n")
    train, held_out = _rows(range(0, 60), 1), _rows(range(100, 105), 2)
    for name, rows in (("train.jsonl", train), ("eval.jsonl", held_out)):
        (root / "train" / "data" / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    texts = [m["content"] for r in train + held_out for m in r["messages"]]
    spec = TinySpec(hidden_size=hidden, intermediate_size=hidden * 2, num_attention_heads=4, num_key_value_heads=2)
    build_tiny_model(root / "model", texts=texts, spec=spec)
    config = {
        "run_id": "RUN-001", "purpose": "overhead benchmark", "ticket": TICKET, "objective": "sft",
        "model": {"base": "../model", "output_dir": "../outputs"}, "strategy": "lora",
        "lora": {"r": 16, "alpha": 32, "dropout": 0.0},
        "data": {"train": "data/train.jsonl", "eval": "data/eval.jsonl", "prepared_dir": "../prepared"},
        "max_length": 64,
        # Checkpoints and periodic eval are part of both sides' training phase.
        "training": {"max_steps": steps, "learning_rate": 5e-3, "per_device_train_batch_size": 16,
                     "logging_steps": 10, "save_steps": max(steps // 2, 1)},
        "seed": 7,
        "evaluation": {"generation": {"max_new_tokens": 8, "batch_size": 40}, "metrics": ["exact_match"]},
        "success_criteria": [{"id": "SC-001", "metric": "exact_match", "min_delta": 0.1}],
    }
    (root / "train" / "run.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    ticket = root / "tickets" / "in-progress" / TICKET
    ticket.mkdir(parents=True)
    (ticket / "requirements.md").write_text("# Requirements\n\n- SC-001: exact match beats the base model\n")
    (ticket / "training-validation-report.md").write_text(render_template("training-validation-report.md",
                                                                          ticket=TICKET))
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "bench project")
    prepare(load_config(root / "train" / "run.yaml"))
    return root / "train" / "run.yaml"


def _plain_trl(config_path: Path, out: Path) -> dict[str, float]:
    """What a person would write with TRL alone, on the same data and arguments."""
    from transformers import AutoModelForCausalLM, set_seed
    from trl import SFTConfig, SFTTrainer

    from ftgate.train.config import load_config, peft_config, trainer_kwargs
    from ftgate.train.data.prepare import load_prepared
    from ftgate.train.data.tokenizer import load_tokenizer

    config = load_config(config_path)
    set_seed(config.seed)
    kwargs = trainer_kwargs(config)
    kwargs.update(output_dir=str(out), disable_tqdm=False)
    data = load_prepared(config)
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(config.base_model()[0]),
        args=SFTConfig(**kwargs),
        train_dataset=data["train"],
        eval_dataset=data["eval"],
        processing_class=load_tokenizer(config),
        peft_config=peft_config(config),
    )
    start, cpu = time.perf_counter(), time.process_time()
    trainer.train()
    return {"train_s": time.perf_counter() - start, "train_cpu_s": time.process_time() - cpu}


def _ftgate(config_path: Path) -> dict[str, float]:
    from ftgate.evidence import record as rec
    from ftgate.train.run import run_training

    start = time.perf_counter()
    run_training(config_path, resume=False)
    total = time.perf_counter() - start
    ticket = config_path.parents[1] / "tickets" / "in-progress" / TICKET
    run = rec.read_json(rec.run_dirs(ticket)[-1] / rec.RUN_JSON)
    return {**run["timings"], "total_s": total}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=128, help="tiny model hidden size")
    args = parser.parse_args(argv)

    config_path = _setup(args.steps, args.hidden)
    plain: list[dict[str, float]] = []
    ours: list[dict[str, float]] = []
    # One untimed round each: first-call costs (lazy imports, allocator warm-up)
    # would otherwise land on whichever side runs first.
    _plain_trl(config_path, WORK / "plain-warmup")
    _ftgate(config_path)
    for i in range(args.rounds):
        order = ["plain", "ftgate"] if i % 2 == 0 else ["ftgate", "plain"]
        for side in order:
            if side == "plain":
                plain.append(_plain_trl(config_path, WORK / f"plain-{i}"))
            else:
                ours.append(_ftgate(config_path))
        print(f"round {i + 1}: plain TRL train {plain[-1]['train_s']:.2f}s (cpu {plain[-1]['train_cpu_s']:.2f}s), "
              f"ftgate train phase {ours[-1]['train_s']:.2f}s (cpu {ours[-1]['train_cpu_s']:.2f}s)", flush=True)

    def stat(rows: list[dict[str, float]], key: str, how: Any = statistics.median) -> float:
        return how(r[key] for r in rows)

    ratios = {
        "wall, median": stat(ours, "train_s") / stat(plain, "train_s"),
        "wall, best round": stat(ours, "train_s", min) / stat(plain, "train_s", min),
        "cpu time, median": stat(ours, "train_cpu_s") / stat(plain, "train_cpu_s"),
    }
    print()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}")
    print(f"steps per run: {args.steps}, rounds: {args.rounds}, tiny model hidden size {args.hidden}")
    print(f"training phase: plain TRL median {stat(plain, 'train_s'):.2f}s (best {stat(plain, 'train_s', min):.2f}s), "
          f"ftgate median {stat(ours, 'train_s'):.2f}s (best {stat(ours, 'train_s', min):.2f}s)")
    for label, ratio in ratios.items():
        print(f"ratio ftgate / TRL, {label}: {ratio:.3f} (target <= 1.05)")
    print(f"ftgate outside training, median: baseline {stat(ours, 'baseline_s'):.2f}s, "
          f"evaluation {stat(ours, 'evaluation_s'):.2f}s, evidence {stat(ours, 'evidence_s'):.2f}s, "
          f"whole command {stat(ours, 'total_s'):.2f}s")
    # Best-round wall time is the least disturbed by other load on the machine.
    return 0 if ratios["wall, best round"] <= 1.05 else 1


if __name__ == "__main__":
    sys.exit(main())
