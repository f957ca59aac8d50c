"""Which checkpoint a resume starts from, when a kill cut the last one short."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.train


def _checkpoint(out: Path, step: int, state: str | None) -> None:
    folder = out / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    if state is not None:
        (folder / "trainer_state.json").write_text(state, encoding="utf-8")


def test_a_cut_short_trainer_state_is_passed_over(tmp_path: Path) -> None:
    from ftgate.train.run import _last_checkpoint

    _checkpoint(tmp_path, 20, json.dumps({"global_step": 20}))
    _checkpoint(tmp_path, 40, '{"global_step": 4')  # killed mid-write
    _checkpoint(tmp_path, 60, None)  # killed before the state was written
    assert _last_checkpoint(tmp_path) == tmp_path / "checkpoint-20"


def test_no_complete_checkpoint_means_a_fresh_start(tmp_path: Path) -> None:
    from ftgate.train.run import _last_checkpoint

    _checkpoint(tmp_path, 20, "")
    assert _last_checkpoint(tmp_path) is None
    assert _last_checkpoint(tmp_path / "missing") is None
