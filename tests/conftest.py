"""Shared test set-up: no network, no model hub, no dependence on the
machine's git configuration."""

from __future__ import annotations

import os

import pytest

# Set before any test module imports transformers or runs git.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
for key, value in {
    "GIT_AUTHOR_NAME": "ftgate tests",
    "GIT_AUTHOR_EMAIL": "tests@ftgate.invalid",
    "GIT_COMMITTER_NAME": "ftgate tests",
    "GIT_COMMITTER_EMAIL": "tests@ftgate.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}.items():
    os.environ[key] = value
os.environ.pop("FTGATE_TICKET", None)


@pytest.fixture(scope="session", autouse=True)
def _isolated_git_config(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A private global git config: default branch `main`, no user hooks."""
    config = tmp_path_factory.mktemp("gitconfig") / "config"
    config.write_text("[init]\n\tdefaultBranch = main\n[protocol \"file\"]\n\tallow = always\n")
    os.environ["GIT_CONFIG_GLOBAL"] = str(config)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI a skipped test is a check that did not run: fail the run.
    (Locally, without the `train` extra, the trainer tests skip on purpose.)"""
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped and exitstatus == 0:
        reporter.write_line(f"CI: {len(skipped)} test(s) skipped; every check must run in CI "
                            "(is the `train` extra installed?)", red=True)
        session.exitstatus = 1
