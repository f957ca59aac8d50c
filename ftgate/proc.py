"""The one way ftgate starts git.

Every git process goes through :func:`run` (run to completion) or
:func:`popen` (a streaming pipe), and every one gets an environment built
afresh for that call by :func:`git_env`: a copy of ``os.environ`` with the
variables that would point git at another repository, index, object store,
configuration or object replacement removed. ``os.environ`` itself is never
changed, so one call cannot leak into the next or into a thread.

A hook is the exception that needs some of those variables: git exports
them so that the hook sees what git is about to record. Each adapter names
exactly what its hook protocol needs with ``keep=`` (:data:`KEEP_COMMIT`,
:data:`KEEP_PUSH`, :data:`KEEP_RECEIVE`); everything else stays scrubbed.
Replace refs never count: a hook must judge the objects that are really
there, so ``GIT_NO_REPLACE_OBJECTS`` is always set.

stdlib only, and a leaf: the commit hook imports it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Collection, Iterable, Mapping, Sequence

from ftgate.errors import FtgateError

TYPE_CHECKING = False  # typing costs milliseconds on the commit hook's path
if TYPE_CHECKING:
    from typing import IO

# Each of these makes git read or write somewhere other than the repository
# the cwd names, or changes what its objects and config say.
SCRUBBED: frozenset[str] = frozenset({
    "GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_INDEX_FILE", "GIT_PREFIX",
    "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_QUARANTINE_PATH",
    "GIT_NAMESPACE", "GIT_REPLACE_REF_BASE", "GIT_GRAFT_FILE", "GIT_SHALLOW_FILE",
    "GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT",
    "GIT_EXEC_PATH", "GIT_IMPLICIT_WORK_TREE", "GIT_INTERNAL_SUPER_PREFIX",
})
# GIT_CONFIG_COUNT comes with numbered pairs; any of them alone still injects config.
SCRUBBED_PREFIXES: tuple[str, ...] = ("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_")

#: Nothing passes: commands that address a repository by their cwd.
KEEP_NONE: frozenset[str] = frozenset()
# git exports the repository it works on to every hook, so a commit made with
# --git-dir/--work-tree is judged in that repository.
_HOOK_LOCATION = frozenset({"GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR"})
#: pre-commit: ``git commit -a`` / ``git commit PATH`` stage into a temporary
#: index that only ``GIT_INDEX_FILE`` names.
KEEP_COMMIT: frozenset[str] = _HOOK_LOCATION | {"GIT_INDEX_FILE"}
#: pre-push: history only, no index.
KEEP_PUSH: frozenset[str] = _HOOK_LOCATION
#: pre-receive / update: the pushed objects sit in a quarantine that only these name.
KEEP_RECEIVE: frozenset[str] = _HOOK_LOCATION | {
    "GIT_QUARANTINE_PATH", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES"}

NOT_INSTALLED = "git is not installed or not on PATH"


class GitError(FtgateError):
    """A git command failed, or git could not be started.

    ``argv`` is what was asked of git (without the leading ``git``), ``code``
    its exit status (None when it never ran), ``stderr`` the tail of what it
    said."""

    def __init__(self, argv: Sequence[str], code: int | None, stderr: str, *, message: str | None = None,
                 hint: str | None = None) -> None:
        self.argv = list(argv)
        self.code = code
        self.stderr = _tail(stderr)
        if message is None:
            message = f"git {' '.join(self.argv)} failed ({code}): {self.stderr}"
        super().__init__(message, hint=hint)

    @property
    def last_words(self) -> str:
        """git's own complaint, without its ``fatal:``/``error:`` prefixes."""
        lines = [line.removeprefix("fatal: ").removeprefix("error: ").strip()
                 for line in self.stderr.splitlines() if line.strip()]
        return "; ".join(lines[-3:]) or f"exit status {self.code}"


def _tail(text: str, limit: int = 4000) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def git_env(keep: Collection[str] = KEEP_NONE, *, extra: Mapping[str, str] | None = None,
            base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A fresh environment for one git process: ``base`` (default
    ``os.environ``) without the scrubbed variables except those in ``keep``,
    plus ``extra`` (which may set any of them on purpose)."""
    source = os.environ if base is None else base
    env = {key: value for key, value in source.items()
           if key in keep or not (key in SCRUBBED or key.startswith(SCRUBBED_PREFIXES))}
    env["GIT_NO_REPLACE_OBJECTS"] = "1"
    # Never stop to ask for credentials: ftgate runs under agents and hooks as often as under people.
    env["GIT_TERMINAL_PROMPT"] = "0"
    if extra:
        env.update(extra)
    return env


def run(args: Sequence[str], *, cwd: str | os.PathLike[str] | None = None, input: bytes | None = None,
        ok_codes: Iterable[int] | None = (0,), keep: Collection[str] = KEEP_NONE,
        extra_env: Mapping[str, str] | None = None, base_env: Mapping[str, str] | None = None,
        timeout: float | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run ``git ARGS`` to completion; its exit status must be in
    ``ok_codes`` (None: any status, the caller reads it) or :class:`GitError`
    is raised. stdout and stderr are bytes: paths are not always UTF-8.
    ``base_env`` replaces ``os.environ`` as what is scrubbed."""
    argv = list(args)
    try:
        # close_fds=False lets CPython spawn without walking every descriptor
        # (about 1.5 ms a process); ftgate holds no descriptors worth hiding.
        proc = subprocess.run(["git", *argv], cwd=cwd, input=input, capture_output=True,
                              stdin=None if input is not None else subprocess.DEVNULL, check=False,
                              close_fds=False, env=git_env(keep, extra=extra_env, base=base_env),
                              timeout=timeout)
    except OSError as exc:
        raise _not_started(argv, cwd, exc) from None
    except subprocess.TimeoutExpired:
        raise GitError(argv, None, "", message=f"`git {' '.join(argv)}` gave no answer within {timeout:.0f}s") from None
    if ok_codes is not None and proc.returncode not in tuple(ok_codes):
        raise GitError(argv, proc.returncode, proc.stderr.decode("utf-8", "replace"))
    return proc


def popen(args: Sequence[str], *, cwd: str | os.PathLike[str] | None = None, stdin: int | IO[bytes] | None = None,
          stderr: int | IO[bytes] | None = None, keep: Collection[str] = KEEP_NONE) -> subprocess.Popen[bytes]:
    """Start ``git ARGS`` with stdout as a pipe, for callers that stream
    (one process feeding another); the caller waits for it and reads the
    exit status."""
    argv = list(args)
    try:
        return subprocess.Popen(["git", *argv], cwd=cwd, stdin=stdin, stdout=subprocess.PIPE, stderr=stderr,
                                close_fds=False, env=git_env(keep))
    except OSError as exc:
        raise _not_started(argv, cwd, exc) from None


def text(completed: subprocess.CompletedProcess[bytes]) -> subprocess.CompletedProcess[str]:
    """The same result with stdout and stderr decoded, for commands whose
    output is meant to be read as text."""
    return subprocess.CompletedProcess(completed.args, completed.returncode,
                                       completed.stdout.decode("utf-8", "replace"),
                                       completed.stderr.decode("utf-8", "replace"))


def _not_started(argv: list[str], cwd: str | os.PathLike[str] | None, exc: OSError) -> GitError:
    # A missing cwd raises the same FileNotFoundError as a missing git.
    if cwd is not None and not os.path.isdir(cwd):
        return GitError(argv, None, "", message=f"{os.fspath(cwd)}: no such folder to run git in")
    import shutil  # only here: it pulls in the compression modules, which the hook never needs

    if isinstance(exc, FileNotFoundError) or shutil.which("git") is None:
        return GitError(argv, None, "", message=NOT_INSTALLED)
    return GitError(argv, None, "", message=f"git could not be started: {exc.strerror or exc}")


PIPE = subprocess.PIPE
