"""Bounds on what ftgate reads and how long a hook may think, written once.

Everything a pusher controls (a state file, ``ftgate.yaml``, an evidence
file, the number of commits) reaches the server hook. An unbounded input is
a way to hold the hook or to make it run out of memory, and a hook that
crashes or times out without a verdict is a door left open. So every reader
checks its input against a cap here, and each hook run has a wall-clock
budget after which it refuses the push (it fails closed).

A leaf: stdlib only, cheap to import (the commit hook reads it).
"""

from __future__ import annotations

import os

#: A ``workflow-state.md`` or another ticket markdown file the gates read.
STATE_FILE_MAX_BYTES = 256 * 1024
#: ``ftgate.yaml``.
CONFIG_FILE_MAX_BYTES = 64 * 1024
#: One evidence file of a run folder (run.json, metrics.json, samples, a plot).
EVIDENCE_FILE_MAX_BYTES = 64 * 1024 * 1024
#: An input or the weights a run hashes (a data file, a prepared-data or
#: weights folder): large for honest runs, but bounded.
EVIDENCE_TREE_MAX_BYTES = 64 * 1024 * 1024 * 1024
#: Files in such a folder.
EVIDENCE_TREE_MAX_FILES = 100_000

#: Seconds one hook run may take before it refuses; the server can change it.
HOOK_BUDGET_ENV = "FTGATE_HOOK_BUDGET"
HOOK_BUDGET_DEFAULT_S = 120.0

_ASCII_DIGITS = frozenset("0123456789")


def is_ascii_digits(text: str) -> bool:
    """True for a non-empty run of 0-9 only. ``str.isdigit`` and regex ``\\d``
    also accept other scripts' digits, which ``int`` then reads, so two
    readers could disagree on what a file says."""
    return bool(text) and all(ch in _ASCII_DIGITS for ch in text)


def ascii_int(text: str, *, max_digits: int = 9) -> int | None:
    """The value of an ASCII digit string, or None (not digits, or longer than
    ``max_digits``: ``int`` of thousands of digits is slow and then raises)."""
    if len(text) > max_digits or not is_ascii_digits(text):
        return None
    return int(text)


def too_big(size: int, cap: int, label: str, what: str) -> str | None:
    """A one-line refusal when ``size`` bytes exceed ``cap``, else None."""
    if size <= cap:
        return None
    return f"{label}: {what} is {size} bytes, more than ftgate reads ({cap} bytes)"


class BudgetExhausted(Exception):  # noqa: N818 - it reads as what happened
    """The hook's wall-clock budget ran out; the push is refused."""

    def __init__(self, seconds: float, what: str) -> None:
        super().__init__(f"{what}: ftgate's time budget of {seconds:g} s ran out before a verdict")
        self.seconds = seconds
        self.what = what


def hook_budget(environ: dict[str, str] | None = None) -> float:
    """The budget in seconds (``FTGATE_HOOK_BUDGET``; 0 or less: none).
    A value that is not a number gives the default, never no budget."""
    raw = (os.environ if environ is None else environ).get(HOOK_BUDGET_ENV, "")
    try:
        value = float(raw) if raw.strip() else HOOK_BUDGET_DEFAULT_S
    except ValueError:
        return HOOK_BUDGET_DEFAULT_S
    if value != value:  # NaN
        return HOOK_BUDGET_DEFAULT_S
    return value


class time_budget:  # noqa: N801 - used like a function: ``with time_budget(...):``
    """Raise :class:`BudgetExhausted` inside the block once ``seconds`` have
    passed. A real-time interval timer interrupts even a blocked read or a
    wait on git, where a polled deadline would never be looked at. Only the
    main thread of a POSIX process can own the timer; elsewhere (and for a
    budget <= 0) the block runs unbounded. A class, not contextlib: the
    commit hook pays for every import."""

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds = seconds
        self.what = what
        self._previous: object = None
        self._armed = False

    def _expire(self, signum: int, frame: object) -> None:
        raise BudgetExhausted(self.seconds, self.what)

    def __enter__(self) -> time_budget:
        import signal

        if self.seconds <= 0 or not hasattr(signal, "setitimer"):
            return self
        try:
            self._previous = signal.signal(signal.SIGALRM, self._expire)
        except ValueError:  # not the main thread
            return self
        self._armed = True
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._armed:
            return
        import signal

        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._previous)  # type: ignore[arg-type]
        self._armed = False
