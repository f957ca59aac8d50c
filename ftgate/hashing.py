"""The one place ftgate hashes things: bytes, files, folders and JSON values.

A hash is only evidence if the same inputs always give the same digest, so
nothing here depends on the filesystem's listing order, on dict insertion
order, on times or on absolute paths. A leaf: hashlib and json only, no
torch, so the hooks, the Stage 5 verifier and the trainer all share it.

Canonical JSON, the text every JSON hash is taken over:

- keys sorted, separators ``,`` and ``:`` with no spaces, UTF-8 with
  non-ASCII characters written as themselves (not ``\\u`` escapes);
- only JSON's own values: ``dict`` with ``str`` keys, ``list``/``tuple``
  (both written as arrays), ``str``, ``int``, finite ``float``, ``bool``,
  ``None``;
- NaN, infinities, non-string keys and any other object are refused with
  :class:`CanonicalJsonError` naming where in the value they sit. JSON has
  no NaN, and a value turned into text by ``str()`` has no single spelling,
  so either would make two different values hash the same or one value
  hash two ways.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ftgate.errors import FtgateError

_CHUNK = 1 << 20

# `datasets` writes map() caches beside a saved dataset when a trainer
# tokenizes or filters it; they are derived, not inputs, and must not make
# the prepared data look changed.
_DERIVED_FILE = re.compile(r"^cache-[0-9a-f]+\.arrow$")


class CanonicalJsonError(FtgateError):
    """A value that has no canonical JSON form (NaN, infinity, a non-JSON object)."""


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


def _refuse_non_canonical(value: Any, where: str) -> None:
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CanonicalJsonError(
                f"{where} is {value!r}, which JSON cannot represent, so it has no canonical hash",
                hint="replace it with null or a finite number before hashing",
            )
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalJsonError(
                    f"{where} has the key {key!r} ({type(key).__name__}); canonical JSON keys are strings",
                    hint="convert the keys to strings before hashing",
                )
            _refuse_non_canonical(item, f"{where}.{key}")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _refuse_non_canonical(item, f"{where}[{index}]")
        return
    raise CanonicalJsonError(
        f"{where} is a {type(value).__name__}, not a JSON value, so it has no canonical hash",
        hint="convert it to a string, number, list or mapping before hashing",
    )


def canonical_json(value: Any) -> str:
    """The one text of ``value`` that every hash is taken over (see the module doc)."""
    _refuse_non_canonical(value, "$")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_json(value: Any) -> str:
    return sha256_text(canonical_json(value))


def combine_hashes(files: Mapping[str, str]) -> str:
    """One hash for a {relative path: sha256} map, independent of insertion order.

    Names are part of the hash, so renaming a file (say, a chat template
    moving out of ``tokenizer_config.json``) is a change too.
    """
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode("utf-8") + b"\0" + files[rel].encode("ascii") + b"\n")
    return digest.hexdigest()


def sha256_files(files: Iterable[Path], *, root: Path) -> str:
    """One hash over several files, keyed by their path relative to ``root``."""
    digest = hashlib.sha256()
    # Path order (part by part), not string order: the hashes already
    # recorded in evidence and manifests were taken in this order.
    for path in sorted(Path(p) for p in files):
        rel = path.relative_to(root).as_posix()
        digest.update(rel.encode("utf-8") + b"\0" + sha256_file(path).encode("ascii") + b"\n")
    return digest.hexdigest()


def sha256_tree(root: Path) -> str:
    """One hash over every file under ``root`` (relative path + content).

    For prepared datasets and adapter folders: a folder has no bytes of its
    own. A plain file hashes as itself.
    """
    if root.is_file():
        return sha256_file(root)
    files = [p for p in root.rglob("*") if p.is_file() and not _DERIVED_FILE.match(p.name)]
    return sha256_files(files, root=root)


def sha256_path(path: Path) -> str:
    """A file's or a folder's hash, whichever ``path`` is."""
    return sha256_tree(path) if path.is_dir() else sha256_file(path)
