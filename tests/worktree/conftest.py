"""Fixtures for the worktree tests: real git repositories, a bare "server",
a clone of it (so ``origin/HEAD`` exists), and a repository whose remote was
added by hand (so it does not). Helpers live in :mod:`tests.support`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.gitrepo import Repos, make_repos


@pytest.fixture
def repos(tmp_path: Path) -> Repos:
    return make_repos(tmp_path)
