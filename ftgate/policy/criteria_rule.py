"""After Stage 2, changing a ticket's success criteria is a requirement change.

Stage 2 fixes what success means (``SC-001``: ``exact_match >= 0.8``), and
every later stage is judged against it: the plan, the run configs, the Stage
5 closure. A commit that moves the bar once the work is under way (a lower
threshold, another metric, a dropped criterion) makes a failed run pass
without anyone deciding that the requirement was wrong. So a change to the
criteria in ``requirements.md`` is accepted only while the ticket's Stage 2
gate lies ahead of it again:

* before Stage 2 is left (Stages 0 to 2 on the first walk), or
* during a re-entry whose return path walks Stage 2 again and has not left
  it yet (``Requirement Gap`` lands on Stage 2; ``Investigation Gap`` and
  ``Unclear`` pass through it). ``Plan Impact`` goes 1 -> 3 and skips
  Stage 2, so it does not open the criteria.

Either side of the change may show that: the parent (the re-entry was
committed earlier) or the change itself (the re-entry and the new criteria
in one commit; the transition check judges the re-entry, and the Stage 2
gate is walked again after it). Wording, formatting and order that leave
every criterion's terms alone are no change (see
:func:`ftgate.workflow.stated_criteria.criteria_changes`).

Pure, like decide(): the adapter puts the texts it read into
:attr:`TicketInput.requirements <ftgate.policy.types.TicketInput.requirements>`.
It reads them only when :func:`wants` asks, so a commit that does not touch
a ``requirements.md`` reads nothing more, and one that does while its ticket
is at Stage 2 or earlier reads at most the state file (at Stage 1, to tell a
Plan Impact re-entry), not the criteria.
"""

from __future__ import annotations

from collections.abc import Sequence

from ftgate.constants import DONE, IN_PROGRESS, STATE_FILE, TICKETS
from ftgate.policy.types import Change, PathChange, Reason, RequirementsEdit, TicketInput, TicketSide

REQUIREMENTS_FILE = "requirements.md"
RULE = "criteria-changed"
_TAIL = "/" + REQUIREMENTS_FILE
_LAST_OPEN_STAGE = 2


def _ticket_requirements(path: str | None) -> str | None:
    """The ticket name when ``path`` is ``tickets/<in-progress|done>/<name>/requirements.md``."""
    if path is None or not path.endswith(_TAIL):
        return None
    parts = path.split("/")
    if len(parts) == 4 and parts[0] == TICKETS and parts[1] in (IN_PROGRESS, DONE) and parts[2]:
        return parts[2]
    return None


def requirements_edits(paths: Sequence[PathChange]) -> dict[str, tuple[str | None, str | None]]:
    """Tickets whose ``requirements.md`` this change adds, edits, moves or
    deletes: name -> (path on the parent's side, path on the change's side;
    None where it is absent)."""
    out: dict[str, tuple[str | None, str | None]] = {}
    for change in paths:
        old = change.old_path if change.old_path is not None else change.path
        if change.status == "A":
            before, after = None, change.path
        elif change.status == "D":
            before, after = change.path, None
        else:
            before, after = old, change.path
        if change.status == "C":  # a copy leaves its source where it was
            before = None
        names = {_ticket_requirements(p) for p in (before, after)} - {None}
        for name in names:
            assert name is not None
            was, now = out.get(name, (None, None))
            mine_before = before if _ticket_requirements(before) == name else None
            mine_after = after if _ticket_requirements(after) == name else None
            out[name] = (was or mine_before, now or mine_after)
    return out


# ------------------------------------------------------------------ open or not


def _side_open(side: TicketSide) -> bool | None:
    """Whether the criteria may change on this side: the ticket is at Stage
    2 or earlier with no re-entry that skips Stage 2. None: the state's text
    is needed to tell (it was not loaded)."""
    summary = side.summary
    if side.folder is None or summary is None or summary.error or summary.stage is None:
        return False
    if summary.stage > _LAST_OPEN_STAGE:
        return False
    if side.folder.startswith(f"{TICKETS}/{DONE}/"):
        return False
    if summary.stage != 1:
        # Every re-entry that lands on Stage 0 or 2 walks Stage 2 again; only
        # Plan Impact (1 -> 3) sits somewhere below it without doing so.
        return True
    if side.text is None:
        return None
    from ftgate.errors import ReadError
    from ftgate.workflow.model import Stage
    from ftgate.workflow.stages import return_path
    from ftgate.workflow.state import read_state

    try:
        state = read_state(side.text, side.state_path or STATE_FILE).state
    except ReadError:
        return False
    if not state.active_reentry:
        return True
    klass = state.reentry_class or state.reentry.classification
    trigger = state.reentry.trigger_stage
    if klass is None or trigger is None:
        return False
    path = return_path(trigger, klass)
    return path is not None and Stage(_LAST_OPEN_STAGE) in path


def _opened(ticket: TicketInput) -> bool | None:
    """True when either side opens the criteria; None when a side that
    might is not loaded yet."""
    edit = ticket.requirements
    if edit is not None and edit.from_state_parent:
        # A merge that kept another parent's state: that state alone decides,
        # even where the first parent has no such ticket.
        sides: tuple[TicketSide, ...] = (ticket.after,)
    elif ticket.before.folder is None:
        return True  # born in this change: the birth rule judges it
    else:
        sides = (ticket.before, ticket.after)
    unknown = False
    for side in sides:
        got = _side_open(side)
        if got:
            return True
        unknown = unknown or got is None
    return None if unknown else False


def wants(ticket: TicketInput) -> tuple[list[TicketSide], bool]:
    """What the adapter must still load for ``ticket`` (whose
    ``requirements`` is set): the sides whose state text is needed, and
    whether the two ``requirements.md`` texts are."""
    edit = ticket.requirements
    if edit is None:
        return [], False
    need_state = [s for s in (ticket.before, ticket.after) if _side_open(s) is None]
    if need_state:
        return need_state, False
    return [], _opened(ticket) is False and not edit.loaded


# ------------------------------------------------------------------ the rule


def _changes(edit: RequirementsEdit) -> tuple[list[str], str | None]:
    """The criteria changes, or why they cannot be told (fail closed)."""
    for path, text, error in ((edit.before_path, edit.before_text, edit.before_error),
                              (edit.after_path, edit.after_text, edit.after_error)):
        if error is not None:
            return [], f"{path}: {error}"
        if path is not None and text is None:
            return [], f"{path}: its text was not loaded"
    from ftgate.errors import FtgateError
    from ftgate.workflow.stated_criteria import criteria_changes

    try:
        return criteria_changes(edit.before_text or "", edit.after_text or "",
                                edit.after_path or edit.before_path or REQUIREMENTS_FILE), None
    except FtgateError as err:
        return [], err.message


def _where(ticket: TicketInput) -> str:
    """Where the ticket stands, for the message: ``is at Stage 5, past Stage 2``."""
    for side in (ticket.after, ticket.before):
        summary = side.summary
        if side.folder is not None and summary is not None and summary.stage is not None and not summary.error:
            if summary.stage <= _LAST_OPEN_STAGE:
                return (f"is at Stage {summary.stage} in a re-entry that does not walk Stage 2 again "
                        "(or is archived)")
            return f"is at Stage {summary.stage}, past Stage 2,"
    return "has a state that cannot be read, so nothing shows its Stage 2 gate is still ahead,"


def criteria_reasons(change: Change) -> list[Reason]:
    """A refusal for each ticket whose success criteria this change alters
    while its Stage 2 gate is behind it."""
    reasons: list[Reason] = []
    for name, (before_path, after_path) in requirements_edits(change.paths).items():
        path = after_path or before_path or REQUIREMENTS_FILE
        ticket = change.tickets.get(name)
        if ticket is not None and ticket.before.folder is None and ticket.after.folder is None:
            continue  # no state on either side: no ticket whose criteria are fixed
        if ticket is not None and _opened(ticket):
            continue
        if ticket is None or ticket.requirements is None:
            reasons.append(Reason(path, RULE, f"ticket {name!r}: {path} changes, but the ticket's state or the "
                                              "file's two versions could not be loaded to compare its criteria",
                                  "report this as an ftgate bug"))
            continue
        changed, problem = _changes(ticket.requirements)
        if problem is None and not changed:
            continue
        where = _where(ticket)
        fix = (f"a change to the success criteria after Stage 2 is a requirement change: re-enter with "
               f"`ftgate reenter {name} --class \"Requirement Gap\" --reason \"...\"` (back to Stage 2, "
               f"locked), commit that, then change the criteria and walk the Stage 2 gate again "
               f"(`ftgate advance {name}`); or keep the criteria as they were")
        if problem is not None:
            reasons.append(Reason(path, RULE, f"ticket {name!r} {where} and its "
                                              f"{REQUIREMENTS_FILE} changes, but one version cannot be read "
                                              f"({problem}), so a change to its success criteria cannot be ruled "
                                              "out", f"make the file UTF-8 markdown again; {fix}"))
            continue
        reasons.append(Reason(path, RULE, f"ticket {name!r} {where} and this change alters "
                                          f"its success criteria in {path}: " + "; ".join(changed), fix))
    return reasons
