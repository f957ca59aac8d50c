"""Each data check fails on a dataset built to trip it, and names itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftgate.train.config import load_config
from ftgate.train.data.prepare import load_prepared, prepare
from ftgate.train.tiny import CHAT_TEMPLATE

pytestmark = pytest.mark.train


def _check(result, name: str):
    return next(c for c in result.checks if c.name == name)


def _failed(result) -> set[str]:
    return {c.name for c in result.checks if not c.passed}


def test_leaked_prompts_fail_leakage(write_run, rows) -> None:
    leaked = rows.conversation(3)
    folded = rows.conversation(5)
    folded["messages"][0]["content"] = "  WHAT is 5   plus 6? "
    path = write_run(eval=rows.conversations(4, start=500) + [leaked, folded])
    result = prepare(load_config(path))
    assert _failed(result) == {"leakage"}
    check = _check(result, "leakage")
    assert check.counts["exact"] == 1 and check.counts["normalized"] == 2
    assert any("eval.jsonl:5 repeats train.jsonl:4 exactly" in e for e in check.examples)
    assert any("eval.jsonl:6 repeats train.jsonl:6 up to case/whitespace" in e for e in check.examples)

    tolerant = write_run(eval=[leaked, folded], overrides={"checks": {"leakage": {"max_exact": 1, "max_normalized": 2}}})
    assert _check(prepare(load_config(tolerant)), "leakage").passed


def test_template_that_cannot_be_masked_fails_the_mask_check(write_run) -> None:
    # No markers, and the generation prompt differs from how an assistant turn
    # is rendered, so rendering prefixes cannot isolate the answer.
    template = CHAT_TEMPLATE.replace("{% generation %}", "").replace("{% endgeneration %}", "").replace(
        "{% if add_generation_prompt %}<|assistant|>\n", "{% if add_generation_prompt %}<|assistant|> ")
    result = prepare(load_config(write_run(template=template)))
    assert "assistant_mask" in _failed(result)
    check = _check(result, "assistant_mask")
    assert check.counts["sequences_without_trained_tokens"] == 48
    assert "no {% generation %}" in (check.hint or "") and "prompt_completion" in (check.hint or "")
    # Nothing trainable is written: TRL would drop these rows anyway.
    assert result.manifest["rows"]["train"]["dropped"] == {"no_trained_tokens": 40}


def test_template_training_on_the_prompt_fails_the_mask_check(write_run) -> None:
    template = CHAT_TEMPLATE.replace("{{ bos_token }}", "{{ bos_token }}{% generation %}").replace(
        "{% endfor %}", "{% endfor %}{% endgeneration %}"
    ).replace("{% generation %}{{ message['content'] }}<|end|>{% endgeneration %}", "{{ message['content'] }}<|end|>")
    result = prepare(load_config(write_run(template=template)))
    assert "assistant_mask" in _failed(result)
    check = _check(result, "assistant_mask")
    assert check.counts["prompt_tokens_trained"] > 0
    assert any("prompt tokens carry loss" in e for e in check.examples)


def test_end_of_turn_outside_the_trained_span_fails_stop_token(write_run) -> None:
    template = CHAT_TEMPLATE.replace("{% generation %}{{ message['content'] }}<|end|>{% endgeneration %}", "{% generation %}{{ message['content'] }}{% endgeneration %}<|end|>")
    result = prepare(load_config(write_run(template=template)))
    assert _failed(result) == {"stop_token"}
    check = _check(result, "stop_token")
    assert check.counts["targets_without_trained_stop"] == 48
    assert "the stop token '<|end|>' follows but is masked" in check.examples[0]


def test_stop_token_unknown_to_generation_fails(write_run, copy_model) -> None:
    model = copy_model()
    gen = json.loads((model / "generation_config.json").read_text())
    gen["eos_token_id"] = [gen["eos_token_id"][0]]  # only </s>; the template ends turns with <|end|>
    (model / "generation_config.json").write_text(json.dumps(gen))
    result = prepare(load_config(write_run(model=model)))
    assert _failed(result) == {"stop_token"}
    assert "generation_config.json" in (_check(result, "stop_token").hint or "")


def test_prerendered_text_with_a_second_bos_fails(write_run) -> None:
    rows = [{"prompt": f"<s>Q: {i} + 1 =", "completion": f" {i + 1}"} for i in range(6)]
    eval_rows = [{"prompt": "Q: 9 + 9 =", "completion": " 18"}]
    result = prepare(load_config(write_run(train=rows, eval=eval_rows, overrides={"data": {"format": "prompt_completion"}})))
    assert _failed(result) == {"double_bos"}
    check = _check(result, "double_bos")
    assert check.counts["doubled"] == 6 and check.counts["eval_prompts_doubled"] == 6
    assert "train.jsonl:1: starts with '<s>' '<s>'" in check.examples[0]


def test_answers_cut_or_removed_by_max_length_fail_truncation(write_run, rows) -> None:
    long_answer = {"messages": [{"role": "user", "content": "Count."}, {"role": "assistant", "content": " ".join(str(i) for i in range(40))}]}
    long_prompt = {"messages": [{"role": "user", "content": " ".join(["word"] * 60)}, {"role": "assistant", "content": "Done."}]}
    path = write_run(train=rows.conversations(10) + [long_answer, long_prompt], overrides={"max_length": 32})
    config = load_config(path)
    result = prepare(config)
    assert _failed(result) == {"truncation"}
    check = _check(result, "truncation")
    assert check.counts["rows_cut"] == 1 and check.counts["rows_removed"] == 1
    assert any("train.jsonl:12: the whole target lies past max_length 32" in e for e in check.examples)
    assert any("train.jsonl:11: target cut at max_length 32" in e for e in check.examples)
    rows_info = result.manifest["rows"]["train"]
    assert rows_info["kept"] == 11 and rows_info["truncated"] == 1
    assert rows_info["dropped"] == {"target_removed_by_truncation": 1}
    prepared = load_prepared(config)["train"]
    assert max(len(ids) for ids in prepared["input_ids"]) == 32

    tolerant = write_run(
        train=rows.conversations(10) + [long_answer, long_prompt],
        overrides={"max_length": 32, "checks": {"truncation": {"max_cut_fraction": 0.1, "max_removed_fraction": 0.1}}},
    )
    assert _check(prepare(load_config(tolerant)), "truncation").passed


@pytest.mark.parametrize(
    ("generation_prompt", "counter"),
    [
        ("<|assistant|>", "prompt_stops_before_target"),  # newline missing: inference must produce it
        ("<|assistant|> ", "not_a_prefix"),  # a space training never saw
        ("", "prompt_stops_before_target"),  # no generation prompt at all
    ],
)
def test_evaluation_prompt_differs_from_training(write_run, generation_prompt: str, counter: str) -> None:
    template = CHAT_TEMPLATE.replace(
        "{% if add_generation_prompt %}<|assistant|>\n{% endif %}",
        "{% if add_generation_prompt %}" + generation_prompt + "{% endif %}",
    )
    result = prepare(load_config(write_run(template=template)))
    assert _failed(result) == {"prompt_prefix"}
    check = _check(result, "prompt_prefix")
    assert check.counts[counter] == 48


def test_bad_rows_are_reported_with_file_and_line(write_run, rows) -> None:
    good = rows.conversations(5)
    bad = [
        '{"messages": [{"role": "user", "content": "unterminated"}',
        {"messages": [{"role": "human", "content": "hi"}, {"role": "gpt", "content": "yo"}]},
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "   "}]},
        {"messages": [{"role": "user"}, {"role": "assistant", "content": "no question"}]},
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}]},
    ]
    path = write_run(train=good[:2] + bad + good[2:])
    result = prepare(load_config(path))
    assert _failed(result) == {"rows"}
    check = _check(result, "rows")
    assert check.counts == {"rows": 18, "bad": 5, "malformed": 2, "wrong_role": 2, "empty_target": 1}
    text = "\n".join(check.examples)
    assert "train.jsonl:3: not valid JSON" in text
    assert "train.jsonl:4: role(s) 'gpt', 'human' not allowed" in text
    assert "train.jsonl:5: assistant message 2 is empty" in text
    assert "train.jsonl:6: the 'user' message has no text `content`" in text
    assert "train.jsonl:7: the last message is 'user'" in text
    assert result.manifest["rows"]["train"]["kept"] == 5
    assert result.manifest["rows"]["train"]["dropped"] == {"empty_target": 1, "malformed": 2, "wrong_role": 2}


def test_identical_preference_pair_is_a_bad_row(write_run) -> None:
    def pair(i: int, rejected: str) -> dict:
        return {
            "prompt": [{"role": "user", "content": f"Q{i}"}],
            "chosen": [{"role": "assistant", "content": "yes"}],
            "rejected": [{"role": "assistant", "content": rejected}],
        }

    path = write_run(train=[pair(1, "no"), pair(2, "yes")], eval=[pair(3, "no")], overrides={"objective": "dpo"})
    result = prepare(load_config(path))
    assert _failed(result) == {"rows"}
    assert "train.jsonl:2: `chosen` and `rejected` are identical" in _check(result, "rows").examples[0]


def test_cli_exits_1_and_names_the_failing_check(write_run, rows, capsys, tmp_path: Path) -> None:
    from ftgate.__main__ import main

    path = write_run(eval=[rows.conversation(1)])
    report = tmp_path / "report.md"
    assert main(["data", "prepare", str(path), "--report", str(report)]) == 1
    captured = capsys.readouterr()
    assert "FAIL  leakage" in captured.out
    assert "data checks failed: leakage" in captured.err
    assert "| leakage | `Fail` |" in report.read_text()
    # A failed preparation is not something training may consume.
    assert main(["data", "verify", str(path)]) == 1
    assert "failed leakage" in capsys.readouterr().out


def test_answers_that_look_like_template_words_are_not_false_alarms(write_run, rows) -> None:
    tricky = [
        {"messages": [{"role": "user", "content": "Last word?"}, {"role": "assistant", "content": word}]}
        for word in ("end", "user", "assistant", "s", "Last word?")
    ]
    result = prepare(load_config(write_run(train=rows.conversations(5) + tricky)))
    assert result.passed, [(c.name, c.examples) for c in result.checks if not c.passed]
    assert _check(result, "assistant_mask").counts["unverifiable_contents"] == 0


def test_rows_the_template_refuses_are_bad_rows_not_a_crash(write_run, rows) -> None:
    strict = (
        "{% for message in messages %}{% if message['role'] == 'system' %}"
        "{{ raise_exception('this template takes no system message') }}{% endif %}{% endfor %}" + CHAT_TEMPLATE
    )
    with_system = {"messages": [{"role": "system", "content": "Be kind."}] + rows.conversation(99)["messages"]}
    result = prepare(load_config(write_run(train=rows.conversations(6) + [with_system], template=strict)))
    assert _failed(result) == {"rows"}
    assert "train.jsonl:7: the chat template refused this row: this template takes no system message" in _check(result, "rows").examples
    assert result.manifest["rows"]["train"]["kept"] == 6


def test_template_syntax_error_is_a_usage_error(write_run, capsys) -> None:
    from ftgate.__main__ import main

    path = write_run(template="{% for m in messages %}\n{{ m['content'] }\n{% endfor %}")
    assert main(["data", "prepare", str(path)]) == 2
    err = capsys.readouterr().err
    assert "template.jinja:2: the chat template does not parse" in err and "Traceback" not in err


def test_template_without_markers_gives_the_labels_of_the_marked_template(write_run, rows) -> None:
    """Masks found by rendering prefixes equal the masks the template's markers give (as TRL reads them)."""
    from transformers import AutoTokenizer

    plain = CHAT_TEMPLATE.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    convs = rows.conversations(6)
    # Multi-turn too: every assistant turn is trained, not only the last.
    convs.append({"messages": convs[0]["messages"] + convs[1]["messages"]})
    config = load_config(write_run(train=convs, template=plain))
    result = prepare(config)
    assert _check(result, "assistant_mask").passed
    labels = load_prepared(config)["train"]["labels"]
    tok = AutoTokenizer.from_pretrained(config.model.base)
    for conv, got in zip(convs, labels, strict=True):
        marked = tok.apply_chat_template(conv["messages"], chat_template=CHAT_TEMPLATE, tokenize=True,
                                         return_dict=True, return_assistant_tokens_mask=True)
        expected = [t if m else -100 for t, m in zip(marked["input_ids"], marked["assistant_masks"], strict=True)]
        # The prepared row may end with an untrained token the chat-template call
        # trims (Jinja drops the final newline); every trained position must agree.
        if len(conv["messages"]) > 2:
            # Every assistant turn is trained, with the same tokens as the marked template's.
            assert [x for x in got if x != -100] == [x for x in expected if x != -100]
            continue
        assert got[: len(expected)] == expected and set(got[len(expected):]) <= {-100}
        assert sum(x != -100 for x in got) > 0
