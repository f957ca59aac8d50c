"""Writing ticket files safely: atomically, and one ftgate process at a time.

People write in these files too, so a crash half-way through a write must
never leave a truncated file behind, and two ftgate commands on one ticket
must not interleave their read-modify-write cycles.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ftgate.errors import FtgateError


def read_text(path: Path) -> str:
    """Read a ticket file exactly as written (no newline translation)."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return handle.read()
    except UnicodeDecodeError as exc:
        raise FtgateError(
            f"{path}: not valid UTF-8 (byte {exc.start}); ftgate reads ticket files as UTF-8",
            hint="re-save the file as UTF-8",
        ) from None


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step: a temporary file in the same
    folder, flushed to disk, then renamed over the original (keeping its
    permission bits). No newline translation: the person's endings stay."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """``atomic_write_text`` for bytes; creates the parent folder if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".ftgate-tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def ticket_lock(folder: Path, *, wait: float = 10.0) -> Iterator[None]:
    """Hold an exclusive lock on a ticket folder.

    The lock is an ``flock`` on the folder itself: no lock file to commit or
    to clean up after a crash, and the kernel releases it when the process
    dies.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: best effort, no lock
        yield
        return
    import time

    fd = os.open(folder, os.O_RDONLY)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise FtgateError(
                        f"{folder}: another ftgate command is changing this ticket",
                        hint="wait for it to finish, then run the command again",
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)
