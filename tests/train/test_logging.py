"""`logging: tensorboard | mlflow`: a real tracker writes the run's loss beside its outputs, offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tests.support.trainer as tp
from ftgate.errors import FtgateError

pytestmark = pytest.mark.train


def _short_project(tmp_path: Path, factory: pytest.TempPathFactory, **overrides: object) -> Path:
    model = tp.tiny_model(tp.session_base(factory))
    config = tp.sft_config(model, **overrides)
    config["training"] = {"max_steps": 4, "learning_rate": 5e-3, "per_device_train_batch_size": 16,
                          "per_device_eval_batch_size": 32, "logging_steps": 1, "save_steps": 4}
    path = tp.make_project(tmp_path / "project", model, config=config)
    tp.prepare(path)
    return path


def _train(config_path: Path) -> dict:
    from ftgate.train.run import run_training

    run_training(config_path, resume=False)
    root = config_path.parents[1]
    return json.loads((tp.ticket_path(root) / "evidence" / "RUN-001" / "run.json").read_text())


def test_tensorboard_event_files_hold_the_training_loss(tmp_path, tmp_path_factory) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config_path = _short_project(tmp_path, tmp_path_factory, logging="tensorboard")
    run = _train(config_path)
    root = config_path.parents[1]
    assert run["logging"]["kind"] == "tensorboard"
    logs = root / run["logging"]["path"]
    # Beside the run's outputs: inside the folder that holds its checkpoints.
    assert logs.is_relative_to(root / run["output"]["checkpoints"])
    events = list(logs.rglob("events.out.tfevents.*"))
    assert events, f"no event file under {logs}"
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    losses = acc.Scalars("train/loss")
    assert [e.step for e in losses] == [1, 2, 3, 4]
    history = json.loads((tp.ticket_path(root) / "evidence" / "RUN-001" / "log_history.json").read_text())
    logged = [h["loss"] for h in history if "loss" in h]
    assert [e.value for e in losses] == pytest.approx(logged, rel=1e-5)


def test_mlflow_file_store_holds_the_training_loss(tmp_path, tmp_path_factory) -> None:
    config_path = _short_project(tmp_path, tmp_path_factory, logging="mlflow")
    run = _train(config_path)
    root = config_path.parents[1]
    assert run["logging"]["kind"] == "mlflow"
    store = root / run["logging"]["path"]
    assert store.is_relative_to(root / run["output"]["checkpoints"])
    loss_files = list(store.glob("*/*/metrics/loss"))
    assert len(loss_files) == 1, f"expected one mlflow run with a loss metric under {store}"
    # The file store writes "timestamp value step" per logged point.
    steps = [int(line.split()[2]) for line in loss_files[0].read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_no_logging_by_default_reports_to_nothing(tmp_path, tmp_path_factory) -> None:
    from ftgate.train.config import load_config, trainer_kwargs

    model = tp.tiny_model(tp.session_base(tmp_path_factory))
    config = load_config(tp.make_project(tmp_path / "project", model, config=tp.sft_config(model)))
    assert config.logging == "none" and trainer_kwargs(config, cuda=False)["report_to"] == "none"


def test_unknown_logging_backend_is_refused_with_the_choices(tmp_path, tmp_path_factory) -> None:
    from ftgate.train.config import load_config

    model = tp.tiny_model(tp.session_base(tmp_path_factory))
    path = tp.make_project(tmp_path / "project", model, config=tp.sft_config(model, logging="wandb"))
    with pytest.raises(FtgateError) as err:
        load_config(path)
    text = str(err.value) + str(getattr(err.value, "hint", ""))
    assert "logging" in text and "tensorboard" in text
