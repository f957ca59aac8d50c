"""Settings and decisions that must hold before (and without) a training run.

Bad input is refused before a run id is claimed; metric decisions mean what
they say (ties, confidence bounds, minimum sample size); dtype settings.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import tests.support.trainer as tp
from ftgate.evidence.criteria import DEFAULT_MIN_N, EvaluationConfig, SuccessCriterion
from ftgate.evidence.metrics import MetricValue, decide, wilson_interval

pytestmark = pytest.mark.train


@pytest.fixture
def project(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    model = tp.tiny_model(tp.session_base(tmp_path_factory))
    config_path = tp.make_project(tmp_path / "project", model, config=tp.sft_config(model), name="sft.yaml")
    tp.prepare(config_path)
    return config_path


def _variant(config_path: Path, edit: dict) -> Path:
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    for dotted, value in edit.items():
        *parents, last = dotted.split(".")
        node = config
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    path = config_path.with_name("bad.yaml")
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


BAD = [
    ({"training.lr_scheduler_type": "cosine_with_restart"}, "did you mean `cosine_with_restarts`"),
    ({"training.optim": "adamw_torh"}, "did you mean `adamw_torch`"),
    ({"objective": "dpo", "data.format": "preference", "data.train": "data/dpo_train.jsonl",
      "data.eval": "data/dpo_eval.jsonl", "dpo": {"loss_type": "sigmoidd"},
      "success_criteria": []}, "did you mean `sigmoid`"),
    ({"lora.target_modules": ["q_proj", "v_prj"]}, "did you mean `v_proj`"),
    ({"model.base": "./no-such-model"}, "no model folder"),
    ({"model.dtype": "float16", "strategy": "full", "lora": None}, "float16 on a CPU is refused"),
]


@pytest.mark.parametrize(("edit", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_config_claims_no_run_id(project: Path, edit: dict, message: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    from ftgate.__main__ import main

    bad = _variant(project, edit)
    ticket = tp.ticket_path(project.parents[1])
    report_before = (ticket / "training-validation-report.md").read_text(encoding="utf-8")
    assert main(["train", str(bad)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (ticket / "evidence").exists() or not any((ticket / "evidence").glob("RUN-*"))
    assert (ticket / "training-validation-report.md").read_text(encoding="utf-8") == report_before


def test_typo_of_a_local_model_folder_is_a_local_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ftgate.__main__ import main

    (project.parent / "tiny-model").mkdir()
    bad = _variant(project, {"model.base": "tiny-modle"})
    assert main(["data", "prepare", str(bad)]) == 2
    assert "write `./tiny-model` for a local model" in capsys.readouterr().err


def test_empty_held_out_set_is_refused_at_prepare(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ftgate.__main__ import main

    (project.parent / "data" / "empty.jsonl").write_text("", encoding="utf-8")
    bad = _variant(project, {"data.eval": "data/empty.jsonl"})
    assert main(["data", "prepare", str(bad)]) == 2
    assert "no usable held-out rows" in capsys.readouterr().err


def test_full_fine_tuning_loads_float32_and_settings_reach_from_pretrained(tmp_path: Path) -> None:
    from ftgate.train.config import config_from_dict, lora_kwargs, model_load_kwargs

    base = {"run_id": "RUN-001", "purpose": "p", "ticket": "t", "objective": "sft",
            "model": {"base": "./m", "output_dir": "o"},
            "data": {"train": "a.jsonl", "eval": "b.jsonl", "prepared_dir": "p"}}
    full = config_from_dict(base | {"strategy": "full"}, base_dir=tmp_path)
    assert model_load_kwargs(full) == {"trust_remote_code": False, "dtype": "float32"}
    lora = config_from_dict(base | {"strategy": "lora", "lora": {"use_dora": True},
                                    "model": base["model"] | {"dtype": "bfloat16", "attn_implementation": "sdpa"}},
                            base_dir=tmp_path)
    assert model_load_kwargs(lora) == {"trust_remote_code": False, "dtype": "bfloat16", "attn_implementation": "sdpa"}
    assert lora_kwargs(lora)["use_dora"] is True
    with pytest.raises(Exception, match="compute_dtype` only applies to strategy `qlora"):
        config_from_dict(base | {"strategy": "lora", "model": base["model"] | {"compute_dtype": "float16"}},
                         base_dir=tmp_path)


# -- decisions -------------------------------------------------------------------


def _prop(value: float, n: int) -> MetricValue:
    lo, hi = wilson_interval(value * n, n, 0.95)
    return MetricValue("exact_match", value, n, lo, hi, True)


def test_lower_bound_decision_refuses_a_lucky_small_sample() -> None:
    point = SuccessCriterion(id="SC-001", metric="exact_match", op=">=", threshold=0.8)
    bound = SuccessCriterion(id="SC-001", metric="exact_match", op=">=", threshold=0.8, decide_on="lower_bound")
    result = {"exact_match": _prop(0.85, 20)}
    assert decide(point, {}, result, min_n=20).decision == "Passed"
    decision = decide(bound, {}, result, min_n=20)
    assert decision.decision == "Failed" and "CI bound" in decision.reason
    assert decide(bound, {}, {"exact_match": _prop(1.0, 200)}, min_n=20).decision == "Passed"


def test_min_n_defaults_to_a_sensible_size_and_refuses_below_it() -> None:
    assert EvaluationConfig().min_n == DEFAULT_MIN_N == 20
    criterion = SuccessCriterion(id="SC-001", metric="exact_match", op=">=", threshold=0.5)
    decision = decide(criterion, {}, {"exact_match": _prop(1.0, 5)}, min_n=EvaluationConfig().min_n)
    assert decision.decision == "Inconclusive" and "below min_n=20" in decision.reason


def test_preference_ties_count_half() -> None:
    from ftgate.train.evaluate import PREF_PAIRS, PREF_TIES, PREF_WINS, loss_metrics

    all_ties = loss_metrics({PREF_WINS: 0, PREF_TIES: 40, PREF_PAIRS: 40}, n=40, objective="dpo", confidence=0.95)
    assert all_ties["preference_accuracy"].value == 0.5
    mixed = loss_metrics({PREF_WINS: 30, PREF_TIES: 4, PREF_PAIRS: 40}, n=40, objective="dpo", confidence=0.95)
    assert mixed["preference_accuracy"].value == pytest.approx(32 / 40)
