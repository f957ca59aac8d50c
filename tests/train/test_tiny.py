"""The offline tiny model: loads like a downloaded one and is built for correct masking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.train


def test_tiny_model_loads_with_from_pretrained(tiny_model_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert model.config.model_type == "llama"
    assert model.config.num_hidden_layers == 2
    assert model.config.vocab_size == len(tokenizer)
    # Pad must differ from EOS, or masking pads would also mask the stop token.
    assert tokenizer.pad_token_id is not None
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    end = tokenizer.convert_tokens_to_ids("<|end|>")
    assert GenerationConfig.from_pretrained(tiny_model_dir).eos_token_id == [tokenizer.eos_token_id, end]
    batch = tokenizer(["hello world"], return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape[-1] == len(tokenizer)


def test_special_tokens_are_single_special_tokens(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    for token in ("<s>", "</s>", "<pad>", "<|end|>", "<|user|>", "<|assistant|>", "<|system|>"):
        ids = tokenizer(token, add_special_tokens=False).input_ids
        assert len(ids) == 1, token
        assert ids[0] in tokenizer.all_special_ids, token
    # Plain text gets exactly one BOS, like Llama-family tokenizers.
    ids = tokenizer("hello").input_ids
    assert ids[0] == tokenizer.bos_token_id and ids[1] != tokenizer.bos_token_id


def test_chat_template_marks_the_answer_and_its_end_of_turn(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    out = tokenizer.apply_chat_template(chat, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    ids, mask = out["input_ids"], out["assistant_masks"]
    trained = [t for t, m in zip(ids, mask, strict=True) if m]
    assert tokenizer.decode(trained) == "hello<|end|>"
    assert ids[0] == tokenizer.bos_token_id
    prompt = tokenizer.apply_chat_template(chat[:1], add_generation_prompt=True, tokenize=True, return_dict=True)
    assert ids[: len(prompt["input_ids"])] == prompt["input_ids"]


def test_cli_builds_a_model_from_a_dataset_file(tmp_path: Path) -> None:
    from ftgate.__main__ import main

    data = tmp_path / "data.jsonl"
    rows = [{"messages": [{"role": "user", "content": f"zebra quokka {i}"}, {"role": "assistant", "content": "xylophone"}]} for i in range(30)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "model"
    assert main(["model", "tiny", "--out", str(out), "--from-text", str(data), "--vocab-size", "320", "--seed", "3"]) == 0
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out)
    # Trained on the file: its rare words became whole tokens.
    assert len(tokenizer("xylophone", add_special_tokens=False).input_ids) <= 2
    # A second run into the same folder is refused, not merged.
    assert main(["model", "tiny", "--out", str(out)]) == 2


def test_weights_are_seeded(tmp_path: Path) -> None:
    from ftgate.hashing import sha256_file
    from ftgate.train.tiny import TinySpec, build_tiny_model

    spec = TinySpec(vocab_size=300, hidden_size=32, intermediate_size=64, seed=5)
    a = build_tiny_model(tmp_path / "a", spec=spec)
    b = build_tiny_model(tmp_path / "b", spec=spec)
    assert sha256_file(a / "model.safetensors") == sha256_file(b / "model.safetensors")
    assert sha256_file(a / "tokenizer.json") == sha256_file(b / "tokenizer.json")
