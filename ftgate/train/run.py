"""``ftgate train CONFIG [--resume]``: baseline, train, evaluate, record.

Read top to bottom, this is the whole run. The order matters in three places,
each said where it happens: the evidence folder is claimed before anything
heavy runs (so a crash is recorded), the baseline is measured on the very
model object TRL will train (a fresh LoRA adapter is an identity, so that
model *is* the base model), and ``run.json`` turns ``Completed`` only after
every other evidence file has been written and hashed into it.

Multi-process runs (``accelerate launch``): every process trains and
evaluates, only the main process writes files.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftgate import hashing
from ftgate.errors import EXIT_FINDINGS, EXIT_OK, FtgateError
from ftgate.evidence import record as rec
from ftgate.evidence.metrics import MetricValue
from ftgate.evidence.schema import RunState, load_record
from ftgate.evidence.statement import SIGNING_KEY_ENV, signing_key
from ftgate.train import evidence as ev
from ftgate.train.config import (
    RunConfig,
    check_logging_supported,
    check_strategy_supported,
    load_config,
    peft_config,
    trainer_kwargs,
)

if TYPE_CHECKING:
    from ftgate.train.data.tokenizer import TokenizerInfo

# Where the closing summary goes: a line at a time, to the CLI's printer or a log.
Reporter = Callable[[str], None]
_log = logging.getLogger("ftgate.train")

STATE_FILE = "ftgate-run-state.json"
FINAL_DIR = "final"


def run_training(config_path: Path, *, resume: bool, report: Reporter | None = None) -> int:
    """Run one training config end to end; 0 when every criterion passed, 1 otherwise.

    ``report`` receives the closing summary, one line at a time; without it
    the lines go to the ``ftgate.train`` logger, so the caller decides how
    (and whether) they are shown.
    """
    report = report or _log.info
    config_path = Path(config_path)
    config = load_config(config_path)
    check_strategy_supported(config)
    check_logging_supported(config)
    from ftgate.train.config import check_runnable

    check_runnable(config)
    root = rec.find_repo_root(config_path)
    ticket_path = rec.ticket_dir(root, config.ticket)
    _refuse_criteria_unlike_requirements(config, ticket_path, root)
    key = signing_key(root)
    if key is not None and not key.is_file():
        raise FtgateError(f"the evidence signing key {key} does not exist",
                          hint=f"set {SIGNING_KEY_ENV} or ftgate.yaml `evidence_signing_key` to a key file")
    _refuse_stale_data(config, config_path)
    # A metric that cannot load would fail only after training; fail now.
    from ftgate.train.metrics import Scorer

    for spec in config.evaluation.metrics:
        Scorer(spec)
    if config.objective == "grpo":
        # A reward function that does not import would fail after the baseline; fail before the run id.
        from ftgate.train.rewards import resolve_all

        resolve_all(config, root)

    from accelerate import PartialState

    from ftgate.train.config import cuda_available

    # Without cpu=True a process started by torchrun on a machine without
    # CUDA sets up no process group and believes it is alone: every rank
    # would then claim its own run id. The trainer's arguments say the same.
    state = PartialState(cpu=not cuda_available())
    main = state.is_main_process
    config_rel = ev.relpath(root, config_path)

    # Claim (or reopen) the evidence folder before loading any model: from
    # here on, whatever happens is written down.
    if resume:
        run_path = ev.find_resumable(ticket_path, config_rel) if main else None
        run_path = _broadcast(state, run_path)
        recorder = ev.RunRecorder.reopen(Path(run_path), root)
        _refuse_changed_inputs_on_resume(recorder, config, root)
    else:
        run_id = ev.RunRecorder.claim(ticket_path, root).run_id if main else None
        run_id = _broadcast(state, run_id)
        recorder = ev.RunRecorder(ticket_path, root, str(run_id))
    recorder.writer = main

    out_dir = config.output_dir() / config.ticket / recorder.run_id
    recorder.start(_provenance(config, config_path, root, out_dir, state, recorder.path), resumed=resume)
    if main:
        _write_report(recorder, config, ticket_path)
    previous = signal.getsignal(signal.SIGTERM)
    # `accelerate launch` and schedulers stop workers with SIGTERM; turn it
    # into an exception so the run is recorded Failed rather than vanishing.
    if previous in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        passed = _train_and_record(config, recorder, out_dir, state, resume=resume, report=report)
    except BaseException as exc:
        recorder.fail(exc)
        if main:
            _write_report(recorder, config, ticket_path)
        raise
    finally:
        if previous in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if main:
        _write_report(recorder, config, ticket_path)
    return EXIT_OK if passed else EXIT_FINDINGS


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signum}")


def _broadcast(state: Any, value: Any) -> Any:
    """Main process decides, every process learns (run id, resume target)."""
    if state.num_processes <= 1:
        return value
    from accelerate.utils import broadcast_object_list

    box = [str(value) if value is not None else None]
    broadcast_object_list(box, from_process=0)
    return box[0]


def _refuse_stale_data(config: RunConfig, config_path: Path) -> None:
    from ftgate.train.data.manifest import verify_manifest

    changes = verify_manifest(config)
    if changes:
        raise FtgateError(
            "the prepared data no longer matches what it was prepared from:\n  - " + "\n  - ".join(changes),
            hint=f"run `ftgate data prepare {config_path}`, then train again",
        )


def _refuse_criteria_unlike_requirements(config: RunConfig, ticket_path: Path, root: Path) -> None:
    """A criterion that requirements.md states in measurable terms is held to them, before any run id is claimed."""
    from ftgate.workflow.stated_criteria import config_disagreements, stated_criteria

    requirements = ticket_path / rec.REQUIREMENTS_FILE
    if not requirements.is_file():
        return
    stated = stated_criteria(requirements.read_text(encoding="utf-8"), ev.relpath(root, requirements))
    configured: list[tuple[str, str, str | None, float | None, float | None]] = [
        (c.id, c.metric, c.op if c.threshold is not None else None, c.threshold, c.min_delta)
        for c in config.success_criteria]
    problems = config_disagreements(stated, configured)
    if problems:
        raise FtgateError(
            "the config's success criteria do not say what requirements.md says:\n  - " + "\n  - ".join(problems),
            hint="make the config's criterion match requirements.md; changing a criterion is a Stage 2 change "
                 "(a Requirement Gap re-entry), not a training-config edit",
        )


def _refuse_changed_inputs_on_resume(recorder: ev.RunRecorder, config: RunConfig, root: Path) -> None:
    """A resumed run must be the same run: same config, same source, same data and base weights."""
    record = recorder.record()
    if record.config.resolved_sha256 != config.config_hash():
        raise FtgateError(
            f"{recorder.run_id} was started with a different config; resuming would mix two runs",
            hint="start a new run without --resume",
        )
    changed_inputs = []
    for item in record.inputs:
        if not item.path or not item.sha256:
            continue
        path = Path(item.path) if Path(item.path).is_absolute() else root / item.path
        actual = hashing.sha256_path(path) if path.exists() else "absent"
        if actual != item.sha256:
            changed_inputs.append(f"{item.role} {item.path}")
    base = record.base_model or {}
    if base.get("path") and base.get("weights_sha256"):
        from ftgate.evidence.weights import weights_hash

        where = root / base["path"] if not Path(base["path"]).is_absolute() else Path(base["path"])
        if not where.exists() or weights_hash(where) != base["weights_sha256"]:
            changed_inputs.append(f"base weights {base['path']}")
    if changed_inputs:
        raise FtgateError(
            f"the inputs changed since {recorder.run_id} started ({', '.join(changed_inputs[:6])}); "
            "resuming would mix two datasets or models under one record",
            hint="start a new run without --resume",
        )
    before = record.source.files
    now = rec.source_hashes(root)
    if before is not None and now is not None and hashing.combine_hashes(now) != hashing.combine_hashes(before):
        changed, added, removed = rec.diff_hashes(before, now)
        raise FtgateError(
            f"the source changed since {recorder.run_id} started ({', '.join((changed + added + removed)[:6])})",
            hint="start a new run without --resume",
        )


def _base_model(config: RunConfig, root: Path) -> dict[str, Any]:
    """Local weights are hashed; a hub model's revision is recorded once it is loaded (``_set_up``)."""
    from ftgate.evidence.weights import weights_hash

    where, local = config.base_model()
    if not local:
        return {"source": config.model.base, "revision": None}
    return {"source": config.model.base, "path": ev.relpath(root, Path(where)),
            "weights_sha256": weights_hash(Path(where))}


def _provenance(config: RunConfig, config_path: Path, root: Path, out_dir: Path, state: Any,
                run_path: Path) -> dict[str, Any]:
    """Everything about the inputs, hashed before training touches anything."""
    from ftgate.train.data.manifest import MANIFEST_NAME, read_manifest
    from ftgate.train.data.tokenizer import tokenizer_info

    tracked = ev.tracked_files(root)
    sources = rec.source_hashes(root)
    manifest_path = config.prepared_dir() / MANIFEST_NAME
    inputs = [ev.input_entry(root, "config", config_path, tracked),
              ev.input_entry(root, "manifest", manifest_path, tracked)]
    inputs += [ev.input_entry(root, "data", p, tracked) for p in config.train_files() + config.eval_files()]
    inputs.append(ev.input_entry(root, "prepared", config.prepared_dir() / "dataset", tracked))
    template_file = config.template_file()
    if template_file is not None:
        inputs.append(ev.input_entry(root, "template", template_file, tracked))
    tok = tokenizer_info(config)
    manifest = read_manifest(config)
    import torch

    device = "cpu"
    if torch.cuda.is_available() and not trainer_kwargs(config)["use_cpu"]:
        device = f"cuda ({torch.cuda.get_device_name(0)})"
    return {
        "planned_run": config.run_id,
        "purpose": config.purpose,
        "ticket": config.ticket,
        "run_path": ev.relpath(root, run_path),
        "base_model": _base_model(config, root),
        "git": {"commit": rec.git_commit(root), "dirty": rec.git_dirty(root)},
        "source": {"hash": hashing.combine_hashes(sources) if sources is not None else None, "files": sources},
        "config": {
            "path": ev.relpath(root, config_path),
            "sha256": hashing.sha256_file(config_path),
            "resolved": config.model_dump(mode="json"),
            "resolved_sha256": config.config_hash(),
        },
        "inputs": inputs,
        "data_manifest": manifest.model_dump(mode="json", exclude={"template"}) if manifest else {},
        "data_manifest_sha256": hashing.sha256_file(manifest_path),
        "seed": config.seed,
        "tokenizer": {
            "source": config.model.base,
            "files_sha256": tok.files_sha256,
            "sha256": tok.files_sha256,
            "template_source": config.template,
            "template_sha256": hashing.sha256_bytes(tok.template.encode("utf-8")),
        },
        "generation": config.evaluation.generation.model_dump(mode="json"),
        "evaluation": config.evaluation.model_dump(mode="json"),
        "environment": {
            "versions": ev.versions(),
            "device": device,
            "world_size": int(state.num_processes),
            "distributed_type": str(state.distributed_type),
            **ev.python_info(),
        },
        "output": {"path": ev.relpath(root, out_dir / FINAL_DIR), "checkpoints": ev.relpath(root, out_dir)},
        "logging": {"kind": config.logging,
                    "path": ev.relpath(root, log_dir(config, out_dir)) if config.logging != "none" else None},
    }


LOGS_DIR = "logs"


def log_dir(config: RunConfig, out_dir: Path) -> Path:
    """Where the experiment tracker writes: inside the run's output folder, one per run id."""
    return out_dir / LOGS_DIR / config.logging


def _point_tracker_at(config: RunConfig, out_dir: Path) -> None:
    """Aim transformers' tracker callback at the run's own log folder.

    The callbacks read their location from the environment only, and this
    process is the run, so setting it here scopes it to the run. MLflow gets
    a file store: no server, nothing leaves the machine.
    """
    if config.logging == "tensorboard":
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(log_dir(config, out_dir))
    elif config.logging == "mlflow":
        os.environ["MLFLOW_TRACKING_URI"] = log_dir(config, out_dir).resolve().as_uri()
        os.environ["MLFLOW_EXPERIMENT_NAME"] = config.ticket
        # MLflow 3 refuses the file store unless asked; a database backend
        # would need a server or SQLAlchemy, and the point here is plain files.
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"


# ------------------------------------------------------------------ the run


@dataclass
class _Run:
    """What every step of one training run shares, set up once."""

    config: RunConfig
    recorder: ev.RunRecorder
    out_dir: Path
    state: Any  # accelerate.PartialState
    tok: TokenizerInfo
    prepared: Any  # datasets.DatasetDict
    examples: list[Any]  # evaluate.HeldOut
    trainer: Any  # trl SFTTrainer / DPOTrainer
    # FSDP and DeepSpeed shard the weights: generate() must run on every rank.
    synced: bool
    timings: dict[str, float] = field(default_factory=dict)

    def generate(self) -> list[Any]:
        from ftgate.train import evaluate as evl

        return evl.generate(self.trainer.model, self.tok.tokenizer, self.examples, self.config.evaluation.generation,
                            seed=self.config.seed, stop_ids=self.tok.generation_eos_ids, synced=self.synced)


def _train_and_record(config: RunConfig, recorder: ev.RunRecorder, out_dir: Path, state: Any, *,
                      resume: bool, report: Reporter) -> bool:
    from transformers import set_seed

    set_seed(config.seed)
    run = _set_up(config, recorder, out_dir, state)
    checkpoint = _last_checkpoint(out_dir) if resume else None
    run_state = _baseline(run, checkpoint, resume=resume)
    _train(run, checkpoint)
    changed, result_loss, tuned_gen = _evaluate_tuned(run, run_state)
    metrics, passed = _write_evidence(run, run_state, result_loss, tuned_gen, changed, checkpoint)
    if state.is_main_process:
        _report_summary(recorder, metrics, report)
    return passed


def _set_up(config: RunConfig, recorder: ev.RunRecorder, out_dir: Path, state: Any) -> _Run:
    from ftgate.train import evaluate as evl
    from ftgate.train.data.prepare import load_prepared
    from ftgate.train.data.tokenizer import tokenizer_info

    tok = tokenizer_info(config)
    prepared = load_prepared(config)
    examples = evl.held_out_examples(prepared["eval_generation"], limit=config.evaluation.max_examples)
    if not examples:
        raise FtgateError("the prepared held-out set is empty; nothing to evaluate on",
                          hint="add rows to data.eval and run `ftgate data prepare` again")
    trainer = _build_trainer(config, tok.tokenizer, prepared, out_dir, recorder.root)
    recorder.update(parameters=ev.parameter_counts(trainer.model))
    base = dict(recorder.data.get("base_model") or {})
    if "revision" in base and base["revision"] is None:
        # A hub model is pinned by the commit it was loaded from.
        base["revision"] = getattr(trainer.model.config, "_commit_hash", None) or "unknown"
        recorder.update(base_model=base)
    synced = state.num_processes > 1 and str(state.distributed_type).rsplit(".", 1)[-1] in ("FSDP", "DEEPSPEED")
    return _Run(config, recorder, out_dir, state, tok, prepared, examples, trainer, synced)


def _baseline(run: _Run, checkpoint: Path | None, *, resume: bool) -> RunState:
    """The base model's numbers, measured once per run and reused on resume.

    Measured on the model TRL is about to train: before step one it is the
    base model (a new LoRA adapter adds exactly zero), evaluated with the
    same prompts, template and generation settings as the result.
    """
    state_path = run.out_dir / STATE_FILE
    run_state = _read_state(state_path) if resume else None
    if resume and (run_state is None or checkpoint is None):
        raise FtgateError(
            f"{run.recorder.run_id} has no complete checkpoint under {run.out_dir} to resume from",
            hint="start a new run without --resume",
        )
    if run_state is not None:
        # The baseline a resumed run reuses must be the one this run measured.
        recorded = (run.recorder.data.get("baseline_state") or {}).get("sha256")
        if recorded != hashing.sha256_file(state_path):
            raise FtgateError(
                f"{state_path.name} under {run.out_dir} is not the baseline {run.recorder.run_id} recorded",
                hint="start a new run without --resume",
            )
    if run_state is None:
        t0 = time.perf_counter()
        base_loss = _eval_loss(run)
        base_gen = run.generate()
        run_state = RunState(
            baseline_eval=base_loss,
            baseline_outputs=[o.__dict__ for o in base_gen],
            trainable_before=ev.trainable_fingerprint(run.trainer.model),
            baseline_seconds=time.perf_counter() - t0,
        )
        if run.state.is_main_process:
            rec.write_json(state_path, run_state.model_dump(mode="json"))
            run.recorder.update(baseline_state={"path": ev.relpath(run.recorder.root, state_path),
                                                "sha256": hashing.sha256_file(state_path)})
    run.timings["baseline_s"] = float(run_state.baseline_seconds)
    return run_state


def _train(run: _Run, checkpoint: Path | None) -> None:
    t0, cpu0 = time.perf_counter(), time.process_time()
    run.trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    run.timings["train_s"] = time.perf_counter() - t0
    # CPU time as well: on a shared machine it shows ftgate's own overhead
    # where wall time mostly shows the neighbours.
    run.timings["train_cpu_s"] = time.process_time() - cpu0


def _evaluate_tuned(run: _Run, run_state: RunState) -> tuple[dict[str, Any], dict[str, float], list[Any]]:
    t0 = time.perf_counter()
    changed = ev.weights_change(run_state.trainable_before, ev.trainable_fingerprint(run.trainer.model))
    if not changed["changed"]:
        raise FtgateError("training finished but no trainable weight changed; the run proves nothing",
                          hint="check learning_rate, max_steps and that the data has trained tokens")
    result_loss = _eval_loss(run)
    tuned_gen = run.generate()
    run.timings["evaluation_s"] = time.perf_counter() - t0
    return changed, result_loss, tuned_gen


def _eval_loss(run: _Run) -> dict[str, float]:
    """TRL's held-out loss metrics, plus per-pair preference counts for DPO.

    GRPO has no held-out loss to speak of; its held-out measure is the reward.
    """
    if run.config.objective == "grpo":
        return {}
    out = dict(run.trainer.evaluate(metric_key_prefix="eval"))
    if run.config.objective == "dpo":
        from ftgate.train import evaluate as evl

        out.update(evl.preference_counts(run.trainer, run.prepared["eval"]))
    return out


def _score(run: _Run, run_state: RunState, result_loss: dict[str, float],
           tuned_gen: list[Any]) -> tuple[dict[str, MetricValue], dict[str, MetricValue], list[Any]]:
    """Baseline and result on the same metrics, and every criterion decided from them."""
    from ftgate.evidence.metrics import decide_all
    from ftgate.train import evaluate as evl

    ecfg, n_eval = run.config.evaluation, len(run.prepared["eval"])
    base_gen = [evl.Generation(**o) for o in run_state.baseline_outputs]
    baseline = evl.score(ecfg, run.examples, base_gen)
    baseline.update(evl.loss_metrics(run_state.baseline_eval, n=n_eval, objective=run.config.objective,
                                     confidence=ecfg.confidence))
    result = evl.score(ecfg, run.examples, tuned_gen)
    result.update(evl.loss_metrics(result_loss, n=n_eval, objective=run.config.objective,
                                   confidence=ecfg.confidence))
    if run.config.objective == "grpo":
        from ftgate.train import grpo

        baseline.update(grpo.reward_metrics(grpo.scores(run.config, run.recorder.root, run.examples, base_gen)))
        result.update(grpo.reward_metrics(grpo.scores(run.config, run.recorder.root, run.examples, tuned_gen)))
    decisions = decide_all(run.config.success_criteria, baseline, result, min_n=ecfg.min_n)
    return baseline, result, decisions


def _write_evidence(run: _Run, run_state: RunState, result_loss: dict[str, float], tuned_gen: list[Any],
                    changed: dict[str, Any], checkpoint: Path | None) -> tuple[dict[str, Any], bool]:
    """Save the weights, then every evidence file, then ``Completed`` last of all."""
    from ftgate.evidence.metrics import delta
    from ftgate.evidence.recompute import BASELINE_MARK, generation_rows
    from ftgate.train import evaluate as evl
    from ftgate.train.plot import loss_plot_png

    t0 = time.perf_counter()
    config, recorder, main = run.config, run.recorder, run.state.is_main_process
    final = run.out_dir / FINAL_DIR
    run.trainer.save_model(str(final))
    run.state.wait_for_everyone()

    baseline, result, decisions = _score(run, run_state, result_loss, tuned_gen)
    ecfg = config.evaluation
    metrics = {
        "run_id": recorder.run_id,
        "min_n": ecfg.min_n,
        "confidence": ecfg.confidence,
        "specs": {m.name: m.model_dump(mode="json") for m in ecfg.metrics},
        "baseline": {k: v.as_dict() for k, v in baseline.items()},
        "result": {k: v.as_dict() for k, v in result.items()},
        "delta": {k: delta(k, baseline[k].value if k in baseline else None, v.value) for k, v in result.items()},
        "criteria_config": [c.model_dump(mode="json") for c in config.success_criteria],
        "criteria": [d.as_dict() for d in decisions],
    }
    base_gen = [evl.Generation(**o) for o in run_state.baseline_outputs]
    samples = evl.sample_rows(run.examples, base_gen, tuned_gen, ecfg.samples)
    generations = generation_rows([e.prompt for e in run.examples], [e.expected for e in run.examples],
                                  {"baseline": [g.__dict__ for g in base_gen],
                                   "tuned": [g.__dict__ for g in tuned_gen]})
    history = list(run.trainer.state.log_history)
    metrics["anomalies"] = _anomalies(history, baseline, result)
    png = loss_plot_png(
        history,
        title=f"{recorder.run_id} ({config.objective}, {config.strategy})",
        baseline={k: v.value for k, v in baseline.items()},
        result={k: v.value for k, v in result.items()},
    ) if main else b""
    files: dict[str, str | bytes] = {
        rec.METRICS_JSON: rec.dump_json(metrics),
        rec.SAMPLES_JSONL: ev.jsonl(samples),
        rec.GENERATIONS_JSONL: ev.jsonl(generations),
        rec.LOG_HISTORY_JSON: rec.dump_json([{**run_state.baseline_eval, "step": 0, BASELINE_MARK: True},
                                             *history]),
        rec.LOSS_PNG: png,
    }
    if config.objective == "grpo":
        files.update(_grpo_files(run, base_gen, tuned_gen, history, metrics) if main else {})
    artifacts = recorder.write_artifacts(files)
    output = recorder.record().output.model_dump(mode="json", exclude_none=True)
    output.update(
        sha256=hashing.sha256_tree(final) if main else None,
        kind="adapter" if config.strategy in ("lora", "qlora") else "full",
        resumed_from=str(checkpoint.name) if checkpoint else None,
    )
    run.timings["evidence_s"] = time.perf_counter() - t0
    recorder.complete(artifacts, output=output, weights_changed=changed, timings=run.timings,
                      anomalies=metrics["anomalies"], steps=int(run.trainer.state.global_step))
    if main:
        from ftgate.evidence.statement import write_statement

        # Last of all: the statement lists every file, run.json included.
        write_statement(recorder.path, recorder.data, key=signing_key(recorder.root))
    return metrics, all(d.decision == "Passed" for d in decisions)


def _grpo_files(run: _Run, base_gen: list[Any], tuned_gen: list[Any], history: list[dict[str, Any]],
                metrics: dict[str, Any]) -> dict[str, str | bytes]:
    from ftgate.train import grpo

    root = run.recorder.root
    base_scores = grpo.scores(run.config, root, run.examples, base_gen)
    tuned_scores = grpo.scores(run.config, root, run.examples, tuned_gen)
    curve = grpo.reward_curve(history)
    return {
        grpo.GENERATIONS_JSONL: ev.jsonl(grpo.generation_rows(run.examples, base_gen, tuned_gen,
                                                               base_scores, tuned_scores)),
        grpo.REWARD_CURVE_JSON: rec.dump_json(curve),
        "reward.png": grpo.reward_plot_png(curve, title=f"{run.recorder.run_id} (grpo) reward",
                                           baseline=metrics["baseline"]["reward_mean"]["value"],
                                           result=metrics["result"]["reward_mean"]["value"]),
    }




def _anomalies(history: list[dict[str, Any]], baseline: dict[str, MetricValue],
               result: dict[str, MetricValue]) -> list[str]:
    """Things a reviewer should look at even when every criterion passed."""
    out: list[str] = []
    bad = [h["step"] for h in history if any(isinstance(h.get(k), float) and not math.isfinite(h[k])
                                             for k in ("loss", "eval_loss", "grad_norm"))]
    if bad:
        out.append(f"non-finite loss or gradient norm at step(s) {', '.join(map(str, bad[:5]))}")
    base_loss = baseline["eval_loss"].value if "eval_loss" in baseline else None
    res_loss = result["eval_loss"].value if "eval_loss" in result else None
    if base_loss is not None and res_loss is not None and res_loss > base_loss:
        out.append(f"held-out loss rose from {base_loss:.4f} to {res_loss:.4f}")
    eos = result["eos_rate"].value if "eos_rate" in result else None
    if eos is not None and eos < 0.5:
        out.append(f"only {eos:.0%} of tuned outputs stopped on EOS; the rest ran out of max_new_tokens")
    return out


def _build_trainer(config: RunConfig, tokenizer: Any, prepared: Any, out_dir: Path, root: Path) -> Any:
    from transformers import AutoModelForCausalLM

    from ftgate.train.config import quantization_config

    kwargs = trainer_kwargs(config)
    kwargs["output_dir"] = str(out_dir)
    _point_tracker_at(config, out_dir)
    kwargs["disable_tqdm"] = False
    from ftgate.train.config import model_load_kwargs

    where, _ = config.base_model()
    quant = quantization_config(config)
    load = model_load_kwargs(config)
    if quant:
        load["quantization_config"] = quant
    model = AutoModelForCausalLM.from_pretrained(where, **load)
    common = {
        "model": model,
        "train_dataset": prepared["train"],
        "eval_dataset": prepared["eval"],
        "processing_class": tokenizer,
        "peft_config": peft_config(config),
    }
    if config.objective == "sft":
        from trl import SFTConfig, SFTTrainer  # type: ignore[attr-defined]

        return SFTTrainer(args=SFTConfig(**kwargs), **common)
    if config.objective == "grpo":
        from ftgate.train import grpo

        return grpo.build_trainer(config, model, tokenizer, out_dir, kwargs, root)
    from trl import DPOConfig, DPOTrainer  # type: ignore[attr-defined]

    # ref_model=None: with PEFT the reference is the base model with the
    # adapter disabled; for full training TRL copies the model.
    return DPOTrainer(args=DPOConfig(**kwargs), ref_model=None, **common)


def _last_checkpoint(out_dir: Path) -> Path | None:
    """The newest checkpoint that finished writing: trainer_state.json is saved last."""
    if not out_dir.is_dir():
        return None
    found = []
    for path in out_dir.glob("checkpoint-*"):
        suffix = path.name.split("-", 1)[1]
        if suffix.isdigit() and _complete_checkpoint(path):
            found.append((int(suffix), path))
    return max(found)[1] if found else None


def _complete_checkpoint(path: Path) -> bool:
    # A process killed while the trainer writes its state leaves the file
    # present but cut short; resuming from it would crash, so such a
    # checkpoint counts as never written and the one before it is used.
    try:
        state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(state, dict) and isinstance(state.get("global_step"), int)


def _read_state(path: Path) -> RunState | None:
    """The saved baseline; None when the run never got that far."""
    try:
        return load_record(RunState, path)
    except FileNotFoundError:
        return None


def _write_report(recorder: ev.RunRecorder, config: RunConfig, ticket_path: Path) -> None:
    from ftgate.evidence.verify import requirements_criteria
    from ftgate.train.report import update_report

    metrics = samples = None
    if recorder.record().status == rec.STATUS_COMPLETED:
        metrics = rec.read_json(recorder.path / rec.METRICS_JSON)
        lines = (recorder.path / rec.SAMPLES_JSONL).read_text(encoding="utf-8").splitlines()
        samples = [json.loads(line) for line in lines if line.strip()]
    from ftgate.workflow.fileio import ticket_lock

    report = ticket_path / rec.REPORT_FILE
    criteria = requirements_criteria(ticket_path / rec.REQUIREMENTS_FILE)
    with ticket_lock(ticket_path):
        update_report(report, run=recorder.data, metrics=metrics, samples=samples or (),
                      criteria_in_requirements=criteria)


def _report_summary(recorder: ev.RunRecorder, metrics: dict[str, Any], report: Reporter) -> None:
    report(f"\n{recorder.run_id}: evidence in {recorder.path}")
    for name, value in metrics["result"].items():
        base = metrics["baseline"][name]["value"] if name in metrics["baseline"] else None
        res = value["value"]
        report(f"  {name:<24} baseline {_f(base):>10}  result {_f(res):>10}  "
               f"delta {_f(metrics['delta'].get(name), True):>10}")
    for d in metrics["criteria"]:
        report(f"  {d['id']}: {d['decision']} ({d['reason']})")
    timings = recorder.record().timings
    if timings:
        report("  time: " + ", ".join(f"{k[:-2]} {v:.1f}s" for k, v in timings.items() if "cpu" not in k))


def _f(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


# Quiet a library warning flood that says nothing about the run.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
