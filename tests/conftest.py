"""Shared test set-up: no network, no model hub, one git config for the whole
suite (:mod:`tests.support.isolation`), and the ``train`` marker that skips the
trainer's tests where the ``train`` extra is not installed."""

from __future__ import annotations

import importlib.util
import os

import pytest

from tests.support import isolation

# At import, not in a fixture: collection may already import transformers or
# run git, and both must see the isolated environment.
isolation.isolate()

# What the trainer's tests import, directly or through ftgate.train.
TRAIN_EXTRA = ("torch", "transformers", "trl", "peft", "datasets", "accelerate")


def missing_train_extra() -> list[str]:
    missing = []
    for name in TRAIN_EXTRA:
        try:
            found = importlib.util.find_spec(name) is not None
        except ImportError:
            found = False
        if not found:
            missing.append(name)
    return missing


def pytest_unconfigure(config: pytest.Config) -> None:
    isolation.cleanup()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = missing_train_extra()
    if not missing:
        return
    skip = pytest.mark.skip(reason=f"needs the train extra ({', '.join(missing)} not importable): "
                                   "pip install -e '.[train]'")
    for item in items:
        if item.get_closest_marker("train") is not None:
            item.add_marker(skip)


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
