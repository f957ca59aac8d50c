"""The one decision: may this change land?

``decide(change, policy)`` is pure: no git, no files, no clock. Every door
(pre-commit, pre-push, pre-receive, update, CI) gathers a :class:`Change`
from its own source and asks it, so the rule lives in one place:

* a change to a source path is allowed only when the governing ticket shows
  ``Current Stage = 4`` and ``Code Edit Permission = Unlocked`` on the
  change's own side (the index, or the commit's tree);
* a change to a ticket's ``workflow-state.md`` must be one legal step of the
  workflow (see :mod:`ftgate.policy.steps`);
* a state file that cannot be read for certain blocks (fail closed).
* a change may not take ``ftgate.yaml`` away where a policy is in force
  (the adapter says how it does, in ``Change.config_removed``).

stdlib only at import time: the transition check imports the workflow's gate
validators, and only when a change actually edits a state file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ftgate.constants import (
    BRANCH_PREFIX,
    CONFIG_FILE,
    DONE,
    IN_PROGRESS,
    STATE_FILE,
    TICKETS,
    TICKETS_SLASH,
)
from ftgate.policy.ticketfiles import ticket_file_reasons
from ftgate.policy.types import (
    STATUS_WORDS,
    Change,
    PathChange,
    PolicyLike,
    Reason,
    StateSummary,
    TicketInput,
    TicketSide,
    Verdict,
    ascii_escape,
    show_path,
)
from ftgate.records import record
from ftgate.ticketname import name_problem

# The adapters import the input types and shared names from here too; the
# types themselves live in ftgate.policy.types so steps need not import decide.
__all__ = [
    "BRANCH_PREFIX", "CONFIG_FILE", "DONE", "IN_PROGRESS", "STATE_FILE", "STATUS_WORDS", "TICKETS", "TICKETS_SLASH",
    "Change", "Governing", "Needs", "PathChange", "PolicyLike", "Reason", "StateSummary", "TicketInput",
    "TicketSide", "Verdict", "ascii_escape", "decide", "governing_ticket", "needs", "show_path", "source_changes",
    "state_changes", "ticket_folders", "ticket_of_path", "touched_tickets",
]


# ------------------------------------------------------------------ helpers


def ticket_of_path(path: str) -> tuple[str, str] | None:
    """``tickets/in-progress/<name>/...`` -> (name, folder), also for done."""
    if not path.startswith(TICKETS_SLASH):  # most paths: no split, no list
        return None
    parts = path.split("/", 3)
    if len(parts) >= 4 and parts[0] == TICKETS and parts[1] in (IN_PROGRESS, DONE) and parts[2]:
        return parts[2], f"{TICKETS}/{parts[1]}/{parts[2]}"
    return None


def ticket_folders(name: str) -> tuple[str, str]:
    return f"{TICKETS}/{IN_PROGRESS}/{name}", f"{TICKETS}/{DONE}/{name}"


def _sides(change: PathChange) -> tuple[str, ...]:
    if change.old_path is not None and change.old_path != change.path:
        return (change.old_path, change.path)
    return (change.path,)


def source_changes(paths: Sequence[PathChange], is_source: Callable[[str], bool]) -> list[PathChange]:
    """Changes that touch source on either side: deleting or renaming away a
    source file is a source change too."""
    return [c for c in paths if is_source(c.path)
            or (c.old_path is not None and c.old_path != c.path and is_source(c.old_path))]


def _in_tickets(change: PathChange) -> bool:
    return change.path.startswith(TICKETS_SLASH) or (change.old_path is not None
                                                     and change.old_path.startswith(TICKETS_SLASH))


def touched_tickets(paths: Sequence[PathChange]) -> list[str]:
    names: dict[str, None] = {}
    for change in paths:
        if not _in_tickets(change):
            continue
        for p in _sides(change):
            hit = ticket_of_path(p)
            if hit:
                names[hit[0]] = None
    return list(names)


def state_changes(paths: Sequence[PathChange]) -> list[str]:
    """Tickets whose ``workflow-state.md`` this change adds, edits, moves or
    deletes."""
    names: dict[str, None] = {}
    for change in paths:
        if not _in_tickets(change):
            continue
        for p in _sides(change):
            hit = ticket_of_path(p)
            if hit and p == f"{hit[1]}/{STATE_FILE}":
                names[hit[0]] = None
    return list(names)


def layout_problem(path: str) -> str | None:
    """Why a path under ``tickets/`` is not where a ticket's file may be:
    every ``workflow-state.md`` at any depth is a state file, and it counts
    only as ``tickets/<in-progress|done>/<name>/workflow-state.md`` with a
    valid name; a ticket folder must have a valid name too. None: fine."""
    if not path.startswith(TICKETS_SLASH):
        return None
    parts = path.split("/")
    in_ticket = len(parts) >= 4 and parts[1] in (IN_PROGRESS, DONE)
    if in_ticket:
        problem = name_problem(parts[2])
        if problem is not None:
            return f"the ticket folder name {parts[2]!r} {problem}"
    if parts[-1] == STATE_FILE and not (in_ticket and len(parts) == 4):
        return (f"a {STATE_FILE} belongs directly in tickets/{IN_PROGRESS}/<name>/ or tickets/{DONE}/<name>/; "
                "a state file anywhere else (a nested ticket folder) is refused")
    return None


@record(slots=True)
class Governing:
    ticket: str | None
    source: str
    problem: str | None = None


def _named(name: str, source: str) -> Governing:
    problem = name_problem(name)
    if problem is not None:
        return Governing(None, source, f"the ticket name {name!r} from {source} {problem}")
    return Governing(name, source)


def governing_ticket(change: Change, policy: PolicyLike) -> Governing:
    """Which ticket a change belongs to, from the change itself: named
    outright, else the branch ``codex/<name>``, else the single ticket whose
    folder the change touches, else the config's ``ticket``, else the one
    ticket in progress that the commit's own tree carries at Stage 4
    Unlocked (when the adapter loaded the tickets in progress). Being the
    only ticket in progress no longer governs by itself: such a ticket is
    named only when it is locked, so that the refusal says where it
    stands. A name that
    is not a valid ticket name governs nothing: ``codex/a/b`` would point
    one folder deeper than any state file is looked for."""
    if change.explicit_ticket:
        return _named(change.explicit_ticket, "FTGATE_TICKET")
    if change.branch and change.branch.startswith(BRANCH_PREFIX) and len(change.branch) > len(BRANCH_PREFIX):
        return _named(change.branch[len(BRANCH_PREFIX):], f"branch {change.branch}")
    touched = touched_tickets(change.paths)
    if len(touched) == 1:
        return _named(touched[0], "the ticket folder this change touches")
    if policy.ticket:
        return _named(policy.ticket, "ftgate.yaml `ticket`")
    if len(touched) > 1:
        return Governing(None, "", f"the change touches several ticket folders ({', '.join(sorted(touched))})")
    if change.in_progress:
        unlocked = []
        tickets = change.tickets
        if tickets:
            for name in change.in_progress:
                ticket = tickets.get(name)
                summary = ticket.after.summary if ticket is not None else None
                if summary is not None and summary.source_edits_allowed and name_problem(name) is None:
                    unlocked.append(name)
        if len(unlocked) == 1:
            return Governing(unlocked[0], "the ticket this commit carries at Stage 4 Unlocked")
        if len(unlocked) > 1:
            return Governing(None, "", "several tickets are at Stage 4 Unlocked ("
                             + ", ".join(sorted(unlocked)) + ") and nothing says which one this is")
        if len(change.in_progress) == 1:
            # Locked (or not loaded yet): naming it only makes the refusal
            # say where the ticket stands; a locked ticket allows nothing.
            return Governing(change.in_progress[0], "the only ticket in progress, which is not at Stage 4 Unlocked"
                             if change.in_progress[0] in change.tickets else "the only ticket in progress")
        return Governing(None, "", "several tickets are in progress (" + ", ".join(sorted(change.in_progress))
                         + ") and none of them is at Stage 4 Unlocked in this change")
    return Governing(None, "", None)


@record(slots=True)
class Needs:
    """What an adapter must load before calling decide()."""

    tickets: list[str]
    in_progress_listing: bool


def needs(change: Change, policy: PolicyLike) -> Needs:
    names = dict.fromkeys(state_changes(change.paths))
    names.update(dict.fromkeys(_criteria_tickets(change.paths)))
    listing = False
    if source_changes(change.paths, policy.is_source):
        gov = governing_ticket(change, policy)
        if gov.ticket is None and gov.problem is None:
            listing = change.in_progress is None
        elif gov.ticket is not None:
            names[gov.ticket] = None
    return Needs(list(names), listing)


# ------------------------------------------------------------------ decide


def decide(change: Change, policy: PolicyLike) -> Verdict:
    """Judge one change (the staged changes, or one commit against its
    parent). Returns every reason it is refused, not only the first."""
    reasons: list[Reason] = []
    notes: list[str] = []
    if change.config_error:
        reasons.append(Reason(CONFIG_FILE, "config-invalid", change.config_error,
                              change.config_hint or "fix the file; `ftgate config schema` prints what it may hold"))
    if change.config_removed:
        reasons.append(_config_removed(change.config_removed))

    reasons += ticket_file_reasons(change.paths)
    for path_change in change.paths:
        if path_change.status == "D" or not path_change.path.startswith(TICKETS_SLASH):
            continue
        problem = layout_problem(path_change.path)
        if problem is not None:
            reasons.append(Reason(path_change.path, "ticket-layout", f"{show_path(path_change.path)}: {problem}",
                                  "keep each ticket in tickets/in-progress/<name>/ with a name of lowercase "
                                  "letters, digits, `.`, `_` and `-`"))

    changed_states = state_changes(change.paths)
    if changed_states:
        from ftgate.policy.steps import check_transition

        for name in changed_states:
            ticket = change.tickets.get(name)
            if ticket is None:
                reasons.append(Reason(f"{TICKETS}/.../{name}/{STATE_FILE}", "state-not-loaded",
                                      f"ticket {name!r}: its state change could not be read",
                                      "report this as an ftgate bug"))
                continue
            notes += ticket.evidence_notes
            step_reasons, step_notes = check_transition(ticket)
            reasons += step_reasons
            notes += step_notes

    if _criteria_tickets(change.paths):
        from ftgate.policy.criteria_rule import criteria_reasons

        reasons += criteria_reasons(change)

    source = source_changes(change.paths, policy.is_source)
    verdict = Verdict(False, reasons, source_paths=source, notes=notes)
    if not source:
        verdict.allowed = not reasons
        return verdict

    gov = governing_ticket(change, policy)
    verdict.ticket, verdict.ticket_source = gov.ticket, gov.source
    if gov.ticket is None:
        if policy.untracked_source == "allow" and gov.problem is None:
            notes.append(f"{len(source)} source change(s) belong to no ticket; ftgate.yaml allows that "
                         "(untracked_source: allow)")
        else:
            why = gov.problem or "no ticket governs it (no codex/<ticket> branch, no ticket folder in the change, " \
                                 "no `ticket` in ftgate.yaml, no ticket in progress at Stage 4 Unlocked)"
            fix = ("name the ticket: work on branch codex/<ticket> or set FTGATE_TICKET=<ticket>"
                   if gov.problem else
                   "start a ticket and walk it to Stage 4: ftgate ticket new NAME (then ftgate advance ... "
                   "ftgate unlock), or set `untracked_source: allow` in ftgate.yaml")
            for c in source:
                reasons.append(Reason(c.path, "no-ticket", f"{c.describe()}: source change, but {why}", fix))
        verdict.allowed = not reasons
        return verdict

    name = gov.ticket
    ticket = change.tickets.get(name)
    after = ticket.after if ticket else None
    if after is None or after.folder is None:
        in_progress, _ = ticket_folders(name)
        deleted = ticket is not None and ticket.before.folder is not None
        what = "is deleted by this change" if deleted else "is not there"
        reasons.append(Reason(f"{in_progress}/{STATE_FILE}", "state-missing",
                              f"ticket {name!r} (from {gov.source}) governs {len(source)} source change(s), but "
                              f"its {STATE_FILE} {what}, so its stage is unknown",
                              f"restore {in_progress}/{STATE_FILE}, or start the ticket: ftgate ticket new {name}"))
    elif after.summary is None or after.summary.error:
        summary = after.summary
        message = summary.error if summary and summary.error else "the state file could not be read"
        if message.startswith(STATE_FILE) and after.state_path:
            # Summaries are cached per blob, so they name the file generically.
            message = after.state_path + message[len(STATE_FILE):]
        reasons.append(Reason(after.state_path or "", "state-unreadable",
                              f"{message} (ticket {name!r} governs {len(source)} source change(s); "
                              "an unreadable state blocks them)",
                              (summary.hint if summary and summary.hint else
                               f"fix the file so it reads unambiguously: ftgate validate {name}")))
    elif after.folder.startswith(f"{TICKETS}/{DONE}/") and not _is_squash(ticket):
        reasons.append(Reason(after.state_path or "", "ticket-archived",
                              f"ticket {name!r} (from {gov.source}) is archived in {after.folder}; an archived "
                              f"ticket governs no source change",
                              f"reopen it (ftgate reopen {name} --stage 4), walk to Stage 4 and unlock it, "
                              "or start a new ticket"))
    elif not after.summary.source_edits_allowed and not _is_squash(ticket):
        # (a squash's source is judged with its ticket by the transition check)
        summary = after.summary
        where = f"Stage {summary.stage} ({'Unlocked' if summary.unlocked else 'Locked'})"
        fix = _fix_for_locked(name, summary, staged=change.label.startswith("staged changes"))
        for c in source:
            reasons.append(Reason(c.path, "source-locked",
                                  f"{c.describe()}: source may change only at Stage 4 Unlocked; ticket {name!r} "
                                  f"(from {gov.source}) is at {where}", fix))
    elif not _unlocked_before(ticket) and not _is_squash(ticket):
        more = f" (and {len(source) - 1} more)" if len(source) > 1 else ""
        reasons.append(Reason(source[0].path, "unlock-not-committed",
                              f"{source[0].describe()}{more}: ticket {name!r} is not at Stage 4 Unlocked in the "
                              "parent of this change: the unlock must be committed on its own before any source "
                              "change",
                              f"commit the unlock first (ftgate unlock {name}; git commit), then the source "
                              "change in a later commit"))
    elif ticket is not None and ticket.approvals is not None:
        from ftgate.policy.approvals import source_reasons

        reasons += source_reasons(ticket, len(source))
    verdict.allowed = not reasons
    return verdict


def _criteria_tickets(paths: Sequence[PathChange]) -> list[str]:
    """Tickets whose requirements.md the change touches; the rule's module
    is imported only when there is one."""
    for change in paths:
        if change.path.endswith(_REQUIREMENTS_TAIL) or (change.old_path is not None
                                                         and change.old_path.endswith(_REQUIREMENTS_TAIL)):
            from ftgate.policy.criteria_rule import requirements_edits

            return list(requirements_edits(paths))
    return []


_REQUIREMENTS_TAIL = "/requirements.md"


def _config_removed(how: str) -> Reason:
    # Without this, a removal followed by a looser ftgate.yaml would pass as
    # an adoption, which applies only where no policy is in force.
    return Reason(CONFIG_FILE, "config-removed",
                  f"{CONFIG_FILE} is {how}; a policy cannot be removed by a commit or a push",
                  f"keep {CONFIG_FILE} in this change. To loosen the policy, edit {CONFIG_FILE} (the edit is "
                  "judged under the old and the new policy); to stop enforcing it, an administrator removes "
                  "the server hook and the CI check")


def _unlocked_before(ticket: TicketInput | None) -> bool:
    if ticket is None or ticket.before.folder is None or ticket.before.summary is None:
        return False
    return ticket.before.folder == ticket.after.folder and ticket.before.summary.source_edits_allowed


def _is_squash(ticket: TicketInput | None) -> bool:
    if ticket is None or ticket.before.folder is not None:
        return False  # the common case, decided without importing the approvals module
    from ftgate.policy.approvals import is_squash

    return is_squash(ticket)


def _fix_for_locked(name: str, summary: StateSummary, *, staged: bool = True) -> str:
    stage = summary.stage if summary.stage is not None else -1
    if stage < 4:
        # At commit time the fix is in the index; for a commit already made
        # (push, server, CI) it has to be taken out of the history.
        undo = ("unstage the source files (git restore --staged PATH)" if staged else
                "take the source change out of this commit (git rebase -i, or git reset and commit again)")
        return (f"{undo}, or walk the ticket to Stage 4 "
                f"(ftgate advance {name}, each gate passing) and unlock it (ftgate unlock {name})")
    if stage == 4:
        return f"unlock source edits once the plan is current: ftgate unlock {name}"
    return (f"source is locked after Stage 4; if the work needs a fix, re-enter: "
            f"ftgate reenter {name} --class \"Local Fix\" --reason \"...\"")
