"""`accelerate launch` with two CPU processes (gloo): one run, one evidence folder, the same numbers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import tests.support.trainer as tp
from ftgate.evidence.verify import verify_ticket

pytestmark = pytest.mark.train

MULTI_CPU = Path(__file__).resolve().parents[2] / "examples" / "train" / "accelerate" / "cpu_multi.yaml"
# Two processes of 8 and one of 16 see the same 16 rows per step and average
# the same gradient, but reduce it in a different order, so the losses agree
# to float32 rounding that four optimizer steps barely amplify.
LOSS_TOLERANCE = 1e-3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(model: Path, per_device: int) -> dict:
    config = tp.sft_config(model)
    config["training"] = {"max_steps": 4, "learning_rate": 5e-3, "per_device_train_batch_size": per_device,
                          "per_device_eval_batch_size": 32, "logging_steps": 1, "save_steps": 4}
    return config


def test_two_process_run_matches_one_process_with_the_same_global_batch(tmp_path, tmp_path_factory) -> None:
    from ftgate.train.run import run_training

    model = tp.tiny_model(tp.session_base(tmp_path_factory))
    multi = tp.make_project(tmp_path / "project", model, config=_config(model, 8), name="multi.yaml")
    root = multi.parents[1]
    single = root / "train" / "single.yaml"
    single.write_text(yaml.safe_dump(_config(model, 16), sort_keys=False), encoding="utf-8")
    tp.prepare(multi)

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(MULTI_CPU),
         "--main_process_port", str(_free_port()), "-m", "ftgate", "train", str(multi)],
        cwd=root, env=env, capture_output=True, text=True, timeout=400,
    )
    # Four steps do not teach the mapping: the run completes and its criteria fail (exit 1).
    assert proc.returncode in (0, 1), proc.stderr[-4000:]
    run_training(single, resume=False)

    evidence = tp.ticket_path(root) / "evidence"
    # The second rank claimed nothing: one folder per run, the launch's first.
    assert sorted(p.name for p in evidence.iterdir()) == ["RUN-001", "RUN-002"]
    multi_run = json.loads((evidence / "RUN-001" / "run.json").read_text())
    single_run = json.loads((evidence / "RUN-002" / "run.json").read_text())
    assert multi_run["environment"]["world_size"] == 2
    assert multi_run["environment"]["distributed_type"].endswith("MULTI_CPU")
    assert single_run["environment"]["world_size"] == 1
    assert multi_run["status"] == single_run["status"] == "Completed"
    assert multi_run["steps"] == single_run["steps"] == 4

    a = json.loads((evidence / "RUN-001" / "metrics.json").read_text())
    b = json.loads((evidence / "RUN-002" / "metrics.json").read_text())
    for which in ("baseline", "result"):
        assert a[which]["eval_loss"]["value"] == pytest.approx(b[which]["eval_loss"]["value"], abs=LOSS_TOLERANCE)
    losses_a = [h["loss"] for h in json.loads((evidence / "RUN-001" / "log_history.json").read_text()) if "loss" in h]
    losses_b = [h["loss"] for h in json.loads((evidence / "RUN-002" / "log_history.json").read_text()) if "loss" in h]
    assert losses_a == pytest.approx(losses_b, abs=LOSS_TOLERANCE)

    # Only rank 0 wrote: the evidence verifies on its own, and the report has one registry row per run.
    checks = {c.run_id: c for c in verify_ticket(tp.ticket_path(root)).runs}
    assert checks["RUN-001"].verified, [f.render() for f in checks["RUN-001"].problems]
    report = (tp.ticket_path(root) / "training-validation-report.md").read_text()
    registry_rows = [line for line in report.splitlines() if line.startswith("| RUN-001")]
    assert len(registry_rows) == 1, registry_rows
