"""Benchmark: `ftgate data prepare` against TRL's own SFT dataset preparation.

Both sides start from the same JSONL file of short conversations and the same
tokenizer (a tiny local one, no network) and end with tokenized, masked,
truncated examples:

- TRL: ``datasets.load_dataset`` + ``SFTTrainer._prepare_dataset`` with
  ``assistant_only_loss=True`` (its tokenize, label and truncate passes);
- ftgate: ``prepare`` end to end: hashing the files, loading, validating
  rows, rendering, tokenizing, the seven checks, and writing the dataset and
  manifest to disk (work TRL does not do).

Runs alternate between the two so drift on the machine hits both; the
report gives medians and the ratio ftgate / TRL (target: at most 1.5).

    python bench/bench_prepare.py            # 20,000 conversations, 3 rounds
    python bench/bench_prepare.py --rows 2000 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import types
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

WORK = Path(__file__).resolve().parent / ".work" / "prepare"


def _conversation(i: int) -> dict:
    a, b = i % 97, (i * 7) % 89
    messages = []
    if i % 5 == 0:
        messages.append({"role": "system", "content": "Answer briefly."})
    messages.append({"role": "user", "content": f"Question {i}: what is {a} plus {b}?"})
    messages.append({"role": "assistant", "content": f"{a} plus {b} is {a + b}."})
    return {"messages": messages}


def _setup(rows: int) -> Path:
    from ftgate.train.tiny import build_tiny_model

    WORK.mkdir(parents=True, exist_ok=True)
    model = WORK / "model"
    if not (model / "tokenizer.json").is_file():
        build_tiny_model(model)
    for name, start, count in (("train.jsonl", 0, rows), ("eval.jsonl", 10_000_000, max(rows // 100, 10))):
        with (WORK / name).open("w", encoding="utf-8") as fh:
            for i in range(start, start + count):
                fh.write(json.dumps(_conversation(i)) + "\n")
    config = WORK / "run.yaml"
    config.write_text(
        "run_id: RUN-900\npurpose: benchmark\nticket: bench\nobjective: sft\n"
        "model: {base: ./model, output_dir: ./out}\nstrategy: lora\n"
        "data: {train: train.jsonl, eval: eval.jsonl, prepared_dir: prepared}\nmax_length: 128\n",
        encoding="utf-8",
    )
    return config


def _time_trl(config_path: Path) -> tuple[float, int]:
    import datasets
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(WORK / "model")
    args = SFTConfig(
        output_dir=str(WORK / "trl-out"),
        assistant_only_loss=True,
        max_length=128,
        report_to="none",
        use_cpu=True,
        activation_checkpointing=False,
    )
    # Only the preparation step, not model construction: these are the
    # attributes `_prepare_dataset` reads from the trainer.
    host = types.SimpleNamespace(_tokenizer=tokenizer, chat_template=None, completion_only_loss=False)
    start = time.perf_counter()
    ds = datasets.load_dataset("json", data_files=str(WORK / "train.jsonl"), split="train")
    out = SFTTrainer._prepare_dataset(host, ds, tokenizer, args, False, None, "train")
    return time.perf_counter() - start, len(out)


def _time_ftgate(config_path: Path) -> tuple[float, int]:
    from ftgate.train.config import load_config
    from ftgate.train.data.prepare import prepare

    start = time.perf_counter()
    result = prepare(load_config(config_path))
    elapsed = time.perf_counter() - start
    if not result.passed:
        raise SystemExit("benchmark data failed a check: " + ", ".join(c.name for c in result.checks if not c.passed))
    return elapsed, result.manifest["rows"]["train"]["kept"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    import datasets

    datasets.disable_caching()  # a cached map would time a disk read, not TRL
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    config = _setup(args.rows)
    # Warm-up: imports, template compilation, the arrow cache of the JSON file.
    _time_trl(config)
    _time_ftgate(config)
    trl_times, ftgate_times = [], []
    for _ in range(args.rounds):
        t, n_trl = _time_trl(config)
        trl_times.append(t)
        f, n_ftgate = _time_ftgate(config)
        ftgate_times.append(f)
    trl_median, ftgate_median = statistics.median(trl_times), statistics.median(ftgate_times)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {sys.version.split()[0]}")
    print(f"rows: {args.rows} conversations, rounds: {args.rounds}")
    print(f"TRL _prepare_dataset: median {trl_median:.2f}s  runs {[round(t, 2) for t in trl_times]}  rows out {n_trl}")
    print(f"ftgate data prepare:  median {ftgate_median:.2f}s  runs {[round(t, 2) for t in ftgate_times]}  "
          f"rows out {n_ftgate}")
    ratio = ftgate_median / trl_median
    print(f"ratio ftgate / TRL: {ratio:.2f} (target <= 1.5)")
    return 0 if ratio <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
