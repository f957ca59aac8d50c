"""Item 7 of issue 11 on the server: ``ftgate.yaml`` and the hook's time budget.

A self-referencing YAML alias made the server hook die with a RecursionError
and a few hundred bytes of nested aliases took more than 1 GB, both before
any refusal. They are now refused with a message that names the line, and
every hook run has a time budget after which it refuses the push.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ftgate.errors import FtgateError
from ftgate.limits import BudgetExhausted, ascii_int, hook_budget, time_budget
from ftgate.policy.config import compile_policy, parse_config
from tests.support.server import make_server, push

SELF_ALIAS = "source: &s\n  exclude: *s\n"
LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))
DEEP = "source:\n  include: " + "[" * 5000 + "]" * 5000 + "\n"


@pytest.mark.parametrize("text", [SELF_ALIAS, LAUGHS, DEEP, "x: " + "y" * 70_000 + "\n"])
def test_hostile_config_is_refused_quickly_with_a_message(text: str) -> None:
    start = time.perf_counter()
    with pytest.raises(FtgateError) as info:
        parse_config(text)
    assert time.perf_counter() - start < 2.0
    message = str(info.value)
    assert message.startswith("ftgate.yaml")
    assert any(word in message for word in ("anchors and aliases", "nested more than", "more than ftgate reads"))
    data = compile_policy(text.encode())
    assert data["ok"] is False and data["error"]


def test_a_plain_config_still_loads() -> None:
    config = parse_config("version: 1\nsource:\n  exclude: ['*.md', '/docs/']\nuntracked_source: block\n")
    assert config.source.exclude == ["*.md", "/docs/"]


@pytest.mark.parametrize("text", [SELF_ALIAS, LAUGHS])
def test_server_refuses_an_aliased_config_without_a_traceback(tmp_path: Path, env: dict[str, str],
                                                             text: str) -> None:
    bare, work = make_server(tmp_path, env, stage=4, unlocked=True)
    base = bare.out("rev-parse", "main")
    work.write("ftgate.yaml", text)
    work.write("tickets/in-progress/t/notes.md", "# notes\n")
    work.commit("policy with aliases")
    start = time.perf_counter()
    proc = push(work, "main")
    assert time.perf_counter() - start < 30
    assert proc.returncode != 0
    assert "anchors and aliases" in proc.stderr and "Traceback" not in proc.stderr
    assert bare.out("rev-parse", "main") == base


def test_hook_refuses_when_its_time_budget_runs_out(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = make_server(tmp_path, env, stage=4, unlocked=True)
    base = bare.out("rev-parse", "main")
    work.write("src/train.py", "print('honest')\n")
    work.write("tickets/in-progress/t/notes.md", "# notes\n")
    work.commit("honest change")
    # A budget no judgement can meet: the push must be refused, not waved through.
    proc = push(work, "main", env=dict(work.env, FTGATE_HOOK_BUDGET="0.001"))
    assert proc.returncode != 0
    assert "time budget" in proc.stderr and "FTGATE_HOOK_BUDGET" in proc.stderr
    assert bare.out("rev-parse", "main") == base
    # With the default budget the same push lands.
    proc = push(work, "main")
    assert proc.returncode == 0, proc.stderr
    assert bare.out("rev-parse", "main") == work.head()


def test_budget_interrupts_a_blocked_read() -> None:
    start = time.perf_counter()
    with pytest.raises(BudgetExhausted), time_budget(0.2, "test"), open("/dev/zero", "rb") as fh:
        while True:
            fh.read(1 << 20)
    assert time.perf_counter() - start < 5


def test_budget_setting() -> None:
    assert hook_budget({}) > 0
    assert hook_budget({"FTGATE_HOOK_BUDGET": "nonsense"}) == hook_budget({})
    assert hook_budget({"FTGATE_HOOK_BUDGET": "nan"}) == hook_budget({})
    assert hook_budget({"FTGATE_HOOK_BUDGET": "2.5"}) == 2.5
    assert ascii_int("0042") == 42 and ascii_int("4" * 20) is None and ascii_int("") is None
