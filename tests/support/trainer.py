"""A throwaway project for trainer tests: a git repo with a ticket, data,
a run config and a tiny local model, built once per session and copied.

The synthetic task maps a colour word to a thing ("red 17" -> "apple"); the
number is noise, so held-out prompts (numbers never trained on) test the
mapping and not memorised strings. A random tiny model never gets it right;
a few dozen LoRA steps do.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.gitrepo import git

TICKET = "color-map"
MAPPING = {"red": "apple", "blue": "sky", "green": "grass", "yellow": "sun", "white": "snow", "black": "night"}
WRONG = {"red": "night", "blue": "grass", "green": "sun", "yellow": "snow", "white": "apple", "black": "sky"}
TRAIN_NUMBERS = range(0, 20)
EVAL_NUMBERS = range(100, 105)

REQUIREMENTS = """\
# Requirements: color-map

- Status: `Plan-ready`

## Requirements

- R-001: the model names the thing that goes with a colour.

## Success Criteria

- SC-001 (R-001): exact match on the held-out prompts >= 0.80
- SC-002 (R-001): exact match improves on the base model by at least 0.50
"""

_CACHE: dict[str, Path] = {}


def sft_rows(numbers: range, seed: int) -> list[dict[str, Any]]:
    rows = [{"messages": [{"role": "user", "content": f"{word} {n}"},
                          {"role": "assistant", "content": thing}]}
            for n in numbers for word, thing in MAPPING.items()]
    random.Random(seed).shuffle(rows)
    return rows


def dpo_rows(numbers: range, seed: int) -> list[dict[str, Any]]:
    rows = [{"prompt": [{"role": "user", "content": f"{word} {n}"}],
             "chosen": [{"role": "assistant", "content": thing}],
             "rejected": [{"role": "assistant", "content": WRONG[word]}]}
            for n in numbers for word, thing in MAPPING.items()]
    random.Random(seed).shuffle(rows)
    return rows


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    """Rows as JSON lines; a string row is written as a raw line (for tests of
    malformed input)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def conversation(i: int) -> dict[str, Any]:
    """A simple arithmetic chat in the ``messages`` format, unique per ``i``."""
    return {
        "messages": [
            {"role": "user", "content": f"What is {i} plus {i + 1}?"},
            {"role": "assistant", "content": f"{i} plus {i + 1} is {2 * i + 1}."},
        ]
    }


def conversations(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [conversation(i) for i in range(start, start + n)]


def tiny_model(base: Path) -> Path:
    if "model" not in _CACHE:
        from ftgate.train.tiny import build_tiny_model

        texts = [m["content"] for r in sft_rows(TRAIN_NUMBERS, 0) + sft_rows(EVAL_NUMBERS, 0) for m in r["messages"]]
        _CACHE["model"] = build_tiny_model(base / "tiny-model", texts=texts)
    return _CACHE["model"]


def sft_config(model: Path, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "run_id": "RUN-001",
        "purpose": "teach the colour-to-thing mapping",
        "ticket": TICKET,
        "objective": "sft",
        "model": {"base": str(model), "output_dir": "../outputs"},
        "strategy": "lora",
        "lora": {"r": 16, "alpha": 32, "dropout": 0.0},
        "data": {"train": "data/train.jsonl", "eval": "data/eval.jsonl", "prepared_dir": "../prepared/sft"},
        "max_length": 64,
        "training": {"max_steps": 60, "learning_rate": 5e-3, "per_device_train_batch_size": 16,
                     "per_device_eval_batch_size": 32, "logging_steps": 10, "save_steps": 20, "eval_steps": 20},
        "seed": 7,
        "evaluation": {"generation": {"max_new_tokens": 8, "batch_size": 32},
                       "metrics": ["exact_match", "normalized_exact_match", "contains"],
                       "min_n": 20, "samples": 6},
        "success_criteria": [
            {"id": "SC-001", "requirement": "R-001", "metric": "exact_match", "op": ">=", "threshold": 0.8},
            {"id": "SC-002", "requirement": "R-001", "metric": "exact_match", "min_delta": 0.5},
        ],
    }
    for key, value in overrides.items():
        config[key] = value
    return config


def dpo_config(model: Path) -> dict[str, Any]:
    config = sft_config(model)
    config.update(
        objective="dpo",
        purpose="prefer the right thing for a colour",
        data={"train": "data/dpo_train.jsonl", "eval": "data/dpo_eval.jsonl", "prepared_dir": "../prepared/dpo"},
        training={"max_steps": 40, "learning_rate": 5e-3, "per_device_train_batch_size": 16,
                  "per_device_eval_batch_size": 32, "logging_steps": 10, "save_steps": 20},
        dpo={"beta": 0.1},
        success_criteria=[
            {"id": "SC-001", "requirement": "R-001", "metric": "preference_accuracy", "op": ">=", "threshold": 0.8},
            {"id": "SC-002", "requirement": "R-001", "metric": "reward_margin", "min_delta": 0.05},
        ],
    )
    return config


def make_project(dest: Path, model: Path, *, config: dict[str, Any], name: str = "sft.yaml") -> Path:
    """A committed git repo with a ticket at Stage 5 inputs; returns the config path."""
    from ftgate.workflow.tickets import render_template

    dest.mkdir(parents=True)
    git(dest, "init", "-q", "-b", "main")
    (dest / ".gitignore").write_text("outputs/\nprepared/\n", encoding="utf-8")
    (dest / "src").mkdir()
    (dest / "src" / "pipeline.py").write_text("LABEL = 'colour mapping'\n", encoding="utf-8")
    train_dir = dest / "train"
    write_jsonl(train_dir / "data" / "train.jsonl", sft_rows(TRAIN_NUMBERS, 1))
    write_jsonl(train_dir / "data" / "eval.jsonl", sft_rows(EVAL_NUMBERS, 2))
    write_jsonl(train_dir / "data" / "dpo_train.jsonl", dpo_rows(TRAIN_NUMBERS, 3))
    write_jsonl(train_dir / "data" / "dpo_eval.jsonl", dpo_rows(EVAL_NUMBERS, 4))
    config_path = train_dir / name
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    ticket = dest / "tickets" / "in-progress" / TICKET
    ticket.mkdir(parents=True)
    (ticket / "requirements.md").write_text(REQUIREMENTS, encoding="utf-8")
    (ticket / "training-validation-report.md").write_text(
        render_template("training-validation-report.md", ticket=TICKET)
        + "\nA note the person wrote by hand.\n",
        encoding="utf-8",
    )
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "project")
    return config_path


def prepare(config_path: Path) -> None:
    from ftgate.train.config import load_config
    from ftgate.train.data.prepare import prepare as prepare_data

    result = prepare_data(load_config(config_path))
    assert result.passed, [c.summary() for c in result.checks if not c.passed]


def trained_project(base: Path, key: str, config_factory: Any, name: str) -> Path:
    """Build, prepare and train once per session; callers get a private copy."""
    if key not in _CACHE:
        from ftgate.train.run import run_training

        model = tiny_model(base)
        root = base / f"{key}-original"
        config_path = make_project(root, model, config=config_factory(model), name=name)
        prepare(config_path)
        code = run_training(config_path, resume=False)
        assert code == 0, "the reference run must pass its own criteria"
        _CACHE[key] = root
    return _CACHE[key]


def copy_project(original: Path, dest: Path) -> Path:
    shutil.copytree(original, dest, symlinks=True)
    return dest


def ticket_path(root: Path) -> Path:
    return root / "tickets" / "in-progress" / TICKET


def session_base(factory: pytest.TempPathFactory) -> Path:
    """One folder per test session for the shared model and reference runs."""
    if "base" not in _CACHE:
        _CACHE["base"] = factory.mktemp("trainer-session")
    return _CACHE["base"]
