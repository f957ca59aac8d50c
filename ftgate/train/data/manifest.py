"""``manifest.json``: what a preparation was made from, and whether it still matches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ftgate.errors import FtgateError
from ftgate.evidence.schema import DataManifest, load_record
from ftgate.hashing import sha256_text
from ftgate.train.config import RunConfig
from ftgate.train.data.load import source_digest
from ftgate.train.data.outputs import SplitOutcome
from ftgate.train.data.rows import SplitRows
from ftgate.train.data.tokenizer import TokenizerInfo, tokenizer_info
from ftgate.train.evidence import versions

MANIFEST_NAME = "manifest.json"


MANIFEST_VERSION = 1
# What decides how text becomes the prepared tokens (the trainer's run.json
# records its own, wider list).
MANIFEST_PACKAGES = ("ftgate", "transformers", "tokenizers", "datasets", "trl")


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Indented, key-sorted JSON ending in a newline: diff-friendly and deterministic."""
    text = json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")


def _token(tokenizer: Any, attr: str) -> dict[str, Any]:
    return {"token": getattr(tokenizer, attr), "id": getattr(tokenizer, f"{attr}_id")}


def build_manifest(
    config: RunConfig,
    tok: TokenizerInfo,
    splits: dict[str, SplitRows],
    outcome: dict[str, SplitOutcome],
    results: list[Any],
) -> dict[str, Any]:
    t = tok.tokenizer
    return {
        "manifest_version": MANIFEST_VERSION,
        "run_id": config.run_id,
        "ticket": config.ticket,
        "objective": config.objective,
        "format": config.data.format,
        "config": {
            "file": config.source.name if config.source else None,
            "sha256": config.config_hash(),
            "preparation_sha256": config.preparation_hash(),
        },
        "sources": {
            name: [{"path": f.path, "sha256": f.sha256, "rows": f.rows} for f in split.files]
            for name, split in splits.items()
        },
        "rows": {
            name: {"read": o.read, "kept": o.kept, "dropped": o.dropped, "truncated": o.truncated}
            for name, o in outcome.items()
        },
        "tokens": {name: {"total": o.tokens_total, "trained": o.tokens_trained} for name, o in outcome.items()},
        "tokenizer": {
            "source": config.model.base,
            "files_sha256": tok.files_sha256,
            "class": type(t).__name__,
            "bos": _token(t, "bos_token"),
            "eos": _token(t, "eos_token"),
            "pad": _token(t, "pad_token"),
            "padding_side": t.padding_side,
            "generation_eos_ids": tok.generation_eos_ids,
            "eos_appended_to_targets": {name: o.eos_appended for name, o in outcome.items()},
        },
        "template": {"source": tok.template_source, "sha256": sha256_text(tok.template), "text": tok.template},
        "max_length": config.max_length,
        "truncation_mode": "keep_start",
        "packing": config.packing,
        "prepared": {
            "dir": config.data.prepared_dir,
            "splits": {name: {"rows": o.kept, "sha256": o.sha256} for name, o in outcome.items()},
        },
        "checks": [r.summary_dict() for r in results],
        "passed": all(r.passed for r in results),
        "versions": versions(MANIFEST_PACKAGES),
    }


def read_manifest(config: RunConfig) -> DataManifest | None:
    """The manifest of the prepared data, validated; ``None`` when none was written yet."""
    path = config.prepared_dir() / MANIFEST_NAME
    try:
        return load_record(DataManifest, path)
    except FileNotFoundError:
        return None
    except FtgateError as exc:
        raise FtgateError(
            f"{path}: cannot read the manifest: {exc.message}", hint="run `ftgate data prepare` again"
        ) from None


def verify_manifest(config: RunConfig) -> list[str]:
    """What changed since ``ftgate data prepare`` wrote the manifest; empty when nothing did.

    Compares data files, the preparation-relevant part of the config, the
    tokenizer files and the chat template, and refuses a preparation whose
    checks failed.
    """
    where = config.prepared_dir() / MANIFEST_NAME
    try:
        manifest = read_manifest(config)
    except FtgateError as exc:
        # An older manifest is a different shape; say which, before blaming a key.
        if _written_version(where) != MANIFEST_VERSION:
            return [f"{where} was written by another manifest version; prepare again"]
        return [exc.message]
    if manifest is None:
        return [f"no manifest at {where}; run `ftgate data prepare` first"]
    changes: list[str] = []
    if manifest.manifest_version != MANIFEST_VERSION:
        return [f"{where} was written by another manifest version; prepare again"]
    if manifest.config.preparation_sha256 != config.preparation_hash():
        changes.append(
            "config: a setting that shapes the prepared data changed "
            "(data, template, model, max_length, packing or checks)"
        )
    for name in ("train", "eval"):
        written = config.data.train if name == "train" else config.data.eval
        recorded = {s.path: s.sha256 for s in manifest.sources.get(name, [])}
        if list(recorded) != list(written):
            changes.append(f"data.{name}: the file list changed ({', '.join(recorded)} -> {', '.join(written)})")
            continue
        for as_written in written:
            digest = source_digest(config, as_written)
            if digest is None:
                changes.append(f"data.{name}: {as_written} is missing")
            elif digest != recorded[as_written]:
                changes.append(f"data.{name}: {as_written} changed since preparation")
    try:
        tok = tokenizer_info(config)
    except FtgateError as err:
        changes.append(f"tokenizer: {err.message}")
    else:
        if tok.files_sha256 != manifest.tokenizer.files_sha256:
            changes.append(f"tokenizer: files of {config.model.base} changed")
        if sha256_text(tok.template) != manifest.template.sha256:
            changes.append(f"template: the chat template ({config.template}) changed")
    if not (config.prepared_dir() / "dataset").is_dir():
        changes.append(f"prepared data: {config.prepared_dir() / 'dataset'} is missing")
    if not manifest.passed:
        failed = [c.name for c in manifest.checks if c.verdict != "pass"]
        changes.append(f"checks: the last preparation failed {', '.join(failed)}; fix the data and prepare again")
    return changes


def _written_version(path: Path) -> Any:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data.get("manifest_version") if isinstance(data, dict) else None
