"""The run config: strict validation, helpful errors, and the TRL/PEFT mapping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ftgate.errors import FtgateError
from ftgate.train.config import (
    config_from_dict,
    load_config,
    peft_config,
    trainer_args,
    trainer_kwargs,
)

pytestmark = pytest.mark.train

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "train"


def _minimal(**extra: object) -> dict[str, object]:
    raw: dict[str, object] = {
        "run_id": "RUN-001",
        "purpose": "p",
        "ticket": "t",
        "objective": "sft",
        "model": {"base": "./m", "output_dir": "../out"},
        "strategy": "lora",
        "data": {"train": "a.jsonl", "eval": "b.jsonl", "prepared_dir": "prep"},
    }
    raw.update(extra)
    return raw


@pytest.mark.parametrize("name", ["sft_lora.yaml", "sft_full.yaml", "dpo_lora.yaml"])
def test_examples_validate(name: str) -> None:
    config = load_config(EXAMPLES / name)
    assert config.base_dir == EXAMPLES
    for path in config.train_files() + config.eval_files():
        assert path.is_file(), path
        assert path.stat().st_size < 300_000


def test_unknown_key_is_refused_with_a_suggestion_and_a_line(tmp_path: Path) -> None:
    raw = _minimal()
    raw["data"] = {"trian": "a.jsonl", "eval": "b.jsonl", "prepared_dir": "p"}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(FtgateError) as info:
        load_config(path)
    message = str(info.value)
    assert "unknown key `trian`; did you mean `train`?" in message
    assert "`data.trian`" in message
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "trian" in text)
    assert f"line {line}," in message
    assert str(path) in message


def test_top_level_typo_is_suggested(tmp_path: Path) -> None:
    with pytest.raises(FtgateError, match="did you mean `max_length`"):
        config_from_dict(_minimal(max_lenght=10), base_dir=tmp_path)


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"run_id": "run1"}, "must look like RUN-001"),
        (
            {"objective": "dpo", "data": {"train": "a.jsonl", "eval": "b.jsonl", "prepared_dir": "p", "format": "messages"}},
            "objective 'dpo' needs data.format preference",
        ),
        ({"strategy": "full", "lora": {"r": 4}}, "strategy is `full`"),
        ({"dpo": {"beta": 0.2}}, "only apply to objective `dpo`"),
        ({"strategy": "adapter"}, "`strategy`"),
        ({"success_criteria": [{"id": "SC-001", "metric": "bleu", "threshold": 1}]}, "does not compute"),
    ],
)
def test_incoherent_configs_are_refused(tmp_path: Path, extra: dict[str, object], needle: str) -> None:
    with pytest.raises(FtgateError, match=needle.replace("(", r"\(")):
        config_from_dict(_minimal(**extra), base_dir=tmp_path)


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("run_id: RUN-001\nmodel: {base: [\n")
    with pytest.raises(FtgateError, match=r"run\.yaml:\d+: not valid YAML"):
        load_config(path)


def test_unsupported_data_file_type(tmp_path: Path) -> None:
    raw = _minimal(data={"train": "a.txt", "eval": "b.jsonl", "prepared_dir": "p"})
    with pytest.raises(FtgateError, match=r"a\.txt.*\.jsonl, \.json, \.csv or \.parquet"):
        config_from_dict(raw, base_dir=tmp_path)


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    sub = tmp_path / "configs"
    sub.mkdir()
    (sub / "run.yaml").write_text(yaml.safe_dump(_minimal()))
    config = load_config(sub / "run.yaml")
    assert config.train_files() == [sub.resolve() / "a.jsonl"]
    assert config.output_dir() == sub.resolve() / ".." / "out"
    assert config.base_model() == (str(sub.resolve() / "m"), True)
    hub = config_from_dict(_minimal(model={"base": "org/model", "output_dir": "o"}), base_dir=tmp_path)
    assert hub.base_model() == ("org/model", False)


def test_hashes_separate_preparation_from_hyperparameters(tmp_path: Path) -> None:
    a = config_from_dict(_minimal(), base_dir=tmp_path)
    b = config_from_dict(_minimal(training={"learning_rate": 0.1}), base_dir=tmp_path / "elsewhere")
    c = config_from_dict(_minimal(max_length=99), base_dir=tmp_path)
    assert a.config_hash() != b.config_hash()
    assert a.preparation_hash() == b.preparation_hash()  # also independent of the checkout location
    assert a.preparation_hash() != c.preparation_hash()


def test_sft_mapping_onto_trl_and_peft(tmp_path: Path) -> None:
    from peft import LoraConfig
    from trl import SFTConfig

    config = config_from_dict(
        _minimal(lora={"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}, max_length=77, packing=True),
        base_dir=tmp_path,
    )
    args = trainer_args(config, cuda=False)
    assert isinstance(args, SFTConfig)
    assert args.use_cpu is True and not args.bf16
    assert args.max_length == 77 and args.packing is True
    assert args.seed == config.seed and args.report_to in ([], "none", ["none"])
    assert args.assistant_only_loss is False
    assert args.output_dir == str(tmp_path.resolve() / ".." / "out")
    lora = peft_config(config)
    assert isinstance(lora, LoraConfig)
    assert lora.r == 4 and lora.lora_alpha == 8 and set(lora.target_modules) == {"q_proj", "v_proj"}
    assert lora.task_type == "CAUSAL_LM"
    full = config_from_dict(_minimal(strategy="full"), base_dir=tmp_path)
    assert peft_config(full) is None


def test_dpo_mapping(tmp_path: Path) -> None:
    from trl import DPOConfig

    config = config_from_dict(
        _minimal(objective="dpo", data={"train": "a.jsonl", "eval": "b.jsonl", "prepared_dir": "p"}, dpo={"beta": 0.3}),
        base_dir=tmp_path,
    )
    assert config.data.format == "preference"
    args = trainer_args(config, cuda=False)
    assert isinstance(args, DPOConfig)
    assert args.beta == 0.3 and args.loss_type == ["sigmoid"]
    assert "packing" not in trainer_kwargs(config, cuda=False)


def test_qlora_is_refused_without_cuda(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    # The environment is what is faked here, not the refusal.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    config = config_from_dict(_minimal(strategy="qlora"), base_dir=tmp_path)
    with pytest.raises(FtgateError, match="qlora` needs a CUDA device"):
        trainer_args(config)


def test_train_schema_command_prints_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    from ftgate.__main__ import main

    assert main(["train", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert {"run_id", "objective", "strategy", "data", "evaluation", "success_criteria"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


def test_train_group_treats_an_unknown_word_as_a_config() -> None:
    import click

    from ftgate.cli.train_commands import train

    ctx = click.Context(train)
    name, command, args = train.resolve_command(ctx, ["my-run.yaml", "--resume"])
    assert command is not None and command.name == "run"
    assert args == ["my-run.yaml", "--resume"]
    name, command, args = train.resolve_command(ctx, ["schema"])
    assert name == "schema"


def test_cli_bad_config_exits_2_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ftgate.__main__ import main

    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(_minimal(objective="ppo")))
    assert main(["data", "prepare", str(path)]) == 2
    err = capsys.readouterr().err
    assert "`objective`" in err and "Traceback" not in err
