"""What a ticket name may be, in a leaf of its own.

A ticket name becomes a folder (``tickets/in-progress/<name>``) and a branch
(``codex/<name>``), and arrives from many places: the branch a change is for,
``FTGATE_TICKET``, ``ftgate.yaml``'s ``ticket``, and the folder names inside
a pushed tree. Every door asks this one function, so a name like ``a/b`` that
would put a ticket one folder deeper than the hook looks is refused the same
way everywhere. It imports nothing: the commit hook reads it for free.
"""

from __future__ import annotations

_ALLOWED = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")
MAX_LENGTH = 100


_KNOWN: dict[str, str | None] = {}  # a push judges one name thousands of times


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a ticket name (lowercase ASCII letters, digits,
    ``.``, ``_`` and ``-``; no ``..``; no leading dot, dash or underscore;
    no ``.lock`` or ``.`` ending, which git refuses in branch names), or
    None when it is one."""
    if not name:
        return "is empty"
    if len(name) > MAX_LENGTH:
        return f"is longer than {MAX_LENGTH} characters"
    if "/" in name or "\\" in name:
        return "contains a slash"
    if ".." in name:
        return "contains `..`"
    if name[0] in ".-_":
        return "starts with a dot, dash or underscore"
    if not all(ch in _ALLOWED for ch in name):
        return "may only hold lowercase letters, digits, `.`, `_` and `-`"
    if name.endswith((".lock", ".")):
        return "ends with `.lock` or `.`, which git refuses in branch names"
    return None
