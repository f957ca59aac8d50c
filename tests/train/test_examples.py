"""Every example in examples/train/ runs exactly as its header says and clears its own criteria.

The header lists the commands (lines ``#   $ ftgate ...``); the test copies the
examples into a scratch git repository with the ticket the config names,
runs each command through the real CLI, and reads the evidence it wrote.
"""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest
import yaml

from tests.support.gitrepo import git

# A real run each; generous so a busy shared CI machine does not cut one short.
pytestmark = [pytest.mark.train, pytest.mark.timeout(900)]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "train"


def header_commands(config: Path) -> list[list[str]]:
    commands = []
    for line in config.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        if "$ ftgate " in line:
            commands.append(shlex.split(line.split("$ ", 1)[1]))
    return commands


def run_example(name: str, root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, dict]:
    from ftgate.__main__ import main

    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    shutil.copytree(EXAMPLES, root / "examples" / "train", ignore=shutil.ignore_patterns("tiny-model"))
    (root / ".gitignore").write_text("/runs/\n/examples/train/tiny-model/\n", encoding="utf-8")
    config = yaml.safe_load((root / "examples" / "train" / f"{name}.yaml").read_text(encoding="utf-8"))
    monkeypatch.chdir(root)
    assert main(["ticket", "new", config["ticket"], "--no-worktree"]) == 0
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "examples")
    commands = header_commands(root / "examples" / "train" / f"{name}.yaml")
    assert [c[:2] for c in commands] == [["ftgate", "model"], ["ftgate", "data"], ["ftgate", "train"]], commands
    for command in commands:
        assert main(command[1:]) == 0, f"{shlex.join(command)} failed"
    evidence = root / "tickets" / "in-progress" / config["ticket"] / "evidence"
    (run,) = sorted(evidence.iterdir())
    return config, json.loads((run / "metrics.json").read_text(encoding="utf-8")) | {
        "samples": [json.loads(x) for x in (run / "samples.jsonl").read_text(encoding="utf-8").splitlines()]}


def _clears_own_criteria(config: dict, metrics: dict) -> None:
    for sc in config["success_criteria"]:
        value = metrics["result"][sc["metric"]]["value"]
        assert value >= sc["threshold"], (sc, value)
    assert [d["decision"] for d in metrics["criteria"]] == ["Passed"] * len(config["success_criteria"])


@pytest.mark.parametrize("name", ["sft_lora", "sft_full"])
def test_sft_example_learns_the_mapping(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, metrics = run_example(name, tmp_path / name, monkeypatch)
    assert config["success_criteria"][0]["threshold"] >= 0.8  # a meaningful bar, not a lowered one
    _clears_own_criteria(config, metrics)
    assert metrics["baseline"]["exact_match"]["value"] <= 0.1
    assert all(s["tuned"].strip() for s in metrics["samples"]), "empty tuned outputs"


def test_dpo_example_prefers_the_chosen_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, metrics = run_example("dpo_lora", tmp_path / "dpo", monkeypatch)
    # Before training the policy is its own reference: every pair ties, which is chance.
    assert metrics["baseline"]["preference_accuracy"]["value"] == pytest.approx(0.5)
    assert config["success_criteria"][0]["threshold"] >= 0.8
    _clears_own_criteria(config, metrics)
    assert metrics["result"]["preference_accuracy"]["ci_low"] > 0.5  # well above chance, not by luck


def test_every_example_has_a_test() -> None:
    # grpo_full runs, exactly as its header says, in tests/train/test_grpo.py.
    assert {p.stem for p in EXAMPLES.glob("*.yaml")} == {"sft_lora", "sft_full", "dpo_lora", "grpo_full"}
    assert "grpo_full.yaml" in (Path(__file__).parent / "test_grpo.py").read_text(encoding="utf-8")
