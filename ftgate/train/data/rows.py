"""The rows of a split once read: usable examples, and the problems of the rest.

Plain data shared by every step of the preparation; nothing here reads a
file or a tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ALLOWED_ROLES = frozenset({"system", "user", "assistant", "tool"})


PROMPT_ROLES = frozenset({"system", "user", "tool"})


# Reasons a row is dropped before tokenization (check 7 reports them).
MALFORMED = "malformed"


WRONG_ROLE = "wrong_role"


EMPTY_TARGET = "empty_target"


@dataclass(frozen=True, slots=True)
class RowProblem:
    source: str  # "file:line" or "file row N"
    kind: str  # MALFORMED / WRONG_ROLE / EMPTY_TARGET
    message: str


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: str  # as written in the config
    sha256: str
    rows: int


@dataclass(slots=True)
class Row:
    """One usable example, normalized.

    ``prompt`` is a list of messages, or a string for pre-rendered text;
    ``targets`` holds one completion (SFT) or two (chosen, rejected), each a
    list of assistant messages or a string. For the ``messages`` format the
    whole conversation is ``prompt + targets[0]`` split at the last
    assistant turn, and ``messages`` keeps it whole.
    """

    source: str
    prompt: list[dict[str, Any]] | str
    targets: list[list[dict[str, Any]] | str]
    messages: list[dict[str, Any]] | None = None


@dataclass(slots=True)
class SplitRows:
    name: str
    files: list[SourceFile]
    rows: list[Row]
    problems: list[RowProblem]
    read: int


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
