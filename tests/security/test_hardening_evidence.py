"""Item 6 of issue 11: evidence paths stay inside the checked-out tree.

Paths written in ``run.json`` used to be opened as written, so any pusher
could make the server hash ``/etc/...`` (a finding then told whether the file
existed, with a prefix of its hash) or read ``/dev/zero`` until the hook hung.
Each hostile path must now be a finding that names the file and the key,
quickly, and never a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftgate.evidence.paths import EvidencePathError, confine
from ftgate.evidence.record import sha256_file
from ftgate.evidence.verify import verify_run
from ftgate.git.evidence_tree import evidence_findings
from ftgate.limits import EVIDENCE_FILE_MAX_BYTES
from tests.support.gitrepo import Repo, init_repo

TICKET = "tickets/in-progress/t"
RUN = f"{TICKET}/evidence/RUN-001"


def _run_json(root: Path, inputs: list[object], **extra: object) -> Path:
    run = root / RUN
    run.mkdir(parents=True, exist_ok=True)
    (run / "metrics.json").write_text("{}\n")
    data = {"run_id": "RUN-001", "status": "Completed", "inputs": inputs,
            "artifacts": {"metrics.json": sha256_file(run / "metrics.json")}, **extra}
    (run / "run.json").write_text(json.dumps(data))
    return run


HOSTILE = {
    "absolute /etc/passwd": "/etc/passwd",
    "device /dev/zero": "/dev/zero",
    "parent ../x": "../x",
    "nested parent": "data/../../x",
    "windows drive": "C:\\Windows\\win.ini",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_path_is_a_finding_naming_file_and_key(tmp_path: Path, name: str) -> None:
    run = _run_json(tmp_path, [{"role": "data", "path": HOSTILE[name], "sha256": "0" * 64, "tracked": True}])
    start = time.perf_counter()
    check = verify_run(run, root=tmp_path, current_sources=None)
    assert time.perf_counter() - start < 5  # /dev/zero must not be read
    assert not check.verified
    text = " ".join(f.render() for f in check.problems)
    assert "inputs.data.path" in text and HOSTILE[name].split("\\")[0] in text
    # Nothing about the outside file leaks: no hash of it is printed.
    assert "sha256" not in text.replace("0" * 12, "")


def test_symlink_leading_out_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    os.symlink("/etc/passwd", tmp_path / "data" / "train.jsonl")
    run = _run_json(tmp_path, [{"role": "data", "path": "data/train.jsonl", "sha256": "0" * 64, "tracked": True}])
    check = verify_run(run, root=tmp_path, current_sources=None)
    assert any("leads out of the repository" in f.message for f in check.problems)


def test_symlinked_run_json_and_folder_holding_a_link_out(tmp_path: Path) -> None:
    run = tmp_path / RUN
    run.mkdir(parents=True)
    os.symlink("/dev/zero", run / "run.json")
    check = verify_run(run, root=tmp_path, current_sources=None)
    assert check.problems and "run.json" in check.problems[0].render()
    with pytest.raises(EvidencePathError, match="link out"):
        (tmp_path / "prepared").mkdir()
        os.symlink("/etc", tmp_path / "prepared" / "etc")
        confine(tmp_path, "prepared", label="run.json", key="inputs.prepared.path", folder=True)


def test_untracked_input_outside_the_tree_is_a_note_not_opened(tmp_path: Path) -> None:
    run = _run_json(tmp_path, [{"role": "base_model", "path": "/dev/zero", "sha256": "0" * 64, "tracked": False}])
    check = verify_run(run, root=tmp_path, current_sources=None)
    assert not any("base_model" in f.message for f in check.problems)
    assert any("not opened" in n for n in check.notes)


def test_non_regular_and_oversized_files_are_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(EvidencePathError, match="not a regular file"):
        confine(tmp_path, "pipe", label="run.json", key="inputs.data.path")
    with open(tmp_path / "big.json", "wb") as fh:
        fh.truncate(EVIDENCE_FILE_MAX_BYTES + 1)
    with pytest.raises(EvidencePathError, match="more than"):
        confine(tmp_path, "big.json", label="run.json", key="artifacts.big.json")
    assert confine(tmp_path, "missing.json", label="run.json", key="x") == tmp_path / "missing.json"


@pytest.mark.parametrize("bad", [
    {"inputs": "not a list"},
    {"inputs": [1, 2]},
    {"inputs": [{"role": "data", "path": 5, "sha256": "x", "tracked": True}]},
    {"artifacts": ["metrics.json"]},
    {"source": "x"},
])
def test_wrong_shape_is_a_finding_not_a_traceback(tmp_path: Path, bad: dict[str, object]) -> None:
    run = _run_json(tmp_path, [])
    data = json.loads((run / "run.json").read_text())
    data.update(bad)
    (run / "run.json").write_text(json.dumps(data))
    check = verify_run(run, root=tmp_path, current_sources={})
    assert not check.verified and check.problems


def test_cli_verify_reports_hostile_paths_without_traceback(tmp_path: Path) -> None:
    _run_json(tmp_path, [{"role": "data", "path": "/dev/zero", "sha256": "0" * 64, "tracked": True}])
    (tmp_path / TICKET / "requirements.md").write_text("# Requirements\n")
    proc = subprocess.run([sys.executable, "-m", "ftgate", "evidence", "verify", str(tmp_path / TICKET)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "inputs.data.path" in proc.stdout + proc.stderr


def test_server_side_evidence_check_on_a_pushed_tree(tmp_path: Path, env: dict[str, str]) -> None:
    """The hook's own path: the commit's tree written out by git (symlinks as
    symlinks), then verified. A committed link to /dev/zero must not hang it."""
    repo: Repo = init_repo(tmp_path / "work", env)
    _run_json(repo.path, [{"role": "data", "path": "data/train.jsonl", "sha256": "0" * 64, "tracked": True}])
    (repo.path / "data").mkdir()
    os.symlink("/dev/zero", repo.path / "data" / "train.jsonl")
    repo.write(f"{TICKET}/requirements.md", "# Requirements\n")
    repo.commit("hostile evidence")
    start = time.perf_counter()
    findings = evidence_findings(repo.head(), TICKET, cwd=str(repo.path))
    assert time.perf_counter() - start < 30
    assert any("inputs.data.path" in f and "leads out" in f for f in findings), findings
