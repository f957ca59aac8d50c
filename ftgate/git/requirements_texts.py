"""Both versions of a ticket's ``requirements.md``, read from git for the
rule on success criteria after Stage 2 (:mod:`ftgate.policy.criteria_rule`).

The judge calls :func:`load` with every unit of a batch; only units whose
diff touches a ticket's ``requirements.md`` cost anything, and for those the
rule's :func:`~ftgate.policy.criteria_rule.wants` says what to read: the
state file's text when the ticket sits at Stage 2 or earlier (is a re-entry
under way, and does it walk Stage 2?), the two versions of the file only when
the ticket is past Stage 2. Each round is one ``cat-file --batch-check`` and
one ``cat-file --batch`` for the whole batch, and there are at most two.

stdlib only: this runs inside the commit hook.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from ftgate import proc
from ftgate.git import plumbing as pl
from ftgate.limits import STATE_FILE_MAX_BYTES
from ftgate.policy.types import Change, RequirementsEdit, TicketInput, TicketSide

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    class Unit(Protocol):
        """What this module reads of a judge unit (ftgate.git.judge.Unit)."""

        after: str
        before: str | None

_ROUNDS = 2  # state texts, then (only for a ticket those leave undecided) the criteria


def load(results: Sequence[tuple[Unit, Change, object]], *, cwd: str | None = None,
         keep: Collection[str] = proc.KEEP_NONE) -> None:
    todo: list[tuple[Unit, TicketInput]] = []
    for unit, change, _ in results:
        if not _touches(change):
            continue
        from ftgate.policy.criteria_rule import requirements_edits

        for name, (before, after) in requirements_edits(change.paths).items():
            ticket = change.tickets.get(name)
            if ticket is not None:
                ticket.requirements = RequirementsEdit(before, after)
                todo.append((unit, ticket))
    if not todo:
        return
    from ftgate.policy.criteria_rule import wants

    for _ in range(_ROUNDS):
        states: dict[str, list[TicketSide]] = {}
        texts: list[tuple[Unit, TicketInput]] = []
        for unit, ticket in todo:
            sides, need_texts = wants(ticket)
            for side in sides:
                if side.blob:
                    states.setdefault(side.blob, []).append(side)
            if need_texts:
                texts.append((unit, ticket))
        if not states and not texts:
            return
        names: dict[str, None] = {}
        for unit, ticket in texts:
            edit = ticket.requirements
            assert edit is not None
            if edit.before_path is not None and unit.before is not None:
                names[f"{unit.before}:{edit.before_path}"] = None
            if edit.after_path is not None:
                names[f"{unit.after}:{edit.after_path}"] = None
        found = pl.batch_check(list(names), cwd=cwd, keep=keep) if names else {}
        oids = [hit[0] for hit in found.values() if hit is not None and hit[1] == "blob"]
        contents = pl.read_objects([*states, *oids], cwd=cwd, keep=keep)
        for blob, sides in states.items():
            data = contents.get(blob)
            if data is not None:
                for side in sides:
                    side.text = data.decode("utf-8", "replace")
        for unit, ticket in texts:
            edit = ticket.requirements
            assert edit is not None
            edit.before_text, edit.before_error = _text(found, contents, unit.before, edit.before_path)
            edit.after_text, edit.after_error = _text(found, contents, unit.after, edit.after_path)
            edit.loaded = True


def _touches(change: Change) -> bool:
    return any(p.path.endswith("/requirements.md")
               or (p.old_path is not None and p.old_path.endswith("/requirements.md")) for p in change.paths)


def _text(found: dict[str, tuple[str, str] | None], contents: dict[str, bytes], rev: str | None,
          path: str | None) -> tuple[str | None, str | None]:
    """A version's text, or why it cannot be read; an absent file reads as
    empty (no criteria)."""
    if path is None or rev is None:
        return "", None
    hit = found.get(f"{rev}:{path}")
    if hit is None:
        return None, "it could not be found in git"
    if hit[1] != "blob":
        return None, f"it is a {hit[1]}, not a file"
    data = contents.get(hit[0])
    if data is None:
        return None, "it could not be read from git"
    if len(data) > STATE_FILE_MAX_BYTES:
        return None, f"it is {len(data)} bytes, more than the {STATE_FILE_MAX_BYTES} a ticket's markdown may have"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, f"it is not UTF-8 text (byte {exc.start})"
