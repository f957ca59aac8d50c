from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.gitrepo import git_env as make_env


@pytest.fixture
def git_env(tmp_path: Path) -> dict[str, str]:
    return make_env(tmp_path / "home")
