"""Errors that reach users as messages, never as tracebacks.

Exit codes are one table for every command:
0 fine, 1 a gate or policy finding, 2 bad usage, bad config or a file ftgate
cannot read.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


class FtgateError(Exception):
    """A problem the user can fix; ``str(err)`` is the whole message."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  fix: {self.hint}"
        return self.message


class ReadError(FtgateError):
    """A ticket file that cannot be read without guessing.

    ``path`` and ``lines`` point at the place; the message says what was
    expected there.
    """

    def __init__(
        self,
        path: str,
        lines: tuple[int, ...],
        message: str,
        *,
        hint: str | None = None,
    ) -> None:
        where = path
        if lines:
            where += ":" + ",".join(str(n) for n in lines)
        super().__init__(f"{where}: {message}", hint=hint)
        self.path = path
        self.lines = lines
        self.detail = message


class GateRefused(FtgateError):
    """A transition the workflow does not allow right now."""

    exit_code = EXIT_FINDINGS
