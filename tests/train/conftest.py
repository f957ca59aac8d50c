"""Shared fixtures for trainer tests: offline, tiny, built once per session.

Fixtures other test files can use:

- ``tiny_model_dir`` (session): a folder with a tiny Llama-style model and
  its tokenizer (``ftgate.train.tiny``), loadable with ``from_pretrained``.
  Vocabulary 512, hidden size 64, 2 layers; chat template with
  ``{% generation %}`` markers; generation stops at ``</s>`` and ``<|end|>``.
  Treat it as read-only; copy it (``copy_model``) to modify it.
- ``copy_model(tmp_path)`` (function): returns a writable copy of the tiny model.
- ``write_run(...)`` (function): writes data files and a run config into a
  fresh folder and returns the config path. Keyword arguments:
  ``train``/``eval`` (lists of row dicts, written as JSONL), ``overrides``
  (dict merged into the config), ``template`` (a chat template text written
  to ``template.jinja`` and selected in the config), ``model`` (a model
  folder; default ``tiny_model_dir``).
- ``keys`` (session): the tamper suite's ssh keys, ``trainer`` (listed in
  ``evidence_signers``) and ``intruder`` (not listed).
- ``signed_run`` (session): the tamper suite's project with one honest run
  signed by ``trainer`` (``tests.support.tamper``), trained once for
  test_tamper.py and test_tamper_push.py together. Read-only: copy it.
- ``rows`` (function): ``rows.conversation(i)``, ``rows.conversations(n, start=0)``
  (simple arithmetic chats in the ``messages`` format, unique per ``i``) and
  ``rows.write_jsonl(path, rows)`` (strings are written as raw lines).

Every test here runs with the hub offline (``tests.support.isolation``):
nothing may download. Nothing here imports torch at import time, so without
the ``train`` extra these tests are collected and skipped, not errored.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import tamper
from tests.support.trainer import conversation, conversations, session_base, write_jsonl


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ftgate.train.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tamper.make_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def signed_run(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, Path]) -> Path:
    return tamper.signed_project(tmp_path_factory.mktemp("tamper") / "project", session_base(tmp_path_factory), keys)


@pytest.fixture
def copy_model(tiny_model_dir: Path, tmp_path: Path) -> Callable[[], Path]:
    def _copy() -> Path:
        target = tmp_path / f"model-copy-{len(list(tmp_path.glob('model-copy-*')))}"
        shutil.copytree(tiny_model_dir, target)
        return target

    return _copy


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture
def write_run(tiny_model_dir: Path, tmp_path: Path) -> Callable[..., Path]:
    counter = {"n": 0}

    def _write(
        *,
        train: list[Any] | None = None,
        eval: list[Any] | None = None,  # noqa: A002 - mirrors the config key
        overrides: dict[str, Any] | None = None,
        template: str | None = None,
        model: Path | None = None,
    ) -> Path:
        counter["n"] += 1
        folder = tmp_path / f"run{counter['n']}"
        folder.mkdir()
        write_jsonl(folder / "train.jsonl", conversations(40) if train is None else train)
        write_jsonl(folder / "eval.jsonl", conversations(8, start=1000) if eval is None else eval)
        config: dict[str, Any] = {
            "run_id": "RUN-001",
            "purpose": "test",
            "ticket": "test-ticket",
            "objective": "sft",
            "model": {"base": str(model or tiny_model_dir), "output_dir": "out"},
            "strategy": "lora",
            "data": {"train": "train.jsonl", "eval": "eval.jsonl", "prepared_dir": "prepared"},
            "max_length": 128,
            "seed": 7,
        }
        if template is not None:
            (folder / "template.jinja").write_text(template, encoding="utf-8")
            config["template"] = "template.jinja"
        config = _merge(config, overrides or {})
        path = folder / "run.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path

    return _write


class _RowHelpers:
    """Row builders as a fixture, so test files need not import conftest."""

    conversation = staticmethod(conversation)
    conversations = staticmethod(conversations)
    write_jsonl = staticmethod(write_jsonl)


@pytest.fixture
def rows() -> type[_RowHelpers]:
    return _RowHelpers
