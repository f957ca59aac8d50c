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
from ftgate.constants import DONE, IN_PROGRESS, STATE_FILE, TICKETS
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
        criteria_base: dict[str, str] | None

    class MergeUnit(Unit, Protocol):
        """What :func:`add_merge_edits` reads and extends of a unit."""

        merge: bool
        others: tuple[str, ...]
        entries: list[pl.RawEntry]

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
                base = unit.criteria_base or {}
                ticket.requirements.from_state_parent = before is not None and before in base
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
            before_rev = _before_rev(unit, edit.before_path)
            if edit.before_path is not None and before_rev is not None:
                names[f"{before_rev}:{edit.before_path}"] = None
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
            edit.before_text, edit.before_error = _text(found, contents, _before_rev(unit, edit.before_path),
                                                        edit.before_path)
            edit.after_text, edit.after_error = _text(found, contents, unit.after, edit.after_path)
            edit.loaded = True


def _before_rev(unit: Unit, path: str | None) -> str | None:
    base = unit.criteria_base
    if base is not None and path is not None and path in base:
        return base[path]
    return unit.before


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


_REQUIREMENTS = "requirements.md"
_FOLDERS = (f"{TICKETS}/{IN_PROGRESS}", f"{TICKETS}/{DONE}")
_TREE_MODE = "40000"


def add_merge_edits(units: Sequence[MergeUnit], *, oid_len: int = 40, cwd: str | None = None,
                    keep: Collection[str] = proc.KEEP_NONE) -> None:
    """Give each merge the ``requirements.md`` edits its combined diff hides.

    ``diff-tree --cc`` leaves out a path the merge takes unchanged from one
    parent. A merge that keeps the first parent's ``workflow-state.md`` (a
    ticket past Stage 2) but takes another parent's ``requirements.md`` (new
    criteria made on a branch during a re-entry) would then put criteria on
    the branch whose Stage 2 gate was never walked again, with nothing for
    the criteria rule to see; and one made the other way round (the first
    parent is the re-entry branch, the state comes from the other) would
    be judged against a parent whose open re-entry allows anything.

    So unless the merge took a ticket's ``requirements.md`` and its state
    together from one parent (whose own commits were judged with them), its
    criteria are judged against the parent whose state the merge kept (the
    first parent when it kept none): the edit is added to the merge's entries
    where the combined diff hides it, and ``criteria_base`` names that parent
    when it is not the first. Lookups only: a handful of names per merge
    through the run's cat-file processes."""
    merges = [u for u in units if u.merge and u.before is not None and u.others]
    if not merges:
        return
    listed = pl.batch_check([f"{rev}:{folder}" for u in merges for rev in (u.after, u.before, *u.others)
                             for folder in _FOLDERS], cwd=cwd, keep=keep)

    def same_tickets(unit: MergeUnit, parent: str) -> bool:
        return all(listed.get(f"{unit.after}:{f}") == listed.get(f"{parent}:{f}") for f in _FOLDERS)

    # Most merges take every ticket folder whole from one parent: nothing to look at.
    merges = [u for u in merges if not any(same_tickets(u, p) for p in (u.before, *u.others) if p is not None)]
    if not merges:
        return
    trees = pl.read_objects([hit[0] for u in merges for rev in (u.after, u.before) for f in _FOLDERS
                             if (hit := listed.get(f"{rev}:{f}")) is not None and hit[1] == "tree"],
                            cwd=cwd, keep=keep)
    plans: list[tuple[MergeUnit, list[str]]] = []
    names: dict[str, None] = {}
    for unit in merges:
        seen: dict[str, None] = {}
        for rev in (unit.after, unit.before):
            for folder in _FOLDERS:
                hit = listed.get(f"{rev}:{folder}")
                data = trees.get(hit[0]) if hit is not None and hit[1] == "tree" else None
                if data is None:
                    continue
                for mode, name, _ in pl.tree_entries(data, oid_len):
                    if mode == _TREE_MODE and "\n" not in name:
                        seen[f"{folder}/{name}"] = None
        if seen:
            plans.append((unit, list(seen)))
            for folder in seen:
                for rev in (unit.after, unit.before, *unit.others):
                    names[f"{rev}:{folder}/{_REQUIREMENTS}"] = None
                    names[f"{rev}:{folder}/{STATE_FILE}"] = None
    if not names:
        return
    found = pl.batch_check(list(names), cwd=cwd, keep=keep)

    def oid(rev: str, path: str) -> str | None:
        hit = found.get(f"{rev}:{path}")
        return hit[0] if hit is not None else None

    zero = "0" * oid_len
    for unit, folders in plans:
        assert unit.before is not None
        parents = (unit.before, *unit.others)
        shown = {e.path for e in unit.entries}
        for folder in folders:
            req, state = f"{folder}/{_REQUIREMENTS}", f"{folder}/{STATE_FILE}"
            now, now_state = oid(unit.after, req), oid(unit.after, state)
            if any(oid(p, req) == now and oid(p, state) == now_state for p in parents):
                continue  # file and state together from one parent, judged there
            # The parent whose state the merge kept: its criteria are the ones
            # that state was reached with. Else the first parent's, as for a commit.
            donor = next((p for p in parents if now_state is not None and oid(p, state) == now_state),
                         unit.before)
            was = oid(donor, req)
            if now == was:
                continue
            if donor != unit.before:
                unit.criteria_base = {**(unit.criteria_base or {}), req: donor}
            if req in shown:
                continue  # the combined diff lists it already
            status = "A" if was is None else "D" if now is None else "M"
            unit.entries.append(pl.RawEntry(status, req, None, "000000" if was is None else "100644",
                                            "000000" if now is None else "100644", was or zero, now or zero))
