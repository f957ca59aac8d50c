"""``ftgate export RUN --merge --out DIR``: a run's weights as a plain model folder.

A LoRA run leaves an adapter that needs the base model and PEFT to load.
Export folds the adapter into the base weights and writes safetensors plus
the tokenizer, so ``AutoModelForCausalLM.from_pretrained(DIR)`` is all a
consumer needs. The export's file hashes go into the run's evidence folder
(``export.json``), so the weights someone deploys can be traced to the run
whose evidence passed Stage 5.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ftgate import hashing
from ftgate.errors import FtgateError
from ftgate.evidence import record as rec
from ftgate.train.config import RunConfig, config_from_dict

EXPORT_JSON = "export.json"


def _run_record(run_dir: Path) -> dict[str, Any]:
    path = run_dir / rec.RUN_JSON
    if not path.is_file():
        raise FtgateError(
            f"{run_dir}: no {rec.RUN_JSON} here; RUN is a run's evidence folder",
            hint="pass e.g. tickets/in-progress/<ticket>/evidence/RUN-001",
        )
    data: dict[str, Any] = rec.read_json(path)
    if data.get("status") != rec.STATUS_COMPLETED:
        raise FtgateError(
            f"{run_dir.name} is {data.get('status', 'not recorded')!r}, not Completed; there is nothing to export",
            hint="export a run that finished (`ftgate train CONFIG`)",
        )
    return data


def _config_of(record: dict[str, Any], root: Path) -> RunConfig:
    """The config exactly as the run used it, with paths resolved as they were."""
    config_rel = record["config"]["path"]
    return config_from_dict(record["config"]["resolved"], base_dir=(root / config_rel).parent)


def export_run(run_dir: Path, out: Path, *, merge: bool) -> dict[str, Any]:
    """Write the run's model to ``out``; return (and record) what was written."""
    run_dir = Path(run_dir).resolve()
    record = _run_record(run_dir)
    root = rec.find_repo_root(run_dir)
    config = _config_of(record, root)
    weights = root / record["output"]["path"]
    if not weights.is_dir():
        raise FtgateError(
            f"{run_dir.name}'s weights are gone: {weights} does not exist",
            hint="weights live outside git; export on the machine that trained, or restore the output folder",
        )
    if hashing.sha256_tree(weights) != record["output"]["sha256"]:
        raise FtgateError(
            f"{weights} no longer matches the hash {run_dir.name} recorded; these are not the weights that were "
            "evaluated",
            hint="restore the run's output folder, or train again",
        )
    adapter = (weights / "adapter_config.json").is_file()
    if adapter and not merge:
        raise FtgateError(
            f"{run_dir.name} trained a LoRA adapter; exporting it as a standalone model needs --merge",
            hint=f"ftgate export {run_dir} --merge --out {out}",
        )
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FtgateError(f"{out} exists and is not empty", hint="pass an empty or new folder to --out")

    from transformers import AutoModelForCausalLM, AutoTokenizer

    if adapter:
        from peft import PeftModel

        where, _ = config.base_model()
        base = AutoModelForCausalLM.from_pretrained(where)
        model = PeftModel.from_pretrained(base, str(weights)).merge_and_unload()
    else:
        model = AutoModelForCausalLM.from_pretrained(str(weights))
    # The trainer saved the tokenizer (with the template used) beside the
    # weights; the base model's is the fallback for older runs.
    tok_from = weights if (weights / "tokenizer_config.json").is_file() else config.base_model()[0]
    tokenizer = AutoTokenizer.from_pretrained(str(tok_from))
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))

    files = {p.relative_to(out).as_posix(): hashing.sha256_file(p) for p in sorted(out.rglob("*")) if p.is_file()}
    entry = {
        "run_id": record["run_id"],
        "merged": adapter,
        "source_weights": record["output"]["path"],
        "source_sha256": record["output"]["sha256"],
        "out": str(out.resolve()),
        "sha256": hashing.sha256_tree(out),
        "files": files,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    # Several exports of one run (other folders, other machines) each leave a line.
    log = run_dir / EXPORT_JSON
    previous = json.loads(log.read_text(encoding="utf-8")) if log.is_file() else {"exports": []}
    previous["exports"].append(entry)
    rec.write_json(log, previous)
    return entry
