"""The one place the suite isolates itself from the machine it runs on.

Git reads its configuration from the file named here and nowhere else, with
one identity; the model hub is offline. Set once per test process, before any
test module imports transformers or runs git, so a helper that builds a
subprocess environment inherits it instead of writing its own config."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

IDENTITY = {
    "GIT_AUTHOR_NAME": "ftgate tests",
    "GIT_AUTHOR_EMAIL": "tests@ftgate.invalid",
    "GIT_COMMITTER_NAME": "ftgate tests",
    "GIT_COMMITTER_EMAIL": "tests@ftgate.invalid",
}

GIT_CONFIG = """\
[init]
\tdefaultBranch = main
[user]
\tname = ftgate tests
\temail = tests@ftgate.invalid
[protocol "file"]
\tallow = always
[advice]
\tdetachedHead = false
"""

OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}

# Variables a developer's shell or an outer git hook may carry that would
# point a test's git or ftgate at the wrong repository or ticket.
LEAKED = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
          "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_QUARANTINE_PATH", "FTGATE_TICKET")

_state: dict[str, Path] = {}


def isolate() -> Path:
    """Point this process (and every child it starts) at the suite's own git
    config and offline caches; returns the config file. Idempotent."""
    if "config" in _state:
        return _state["config"]
    folder = Path(tempfile.mkdtemp(prefix="ftgate-tests-"))
    config = folder / "gitconfig"
    config.write_text(GIT_CONFIG, encoding="utf-8")
    for key, value in OFFLINE.items():
        os.environ[key] = value
    os.environ.setdefault("HF_DATASETS_CACHE", str(folder / "datasets-cache"))
    os.environ.update(IDENTITY)
    os.environ["GIT_CONFIG_GLOBAL"] = str(config)
    os.environ["GIT_CONFIG_NOSYSTEM"] = "1"
    for name in LEAKED:
        os.environ.pop(name, None)
    _state["folder"] = folder
    _state["config"] = config
    return config


def cleanup() -> None:
    folder = _state.pop("folder", None)
    _state.pop("config", None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def git_config() -> Path:
    """The suite's git config file (after :func:`isolate`)."""
    return _state["config"] if "config" in _state else isolate()
