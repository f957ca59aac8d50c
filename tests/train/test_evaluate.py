"""Held-out generation: padding must not change answers; stop reasons are told apart."""

from __future__ import annotations

import pytest

import tests.support.trainer as tp
from ftgate.evidence.criteria import EvaluationConfig, GenerationSettings  # noqa: E402
from ftgate.train import evaluate as evl  # noqa: E402

pytestmark = pytest.mark.train


@pytest.fixture(scope="module")
def model_and_examples(tmp_path_factory):
    from transformers import AutoModelForCausalLM

    from ftgate.train.config import load_config
    from ftgate.train.data.prepare import load_prepared
    from ftgate.train.data.tokenizer import tokenizer_info

    original = tp.trained_project(tp.session_base(tmp_path_factory), "sft", tp.sft_config, "sft.yaml")
    config = load_config(original / "train" / "sft.yaml")
    tok = tokenizer_info(config)
    model = AutoModelForCausalLM.from_pretrained(config.base_model()[0])
    examples = evl.held_out_examples(load_prepared(config)["eval_generation"])
    return model, tok, examples


def test_examples_come_from_the_prepared_prompts(model_and_examples) -> None:
    _, tok, examples = model_and_examples
    assert len(examples) == 30
    first = examples[0]
    # Rendered by the training template and ending with the assistant cue.
    rendered = tok.tokenizer.decode(first.prompt_ids)
    assert rendered.rstrip().endswith("<|assistant|>")
    assert first.expected in tp.MAPPING.values()
    assert first.prompt.split()[0] in tp.MAPPING


def test_batching_and_left_padding_do_not_change_outputs(model_and_examples) -> None:
    model, tok, examples = model_and_examples
    # Prompts of different lengths, so the batch really is padded.
    longer = tok.tokenizer.apply_chat_template(
        [{"role": "user", "content": "red 100, and please answer briefly"}], add_generation_prompt=True,
        tokenize=False)
    ids = tok.tokenizer(longer, add_special_tokens=False)["input_ids"]
    mixed = [*examples[:5], evl.HeldOutExample("long", list(ids), "apple")]
    assert len({len(e.prompt_ids) for e in mixed}) > 1
    one = evl.generate(model, tok.tokenizer, mixed, GenerationSettings(max_new_tokens=5, batch_size=1), seed=0,
                       stop_ids=tok.generation_eos_ids)
    many = evl.generate(model, tok.tokenizer, mixed, GenerationSettings(max_new_tokens=5, batch_size=6), seed=0,
                        stop_ids=tok.generation_eos_ids)
    assert [g.text for g in one] == [g.text for g in many]
    assert [g.new_tokens for g in one] == [g.new_tokens for g in many]


def test_running_out_of_tokens_is_not_an_eos_stop(model_and_examples) -> None:
    model, tok, examples = model_and_examples
    out = evl.generate(model, tok.tokenizer, examples[:4], GenerationSettings(max_new_tokens=2), seed=0,
                       stop_ids=tok.generation_eos_ids)
    for g in out:
        assert g.stopped_on_eos or g.new_tokens == 2
    scores = evl.score(EvaluationConfig(), examples[:4], out)
    assert scores["eos_rate"].value == sum(g.stopped_on_eos for g in out) / 4
    assert scores["exact_match"].n == 4 and scores["exact_match"].ci_low is not None


def test_eos_is_recognised_when_generated(model_and_examples) -> None:
    model, tok, examples = model_and_examples
    eos = sorted(evl.eos_token_ids(model, tok.tokenizer, tok.generation_eos_ids))
    assert eos, "the tiny model declares stop tokens"
    # Force the first generated token to be a stop token.
    import torch
    from transformers import LogitsProcessor, LogitsProcessorList

    class ForceEos(LogitsProcessor):
        def __call__(self, input_ids, scores):
            forced = torch.full_like(scores, float("-inf"))
            forced[:, eos[0]] = 0
            return forced

    original = model.generate

    def generate_forcing(*args, **kwargs):
        return original(*args, logits_processor=LogitsProcessorList([ForceEos()]), **kwargs)

    model.generate = generate_forcing
    try:
        out = evl.generate(model, tok.tokenizer, examples[:3], GenerationSettings(max_new_tokens=4), seed=0,
                           stop_ids=tok.generation_eos_ids)
    finally:
        del model.generate
    assert all(g.stopped_on_eos and g.new_tokens == 0 and g.text == "" for g in out)
