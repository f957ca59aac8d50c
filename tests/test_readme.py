"""The README's commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```sh\n(.+?)\n```", readme)
    test_command = next(c for c in commands if "pytest" in c)
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci


def test_ci_runs_the_documented_lint_step_after_the_tests() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```sh\n(.+?)\n```", readme)
    assert "scripts/lint" in commands
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    test_command = next(c for c in commands if "pytest" in c)
    # After the tests, under `set -e`, so a lint failure fails CI.
    assert ci.index("scripts/lint") > ci.index(test_command)
    assert "set -euo pipefail" in ci
    assert (ROOT / "scripts" / "lint").stat().st_mode & 0o111


def test_quick_start_runs_the_demo() -> None:
    readme = (ROOT / "README.md").read_text()
    assert any(c.endswith("ftgate demo") for c in re.findall(r"```sh\n(.+?)\n```", readme))


def test_core_install_never_pulls_the_ml_stack() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    heavy = {"torch", "transformers", "trl", "peft", "datasets", "accelerate"}
    core = {re.split(r"[<>=!~\[ ;]", dep, maxsplit=1)[0].lower() for dep in project["dependencies"]}
    assert not core & heavy
    train = {re.split(r"[<>=!~\[ ;]", dep, maxsplit=1)[0].lower() for dep in project["optional-dependencies"]["train"]}
    assert heavy <= train
    # The package asks for a torch range; only CI's constraints file pins the CPU wheel.
    assert not any(dep.startswith("torch==") for dep in project["optional-dependencies"]["train"])
    assert "torch==" in (ROOT / "constraints" / "ci.txt").read_text()
