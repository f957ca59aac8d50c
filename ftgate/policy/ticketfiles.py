"""What a ticket folder may hold: one allow-list, checked by every door.

Nothing under ``tickets/`` is source, so nothing there needs Stage 4 Unlocked.
That is only safe while nothing there can run: ``tickets/conftest.py`` is
collected by a plain ``pytest``, an executable can be called by a script, a
symlink can point anywhere, a submodule brings another repository. So a
change may add or modify under ``tickets/`` only the file types of
``ftgate.constants.TICKET_FILE_TYPES`` (markdown, signatures, evidence
json/jsonl/csv, plots), as regular files (mode ``100644``), each under its
size cap. Deleting anything is allowed: it removes what should not be there.

stdlib only: decide() calls it on every commit.
"""

from __future__ import annotations

from collections.abc import Sequence

from ftgate.constants import REGULAR_FILE_MODE, TICKET_FILE_TYPES, TICKETS_SLASH
from ftgate.policy.types import PathChange, Reason, show_path

RULE = "ticket-file-type"
_KINDS = {"100755": "an executable", "120000": "a symbolic link", "160000": "a submodule (gitlink)",
          "040000": "a folder entry"}


def allowed_types() -> str:
    return ", ".join(f"*{suffix}" for suffix in TICKET_FILE_TYPES)


def ticket_file_reasons(paths: Sequence[PathChange]) -> list[Reason]:
    """A refusal for each path a change writes under ``tickets/`` that the
    allow-list does not admit; empty when every one is admitted."""
    reasons: list[Reason] = []
    for change in paths:
        path = change.path
        if change.status == "D" or not path.startswith(TICKETS_SLASH):
            continue
        problem = _problem(change)
        if problem is not None:
            reasons.append(Reason(path, RULE, f"{change.describe()}: {problem}",
                                  f"move it out of {TICKETS_SLASH} (code belongs in the source tree, changed at "
                                  f"Stage 4 Unlocked); a ticket folder holds only {allowed_types()} as plain files"))
    return reasons


def _problem(change: PathChange) -> str | None:
    if change.mode is not None and change.mode != REGULAR_FILE_MODE:
        kind = _KINDS.get(change.mode, f"of git mode {change.mode}")
        return (f"{kind} may not live in a ticket folder: nothing under {TICKETS_SLASH} is source, "
                "so it would never be judged")
    name = change.path.rsplit("/", 1)[-1].lower()
    dot = name.rfind(".")
    suffix = name[dot:] if dot > 0 else ""
    cap = TICKET_FILE_TYPES.get(suffix)
    if cap is None:
        what = f"`{suffix}` files" if suffix else "files without a known suffix"
        return (f"{what} may not live in a ticket folder: nothing under {TICKETS_SLASH} is source, so code "
                f"there would never be judged (a ticket folder holds {allowed_types()})")
    if change.size is not None and change.size > cap:
        return (f"{show_path(change.path)} is {change.size} bytes, more than the {cap} bytes a ticket's "
                f"`{suffix}` file may have")
    return None
