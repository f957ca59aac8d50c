"""`ftgate evidence reeval RUN`: the saved weights reproduce the recorded
metrics; recorded numbers the weights do not give are reported, exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tests.support.trainer as tp
from ftgate.cli.main import run_cli
from ftgate.errors import FtgateError

pytestmark = pytest.mark.train


@pytest.fixture
def project(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    original = tp.trained_project(tp.session_base(tmp_path_factory), "sft", tp.sft_config, "sft.yaml")
    return tp.copy_project(original, tmp_path / "project")


def _run(project: Path) -> Path:
    return tp.ticket_path(project) / "evidence" / "RUN-001"


def test_reeval_reproduces_an_honest_run(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ftgate.train.reeval import reeval

    result = reeval(_run(project))
    assert result.ok, result.render()
    # Greedy decoding on the same CPU gives the very same outputs.
    assert result.same_outputs == result.total == 30
    names = {name for name, _, _ in result.rows}
    assert {"exact_match", "eos_rate"} <= names
    assert run_cli(["evidence", "reeval", str(_run(project))]) == 0
    assert "reeval: metrics reproduced" in capsys.readouterr().out


def test_reeval_reports_numbers_the_weights_do_not_give(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _run(project) / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["result"]["exact_match"]["value"] = 0.5
    path.write_text(json.dumps(metrics))
    assert run_cli(["evidence", "reeval", str(_run(project)), "--tolerance", "0.05"]) == 1
    out = capsys.readouterr().out
    assert "exact_match" in out and "DISAGREES" in out and "tolerance 0.05" in out


def test_reeval_refuses_weights_other_than_the_evaluated_ones(project: Path) -> None:
    from ftgate.train.reeval import reeval

    run = json.loads((_run(project) / "run.json").read_text())
    final = project / run["output"]["path"]
    weights = next(final.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(FtgateError, match="differ from the ones RUN-001 evaluated"):
        reeval(_run(project))
