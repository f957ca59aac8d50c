"""The quick start's demo runs end to end, as the README says: server hooks,
a refused bypass, every gate, a real training run, verified evidence, merge."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.train
@pytest.mark.slow
def test_demo_plays_the_whole_ticket(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    result = subprocess.run([sys.executable, "-m", "ftgate", "demo", "--dir", str(target)],
                            capture_output=True, text=True, timeout=900)
    out = result.stdout
    assert result.returncode == 0, out[-4000:] + result.stderr[-3000:]
    assert "demo finished" in out
    # The bypass was refused twice: by the local hook, then by the server.
    assert out.count("source may change only at Stage 4 Unlocked") >= 2
    assert "remote: ftgate:" in out and "[remote rejected]" in out
    assert "evidence: OK" in out
    server = target / "server.git"
    log = subprocess.run(["git", "--git-dir", str(server), "log", "--format=%s", "main"],
                         capture_output=True, text=True, check=True).stdout
    assert "Merge codex/color-map" in log
    tree = subprocess.run(["git", "--git-dir", str(server), "ls-tree", "-r", "--name-only", "main"],
                          capture_output=True, text=True, check=True).stdout.split()
    assert "tickets/done/color-map/handoff-summary.md" in tree
    assert "tickets/done/color-map/evidence/RUN-001/run.json" in tree
    assert not any(name.endswith((".safetensors", ".bin")) for name in tree), "weights stay outside git"
    assert "lower-case answers" not in log  # the refused commit never reached the server


def test_demo_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = subprocess.run([sys.executable, "-m", "ftgate", "demo", "--dir", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "not empty" in result.stderr
    assert (tmp_path / "keep.txt").read_text() == "mine"
