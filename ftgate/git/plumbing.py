"""Batched git access for the hooks: a constant number of git processes per
check, whatever the number of commits.

``rev-list --stdin`` lists the commits, one ``diff-tree --stdin -z`` gives
every commit's changed paths, one ``cat-file --batch-check`` resolves every
``<rev>:<path>`` the decision needs, and one ``cat-file --batch`` reads the
few distinct blobs. Paths travel NUL-terminated and are decoded with
``surrogateescape``, so names with newlines, spaces, leading dashes or bytes
that are not UTF-8 round-trip exactly.

The environment is passed through untouched: inside a server hook git points
``GIT_OBJECT_DIRECTORY`` / ``GIT_ALTERNATE_OBJECT_DIRECTORIES`` at the
quarantine holding the pushed objects, and at commit time
``GIT_INDEX_FILE`` may name a temporary index (``git commit -a``).

stdlib only: this runs inside the commit hook.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ftgate.policy.decide import PathChange

ZERO_OIDS = {"0" * 40, "0" * 64}
EMPTY_TREE_SHA1 = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
EMPTY_TREE_SHA256 = "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321"
GITLINK_MODE = "160000"


class GitError(Exception):
    def __init__(self, args: Sequence[str], code: int, stderr: str) -> None:
        super().__init__(f"git {' '.join(args)} failed ({code}): {stderr.strip()}")
        self.args_ = list(args)
        self.code = code
        self.stderr = stderr


def is_zero(oid: str) -> bool:
    return oid in ZERO_OIDS or (bool(oid) and set(oid) == {"0"})


def decode_path(raw: bytes) -> str:
    return os.fsdecode(raw) if os.name != "nt" else raw.decode("utf-8", "surrogateescape")


def encode_path(path: str) -> bytes:
    return path.encode("utf-8", "surrogateescape")


def git(args: Sequence[str], *, cwd: str | None = None, input: bytes | None = None,
        ok_codes: Iterable[int] = (0,)) -> bytes:
    # close_fds=False lets CPython spawn without walking every descriptor
    # (about 1.5 ms a process); the hook holds no descriptors worth hiding.
    proc = subprocess.run(["git", *args], cwd=cwd, input=input, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, check=False, close_fds=False)
    if proc.returncode not in tuple(ok_codes):
        raise GitError(args, proc.returncode, proc.stderr.decode("utf-8", "replace"))
    return proc.stdout


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One row of ``--raw -z`` output."""

    status: str
    path: str
    old_path: str | None
    old_mode: str
    new_mode: str
    old_oid: str
    new_oid: str

    def change(self) -> PathChange:
        return PathChange(self.status, self.path, self.old_path)


def parse_raw(data: bytes, *, with_commits: bool = False) -> list[tuple[str | None, list[RawEntry]]]:
    """Parse ``diff-index``/``diff-tree --raw -z`` output (also combined
    ``::`` rows of merges, and the commit-id records of ``--stdin``).

    Returns ``[(commit, entries), ...]``; commit is None without
    ``with_commits``.
    """
    fields = data.split(b"\0")
    if fields and fields[-1] == b"":
        fields.pop()
    out: list[tuple[str | None, list[RawEntry]]] = []
    current: list[RawEntry] = []
    commit: str | None = None
    i, n = 0, len(fields)
    if not with_commits:
        out.append((None, current))
    while i < n:
        head = fields[i]
        if not head.startswith(b":"):
            if with_commits:
                commit = head.decode("ascii").strip()
                current = []
                out.append((commit, current))
            i += 1
            continue
        colons = len(head) - len(head.lstrip(b":"))
        parts = head[colons:].decode("ascii").split(" ")
        nparents = colons
        modes = parts[: nparents + 1]
        oids = parts[nparents + 1: 2 * nparents + 2]
        status_field = parts[-1]
        status = status_field[:1] if nparents == 1 else _combined_status(status_field)
        if nparents == 1 and status in ("R", "C"):
            old_path, path = decode_path(fields[i + 1]), decode_path(fields[i + 2])
            i += 3
        else:
            path, old_path = decode_path(fields[i + 1]), None
            i += 2
        current.append(RawEntry(status, path, old_path, modes[0], modes[-1], oids[0], oids[-1]))
    return out


def _combined_status(letters: str) -> str:
    """One letter for a merge row (``AA``, ``MM``, ``DD``...): deleted only if
    gone from the result, added if new to every parent."""
    if all(ch == "A" for ch in letters):
        return "A"
    if all(ch == "D" for ch in letters):
        return "D"
    return "M"


def empty_tree(cwd: str | None = None) -> str:
    try:
        out = git(["rev-parse", "--show-object-format"], cwd=cwd).decode().strip()
    except GitError:
        out = "sha1"
    return EMPTY_TREE_SHA256 if out == "sha256" else EMPTY_TREE_SHA1


def batch_check(names: Sequence[str], *, cwd: str | None = None) -> dict[str, tuple[str, str] | None]:
    """Resolve ``<rev>:<path>`` names to ``(oid, type)``; None when missing.
    One process for any number of names."""
    if not names:
        return {}
    payload = b"".join(encode_path(n) + b"\n" for n in names)
    # %(rest) would split on whitespace; echo nothing and rely on order.
    out = git(["cat-file", "--batch-check=%(objectname) %(objecttype)"], cwd=cwd, input=payload)
    lines = out.split(b"\n")
    result: dict[str, tuple[str, str] | None] = {}
    for name, line in zip(names, lines):
        text = line.decode("ascii", "replace")
        parts = text.split(" ")
        if len(parts) == 2 and parts[1] in ("blob", "tree", "commit", "tag"):
            result[name] = (parts[0], parts[1])
        else:
            result[name] = None
    return result


def read_objects(oids: Sequence[str], *, cwd: str | None = None) -> dict[str, bytes]:
    """Contents of objects by id (blobs, trees), one process."""
    unique = list(dict.fromkeys(oids))
    if not unique:
        return {}
    out = git(["cat-file", "--batch"], cwd=cwd, input=b"".join(o.encode() + b"\n" for o in unique))
    result: dict[str, bytes] = {}
    pos = 0
    for oid in unique:
        end = out.index(b"\n", pos)
        header = out[pos:end].decode("ascii", "replace").split(" ")
        pos = end + 1
        if len(header) == 3 and header[1] != "missing":
            size = int(header[2])
            result[oid] = out[pos:pos + size]
            pos += size + 1
    return result


def tree_entries(data: bytes, oid_hex_len: int = 40) -> list[tuple[str, str, str]]:
    """``(mode, name, oid)`` of a raw tree object (as ``cat-file --batch``
    gives it); ``oid_hex_len`` 64 for a SHA-256 repository."""
    out = []
    pos, n = 0, len(data)
    size = oid_hex_len // 2
    while pos < n:
        space = data.index(b" ", pos)
        nul = data.index(b"\0", space)
        mode = data[pos:space].decode("ascii")
        name = decode_path(data[space + 1:nul])
        oid = data[nul + 1:nul + 1 + size].hex()
        out.append((mode, name, oid))
        pos = nul + 1 + size
    return out
