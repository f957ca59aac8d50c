"""Fixtures several test folders share; a conftest imports them by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.gitrepo import Repo, git_env, init_repo


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return git_env(tmp_path / "home")


@pytest.fixture
def repo(tmp_path: Path, env: dict[str, str]) -> Repo:
    """A repository with one commit (README, src/train.py) and ftgate's
    client hooks installed."""
    r = init_repo(tmp_path / "work", env)
    r.write("README.md", "# demo\n")
    r.write("src/train.py", "print('train')\n")
    r.commit("initial")
    proc = r.ftgate("install")
    assert proc.returncode == 0, proc.stderr
    return r
