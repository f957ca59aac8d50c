"""`ftgate data prepare`: output TRL trains on as is, and a deterministic manifest."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import pytest

from ftgate.train.config import load_config
from ftgate.train.data.manifest import verify_manifest
from ftgate.train.data.prepare import load_prepared, prepare

pytestmark = pytest.mark.train


def _trl_sft(config_path: Path, tokenizer: Any, *, max_length: int, split_file: str = "train.jsonl") -> Any:
    """TRL's own SFT preparation of the same file, for comparison."""
    import datasets
    from trl import SFTConfig, SFTTrainer

    ds = datasets.load_dataset("json", data_files=str(config_path.parent / split_file), split="train")
    args = SFTConfig(output_dir=str(config_path.parent / "trl"), assistant_only_loss=True, max_length=max_length, report_to="none", use_cpu=True, activation_checkpointing=False)
    # The preparation step only, without building a model: these attributes are all it reads.
    host = types.SimpleNamespace(_tokenizer=tokenizer, chat_template=None, completion_only_loss=None)
    return SFTTrainer._prepare_dataset(host, ds, tokenizer, args, False, None, "train")


def test_clean_dataset_passes_and_matches_trl(write_run, rows) -> None:
    train = rows.conversations(30) + [
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": "What is 2 plus 2?"},
                {"role": "assistant", "content": "4."},
            ]
        }
    ]
    path = write_run(train=train)
    config = load_config(path)
    result = prepare(config)
    assert result.passed, [c for c in result.checks if not c.passed]
    prepared = load_prepared(config)
    assert set(prepared) == {"train", "eval", "eval_generation"}
    trl = _trl_sft(path, result.tokenizer.tokenizer, max_length=config.max_length)
    assert prepared["train"]["input_ids"] == trl["input_ids"]
    assert prepared["train"]["labels"] == trl["labels"]
    # Both assistant turns of the multi-turn row carry loss.
    labels = prepared["train"][-1]["labels"]
    trained = [t for t in labels if t != -100]
    assert result.tokenizer.tokenizer.decode(trained) == "Hello.<|end|>4.<|end|>"
    gen = prepared["eval_generation"][0]
    assert gen["reference"] == "1000 plus 1001 is 2001."
    assert result.tokenizer.tokenizer.decode(gen["prompt_ids"]).endswith("<|assistant|>\n")
    manifest = json.loads((config.prepared_dir() / "manifest.json").read_text())
    assert manifest["rows"]["train"] == {"read": 31, "kept": 31, "dropped": {}, "truncated": 0}
    assert manifest["tokens"]["train"]["trained"] == sum(sum(1 for t in lab if t != -100) for lab in prepared["train"]["labels"])
    assert manifest["tokenizer"]["pad"]["token"] == "<pad>"
    assert manifest["tokenizer"]["generation_eos_ids"] == sorted(
        {result.tokenizer.eos_id, result.tokenizer.tokenizer.convert_tokens_to_ids("<|end|>")}
    )
    assert [c["verdict"] for c in manifest["checks"]] == ["pass"] * 7
    assert verify_manifest(config) == []


def test_manifest_is_byte_identical_and_tracks_one_byte(write_run) -> None:
    path = write_run()
    config = load_config(path)
    manifest = config.prepared_dir() / "manifest.json"
    prepare(config)
    first = manifest.read_bytes()
    prepare(load_config(path))
    assert manifest.read_bytes() == first
    assert str(path.parent) not in first.decode()  # no machine paths in evidence

    data = path.parent / "train.jsonl"
    raw = bytearray(data.read_bytes())
    raw[raw.index(b"plus")] = ord("P")  # one byte
    data.write_bytes(bytes(raw))
    changes = verify_manifest(load_config(path))
    assert changes == ["data.train: train.jsonl changed since preparation"]
    prepare(load_config(path))
    second = json.loads(manifest.read_text())
    assert second["sources"]["train"][0]["sha256"] != json.loads(first)["sources"]["train"][0]["sha256"]
    assert second["sources"]["eval"] == json.loads(first)["sources"]["eval"]


def test_verify_manifest_names_config_template_and_missing_prep(write_run) -> None:
    path = write_run()
    config = load_config(path)
    assert verify_manifest(config)[0].startswith("no manifest at")
    prepare(config)
    text = path.read_text()
    path.write_text(text.replace("max_length: 128", "max_length: 96"))
    assert any(c.startswith("config:") for c in verify_manifest(load_config(path)))
    path.write_text(text)
    # Hyperparameters do not invalidate prepared data.
    path.write_text(text + "training: {learning_rate: 0.5}\n")
    assert verify_manifest(load_config(path)) == []
    from ftgate.train.tiny import CHAT_TEMPLATE

    (path.parent / "t.jinja").write_text(CHAT_TEMPLATE.replace("<|end|>\n{% endif %}", "<|end|>\n\n{% endif %}"))
    path.write_text(text + "template: t.jinja\n")
    changes = verify_manifest(load_config(path))
    assert any(c.startswith("template:") for c in changes)


def test_prompt_completion_conversational_matches_trl(write_run) -> None:
    import datasets
    from trl import SFTConfig, SFTTrainer

    rows = [
        {
            "prompt": [{"role": "user", "content": f"Name {i}?"}],
            "completion": [{"role": "assistant", "content": f"Name is {i}."}],
        }
        for i in range(12)
    ]
    path = write_run(train=rows, eval=rows[:0] + [{"prompt": [{"role": "user", "content": "Other?"}], "completion": [{"role": "assistant", "content": "Yes."}]}], overrides={"data": {"format": "prompt_completion"}})
    config = load_config(path)
    result = prepare(config)
    assert result.passed, [c for c in result.checks if not c.passed]
    tokenizer = result.tokenizer.tokenizer
    ds = datasets.load_dataset("json", data_files=str(path.parent / "train.jsonl"), split="train")
    args = SFTConfig(output_dir=str(path.parent / "trl"), max_length=config.max_length, report_to="none", use_cpu=True, activation_checkpointing=False)
    host = types.SimpleNamespace(_tokenizer=tokenizer, chat_template=None, completion_only_loss=True)
    trl = SFTTrainer._prepare_dataset(host, ds, tokenizer, args, False, None, "train")
    prepared = load_prepared(config)
    assert prepared["train"]["input_ids"] == trl["input_ids"]
    assert prepared["train"]["labels"] == trl["labels"]


def test_preference_pairs_match_trl_dpo(write_run) -> None:
    import datasets
    from trl import DPOConfig, DPOTrainer

    rows = [
        {
            "prompt": [{"role": "user", "content": f"Colour {i}?"}],
            "chosen": [{"role": "assistant", "content": "red"}],
            "rejected": [{"role": "assistant", "content": f"blue {i}"}],
        }
        for i in range(10)
    ]
    eval_rows = [dict(rows[i], prompt=[{"role": "user", "content": f"Shade {i}?"}]) for i in range(3)]
    path = write_run(train=rows, eval=eval_rows, overrides={"objective": "dpo"})
    config = load_config(path)
    result = prepare(config)
    assert result.passed, [c for c in result.checks if not c.passed]
    tokenizer = result.tokenizer.tokenizer
    ds = datasets.load_dataset("json", data_files=str(path.parent / "train.jsonl"), split="train")
    args = DPOConfig(output_dir=str(path.parent / "trl"), max_length=config.max_length, report_to="none", use_cpu=True, activation_checkpointing=False)
    trl = DPOTrainer._prepare_dataset(types.SimpleNamespace(_tokenizer=tokenizer), ds, tokenizer, args, "train")
    prepared = load_prepared(config)["train"]
    for column in ("prompt_ids", "chosen_ids", "rejected_ids"):
        assert prepared[column] == trl[column], column
    assert prepared[0]["prompt"] == rows[0]["prompt"]


def test_text_prompt_completion_and_other_file_types(write_run, tmp_path) -> None:
    import datasets

    rows = [{"prompt": f"Q: {i} + 1 =", "completion": f" {i + 1}"} for i in range(10)]
    path = write_run(train=rows, eval=[{"prompt": "Q: x =", "completion": " y"}], overrides={"data": {"format": "prompt_completion"}})
    datasets.Dataset.from_list(rows).to_parquet(str(path.parent / "train.parquet"))
    datasets.Dataset.from_list(rows).to_csv(str(path.parent / "more.csv"), index=False)
    text = path.read_text().replace("train: train.jsonl", "train: [train.parquet, more.csv]")
    path.write_text(text)
    config = load_config(path)
    result = prepare(config)
    assert result.passed, [c for c in result.checks if not c.passed]
    manifest = result.manifest
    assert [s["path"] for s in manifest["sources"]["train"]] == ["train.parquet", "more.csv"]
    assert [s["rows"] for s in manifest["sources"]["train"]] == [10, 10]
    # TRL appends EOS to text completions; so does ftgate, and says so.
    assert manifest["tokenizer"]["eos_appended_to_targets"]["train"] == 20
    labels = load_prepared(config)["train"][0]["labels"]
    assert labels[-1] == result.tokenizer.eos_id


def test_cli_prepare_report_and_debug_view(write_run, capsys) -> None:
    from ftgate.__main__ import main

    path = write_run()
    report = path.parent / "report.md"
    assert main(["data", "prepare", str(path), "--report", str(report), "--debug", "1"]) == 0
    out = capsys.readouterr().out
    # Debug view: plain text when not a terminal, one line per token with its id and mask.
    assert "\x1b[" not in out
    assert "train sample 1: train.jsonl:1" in out
    assert "<|end|>'" in out and " train " in out and " - " in out
    md = report.read_text()
    assert "| assistant_mask | `Pass` |" in md
    assert "Overall: `Pass`" in md
    assert main(["data", "verify", str(path)]) == 0


def test_missing_data_file_is_a_usage_error(write_run, capsys) -> None:
    from ftgate.__main__ import main

    path = write_run()
    (path.parent / "eval.jsonl").unlink()
    assert main(["data", "prepare", str(path)]) == 2
    err = capsys.readouterr().err
    assert "data file 'eval.jsonl' does not exist" in err and "Traceback" not in err


def test_wrong_columns_name_the_file_and_the_fix(write_run, capsys) -> None:
    from ftgate.__main__ import main

    path = write_run(train=[{"conversations": [{"from": "human", "value": "hi"}]}])
    assert main(["data", "prepare", str(path)]) == 2
    err = capsys.readouterr().err
    assert "train.jsonl: format `messages` needs column(s) messages" in err


def test_trl_trainers_consume_the_prepared_data_unchanged(write_run, rows) -> None:
    """What the checks verified is exactly what TRL trains on, for SFT and DPO."""
    from transformers import AutoModelForCausalLM
    from trl import DPOTrainer, SFTTrainer

    from ftgate.train.config import peft_config, trainer_args
    from ftgate.train.data.tokenizer import load_tokenizer

    overrides = {"training": {"max_steps": 1, "per_device_train_batch_size": 4, "save_steps": 100, "logging_steps": 1}}
    sft_path = write_run(overrides=overrides)
    config = load_config(sft_path)
    assert prepare(config).passed
    prepared = load_prepared(config)
    model = AutoModelForCausalLM.from_pretrained(config.base_model()[0])
    trainer = SFTTrainer(
        model=model,
        args=trainer_args(config, cuda=False),
        train_dataset=prepared["train"],
        eval_dataset=prepared["eval"],
        processing_class=load_tokenizer(config),
        peft_config=peft_config(config),
    )
    assert trainer.train_dataset["input_ids"] == prepared["train"]["input_ids"]
    assert trainer.train_dataset["labels"] == prepared["train"]["labels"]
    trainer.train()

    pairs = [
        {
            "prompt": [{"role": "user", "content": f"Colour {i}?"}],
            "chosen": [{"role": "assistant", "content": "red"}],
            "rejected": [{"role": "assistant", "content": f"blue {i}"}],
        }
        for i in range(8)
    ]
    dpo_path = write_run(train=pairs, eval=[dict(pairs[0], prompt=[{"role": "user", "content": "Hue?"}])], overrides={"objective": "dpo", **overrides})
    config = load_config(dpo_path)
    assert prepare(config).passed
    prepared = load_prepared(config)
    trainer = DPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(config.base_model()[0]),
        args=trainer_args(config, cuda=False),
        train_dataset=prepared["train"],
        processing_class=load_tokenizer(config),
        peft_config=peft_config(config),
    )
    for column in ("prompt_ids", "chosen_ids", "rejected_ids"):
        assert trainer.train_dataset[column] == prepared["train"][column], column
