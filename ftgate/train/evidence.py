"""Writing a run's evidence folder: claimed once, written atomically, never overwritten.

``RunRecorder`` owns ``tickets/<state>/<ticket>/evidence/RUN-NNN/``. It writes
``run.json`` as ``Running`` before any training starts, so a run killed
outright is never mistaken for a finished one; on an exception it records
``Failed``; only ``complete`` writes ``Completed``, and it does so last,
after every other file exists and is hashed into ``run.json``.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ftgate import hashing
from ftgate.errors import FtgateError
from ftgate.evidence import record as rec
from ftgate.evidence.schema import RunRecord, load_record, parse_record
from ftgate.workflow.fileio import atomic_write_bytes

VERSIONED_PACKAGES = ("python", "torch", "transformers", "trl", "peft", "datasets", "accelerate", "ftgate")


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def versions(packages: Sequence[str] = VERSIONED_PACKAGES) -> dict[str, str]:
    """Installed versions of ``packages`` ("python" is the interpreter), for a record."""
    out: dict[str, str] = {}
    for name in packages:
        if name == "python":
            out[name] = platform.python_version()
            continue
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def relpath(root: Path, path: Path) -> str:
    """Repository-relative when inside it, so the record does not name a machine's folders."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def tracked_files(root: Path) -> set[str]:
    out = rec._git(root, "ls-files", "-z")
    return {p for p in (out or "").split("\0") if p}


def input_entry(root: Path, role: str, path: Path, tracked: set[str]) -> dict[str, Any]:
    rel = relpath(root, path)
    digest = hashing.sha256_path(path)
    # A folder counts as tracked when any file under it is.
    is_tracked = rel in tracked or any(t.startswith(rel.rstrip("/") + "/") for t in tracked)
    return {"role": role, "path": rel, "sha256": digest, "tracked": is_tracked}


# ------------------------------------------------------------------ parameters


def parameter_counts(model: Any) -> dict[str, Any]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable": int(trainable), "total": int(total),
            "trainable_fraction": round(trainable / total, 6) if total else 0.0}


def trainable_fingerprint(model: Any) -> dict[str, str]:
    """sha256 per trainable tensor: enough to prove which weights moved without
    keeping a second copy of them in memory."""
    out: dict[str, str] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            out[name] = hashing.sha256_bytes(param.detach().float().cpu().contiguous().numpy().tobytes())
    return out


def weights_change(before: Mapping[str, str], after: Mapping[str, str]) -> dict[str, Any]:
    changed = sorted(n for n in before if after.get(n) != before[n])
    return {
        "changed": bool(changed),
        "tensors_changed": len(changed),
        "tensors_trainable": len(before),
        "before_sha256": hashing.combine_hashes(before),
        "after_sha256": hashing.combine_hashes(after),
        "example_changed": changed[:3],
    }


# ------------------------------------------------------------------ the recorder


@dataclass
class RunRecorder:
    ticket_path: Path
    root: Path
    run_id: str
    data: dict[str, Any] = field(default_factory=dict)
    # Non-main processes keep a recorder that writes nothing.
    writer: bool = True

    @property
    def path(self) -> Path:
        return self.ticket_path / rec.EVIDENCE_DIR / self.run_id

    @classmethod
    def claim(cls, ticket_path: Path, root: Path) -> RunRecorder:
        """Take the next free run id by creating its folder: ``mkdir`` fails if
        another process got there first, so no earlier run is ever reused."""
        base = ticket_path / rec.EVIDENCE_DIR
        base.mkdir(parents=True, exist_ok=True)
        existing = [rec.run_number(p.name) for p in rec.run_dirs(ticket_path)]
        number = max(existing, default=0) + 1
        while True:
            run_id = f"RUN-{number:03d}"
            try:
                (base / run_id).mkdir()
            except FileExistsError:
                number += 1
                continue
            return cls(ticket_path, root, run_id)

    @classmethod
    def reopen(cls, run_path: Path, root: Path) -> RunRecorder:
        data = rec.read_json(run_path / rec.RUN_JSON)
        recorder = cls(run_path.parent.parent, root, run_path.name, data)
        recorder.record()  # refuse a run.json of the wrong shape before resuming onto it
        return recorder

    def record(self) -> RunRecord:
        """The run.json kept so far, read through its schema."""
        return parse_record(RunRecord, self.data, str(self.path / rec.RUN_JSON))

    def save(self) -> None:
        if self.writer:
            rec.write_json(self.path / rec.RUN_JSON, self.data)

    def start(self, fields: Mapping[str, Any], *, resumed: bool) -> None:
        now = utc_now()
        if not resumed:
            self.data = {"schema": rec.SCHEMA_VERSION, "run_id": self.run_id, **fields,
                         "status": rec.STATUS_RUNNING, "started_at": now, "finished_at": None,
                         "attempts": []}
        else:
            self.data.update(fields)
            self.data["status"] = rec.STATUS_RUNNING
            self.data.pop("error", None)
            self.data["finished_at"] = None
            # A resumed run's artifacts are rewritten at the end; the old
            # hashes must not vouch for anything meanwhile.
            self.data.pop("artifacts", None)
        self.data.setdefault("attempts", []).append({"started_at": now, "status": rec.STATUS_RUNNING,
                                                     "resumed": resumed})
        self.save()

    def update(self, **fields: Any) -> None:
        self.data.update(fields)
        self.save()

    def fail(self, exc: BaseException) -> None:
        self.data["status"] = rec.STATUS_FAILED
        self.data["finished_at"] = utc_now()
        message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        self.data["error"] = message
        self.data["error_trace"] = traceback.format_exception(exc)[-6:]
        if self.data.get("attempts"):
            self.data["attempts"][-1].update(status=rec.STATUS_FAILED, finished_at=self.data["finished_at"],
                                             error=message)
        self.data.pop("artifacts", None)
        self.save()

    def write_artifacts(self, files: Mapping[str, bytes | str]) -> dict[str, str]:
        hashes: dict[str, str] = {}
        for name, content in files.items():
            data = content.encode("utf-8") if isinstance(content, str) else content
            if self.writer:
                atomic_write_bytes(self.path / name, data)
            hashes[name] = hashing.sha256_bytes(data)
        return hashes

    def complete(self, artifacts: Mapping[str, str], **fields: Any) -> None:
        self.data.update(fields)
        self.data["artifacts"] = dict(artifacts)
        self.data["status"] = rec.STATUS_COMPLETED
        self.data["finished_at"] = utc_now()
        if self.data.get("attempts"):
            self.data["attempts"][-1].update(status=rec.STATUS_COMPLETED, finished_at=self.data["finished_at"])
        self.save()


def find_resumable(ticket_path: Path, config_rel: str) -> Path:
    """The latest unfinished run of this config, or an error that says what to do."""
    runs = [p for p in rec.run_dirs(ticket_path) if (p / rec.RUN_JSON).is_file()]
    mine = []
    for path in runs:
        try:
            record = load_record(RunRecord, path / rec.RUN_JSON)
        except FtgateError:
            continue
        if record.config.path == config_rel:
            mine.append((path, record))
    if not mine:
        raise FtgateError(
            f"nothing to resume: no run of {config_rel} has evidence in {ticket_path.name}",
            hint="start it without --resume",
        )
    path, record = mine[-1]
    if record.status == rec.STATUS_COMPLETED:
        raise FtgateError(
            f"nothing to resume: the latest run of {config_rel}, {path.name}, completed",
            hint="start a new run without --resume",
        )
    return path


def python_info() -> dict[str, Any]:
    return {"executable_name": Path(sys.executable).name, "platform": platform.platform(terse=True),
            "cpu_count": os.cpu_count()}


def jsonl(rows: Iterable[Mapping[str, Any]]) -> str:
    import json

    return "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
