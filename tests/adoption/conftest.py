"""Fixtures for the adoption tests; the helpers live in tests.support.adoption."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.adoption import Repo, scratch_env


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return scratch_env(tmp_path / "home")


@pytest.fixture
def project(tmp_path: Path, env: dict[str, str]) -> Repo:
    """A small training project with some history and one ticket at Stage 0."""
    repo = Repo(tmp_path / "project", env)
    repo.path.mkdir()
    repo.git("init", "-q", "-b", "main")
    repo.write("README.md", "# A model\n")
    repo.commit("Start")
    repo.write("train.py", "print('train')\n")
    repo.commit("Add the trainer")
    repo.write("data/prep.py", "print('prep')\n")
    repo.commit("Add data preparation")
    made = repo.ftgate("ticket", "new", "house-style", "--no-worktree")
    assert made.returncode == 0, made.stderr
    repo.commit("Start ticket house-style at Stage 0")
    return repo
