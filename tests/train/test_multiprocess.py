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
# Two processes of 8 and one of 16 see the same 16 rows per step. Before
# any update they agree to float rounding (SAME), which shows the rows and
# weights are the same. After it they drift a little: each rank normalises
# its loss by its own tokens before DDP averages the gradients, which weights
# rows slightly differently than one mean over 16 rows, and lr 5e-3 makes
# that visible, the more so the faster the model learns. So the drift is
# judged against how far the loss itself moved: at most DRIFT of the held-out
# loss's fall over the run (measured with the learnable tiny model: a fall of
# several nats, a drift of about 0.2).
SAME = 1e-5
DRIFT = 0.1
# The held-out loss is a mean of per-batch means: the single process uses
# batches of 15 so that its batches are the two ranks' halves of the 30 rows.
EVAL_BATCH = 15


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(model: Path, per_device: int) -> dict:
    config = tp.sft_config(model)
    config["training"] = {"max_steps": 4, "learning_rate": 5e-3, "per_device_train_batch_size": per_device,
                          "per_device_eval_batch_size": EVAL_BATCH, "logging_steps": 1, "save_steps": 4}
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
    assert a["baseline"]["eval_loss"]["value"] == pytest.approx(b["baseline"]["eval_loss"]["value"], abs=SAME)
    fall = b["baseline"]["eval_loss"]["value"] - b["result"]["eval_loss"]["value"]
    assert fall > 0.5, f"the single-process run did not learn (held-out loss fell by {fall:.3f})"
    tolerance = DRIFT * fall
    assert a["result"]["eval_loss"]["value"] == pytest.approx(b["result"]["eval_loss"]["value"], abs=tolerance)
    assert a["result"]["exact_match"]["value"] == b["result"]["exact_match"]["value"]
    losses_a = [h["loss"] for h in json.loads((evidence / "RUN-001" / "log_history.json").read_text()) if "loss" in h]
    losses_b = [h["loss"] for h in json.loads((evidence / "RUN-002" / "log_history.json").read_text()) if "loss" in h]
    assert len(losses_a) == len(losses_b) == 4
    assert losses_a[0] == pytest.approx(losses_b[0], abs=SAME)
    assert losses_a == pytest.approx(losses_b, abs=tolerance)

    # Only rank 0 wrote: the evidence verifies on its own, and the report has one registry row per run.
    checks = {c.run_id: c for c in verify_ticket(tp.ticket_path(root)).runs}
    assert checks["RUN-001"].verified, [f.render() for f in checks["RUN-001"].problems]
    report = (tp.ticket_path(root) / "training-validation-report.md").read_text()
    # A second writer would have added its own rows (or its own RUN-002 with world size 2).
    for row in ("| RUN-001 | teach the colour", "| RUN-001 | held-out loss (teacher forcing) | eval_loss |"):
        assert sum(line.startswith(row) for line in report.splitlines()) == 1, row
