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
import os
import signal
import time
from pathlib import Path
from typing import Any

from ftgate.errors import EXIT_FINDINGS, EXIT_OK, FtgateError
from ftgate.evidence import record as rec
from ftgate.train import evidence as ev
from ftgate.train.config import RunConfig, check_strategy_supported, load_config, peft_config, trainer_kwargs

STATE_FILE = "ftgate-run-state.json"
FINAL_DIR = "final"


def run_training(config_path: Path, *, resume: bool) -> int:
    """Run one training config end to end; 0 when every criterion passed, 1 otherwise."""
    config_path = Path(config_path)
    config = load_config(config_path)
    check_strategy_supported(config)
    root = rec.find_repo_root(config_path)
    ticket_path = rec.ticket_dir(root, config.ticket)
    _refuse_stale_data(config, config_path)
    # A metric that cannot load would fail only after training; fail now.
    from ftgate.train.metrics import Scorer

    for spec in config.evaluation.metrics:
        Scorer(spec)

    from accelerate import PartialState

    state = PartialState()
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
    recorder.start(_provenance(config, config_path, root, out_dir, state), resumed=resume)
    if main:
        _write_report(recorder, config, ticket_path)
    previous = signal.getsignal(signal.SIGTERM)
    # `accelerate launch` and schedulers stop workers with SIGTERM; turn it
    # into an exception so the run is recorded Failed rather than vanishing.
    if previous in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        passed = _train_and_record(config, recorder, out_dir, state, resume=resume)
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
    from ftgate.train.data import verify_manifest

    changes = verify_manifest(config)
    if changes:
        raise FtgateError(
            "the prepared data no longer matches what it was prepared from:\n  - " + "\n  - ".join(changes),
            hint=f"run `ftgate data prepare {config_path}`, then train again",
        )


def _refuse_changed_inputs_on_resume(recorder: ev.RunRecorder, config: RunConfig, root: Path) -> None:
    """A resumed run must be the same run: same config, same source."""
    recorded = recorder.data.get("config") or {}
    if recorded.get("resolved_sha256") != config.config_hash():
        raise FtgateError(
            f"{recorder.run_id} was started with a different config; resuming would mix two runs",
            hint="start a new run without --resume",
        )
    before = (recorder.data.get("source") or {}).get("files")
    now = rec.source_hashes(root)
    if before is not None and now is not None and rec.combine_hashes(now) != rec.combine_hashes(before):
        changed, added, removed = rec.diff_hashes(before, now)
        raise FtgateError(
            f"the source changed since {recorder.run_id} started ({', '.join((changed + added + removed)[:6])})",
            hint="start a new run without --resume",
        )


def _provenance(config: RunConfig, config_path: Path, root: Path, out_dir: Path, state: Any) -> dict[str, Any]:
    """Everything about the inputs, hashed before training touches anything."""
    from ftgate.train.data import MANIFEST_NAME, read_manifest, tokenizer_info

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
    manifest = read_manifest(config) or {}
    import torch

    device = "cpu"
    if torch.cuda.is_available() and not trainer_kwargs(config)["use_cpu"]:
        device = f"cuda ({torch.cuda.get_device_name(0)})"
    return {
        "planned_run": config.run_id,
        "purpose": config.purpose,
        "ticket": config.ticket,
        "git": {"commit": rec.git_commit(root), "dirty": rec.git_dirty(root)},
        "source": {"hash": rec.combine_hashes(sources) if sources is not None else None, "files": sources},
        "config": {
            "path": ev.relpath(root, config_path),
            "sha256": rec.sha256_file(config_path),
            "resolved": config.model_dump(mode="json"),
            "resolved_sha256": config.config_hash(),
        },
        "inputs": inputs,
        "data_manifest": {k: v for k, v in manifest.items() if k != "template"},
        "data_manifest_sha256": rec.sha256_file(manifest_path),
        "seed": config.seed,
        "tokenizer": {
            "source": config.model.base,
            "files_sha256": tok.files_sha256,
            "sha256": tok.files_sha256,
            "template_source": config.template,
            "template_sha256": rec.sha256_bytes(tok.template.encode("utf-8")),
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
    }


# ------------------------------------------------------------------ the run


def _train_and_record(config: RunConfig, recorder: ev.RunRecorder, out_dir: Path, state: Any, *,
                      resume: bool) -> bool:
    from transformers import set_seed

    from ftgate.train import evaluate as evl
    from ftgate.train.data import load_prepared, tokenizer_info
    from ftgate.train.metrics import decide_all, delta

    timings: dict[str, float] = {}
    set_seed(config.seed)
    tok = tokenizer_info(config)
    tokenizer = tok.tokenizer
    prepared = load_prepared(config)
    examples = evl.held_out_examples(prepared["eval_generation"], limit=config.evaluation.max_examples)
    if not examples:
        raise FtgateError("the prepared held-out set is empty; nothing to evaluate on",
                          hint="add rows to data.eval and run `ftgate data prepare` again")

    trainer = _build_trainer(config, tokenizer, prepared, out_dir)
    model = trainer.model
    recorder.update(parameters=ev.parameter_counts(model))
    gen = config.evaluation.generation
    synced = state.num_processes > 1 and str(state.distributed_type).rsplit(".", 1)[-1] in ("FSDP", "DEEPSPEED")
    state_path = out_dir / STATE_FILE
    n_eval = len(prepared["eval"])

    # Baseline first, on the model TRL is about to train: before step one it
    # is the base model (a new LoRA adapter adds exactly zero), evaluated with
    # the same prompts, template and generation settings as the result.
    run_state = _read_state(state_path) if resume else None
    checkpoint = _last_checkpoint(out_dir) if resume else None
    if resume and (run_state is None or checkpoint is None):
        raise FtgateError(
            f"{recorder.run_id} has no complete checkpoint under {out_dir} to resume from",
            hint="start a new run without --resume",
        )
    if run_state is None:
        t0 = time.perf_counter()
        base_loss = trainer.evaluate(metric_key_prefix="eval")
        base_gen = evl.generate(model, tokenizer, examples, gen, seed=config.seed,
                                stop_ids=tok.generation_eos_ids, synced=synced)
        run_state = {
            "baseline_eval": base_loss,
            "baseline_outputs": [o.__dict__ for o in base_gen],
            "trainable_before": ev.trainable_fingerprint(model),
            "baseline_seconds": time.perf_counter() - t0,
        }
        if state.is_main_process:
            rec.write_json(state_path, run_state)
    timings["baseline_s"] = float(run_state["baseline_seconds"])
    base_gen = [evl.Generation(**o) for o in run_state["baseline_outputs"]]

    t0, cpu0 = time.perf_counter(), time.process_time()
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    timings["train_s"] = time.perf_counter() - t0
    # CPU time as well: on a shared machine it shows ftgate's own overhead
    # where wall time mostly shows the neighbours.
    timings["train_cpu_s"] = time.process_time() - cpu0

    t0 = time.perf_counter()
    changed = ev.weights_change(run_state["trainable_before"], ev.trainable_fingerprint(model))
    if not changed["changed"]:
        raise FtgateError("training finished but no trainable weight changed; the run proves nothing",
                          hint="check learning_rate, max_steps and that the data has trained tokens")
    result_loss = trainer.evaluate(metric_key_prefix="eval")
    tuned_gen = evl.generate(model, tokenizer, examples, gen, seed=config.seed,
                                stop_ids=tok.generation_eos_ids, synced=synced)
    timings["evaluation_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    final = out_dir / FINAL_DIR
    trainer.save_model(str(final))
    state.wait_for_everyone()

    ecfg = config.evaluation
    baseline = evl.score(ecfg, examples, base_gen)
    baseline.update(evl.loss_metrics(run_state["baseline_eval"], n=n_eval, objective=config.objective,
                                     confidence=ecfg.confidence))
    result = evl.score(ecfg, examples, tuned_gen)
    result.update(evl.loss_metrics(result_loss, n=n_eval, objective=config.objective, confidence=ecfg.confidence))
    decisions = decide_all(config.success_criteria, baseline, result, min_n=ecfg.min_n)
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
    samples = evl.sample_rows(examples, base_gen, tuned_gen, ecfg.samples)
    history = list(trainer.state.log_history)
    metrics["anomalies"] = _anomalies(history, metrics)
    from ftgate.train.plot import loss_plot_png

    png = loss_plot_png(
        history,
        title=f"{recorder.run_id} ({config.objective}, {config.strategy})",
        baseline={k: v.value for k, v in baseline.items()},
        result={k: v.value for k, v in result.items()},
    ) if state.is_main_process else b""
    artifacts = recorder.write_artifacts({
        rec.METRICS_JSON: rec.dump_json(metrics),
        rec.SAMPLES_JSONL: ev.jsonl(samples),
        rec.LOG_HISTORY_JSON: rec.dump_json(history),
        rec.LOSS_PNG: png,
    })
    output = dict(recorder.data.get("output") or {})
    output.update(
        sha256=rec.sha256_tree(final) if state.is_main_process else None,
        kind="adapter" if config.strategy in ("lora", "qlora") else "full",
        resumed_from=str(checkpoint.name) if checkpoint else None,
    )
    timings["evidence_s"] = time.perf_counter() - t0
    recorder.complete(artifacts, output=output, weights_changed=changed, timings=timings,
                      anomalies=metrics["anomalies"], steps=int(trainer.state.global_step))
    if state.is_main_process:
        _print_summary(recorder, metrics)
    self_passed = all(d.decision == "Passed" for d in decisions)
    return self_passed


def _anomalies(history: list[dict[str, Any]], metrics: dict[str, Any]) -> list[str]:
    """Things a reviewer should look at even when every criterion passed."""
    import math

    out: list[str] = []
    bad = [h["step"] for h in history if any(isinstance(h.get(k), float) and not math.isfinite(h[k])
                                             for k in ("loss", "eval_loss", "grad_norm"))]
    if bad:
        out.append(f"non-finite loss or gradient norm at step(s) {', '.join(map(str, bad[:5]))}")
    base_loss = (metrics["baseline"].get("eval_loss") or {}).get("value")
    res_loss = (metrics["result"].get("eval_loss") or {}).get("value")
    if base_loss is not None and res_loss is not None and res_loss > base_loss:
        out.append(f"held-out loss rose from {base_loss:.4f} to {res_loss:.4f}")
    eos = (metrics["result"].get("eos_rate") or {}).get("value")
    if eos is not None and eos < 0.5:
        out.append(f"only {eos:.0%} of tuned outputs stopped on EOS; the rest ran out of max_new_tokens")
    return out


def _build_trainer(config: RunConfig, tokenizer: Any, prepared: Any, out_dir: Path) -> Any:
    from transformers import AutoModelForCausalLM

    from ftgate.train.config import quantization_config

    kwargs = trainer_kwargs(config)
    kwargs["output_dir"] = str(out_dir)
    kwargs["disable_tqdm"] = False
    where, _ = config.base_model()
    quant = quantization_config(config)
    model = AutoModelForCausalLM.from_pretrained(where, **({"quantization_config": quant} if quant else {}))
    common = {
        "model": model,
        "train_dataset": prepared["train"],
        "eval_dataset": prepared["eval"],
        "processing_class": tokenizer,
        "peft_config": peft_config(config),
    }
    if config.objective == "sft":
        from trl import SFTConfig, SFTTrainer

        return SFTTrainer(args=SFTConfig(**kwargs), **common)
    from trl import DPOConfig, DPOTrainer

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
        if suffix.isdigit() and (path / "trainer_state.json").is_file():
            found.append((int(suffix), path))
    return max(found)[1] if found else None


def _read_state(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def _write_report(recorder: ev.RunRecorder, config: RunConfig, ticket_path: Path) -> None:
    from ftgate.evidence.verify import requirements_criteria
    from ftgate.train.report import update_report

    metrics = samples = None
    if recorder.data.get("status") == rec.STATUS_COMPLETED:
        metrics = rec.read_json(recorder.path / rec.METRICS_JSON)
        lines = (recorder.path / rec.SAMPLES_JSONL).read_text(encoding="utf-8").splitlines()
        samples = [json.loads(line) for line in lines if line.strip()]
    from ftgate.workflow.fileio import ticket_lock

    report = ticket_path / rec.REPORT_FILE
    criteria = requirements_criteria(ticket_path / rec.REQUIREMENTS_FILE)
    with ticket_lock(ticket_path):
        update_report(report, run=recorder.data, metrics=metrics, samples=samples or (),
                      criteria_in_requirements=criteria)


def _print_summary(recorder: ev.RunRecorder, metrics: dict[str, Any]) -> None:
    import click

    click.echo(f"\n{recorder.run_id}: evidence in {recorder.path}")
    for name, value in metrics["result"].items():
        base = (metrics["baseline"].get(name) or {}).get("value")
        res = value.get("value")
        click.echo(f"  {name:<24} baseline {_f(base):>10}  result {_f(res):>10}  delta {_f(metrics['delta'].get(name), True):>10}")
    for d in metrics["criteria"]:
        click.echo(f"  {d['id']}: {d['decision']} ({d['reason']})")
    timings = recorder.data.get("timings") or {}
    if timings:
        click.echo("  time: " + ", ".join(f"{k[:-2]} {v:.1f}s" for k, v in timings.items() if "cpu" not in k))


def _f(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


# Quiet a library warning flood that says nothing about the run.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
