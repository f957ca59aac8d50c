"""The quick start's demo runs end to end, as written in the README."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_runs_in_a_fresh_folder(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    result = subprocess.run([sys.executable, "-m", "ftgate", "demo", "--dir", str(target)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "demo finished" in result.stdout
    state = (target / "tickets/in-progress/color-map/workflow-state.md").read_text()
    assert "Code Edit Permission: `Unlocked`" in state


def test_demo_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = subprocess.run([sys.executable, "-m", "ftgate", "demo", "--dir", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "not empty" in result.stderr
    assert (tmp_path / "keep.txt").read_text() == "mine"
