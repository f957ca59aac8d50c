"""Without the ``train`` extra the trainer's tests are skipped with a reason,
never errored; under CI the same skips fail the run."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_without_extra(tmp_path: Path, *, ci: bool) -> tuple[subprocess.CompletedProcess[str], ET.Element]:
    report = tmp_path / "report.xml"
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    if ci:
        env["CI"] = "true"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.support.no_train_extra", "-p", "no:cacheprovider",
         "-p", "no:xdist", "-q", f"--junitxml={report}", "tests/train", "tests/test_demo.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )
    assert report.exists(), proc.stdout + proc.stderr
    return proc, ET.parse(report).getroot()


def test_trainer_tests_skip_with_a_reason_without_the_train_extra(tmp_path: Path) -> None:
    proc, root = run_without_extra(tmp_path, ci=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    cases = root.findall(".//testcase")
    in_train = [c for c in cases if c.get("classname", "").startswith("tests.train.")]
    assert len(in_train) > 50, f"the trainer's tests were not collected:\n{output}"
    for case in in_train:
        skipped = case.find("skipped")
        assert skipped is not None, f"{case.get('classname')}::{case.get('name')} ran without the train extra"
        assert "needs the train extra" in (skipped.get("message") or ""), skipped.get("message")
    assert not root.findall(".//error") and not root.findall(".//failure"), output


def test_under_ci_a_skipped_trainer_test_fails_the_run(tmp_path: Path) -> None:
    proc, root = run_without_extra(tmp_path, ci=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "skipped; every check must run in CI" in proc.stdout
