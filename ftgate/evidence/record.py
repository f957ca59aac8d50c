"""The evidence record's layout, and the file helpers its writer and verifier share.

Core side: json and git only; every hash comes from ``ftgate.hashing``. The trainer writes these files; the
Stage 5 gate and ``ftgate ci`` read them without the `train` extra, so every
hash here must be recomputable from files alone.

Layout, inside a ticket folder::

    evidence/RUN-001/run.json          what ran, on what, where its outputs are
    evidence/RUN-001/metrics.json      baseline, result, delta, criterion decisions
    evidence/RUN-001/samples.jsonl     held-out prompts with both models' outputs
    evidence/RUN-001/log_history.json  the trainer's log history
    evidence/RUN-001/loss.png          the same, drawn
    evidence/RUN-001/generations.jsonl every held-out prompt, reference and both outputs
    evidence/RUN-001/statement.json    in-toto Statement over all of the above
    evidence/RUN-001/statement.json.sig  its SSH signature, when a key is configured
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ftgate.errors import FtgateError
from ftgate.hashing import sha256_file
from ftgate.workflow.fileio import atomic_write_text

# 2: bound to its ticket and folder, base weights hashed, every generation kept.
SCHEMA_VERSION = 2
EVIDENCE_DIR = "evidence"
RUN_JSON = "run.json"
METRICS_JSON = "metrics.json"
SAMPLES_JSONL = "samples.jsonl"
LOG_HISTORY_JSON = "log_history.json"
GENERATIONS_JSONL = "generations.jsonl"
LOSS_PNG = "loss.png"
REPORT_FILE = "training-validation-report.md"
REQUIREMENTS_FILE = "requirements.md"

RUN_ID = re.compile(r"^RUN-(\d{3,})$")

STATUS_RUNNING = "Running"
STATUS_COMPLETED = "Completed"
STATUS_FAILED = "Failed"

# ------------------------------------------------------------------ source files


def _git(root: Path, *args: str) -> str | None:
    """git's output in ``root``, or None when git fails or is missing: the
    callers then say what they could not find."""
    from ftgate import proc

    try:
        return proc.run(args, cwd=root).stdout.decode("utf-8", "surrogateescape")
    except proc.GitError:
        return None


def source_matcher(root: Path) -> Callable[[str], bool]:
    """Whether a repository path is source, by the enforcement layer's rule.

    The staleness check must call exactly the paths source that the hooks
    lock at Stage 5 and later, so it reads the same ``ftgate.yaml``. A
    malformed ``ftgate.yaml`` is an error here too, never a silent default.
    """
    from ftgate.policy.config import load_config

    return load_config(root).is_source


def source_files(root: Path) -> list[str] | None:
    """Tracked source paths under ``root`` that exist in the working tree.

    Tracked files only: untracked build outputs, virtualenvs and model
    folders come and go without changing what the code is. ``None`` outside
    git (Non-Git mode), where no source hash is recorded.
    """
    out = _git(root, "ls-files", "-z")
    if out is None:
        return None
    paths = [p for p in out.split("\0") if p]
    is_source = source_matcher(root)
    return sorted(p for p in paths if is_source(p) and (root / p).is_file())


def source_hashes(root: Path) -> dict[str, str] | None:
    paths = source_files(root)
    if paths is None:
        return None
    return {p: sha256_file(root / p) for p in paths}


def git_commit(root: Path) -> str | None:
    out = _git(root, "rev-parse", "HEAD")
    return out.strip() if out else None


def git_dirty(root: Path) -> bool | None:
    out = _git(root, "status", "--porcelain", "--untracked-files=no")
    if out is None:
        return None
    return bool(out.strip())


def diff_hashes(before: Mapping[str, str], after: Mapping[str, str]) -> tuple[list[str], list[str], list[str]]:
    """(changed, added, removed) paths between two {path: sha256} maps."""
    changed = sorted(p for p in before.keys() & after.keys() if before[p] != after[p])
    added = sorted(after.keys() - before.keys())
    removed = sorted(before.keys() - after.keys())
    return changed, added, removed


# ------------------------------------------------------------------ locations


def find_repo_root(start: Path) -> Path:
    """The repository (or Non-Git project) root holding ``tickets/``; the core's rule."""
    from ftgate.workflow.tickets import find_repo_root as core_find

    start = start.resolve()
    return core_find(start.parent if start.is_file() else start)


def ticket_dir(root: Path, ticket: str) -> Path:
    for state in ("in-progress", "done"):
        candidate = root / "tickets" / state / ticket
        if candidate.is_dir():
            return candidate
    raise FtgateError(
        f"ticket {ticket!r} has no folder under tickets/in-progress/ or tickets/done/",
        hint=f"create it with `ftgate ticket new {ticket}` or fix `ticket:` in the config",
    )


def run_dirs(ticket_path: Path) -> list[Path]:
    """Evidence run folders in run-number order."""
    base = ticket_path / EVIDENCE_DIR
    if not base.is_dir():
        return []
    runs = [p for p in base.iterdir() if p.is_dir() and RUN_ID.match(p.name)]
    return sorted(runs, key=lambda p: int(RUN_ID.match(p.name).group(1)))  # type: ignore[union-attr]


def run_number(run_id: str) -> int:
    match = RUN_ID.match(run_id)
    if not match:
        raise ValueError(f"not a run id: {run_id!r}")
    return int(match.group(1))


# ------------------------------------------------------------------ files


def dump_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False, ensure_ascii=False, default=str) + "\n"


def write_json(path: Path, value: Any) -> None:
    atomic_write_text(path, dump_json(value))


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows))


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise FtgateError(f"{path}: cannot read as JSON ({exc})") from exc
