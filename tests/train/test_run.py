"""`ftgate train`: real TRL runs on a tiny local model, on CPU, offline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import tests.support.trainer as tp
from ftgate import hashing
from ftgate.errors import FtgateError  # noqa: E402
from ftgate.evidence.verify import verify_ticket  # noqa: E402
from ftgate.workflow import artifacts as art  # noqa: E402
from ftgate.workflow import markdown as md  # noqa: E402

pytestmark = pytest.mark.train

# CPU runs with a fixed seed repeat exactly; the tolerance only absorbs
# float formatting, and is what docs promise for two same-seed runs.
SAME_SEED_TOLERANCE = 1e-6


@pytest.fixture
def sft_root(tmp_path_factory, tmp_path) -> Path:
    original = tp.trained_project(tp.session_base(tmp_path_factory), "sft", tp.sft_config, "sft.yaml")
    return tp.copy_project(original, tmp_path / "project")


@pytest.fixture
def dpo_root(tmp_path_factory, tmp_path) -> Path:
    original = tp.trained_project(tp.session_base(tmp_path_factory), "dpo", tp.dpo_config, "dpo.yaml")
    return tp.copy_project(original, tmp_path / "project")


def _run(root: Path, run_id: str = "RUN-001") -> Path:
    return tp.ticket_path(root) / "evidence" / run_id


def test_sft_lora_run_records_evidence_that_verifies(sft_root: Path) -> None:
    run_dir = _run(sft_root)
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "Completed" and run["finished_at"]
    assert run["git"]["commit"] and run["git"]["dirty"] is False
    assert "src/pipeline.py" in run["source"]["files"] and "train/sft.yaml" in run["source"]["files"]
    assert not any(p.startswith("tickets/") or p.endswith(".md") for p in run["source"]["files"])
    roles = {i["role"] for i in run["inputs"]}
    assert {"config", "manifest", "data", "prepared"} <= roles
    assert run["parameters"]["trainable"] < run["parameters"]["total"]
    assert run["weights_changed"]["changed"] and run["weights_changed"]["tensors_changed"] > 0
    assert set(run["environment"]["versions"]) >= {"python", "torch", "transformers", "trl", "peft", "datasets",
                                                   "accelerate", "ftgate"}
    assert run["environment"]["world_size"] == 1
    weights = sft_root / run["output"]["path"]
    assert (weights / "adapter_config.json").is_file()  # LoRA: the adapter, not a full copy
    assert hashing.sha256_tree(weights) == run["output"]["sha256"]
    assert not weights.is_relative_to(tp.ticket_path(sft_root))  # weights stay out of the ticket

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["baseline"]["exact_match"]["value"] <= 0.2
    assert metrics["result"]["exact_match"]["value"] >= 0.8
    assert metrics["result"]["exact_match"]["n"] == 30
    assert metrics["result"]["eval_loss"]["value"] < metrics["baseline"]["eval_loss"]["value"]
    assert 0 <= metrics["result"]["eos_rate"]["value"] <= 1
    assert [d["decision"] for d in metrics["criteria"]] == ["Passed", "Passed"]
    samples = [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 6 and all({"prompt", "expected", "baseline", "tuned"} <= s.keys() for s in samples)
    assert (run_dir / "loss.png").read_bytes().startswith(b"\x89PNG")
    assert run["anomalies"] == metrics["anomalies"] == []
    history = json.loads((run_dir / "log_history.json").read_text())
    assert any("loss" in h for h in history) and any("eval_loss" in h for h in history)

    text = (tp.ticket_path(sft_root) / "training-validation-report.md").read_text()
    doc = md.parse(text, "report")
    assert [r.status.value for r in art.read_run_registry(doc)] == ["Completed"]
    rows = {r.metric: r for r in art.read_metric_summary(doc)}
    assert rows["exact_match"].result.startswith("1.0000") or rows["exact_match"].result.startswith("0.9")
    assert rows["exact_match"].baseline and rows["exact_match"].delta.startswith("+")
    assert {r.criterion: r.decision.value for r in art.read_sc_closure(doc)} == {"SC-001": "Passed",
                                                                                  "SC-002": "Passed"}
    assert "A note the person wrote by hand." in text
    assert "Proposed Stage 5 Decision: `Pass`" in text
    assert "- Stage 5 Decision: `Fail`" in text  # the real decision stays the person's
    result = verify_ticket(tp.ticket_path(sft_root))
    assert result.ok, [f.render() for f in result.findings]


def test_same_seed_same_metrics_and_no_overwrite(sft_root: Path) -> None:
    from ftgate.train.run import run_training

    first = _run(sft_root, "RUN-001")
    before = {p.name: hashing.sha256_file(p) for p in first.iterdir()}
    assert run_training(sft_root / "train" / "sft.yaml", resume=False) == 0
    second = _run(sft_root, "RUN-002")
    assert {p.name: hashing.sha256_file(p) for p in first.iterdir()} == before
    m1 = json.loads((first / "metrics.json").read_text())
    m2 = json.loads((second / "metrics.json").read_text())
    for name, value in m1["result"].items():
        assert m2["result"][name]["value"] == pytest.approx(value["value"], abs=SAME_SEED_TOLERANCE), name
        assert m2["baseline"][name]["value"] == pytest.approx(m1["baseline"][name]["value"],
                                                              abs=SAME_SEED_TOLERANCE), name
    samples1 = (first / "samples.jsonl").read_text()
    assert (second / "samples.jsonl").read_text() == samples1
    # The report now lists both runs; the latest one closes the criteria.
    doc = md.parse((tp.ticket_path(sft_root) / "training-validation-report.md").read_text(), "r")
    assert [r.run_id for r in art.read_run_registry(doc)] == ["RUN-001", "RUN-002"]
    assert {r.evidence_runs for r in art.read_sc_closure(doc)} == {"RUN-002"}
    assert verify_ticket(tp.ticket_path(sft_root)).ok


def test_interrupted_run_stays_running_then_resumes(sft_root: Path) -> None:
    from ftgate.train.run import run_training

    config = yaml.safe_load((sft_root / "train" / "sft.yaml").read_text())
    config["training"].update(max_steps=120, save_steps=20, eval_steps=None)
    long_config = sft_root / "train" / "sft_long.yaml"
    long_config.write_text(yaml.safe_dump(config), encoding="utf-8")
    out = sft_root / "outputs" / tp.TICKET / "RUN-002"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-m", "ftgate", "train", str(long_config)], cwd=sft_root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        # Kill outright as soon as one checkpoint is complete: no handler runs,
        # exactly like a lost machine.
        while not (out / "checkpoint-20" / "trainer_state.json").is_file():
            assert proc.poll() is None, "training ended before it could be interrupted"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    run_json = _run(sft_root, "RUN-002") / "run.json"
    interrupted = json.loads(run_json.read_text())
    assert interrupted["status"] == "Running" and "metrics.json" not in interrupted.get("artifacts", {})
    stuck = verify_ticket(tp.ticket_path(sft_root))
    assert any("RUN-002 is still Running" in f.message for f in stuck.findings)

    assert run_training(long_config, resume=True) == 0
    done = json.loads(run_json.read_text())
    assert done["status"] == "Completed"
    assert [a["resumed"] for a in done["attempts"]] == [False, True]
    assert done["output"]["resumed_from"].startswith("checkpoint-")
    assert done["steps"] == 120
    assert not (_run(sft_root, "RUN-003")).exists()
    assert verify_ticket(tp.ticket_path(sft_root)).ok


def test_resume_with_nothing_unfinished_is_refused(sft_root: Path) -> None:
    from ftgate.train.run import run_training

    with pytest.raises(FtgateError, match="nothing to resume"):
        run_training(sft_root / "train" / "sft.yaml", resume=True)


def test_stale_prepared_data_refuses_to_start(sft_root: Path) -> None:
    from ftgate.train.run import run_training

    with (sft_root / "train" / "data" / "train.jsonl").open("a") as fh:
        fh.write(json.dumps(tp.sft_rows(range(50, 51), 0)[0]) + "\n")
    with pytest.raises(FtgateError) as err:
        run_training(sft_root / "train" / "sft.yaml", resume=False)
    assert "data/train.jsonl changed" in str(err.value) and "ftgate data prepare" in str(err.value)
    assert not _run(sft_root, "RUN-002").exists()


def test_crash_after_start_is_recorded_failed(sft_root: Path, monkeypatch) -> None:
    from ftgate.train.run import run_training

    (sft_root / "scorer_that_breaks.py").write_text(
        "def score(prediction, reference):\n    raise RuntimeError('judge exploded')\n"
    )
    monkeypatch.syspath_prepend(str(sft_root))
    config = yaml.safe_load((sft_root / "train" / "sft.yaml").read_text())
    config["evaluation"]["metrics"].append({"kind": "function", "function": "scorer_that_breaks:score"})
    config["training"]["max_steps"] = 4
    path = sft_root / "train" / "sft_broken.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(RuntimeError, match="judge exploded"):
        run_training(path, resume=False)
    run = json.loads((_run(sft_root, "RUN-002") / "run.json").read_text())
    assert run["status"] == "Failed" and "judge exploded" in run["error"]
    assert "artifacts" not in run
    doc = md.parse((tp.ticket_path(sft_root) / "training-validation-report.md").read_text(), "r")
    assert {r.run_id: r.status.value for r in art.read_run_registry(doc)}["RUN-002"] == "Failed"
    # A failed run closes nothing, and never reads as a pass.
    result = verify_ticket(tp.ticket_path(sft_root))
    assert result.ok and result.closure["SC-001"] == ("Passed", "RUN-001")
    assert any("RUN-002 is Failed" in n for n in result.notes)


def test_dpo_lora_run_learns_preferences_and_verifies(dpo_root: Path) -> None:
    run_dir = _run(dpo_root)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    base, res = metrics["baseline"], metrics["result"]
    assert res["preference_accuracy"]["value"] >= 0.8 > base["preference_accuracy"]["value"]
    assert res["reward_margin"]["value"] > base["reward_margin"]["value"]
    assert res["preference_accuracy"]["ci_low"] is not None
    assert "exact_match" in res  # generation metrics against the chosen answer
    run = json.loads((run_dir / "run.json").read_text())
    assert run["config"]["resolved"]["objective"] == "dpo"
    doc = md.parse((tp.ticket_path(dpo_root) / "training-validation-report.md").read_text(), "r")
    registry = art.read_run_registry(doc)
    assert registry[0].cells["Objective Type"] == "Preference Optimization"
    result = verify_ticket(tp.ticket_path(dpo_root))
    assert result.ok, [f.render() for f in result.findings]


def test_anomalies_are_named() -> None:
    from ftgate.evidence.metrics import MetricValue
    from ftgate.train.run import _anomalies

    history = [{"step": 10, "loss": 2.0}, {"step": 20, "loss": float("nan"), "grad_norm": float("inf")}]
    baseline = {"eval_loss": MetricValue("eval_loss", 1.0, 8)}
    result = {"eval_loss": MetricValue("eval_loss", 1.5, 8), "eos_rate": MetricValue("eos_rate", 0.2, 8)}
    found = _anomalies(history, baseline, result)
    assert "non-finite loss or gradient norm at step(s) 20" in found
    assert "held-out loss rose from 1.0000 to 1.5000" in found
    assert any("20% of tuned outputs stopped on EOS" in a for a in found)
    assert _anomalies([{"step": 1, "loss": 1.0}], {}, {}) == []


def test_accelerate_launch_single_cpu_process(sft_root: Path) -> None:
    """The documented launch line works with the shipped CPU accelerate config."""
    accelerate_config = Path(__file__).resolve().parents[2] / "examples" / "train" / "accelerate" / "cpu.yaml"
    config = yaml.safe_load((sft_root / "train" / "sft.yaml").read_text())
    config["training"].update(max_steps=6, save_steps=6, eval_steps=None)
    path = sft_root / "train" / "sft_short.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(accelerate_config),
         "-m", "ftgate", "train", str(path)],
        cwd=sft_root, env=env, capture_output=True, text=True, timeout=300,
    )
    # 6 steps do not teach the mapping: the run completes, its criteria fail (exit 1).
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    run = json.loads((_run(sft_root, "RUN-002") / "run.json").read_text())
    assert run["status"] == "Completed" and run["steps"] == 6
    assert run["environment"]["world_size"] == 1
