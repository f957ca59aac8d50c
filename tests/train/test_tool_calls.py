"""Assistant turns that call tools: accepted when the chat template renders
the calls, refused with a reason when it leaves them out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tests.support.trainer as tp

pytestmark = pytest.mark.train

# The tiny model's template with one addition: an assistant turn renders its
# tool calls, inside the generation block, so the model learns to make them.
TOOL_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "<|assistant|>\n{% generation %}"
    "{% for call in message.get('tool_calls') or [] %}call {{ call['function']['name'] }}\n{% endfor %}"
    "{{ message['content'] }}<|end|>{% endgeneration %}\n"
    "{% else %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def _tool_row(n: int) -> dict:
    return {"messages": [
        {"role": "user", "content": f"What thing goes with red {n}?"},
        {"role": "assistant", "content": None,
         "tool_calls": [{"type": "function", "function": {"name": "lookup_colour", "arguments": {"n": n}}}]},
        {"role": "tool", "content": "apple"},
        {"role": "assistant", "content": "apple"},
    ]}


def _project(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, template: str | None) -> Path:
    model = tp.tiny_model(tp.session_base(tmp_path_factory))
    config = tp.sft_config(model, max_length=128)
    if template is not None:
        config["template"] = "tools.jinja"
    path = tp.make_project(tmp_path / "project", model, config=config)
    (path.parent / "tools.jinja").write_text(TOOL_TEMPLATE, encoding="utf-8")
    train = path.parent / "data" / "train.jsonl"
    rows = [json.loads(line) for line in train.read_text().splitlines()]
    rows += [_tool_row(n) for n in range(900, 908)]
    train.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_tool_calls_train_when_the_template_renders_them(tmp_path: Path, tmp_path_factory) -> None:
    from ftgate.train.config import load_config
    from ftgate.train.data.prepare import prepare

    result = prepare(load_config(_project(tmp_path, tmp_path_factory, "tools.jinja")), write=False)
    assert result.passed, [(c.name, c.summary) for c in result.checks if not c.passed]
    train = result.splits["train"]
    assert not train.problems
    calling = [r for r in train.rows if any(m.get("tool_calls") for m in r.messages or [])]
    assert len(calling) == 8
    # The call itself is trained: its tokens sit inside the assistant mask.
    enc = result.encoded["train"]
    tok = result.tokenizer.tokenizer
    index = train.rows.index(calling[0])
    ids, trained = enc.seq_ids(index), enc.seq_trained(index)
    assert "call lookup_colour" in tok.decode(ids[trained.astype(bool)])
    assert "What thing goes with" not in tok.decode(ids[trained.astype(bool)])


def test_tool_calls_the_template_drops_are_refused_by_name(tmp_path: Path, tmp_path_factory) -> None:
    from ftgate.train.config import load_config
    from ftgate.train.data.prepare import prepare

    result = prepare(load_config(_project(tmp_path, tmp_path_factory, None)), write=False)
    problems = result.splits["train"].problems
    assert len(problems) == 8
    assert all("does not render this row's tool calls (`lookup_colour`" in p.message for p in problems)
    assert all("prompt_completion" in p.message for p in problems)


def test_malformed_tool_calls_name_what_is_wrong() -> None:
    from ftgate.train.data.normalize import _clean_message

    assert "non-empty list" in _clean_message({"role": "assistant", "content": None, "tool_calls": []})
    assert "function.name" in _clean_message({"role": "assistant", "tool_calls": [{"function": {}}]})
    assert "only assistant" in _clean_message({"role": "user", "content": "x", "tool_calls": [
        {"function": {"name": "f"}}]})
