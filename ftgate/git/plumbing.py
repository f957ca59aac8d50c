"""Batched git access for the hooks: a constant number of git processes per
check, whatever the number of commits.

``rev-list`` lists the commits, one ``diff-tree --stdin -z`` gives every
commit's changed paths (streamed: :func:`rev_list_diff_tree` yields commits
while git still runs), one ``cat-file --batch-check`` resolves every
``<rev>:<path>`` the decision needs, and one ``cat-file --batch`` reads the
few distinct blobs. A hook run that asks again and again (a push judged in
batches) opens :class:`Lookups`, which keeps that cat-file pair for the
whole run. Paths travel NUL-terminated and are decoded with
``surrogateescape``, so names with spaces, leading dashes or bytes that are
not UTF-8 round-trip exactly; a ``<rev>:<path>`` name holding a newline
cannot be asked on cat-file's line protocol and is answered as missing.

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
from collections import deque
from collections.abc import Collection, Iterable, Iterator, Sequence

from ftgate import proc
from ftgate.policy.decide import PathChange
from ftgate.records import record

TYPE_CHECKING = False  # typing costs milliseconds on the commit hook's path
if TYPE_CHECKING:
    from typing import IO

ZERO_OIDS = {"0" * 40, "0" * 64}
EMPTY_TREE_SHA1 = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
EMPTY_TREE_SHA256 = "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321"
GITLINK_MODE = "160000"
# How far diff-tree may run ahead of the judging: this many reads of _READ_SIZE.
_READ_SIZE = 1 << 16
_AHEAD_CHUNKS = 64
_GATHER_S = 0.002


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
                       ) -> Iterator[tuple[str, list[str], list[RawEntry]]]:
    """``rev-list --parents`` piped into ``diff-tree --stdin -z --raw``,
    both running at once as in a shell pipeline; yields ``(commit,
    parents, entries)`` in rev-list's order as the diff arrives, so a
    caller can judge early commits while git still works on later ones and
    never holds the whole push.

    rev-list's lines go to diff-tree as they are: diff-tree diffs a commit
    against the parents its line names, which are its own, and prints only
    the commit id, so the parents are read back from what was forwarded.
    A thread drains diff-tree into a bounded queue, letting git run ahead
    of the judging by a few megabytes and no more. A commit that changes
    nothing gets no record from diff-tree; it is yielded with no entries.
    git's failures (a missing object, a bad revision) raise
    :class:`GitError` once the output is read, before the generator ends."""
    import queue
    import tempfile
    import threading
    import time

    with tempfile.TemporaryFile() as list_err, tempfile.TemporaryFile() as diff_err:
        lister = proc.popen(rev_list_args, cwd=cwd, stderr=list_err, keep=keep)
        differ = proc.popen(diff_args, cwd=cwd, stdin=proc.PIPE, stderr=diff_err, keep=keep)
        listed: deque[bytes] = deque()  # rev-list's output, as forwarded
        failure: list[BaseException] = []
        ahead: queue.Queue[bytes | None] = queue.Queue(maxsize=_AHEAD_CHUNKS)
        stop = threading.Event()

        def forward() -> None:
            assert lister.stdout is not None and differ.stdin is not None
            fd = lister.stdout.fileno()
            try:
                while not stop.is_set():
                    data = os.read(fd, _READ_SIZE)
                    if not data:
                        break
                    listed.append(data)
                    differ.stdin.write(data)
            except (BrokenPipeError, OSError) as exc:  # diff-tree died; its stderr says why
                failure.append(exc)
            finally:
                try:
                    differ.stdin.close()
                except OSError:
                    pass

        def drain() -> None:
            assert differ.stdout is not None
            fd = differ.stdout.fileno()
            try:
                while not stop.is_set():
                    data = os.read(fd, _READ_SIZE)
                    if not data:
                        break
                    ahead.put(data)
                    if len(data) < _READ_SIZE // 4:
                        # diff-tree flushes after every commit: reading each
                        # as it comes costs two thread switches a commit.
                        # A moment's pause lets its output gather in the pipe.
                        time.sleep(_GATHER_S)
            except OSError as exc:
                failure.append(exc)
            finally:
                ahead.put(None)

        threads = [threading.Thread(target=forward, daemon=True), threading.Thread(target=drain, daemon=True)]
        for thread in threads:
            thread.start()
        lines = _ListedLines(listed)
        finished = False
        try:
            parser = RawParser(with_commits=True)
            while True:
                data = ahead.get()
                if data is None:
                    break
                parser.feed(data)
                for commit, entries in parser.take():
                    yield from lines.until(commit, entries)
            last = parser.close()
            for thread in threads:
                thread.join()
            list_code, diff_code = lister.wait(), differ.wait()
            if list_code != 0:
                list_err.seek(0)
                raise GitError(rev_list_args, list_code, list_err.read().decode("utf-8", "replace"))
            if diff_code != 0 or failure:
                diff_err.seek(0)
                raise GitError(diff_args, diff_code, diff_err.read().decode("utf-8", "replace") or str(failure))
            for commit, entries in last:
                yield from lines.until(commit, entries)
            yield from lines.rest()
            finished = True
        finally:
            if not finished:  # the caller stopped early, or git failed: leave nothing running
                stop.set()
                for child in (lister, differ):
                    if child.poll() is None:
                        child.kill()
                while any(t.is_alive() for t in threads):
                    try:
                        ahead.get(timeout=0.05)
                    except queue.Empty:
                        pass
                lister.wait()
                differ.wait()
            for child in (lister, differ):
                assert child.stdout is not None
                child.stdout.close()


class _ListedLines:
    """rev-list's ``<commit> <parent>...`` lines, parsed as the diff
    records that name them come in."""

    def __init__(self, listed: deque[bytes]) -> None:
        self.listed = listed
        self.rest_of_line = b""
        self.lines: deque[bytes] = deque()

    def _next(self) -> list[str] | None:
        while not self.lines:
            if not self.listed:
                return None
            data = self.rest_of_line + self.listed.popleft()
            parts = data.split(b"\n")
            self.rest_of_line = parts.pop()
            self.lines.extend(p for p in parts if p)
        return self.lines.popleft().decode("ascii").split()

    def until(self, commit: str | None, entries: list[RawEntry]
              ) -> Iterator[tuple[str, list[str], list[RawEntry]]]:
        """The listed commits up to ``commit``: those before it changed
        nothing (diff-tree printed no record for them)."""
        while True:
            fields = self._next()
            if fields is None:
                raise GitError(["diff-tree"], None, "", message=f"git diff-tree printed {commit!r}, which "
                               "rev-list did not list")
            if fields[0] == commit:
                yield fields[0], fields[1:], entries
                return
            yield fields[0], fields[1:], []

    def rest(self) -> Iterator[tuple[str, list[str], list[RawEntry]]]:
        if self.rest_of_line.strip():
            self.listed.append(b"\n")
        while (fields := self._next()) is not None:
            yield fields[0], fields[1:], []


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

    def take(self) -> list[tuple[str | None, list[RawEntry]]]:
        """The records complete so far, handed over and forgotten: every
        one but the last, which more input may still extend."""
        if len(self.out) < 2:
            return []
        done, self.out = self.out[:-1], self.out[-1:]
        return done

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
    session = _active(cwd, keep)
    if session is not None:
        return session.batch_check(names)
    # A newline would split one name into two requests and shift every
    # answer after it: such a name is missing, as in Lookups.
    result: dict[str, tuple[str, str] | None] = {n: None for n in names if "\n" in n}
    asked = [n for n in names if "\n" not in n]
    if not asked:
        return result
    payload = b"".join(encode_path(n) + b"\n" for n in asked)
    # %(rest) would split on whitespace; echo nothing and rely on order.
    out = git(["cat-file", "--batch-check=%(objectname) %(objecttype)"], cwd=cwd, input=payload, keep=keep)
    lines = out.split(b"\n")
    for name, line in zip(asked, lines, strict=False):
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
    session = _active(cwd, keep)
    if session is not None:
        return session.object_sizes(unique)
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
    session = _active(cwd, keep)
    if session is not None:
        return session.read_objects(unique)
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


# ------------------------------------------------------------------ lookups
#
# A hook run asks git for objects again and again (each chunk of a large
# push, each ticket's approvals); starting cat-file for every question would
# make the number of processes grow with the push. Lookups keeps one
# ``cat-file --batch-check`` and one ``cat-file --batch`` for the whole run
# and feeds them request by request; while it is open, batch_check,
# object_sizes and read_objects for the same folder and environment go
# through it.

_CHECK_FORMAT = "%(objectname) %(objecttype) %(objectsize)"
_TYPES = (b"blob", b"tree", b"commit", b"tag")
# What is written before the answers are read: less than a pipe holds, so
# the write never waits for git, which may itself wait for its answers to be read.
_WINDOW = 32 * 1024
_ACTIVE: list[Lookups] = []


class Lookups:
    """Long-lived ``git cat-file`` processes for one hook run, started on
    first use. Use as a context manager: inside it, the module's
    batch_check/object_sizes/read_objects with the same ``cwd`` and
    ``keep`` use these processes. A name holding a newline cannot be asked
    on git's line protocol and is answered as missing."""

    def __init__(self, cwd: str | None = None, keep: Collection[str] = proc.KEEP_NONE) -> None:
        self.cwd = cwd
        self.keep = frozenset(keep)
        self._check: _CatFile | None = None
        self._batch: _CatFile | None = None

    def __enter__(self) -> Lookups:
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _ACTIVE.remove(self)
        self.close()

    def close(self) -> None:
        for one in (self._check, self._batch):
            if one is not None:
                one.close()
        self._check = self._batch = None

    def _checker(self) -> _CatFile:
        if self._check is None:
            self._check = _CatFile([f"--batch-check={_CHECK_FORMAT}"], self.cwd, self.keep)
        return self._check

    def batch_check(self, names: Sequence[str]) -> dict[str, tuple[str, str] | None]:
        result: dict[str, tuple[str, str] | None] = {}
        for name, header in zip(names, self._checker().ask([encode_path(n) for n in names], body=False),
                                strict=True):
            result[name] = (header[0], header[1]) if header else None
        return result

    def object_sizes(self, oids: Sequence[str]) -> dict[str, int]:
        unique = list(dict.fromkeys(oids))
        sizes: dict[str, int] = {}
        for header in self._checker().ask([o.encode() for o in unique], body=False):
            if header:
                sizes[header[0]] = header[2]
        return sizes

    def read_objects(self, oids: Sequence[str]) -> dict[str, bytes]:
        unique = list(dict.fromkeys(oids))
        if self._batch is None:
            self._batch = _CatFile(["--batch"], self.cwd, self.keep)
        out: dict[str, bytes] = {}
        for oid, header in zip(unique, self._batch.ask([o.encode() for o in unique], body=True), strict=True):
            if header:
                out[oid] = header[3]
        return out


def _active(cwd: str | None, keep: Collection[str]) -> Lookups | None:
    for one in reversed(_ACTIVE):
        if one.cwd == cwd and one.keep == keep:
            return one
    return None


class _CatFile:
    """One ``git cat-file --batch[-check]`` kept open; each request is one
    line, each answer one header line (and, for ``--batch``, the object)."""

    def __init__(self, args: list[str], cwd: str | None, keep: Collection[str]) -> None:
        import tempfile

        self.argv = ["cat-file", *args]
        self.err = tempfile.TemporaryFile()
        self.child = proc.popen(self.argv, cwd=cwd, stdin=proc.PIPE, stderr=self.err, keep=keep)

    def ask(self, requests: Sequence[bytes], *, body: bool) -> list[tuple[str, str, int, bytes] | None]:
        """``(oid, type, size, content)`` per request (content empty without
        ``body``), None for a missing object."""
        child = self.child
        assert child.stdin is not None and child.stdout is not None
        answers: list[tuple[str, str, int, bytes] | None] = [None] * len(requests)
        i, n = 0, len(requests)
        try:
            while i < n:
                asked: list[int] = []
                size = 0
                payload = []
                while i < n and (not asked or size + len(requests[i]) < _WINDOW):
                    request = requests[i]
                    if b"\n" not in request:
                        asked.append(i)
                        payload.append(request + b"\n")
                        size += len(request) + 1
                    i += 1
                if not asked:
                    continue
                child.stdin.write(b"".join(payload))
                child.stdin.flush()
                for k in asked:
                    answers[k] = self._answer(child.stdout, body)
        except (BrokenPipeError, ValueError) as exc:
            raise self._failed(str(exc)) from None
        return answers

    def _answer(self, out: IO[bytes], body: bool) -> tuple[str, str, int, bytes] | None:
        line = out.readline()
        if not line.endswith(b"\n"):
            raise ValueError("git cat-file stopped answering")
        parts = line[:-1].split(b" ")
        if len(parts) != 3 or parts[1] not in _TYPES or not parts[2].isdigit():
            return None  # "<name> missing" / "<name> ambiguous"
        size = int(parts[2])
        content = b""
        if body:
            content = out.read(size + 1)
            if len(content) != size + 1:
                raise ValueError("git cat-file stopped in the middle of an object")
            content = content[:size]
        return parts[0].decode("ascii"), parts[1].decode("ascii"), size, content

    def _failed(self, why: str) -> GitError:
        code = self.child.poll()
        self.err.seek(0)
        return GitError(self.argv, code, self.err.read().decode("utf-8", "replace") or why)

    def close(self) -> None:
        child = self.child
        assert child.stdin is not None and child.stdout is not None
        try:
            child.stdin.close()
        except OSError:
            pass
        child.stdout.close()
        child.wait()
        self.err.close()


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
