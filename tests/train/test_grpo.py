"""`objective: grpo`: the shipped example trains on a CPU and clears its reward criterion."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

import tests.support.trainer as tp
from ftgate.errors import FtgateError

pytestmark = pytest.mark.train

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "train"


def _example_config(model: Path) -> dict[str, Any]:
    """examples/train/grpo_full.yaml as shipped, pointed at the test project's folders."""
    config = yaml.safe_load((EXAMPLES / "grpo_full.yaml").read_text(encoding="utf-8"))
    config["model"] = {"base": str(model), "output_dir": "../outputs"}
    config["data"].update(train="data/grpo_train.jsonl", eval="data/grpo_eval.jsonl", prepared_dir="../prepared/grpo")
    return config


def _project(base: Path, config: dict[str, Any]) -> Path:
    from ftgate.train.tiny import build_tiny_model, iter_text

    model = base / "tiny-model"
    if not model.is_dir():
        build_tiny_model(model, texts=list(iter_text(EXAMPLES / "sft_train.jsonl")))
    config["model"]["base"] = str(model)
    root = base / f"project-{len(list(base.glob('project-*')))}"
    config_path = tp.make_project(root, model, config=config, name="grpo.yaml")
    for name in ("grpo_train.jsonl", "grpo_eval.jsonl"):
        shutil.copy(EXAMPLES / name, config_path.parent / "data" / name)
    (root / "src" / "rewards.py").write_text(
        "def short(prompts, completions, references):\n"
        "    return [1.0 if len(c.strip()) <= 6 else 0.0 for c in completions]\n", encoding="utf-8")
    (tp.ticket_path(root) / "requirements.md").write_text(
        "# Requirements: color-map\n\n- Status: `Plan-ready`\n\n## Requirements\n\n"
        "- R-001: the model answers in one short word.\n\n## Success Criteria\n\n"
        "- SC-001 (R-001): the held-out reward rises over the base model by at least 0.10\n", encoding="utf-8")
    tp.git(root, "add", "-A")
    tp.git(root, "commit", "-q", "-m", "grpo data")
    return config_path


@pytest.fixture(scope="module")
def grpo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    from ftgate.train.run import run_training

    base = tmp_path_factory.mktemp("grpo")
    config_path = _project(base, _example_config(Path("unset")))
    tp.prepare(config_path)
    code = run_training(config_path, resume=False)
    return config_path.parents[1], code


def test_the_grpo_example_raises_its_reward_and_clears_the_criterion(grpo_run: tuple[Path, int]) -> None:
    from ftgate.evidence.verify import verify_ticket

    root, code = grpo_run
    run_dir = tp.ticket_path(root) / "evidence" / "RUN-001"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    base, tuned = metrics["baseline"]["reward_mean"]["value"], metrics["result"]["reward_mean"]["value"]
    assert tuned >= base + 0.1, (base, tuned)
    assert [d["decision"] for d in metrics["criteria"]] == ["Passed"] and code == 0
    assert {"reward/length", "reward/exact_match", "reward/one_word"} <= set(metrics["result"])

    # Every held-out generation is recorded, and the summed reward recomputes from it.
    rows = [json.loads(x) for x in (run_dir / "generations.jsonl").read_text().splitlines()]
    assert len(rows) == metrics["result"]["reward_mean"]["n"] == 40
    weights = {"length": 1.0, "exact_match": 1.0, "one_word": 0.5}
    for row in rows:
        assert row["tuned_rewards"]["reward"] == pytest.approx(
            sum(weights[k] * row["tuned_rewards"][k] for k in weights))
    mean = sum(r["tuned_rewards"]["reward"] for r in rows) / len(rows)
    assert mean == pytest.approx(tuned)

    curve = json.loads((run_dir / "reward_curve.json").read_text())
    assert len(curve) >= 10 and all("reward" in c and "rewards/length/mean" in c for c in curve)
    assert (run_dir / "reward.png").read_bytes().startswith(b"\x89PNG")
    run = json.loads((run_dir / "run.json").read_text())
    assert {"generations.jsonl", "reward_curve.json", "reward.png"} <= set(run["artifacts"])
    result = verify_ticket(tp.ticket_path(root))
    assert result.ok, [f.render() for f in result.findings]


def test_a_reward_function_from_the_repository_is_checked_before_a_run_id_is_claimed(
        grpo_run: tuple[Path, int], tmp_path: Path) -> None:
    from ftgate.train.config import load_config
    from ftgate.train.rewards import resolve_all
    from ftgate.train.run import run_training

    root = tp.copy_project(grpo_run[0], tmp_path / "project")
    config_path = root / "train" / "grpo.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["grpo"]["rewards"] = [{"type": "function", "function": "src.rewards:short"}]
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    [(label, func)] = resolve_all(load_config(config_path), root)
    assert label == "src.rewards.short" and func([], ["sky", "a long answer"], ["", ""]) == [1.0, 0.0]

    config["grpo"]["rewards"] = [{"type": "function", "function": "src.rewards:missing"}]
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    runs_before = sorted(p.name for p in (tp.ticket_path(root) / "evidence").iterdir())
    with pytest.raises(FtgateError, match=r"grpo.rewards\[0\].*has no function 'missing'"):
        run_training(config_path, resume=False)
    assert sorted(p.name for p in (tp.ticket_path(root) / "evidence").iterdir()) == runs_before


@pytest.mark.parametrize(("grpo", "message"), [
    ({"rewards": []}, "at least 1"),
    ({"rewards": [{"type": "regex"}]}, "needs `pattern`"),
    ({"rewards": [{"type": "regex", "pattern": "("}]}, "not a valid regular expression"),
    ({"rewards": [{"type": "length", "target": 5, "pattern": "x"}]}, "`pattern` does not apply"),
    ({"rewards": [{"type": "function", "function": "no dots"}]}, "package.module:name"),
    ({"rewards": [{"type": "exact_match"}], "num_generations": 3}, "multiple of grpo.num_generations"),
])
def test_bad_grpo_settings_are_refused_in_words(grpo: dict[str, Any], message: str, tmp_path: Path) -> None:
    from ftgate.train.config import config_from_dict

    config = _example_config(tmp_path)
    config["grpo"] = grpo
    with pytest.raises(FtgateError, match=message):
        config_from_dict(config, base_dir=tmp_path)
