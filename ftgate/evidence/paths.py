"""Evidence paths confined to the checked-out tree.

An evidence file names other files (inputs, weights, its own artifacts), and
the verifier hashes what they name, on the server too. Taken as written, a
pusher could make the hook hash ``/etc/...`` (and learn from the finding
whether it exists, and a prefix of its hash) or read ``/dev/zero`` until the
hook hangs. So every path the verifier opens goes through :func:`confine`:
relative, no ``..``, no symbolic link that leads out of the tree, a regular
file (or, where a folder is expected, a folder of regular files), and under
a size cap. A path that breaks a rule is an :class:`EvidencePathError` that
names the file and the key, which the verifier reports as a finding.

stdlib only.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PureWindowsPath

from ftgate.errors import FtgateError
from ftgate.limits import EVIDENCE_FILE_MAX_BYTES, EVIDENCE_TREE_MAX_BYTES, EVIDENCE_TREE_MAX_FILES


class EvidencePathError(FtgateError):
    """A path in an evidence file that the verifier will not open."""

    def __init__(self, label: str, key: str, stored: object, problem: str) -> None:
        shown = stored if isinstance(stored, str) else type(stored).__name__
        super().__init__(f"{label}: `{key}` is {shown!r}: {problem}",
                         hint="evidence paths are relative to the repository root and stay inside it; "
                              "re-run `ftgate train` to write them again")
        self.label, self.key, self.stored, self.problem = label, key, stored, problem


def _inside(real: str, real_root: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def confine(root: Path, stored: object, *, label: str, key: str, max_bytes: int = EVIDENCE_FILE_MAX_BYTES,
            folder: bool = False) -> Path:
    """``root / stored`` once it is known to stay inside ``root``.

    ``stored`` is the value read from an evidence file (any JSON type).
    The returned path may not exist (the caller decides what absence means);
    when it exists it is a regular file of at most ``max_bytes``, or, with
    ``folder``, a folder whose files are regular, inside ``root`` and
    together under the tree caps. ``label`` and ``key`` name where the
    value was written, for the message.
    """
    if not isinstance(stored, str) or not stored:
        raise EvidencePathError(label, key, stored, "expected a non-empty relative path")
    if "\0" in stored:
        raise EvidencePathError(label, key, stored, "a path cannot hold a NUL character")
    if stored.startswith(("/", "\\")) or PureWindowsPath(stored).drive or os.path.isabs(stored):
        raise EvidencePathError(label, key, stored, "absolute paths are not followed; evidence paths are "
                                "relative to the repository root")
    if ".." in stored.replace("\\", "/").split("/"):
        raise EvidencePathError(label, key, stored, "`..` is not followed; evidence stays inside the repository")
    real_root = os.path.realpath(root)
    candidate = Path(root) / stored
    real = os.path.realpath(candidate)
    if not _inside(real, real_root):
        raise EvidencePathError(label, key, stored, "a symbolic link on the way leads out of the repository")
    try:
        info = os.stat(real)
    except FileNotFoundError:
        return candidate
    except OSError as exc:
        raise EvidencePathError(label, key, stored, f"cannot be examined ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        if not folder:
            raise EvidencePathError(label, key, stored, "is a folder where a file is expected")
        _check_folder(real, real_root, label=label, key=key, stored=stored)
        return candidate
    if not stat.S_ISREG(info.st_mode):
        raise EvidencePathError(label, key, stored, "is not a regular file (a device, pipe or socket is never read)")
    if info.st_size > max_bytes:
        raise EvidencePathError(label, key, stored, f"is {info.st_size} bytes, more than the {max_bytes} "
                                "bytes ftgate hashes for one evidence file")
    return candidate


def _check_folder(real: str, real_root: str, *, label: str, key: str, stored: str) -> None:
    total = count = 0
    for parent, dirs, files in os.walk(real, followlinks=False):
        for name in dirs + files:
            entry = os.path.join(parent, name)
            count += 1
            if count > EVIDENCE_TREE_MAX_FILES:
                raise EvidencePathError(label, key, stored, f"holds more than {EVIDENCE_TREE_MAX_FILES} entries")
            try:
                if os.path.islink(entry) and not _inside(os.path.realpath(entry), real_root):
                    raise EvidencePathError(label, key, stored,
                                            f"holds {os.path.relpath(entry, real)!r}, a link out of the repository")
                info = os.stat(entry)
            except FileNotFoundError:
                continue  # a dangling link inside the tree: nothing to hash
            if stat.S_ISDIR(info.st_mode):
                continue
            if not stat.S_ISREG(info.st_mode):
                raise EvidencePathError(label, key, stored,
                                        f"holds {os.path.relpath(entry, real)!r}, which is not a regular file")
            total += info.st_size
            if total > EVIDENCE_TREE_MAX_BYTES:
                raise EvidencePathError(label, key, stored, f"holds more than {EVIDENCE_TREE_MAX_BYTES} bytes")


def confine_file(root: Path, path: Path, *, label: str, max_bytes: int = EVIDENCE_FILE_MAX_BYTES) -> Path:
    """A file the verifier found itself (``run.json`` in a run folder, the
    report): checked by the same rules, its path relative to ``root``."""
    try:
        rel = Path(os.path.abspath(path)).relative_to(os.path.abspath(root)).as_posix()
    except ValueError:
        raise EvidencePathError(label, "path", str(path), "lies outside the repository") from None
    return confine(root, rel, label=label, key="path", max_bytes=max_bytes)
