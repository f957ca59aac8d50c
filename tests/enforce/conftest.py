"""The shared git fixtures: `env` (a private HOME and git config) and `repo`."""

from tests.support.fixtures import env, repo

__all__ = ["env", "repo"]
