"""Batched git access for the hooks: a constant number of git processes per
check, whatever the number of commits.

``rev-list --stdin`` lists the commits, one ``diff-tree --stdin -z`` gives
every commit's changed paths, one ``cat-file --batch-check`` resolves every
``<rev>:<path>`` the decision needs, and one ``cat-file --batch`` reads the
few distinct blobs. Paths travel NUL-terminated and are decoded with
``surrogateescape``, so names with newlines, spaces, leading dashes or bytes
that are not UTF-8 round-trip exactly.

Every process runs through :mod:`ftgate.proc` with its scrubbed
environment; ``keep`` names what the calling hook must pass through: inside a
server hook git points ``GIT_OBJECT_DIRECTORY`` /
``GIT_ALTERNATE_OBJECT_DIRECTORIES`` at the quarantine holding the pushed
objects, and at commit time ``GIT_INDEX_FILE`` may name a temporary index
(``git commit -a``).

stdlib only: this runs inside the commit hook.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Sequence

from ftgate import proc
from ftgate.policy.decide import PathChange
from ftgate.records import record

ZERO_OIDS = {"0" * 40, "0" * 64}
EMPTY_TREE_SHA1 = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
EMPTY_TREE_SHA256 = "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321"
GITLINK_MODE = "160000"


# The one git error; kept under this name for the hook modules that catch it.
GitError = proc.GitError


def is_zero(oid: str) -> bool:
    return oid in ZERO_OIDS or (bool(oid) and set(oid) == {"0"})


def decode_path(raw: bytes) -> str:
    return os.fsdecode(raw) if os.name != "nt" else raw.decode("utf-8", "surrogateescape")


def encode_path(path: str) -> bytes:
    return path.encode("utf-8", "surrogateescape")


def git(args: Sequence[str], *, cwd: str | None = None, input: bytes | None = None,
        ok_codes: Iterable[int] = (0,), keep: Collection[str] = proc.KEEP_NONE) -> bytes:
    return proc.run(args, cwd=cwd, input=input, ok_codes=ok_codes, keep=keep).stdout


def rev_list_diff_tree(rev_list_args: Sequence[str], diff_args: Sequence[str], *,
                       cwd: str | None = None, keep: Collection[str] = proc.KEEP_NONE
                       ) -> tuple[list[list[str]], list[tuple[str | None, list[RawEntry]]]]:
    """``rev-list --parents`` piped into ``diff-tree --stdin -z --raw``,
    both running at once as in a shell pipeline: the commits with their
    parents, and the parsed diff of each. A thread forwards each listed
    commit as soon as rev-list prints it, and the output is parsed as it
    arrives, so neither listing nor parsing adds much to git's own time;
    the parents stay with us, since diff-tree does not print them."""
    import tempfile
    import threading

    with tempfile.TemporaryFile() as list_err, tempfile.TemporaryFile() as diff_err:
        lister = proc.popen(rev_list_args, cwd=cwd, stderr=list_err, keep=keep)
        differ = proc.popen(diff_args, cwd=cwd, stdin=proc.PIPE, stderr=diff_err, keep=keep)
        commits: list[list[str]] = []
        failure: list[BaseException] = []

        def forward() -> None:
            assert lister.stdout is not None and differ.stdin is not None
            try:
                for line in lister.stdout:
                    fields = line.decode("ascii").split()
                    if fields:
                        commits.append(fields)
                        differ.stdin.write(fields[0].encode() + b"\n")
            except (BrokenPipeError, UnicodeDecodeError) as exc:  # diff-tree died; its stderr says why
                failure.append(exc)
            finally:
                try:
                    differ.stdin.close()
                except BrokenPipeError:
                    pass

        thread = threading.Thread(target=forward, daemon=True)
        thread.start()
        assert differ.stdout is not None
        parser = RawParser(with_commits=True)
        fd = differ.stdout.fileno()
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            parser.feed(chunk)
        differ.stdout.close()
        thread.join()
        list_code, diff_code = lister.wait(), differ.wait()
        if list_code != 0:
            list_err.seek(0)
            raise GitError(rev_list_args, list_code, list_err.read().decode("utf-8", "replace"))
        if diff_code != 0 or failure:
            diff_err.seek(0)
            raise GitError(diff_args, diff_code, diff_err.read().decode("utf-8", "replace") or str(failure))
    return commits, parser.close()


@record(frozen=True, slots=True)
class RawEntry:
    """One row of ``--raw -z`` output."""

    status: str
    path: str
    old_path: str | None
    old_mode: str
    new_mode: str
    old_oid: str
    new_oid: str

    def change(self, size: int | None = None) -> PathChange:
        return PathChange(self.status, self.path, self.old_path, self.new_mode, size)


class RawParser:
    """Incremental parser of ``diff-index``/``diff-tree --raw -z`` output
    (also combined ``::`` rows of merges, and the commit-id records of
    ``--stdin``), fed chunk by chunk so a caller can parse while git is
    still writing."""

    def __init__(self, *, with_commits: bool = False) -> None:
        self.with_commits = with_commits
        self.out: list[tuple[str | None, list[RawEntry]]] = []
        self.current: list[RawEntry] = []
        if not with_commits:
            self.out.append((None, self.current))
        self._rest = b""
        self._pending: list[bytes] = []

    def feed(self, chunk: bytes) -> None:
        fields = (self._rest + chunk).split(b"\0") if self._rest else chunk.split(b"\0")
        self._rest = fields.pop()  # the unterminated tail, if any
        if self._pending:
            fields = self._pending + fields
        self._pending = self._consume(fields)

    def close(self) -> list[tuple[str | None, list[RawEntry]]]:
        fields = self._pending + ([self._rest] if self._rest else [])
        self._pending, self._rest = [], b""
        left = self._consume(fields)
        if left:
            raise ValueError(f"truncated diff record: {left[0][:80]!r}")
        return self.out

    def _consume(self, fields: list[bytes]) -> list[bytes]:
        """Parse every complete record; return the fields of an incomplete
        last one (its paths are still to come)."""
        i, n = 0, len(fields)
        current = self.current
        while i < n:
            head = fields[i]
            if not head.startswith(b":"):
                if self.with_commits:
                    current = self.current = []
                    self.out.append((head.decode("ascii").strip(), current))
                i += 1
                continue
            colons = len(head) - len(head.lstrip(b":"))
            parts = head[colons:].decode("ascii").split(" ")
            status_field = parts[-1]
            status = status_field[:1] if colons == 1 else _combined_status(status_field)
            paths = 2 if colons == 1 and status in ("R", "C") else 1
            if i + paths >= n:
                return fields[i:]
            if paths == 2:
                old_path, path = decode_path(fields[i + 1]), decode_path(fields[i + 2])
            else:
                path, old_path = decode_path(fields[i + 1]), None
            i += paths + 1
            current.append(RawEntry(status, path, old_path, parts[0], parts[colons],
                                    parts[colons + 1], parts[2 * colons + 1]))
        return []


def parse_raw(data: bytes, *, with_commits: bool = False) -> list[tuple[str | None, list[RawEntry]]]:
    """Parse raw diff output at once; returns ``[(commit, entries), ...]``
    (commit None without ``with_commits``)."""
    parser = RawParser(with_commits=with_commits)
    parser.feed(data)
    return parser.close()


def _combined_status(letters: str) -> str:
    """One letter for a merge row (``AA``, ``MM``, ``DD``...): deleted only if
    gone from the result, added if new to every parent."""
    if all(ch == "A" for ch in letters):
        return "A"
    if all(ch == "D" for ch in letters):
        return "D"
    return "M"


def empty_tree(cwd: str | None = None, keep: Collection[str] = proc.KEEP_NONE) -> str:
    try:
        out = git(["rev-parse", "--show-object-format"], cwd=cwd, keep=keep).decode().strip()
    except GitError:
        out = "sha1"
    return EMPTY_TREE_SHA256 if out == "sha256" else EMPTY_TREE_SHA1


def batch_check(names: Sequence[str], *, cwd: str | None = None,
                keep: Collection[str] = proc.KEEP_NONE) -> dict[str, tuple[str, str] | None]:
    """Resolve ``<rev>:<path>`` names to ``(oid, type)``; None when missing.
    One process for any number of names."""
    if not names:
        return {}
    payload = b"".join(encode_path(n) + b"\n" for n in names)
    # %(rest) would split on whitespace; echo nothing and rely on order.
    out = git(["cat-file", "--batch-check=%(objectname) %(objecttype)"], cwd=cwd, input=payload, keep=keep)
    lines = out.split(b"\n")
    result: dict[str, tuple[str, str] | None] = {}
    for name, line in zip(names, lines, strict=False):
        text = line.decode("ascii", "replace")
        parts = text.split(" ")
        if len(parts) == 2 and parts[1] in ("blob", "tree", "commit", "tag"):
            result[name] = (parts[0], parts[1])
        else:
            result[name] = None
    return result


def object_sizes(oids: Sequence[str], *, cwd: str | None = None,
                 keep: Collection[str] = proc.KEEP_NONE) -> dict[str, int]:
    """Sizes in bytes of objects by id (missing ones left out), one process."""
    unique = list(dict.fromkeys(oids))
    if not unique:
        return {}
    out = git(["cat-file", "--batch-check=%(objectname) %(objectsize)"], cwd=cwd, keep=keep,
              input=b"".join(o.encode() + b"\n" for o in unique))
    sizes: dict[str, int] = {}
    for line in out.decode("ascii", "replace").splitlines():
        parts = line.split(" ")
        if len(parts) == 2 and parts[1].isascii() and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def read_objects(oids: Sequence[str], *, cwd: str | None = None,
                 keep: Collection[str] = proc.KEEP_NONE) -> dict[str, bytes]:
    """Contents of objects by id (blobs, trees), one process."""
    unique = list(dict.fromkeys(oids))
    if not unique:
        return {}
    out = git(["cat-file", "--batch"], cwd=cwd, keep=keep,
              input=b"".join(o.encode() + b"\n" for o in unique))
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
