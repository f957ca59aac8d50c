"""Stable hashes for provenance: files, folders and JSON-able values.

A manifest is only evidence if the same inputs always give the same bytes, so
everything here is order-independent of the filesystem and of dict insertion
order, and never includes times or absolute paths.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    return sha256_bytes(text.encode("utf-8"))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and fixed separators: one text per value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_json(value: Any) -> str:
    return sha256_text(canonical_json(value))


def sha256_files(files: Iterable[Path], *, root: Path) -> str:
    """One hash over several files, keyed by their path relative to ``root``.

    Names are part of the hash so that renaming a file (say, a chat template
    moving out of ``tokenizer_config.json``) is a change too.
    """
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in files):
        rel = path.relative_to(root).as_posix()
        digest.update(rel.encode("utf-8") + b"\0")
        digest.update(sha256_file(path).encode("ascii") + b"\n")
    return digest.hexdigest()


def write_json(path: Path, value: Any) -> None:
    """Write indented, key-sorted JSON ending in a newline (diff-friendly, deterministic)."""
    text = json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    Path(path).write_text(text + "\n", encoding="utf-8")
