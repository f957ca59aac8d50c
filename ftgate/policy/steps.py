"""Is an edit of ``workflow-state.md`` inside one change a legal workflow step?

The state file is plain markdown anyone can edit, so a commit that changes it
must show a step ftgate's own commands could have made, judged on the files
of the same commit:

* the same stage, with other edits (evidence, notes) or a lock;
* forward one stage (the path-aware next stage) with the gate of the stage
  left passing on the commit's ticket files;
* forward several stages at once (``ftgate advance`` run twice, then one
  commit), along the same path-aware order, when every gate left on the way
  passes on the commit's files and is recorded ``Pass`` in the new state;
  leaving Stage 5 also needs the training evidence in the commit's own tree
  to verify (unless ftgate.yaml says ``stage5_evidence: report``);
* a re-entry the matrix allows, landing locked on the path's first stage
  (the unlock comes in a later commit);
* unlock only at Stage 4, with the Stage 3 gate ``Pass`` and the plan gate
  passing on the commit's files (a lock may come with any step; an unlock
  may come with the step that reaches Stage 4, but never with a source
  change: decide() wants the unlock in the parent commit too);
* a new ticket is born at Stage 0, locked, in ``tickets/in-progress/``;
* a state file is never deleted: only archived (moved to ``done/``) from
  Stage 8 with its gate passing, and an archive never changes after;
* a reopen brings back only a legal archive, locked, at the stage its
  transition row names.

So editing ``Current Stage: 1`` into ``4`` and ``Locked`` into ``Unlocked``
by hand is refused, with the rule that was skipped.

Imported only when a change touches a state file.
"""

from __future__ import annotations

import dataclasses

from ftgate.constants import DONE, IN_PROGRESS, STATE_FILE, TICKETS
from ftgate.errors import ReadError
from ftgate.policy.types import Reason, TicketInput, TicketSide
from ftgate.workflow.gates import GateContext, MappingFiles, run_gate
from ftgate.workflow.model import GateStatus, Permission, Stage, WorkflowState
from ftgate.workflow.stages import REENTRY_MATRIX, format_path, return_path
from ftgate.workflow.state import read_state
from ftgate.workflow.transitions import next_stage_of


def _label(side: TicketSide) -> str:
    return side.state_path or STATE_FILE


def _read(side: TicketSide) -> tuple[WorkflowState | None, str | None, str | None]:
    if side.text is None:
        return None, "the state file's text was not loaded", None
    try:
        return read_state(side.text, _label(side)).state, None, None
    except ReadError as err:
        return None, err.message, err.hint


def _gate_findings(stage: Stage, ticket: TicketInput, state: WorkflowState) -> list[str]:
    """The gate of ``stage`` on the change's own ticket files, one line per
    finding; for Stage 5 also the evidence check's findings."""
    after = ticket.after
    ctx = GateContext(files=MappingFiles(dict(after.files or {}), after.folder or ""), state=state,
                      ticket=ticket.name)
    found = [f.render().replace("\n", " ") for f in run_gate(stage, ctx)]
    if stage == Stage.TRAINING and ticket.stage5_evidence != "report":
        if ticket.evidence_findings is None:
            found.append("the training evidence in this change's tree was not checked")
        else:
            found += ticket.evidence_findings
    return found


def _gate_reasons(stage: Stage, ticket: TicketInput, state: WorkflowState, what: str,
                  rule: str = "gate-not-met") -> list[Reason]:
    findings = _gate_findings(stage, ticket, state)
    if not findings:
        return []
    shown = "; ".join(findings[:5])
    more = f" (and {len(findings) - 5} more)" if len(findings) > 5 else ""
    return [Reason(_label(ticket.after), rule,
                   f"{what}, but the Stage {int(stage)} gate does not pass on this change's files: {shown}{more}",
                   f"finish the Stage {int(stage)} artifact and use `ftgate advance {ticket.name}` "
                   "(it runs the gate and writes the state)")]


def _walk(old: WorkflowState, target: Stage) -> list[Stage] | None:
    """The stages left, in order, going forward from ``old`` to ``target``
    the way ``ftgate advance`` would (along an active re-entry path); None
    when ``target`` is not ahead on that way."""
    left: list[Stage] = []
    state = dataclasses.replace(old)
    for _ in range(len(Stage)):
        following = next_stage_of(state)
        if following is None:
            return None
        left.append(state.current_stage)
        if following == target:
            return left
        if state.active_reentry and state.current_stage == state.reentry.trigger_stage:
            state.active_reentry = False  # advance resolves the re-entry when it leaves the trigger
        state.current_stage = following
    return None


def _chain_reasons(ticket: TicketInput, new: WorkflowState, left: list[Stage]) -> list[Reason]:
    """Several steps in one change: each gate left must be recorded Pass and
    pass on the change's own files."""
    name = ticket.name
    frm, to = int(left[0]), int(new.current_stage)
    what = f"Current Stage moves ahead from {frm} to {to} in one change (leaving Stages " \
           f"{', '.join(str(int(s)) for s in left)})"
    reasons = []
    for stage in left:
        status = new.gate(stage)
        if status != GateStatus.PASS:
            reasons.append(_illegal(ticket, f"{what}; the Stage {int(stage)} gate is recorded `{status.value}` in "
                                            "the new state, not `Pass`",
                                    f"walk the stages with `ftgate advance {name}` (it records each gate), "
                                    "then commit"))
        reasons += _gate_reasons(stage, ticket, new, f"ticket {name!r}: {what}", rule="illegal-transition")
    return reasons


def _illegal(ticket: TicketInput, message: str, fix: str) -> Reason:
    return Reason(_label(ticket.after), "illegal-transition", f"ticket {ticket.name!r}: {message}", fix)


def _in(folder: str | None, where: str) -> bool:
    return folder is not None and folder.startswith(f"{TICKETS}/{where}/")


def check_transition(ticket: TicketInput) -> tuple[list[Reason], list[str]]:
    """Reasons the state edit in ``ticket`` is not one legal step (or lacks
    the signed approval its policy asks for), and notes. A ticket arriving
    already archived (a squash merge) is judged as a whole instead."""
    from ftgate.policy import approvals

    if approvals.is_squash(ticket):
        return approvals.squash_reasons(ticket, lambda stage, state: _gate_findings(stage, ticket, state)), []
    reasons, notes = _check_step(ticket)
    return reasons + approvals.transition_reasons(ticket), notes


def _check_step(ticket: TicketInput) -> tuple[list[Reason], list[str]]:
    """The state history is append-only: a ticket is born at Stage 0 Locked,
    its state file is never deleted (archiving moves it to ``done/``), an
    archived state never changes, and a reopen brings back only a ticket
    whose archive was legal."""
    before, after = ticket.before, ticket.after
    name = ticket.name
    if after.folder is None:
        return [Reason(before.state_path or STATE_FILE, "state-deleted",
                       f"ticket {name!r}: {before.state_path} is deleted by this change; a ticket's state is "
                       "append-only history, and only archiving (a move to tickets/done/) may take it out of "
                       "tickets/in-progress/",
                       f"restore the file; finish the ticket with `ftgate done {name}` to archive it")], []
    new_state, error, hint = _read(after)
    if new_state is None:
        return [Reason(_label(after), "state-unreadable", error or "unreadable",
                       hint or f"fix the file so it reads unambiguously: ftgate validate {name}")], []

    if before.folder is None:
        return _check_birth(ticket, new_state), []
    if _in(before.folder, IN_PROGRESS) and _in(after.folder, DONE):
        return _check_archive(ticket, new_state), []
    if _in(before.folder, DONE) and _in(after.folder, IN_PROGRESS):
        return _check_reopen(ticket, new_state), []
    if _in(before.folder, DONE):
        return [_illegal(ticket, f"the state of an archived ticket ({before.folder}) changes; an archive is "
                                 "history and stays as it was",
                         f"reopen it with `ftgate reopen {name}` to work on it again")], []

    old_state, error, _ = _read(before)
    if old_state is None:
        # The old state was unreadable, so nothing says where the ticket
        # was: the repaired state must be justified by its own files, as
        # if walked from Stage 0 (every earlier gate recorded Pass and
        # passing), and may not unlock anything.
        if new_state.permission == Permission.UNLOCKED:
            return [_illegal(ticket, f"the previous {STATE_FILE} was unreadable ({error}); a repair of it "
                             "cannot also unlock source edits",
                             "commit the repaired file locked, then `ftgate unlock`")], []
        earlier = [stage for stage in Stage if stage < new_state.current_stage]
        if earlier:
            chain = _chain_reasons(ticket, new_state, earlier)
            if chain:
                return [_illegal(ticket, f"the previous {STATE_FILE} was unreadable ({error}); its repair "
                                 f"claims Stage {int(new_state.current_stage)}, which its files do not "
                                 "justify (below)",
                                 "repair the file at the stage its artifacts support")] + chain, []
        return [], [f"ticket {name!r}: the state file was unreadable before this change and is readable now"]

    assert old_state is not None
    reasons: list[Reason] = []
    old_stage, new_stage = old_state.current_stage, new_state.current_stage
    old_unlocked = old_state.permission == Permission.UNLOCKED
    new_unlocked = new_state.permission == Permission.UNLOCKED

    if new_stage != old_stage:
        starts_reentry = new_state.active_reentry and (
            not old_state.active_reentry
            or new_state.reentry.trigger_stage != old_state.reentry.trigger_stage
            or new_state.reentry_class != old_state.reentry_class)
        if starts_reentry:
            reasons += _check_reentry(ticket, old_state, new_state)
        else:
            left = _walk(old_state, new_stage)
            if left is None:
                expected = next_stage_of(old_state)
                shown = "none (Stage 8 is last)" if expected is None else f"Stage {int(expected)}"
                direction = "back" if new_stage < old_stage else "ahead"
                reasons.append(_illegal(
                    ticket,
                    f"Current Stage moves {direction} from {int(old_stage)} to {int(new_stage)}; "
                    f"one step from Stage {int(old_stage)} leads to {shown}"
                    + (", and going on from there never reaches it" if direction == "ahead" else ""),
                    (f"walk forward with `ftgate advance {name}` (each gate must pass)"
                     if direction == "ahead" else
                     f"going back is a re-entry: `ftgate reenter {name} --class ... --reason ...`")))
            elif len(left) == 1:
                reasons += _gate_reasons(old_stage, ticket, new_state,
                                         f"Current Stage moves from {int(old_stage)} to {int(new_stage)}")
            else:
                reasons += _chain_reasons(ticket, new_state, left)
            if old_unlocked and new_unlocked:
                reasons.append(_illegal(ticket, "source edits stay unlocked while the stage changes; leaving "
                                        "Stage 4 locks them", f"lock first: ftgate lock {name}"))

    if new_unlocked and not (old_unlocked and new_stage == old_stage):
        reasons += _check_unlock(ticket, new_state)
    return reasons, []


def _check_reentry(ticket: TicketInput, old: WorkflowState, new: WorkflowState) -> list[Reason]:
    name = ticket.name
    trigger = old.current_stage
    klass = new.reentry_class or new.reentry.classification
    fix = f"record the re-entry with `ftgate reenter {name} --class ... --reason ...`"
    if klass is None:
        return [_illegal(ticket, "a re-entry is declared without a classification", fix)]
    path = return_path(trigger, klass)
    if path is None:
        allowed = ", ".join(c.value for c in REENTRY_MATRIX.get(trigger, {})) or "none"
        return [_illegal(ticket, f"`{klass.value}` is not a re-entry from Stage {int(trigger)} "
                                 f"(allowed there: {allowed})", fix)]
    out = []
    if new.reentry.trigger_stage is not None and new.reentry.trigger_stage != trigger:
        out.append(_illegal(ticket, f"the re-entry names Trigger Stage {int(new.reentry.trigger_stage)}, but the "
                                    f"ticket was at Stage {int(trigger)}", fix))
    if new.current_stage != path[0]:
        out.append(_illegal(ticket, f"a `{klass.value}` re-entry from Stage {int(trigger)} goes to Stage "
                                    f"{int(path[0])} first (path {format_path(path)}), not Stage "
                                    f"{int(new.current_stage)}", fix))
    if new.permission == Permission.UNLOCKED:
        out.append(_illegal(ticket, "a re-entry locks source edits in its own step; the unlock comes in a later "
                                    "commit, once the return path is walked",
                            f"commit the re-entry locked (ftgate reenter {name} ...), then `ftgate unlock {name}`"))
    return out


def _check_birth(ticket: TicketInput, new: WorkflowState) -> list[Reason]:
    name = ticket.name
    if not _in(ticket.after.folder, IN_PROGRESS):
        return [_illegal(ticket, f"a ticket appears in {ticket.after.folder} without having been in progress; a "
                                 f"ticket is born in {TICKETS}/{IN_PROGRESS}/ at Stage 0",
                         f"start it with `ftgate ticket new {name}` and walk its stages")]
    if new.current_stage != Stage.BOOTSTRAP or new.permission == Permission.UNLOCKED or new.active_reentry:
        where = f"Stage {int(new.current_stage)} ({new.permission.value})"
        return [_illegal(ticket, f"a new ticket is born at Stage 0, Locked, in a commit of its own; it appears at "
                                 f"{where}",
                         f"commit it as `ftgate ticket new {name}` makes it, then walk it with "
                         f"`ftgate advance {name}` in later commits")]
    return []


def _check_archive(ticket: TicketInput, new: WorkflowState) -> list[Reason]:
    name = ticket.name
    old, error, _ = _read(ticket.before)
    fix = f"walk the ticket to Stage 8, then archive it with `ftgate done {name} --verified-by NAME`"
    if old is None:
        return [_illegal(ticket, f"the ticket is archived while its state is unreadable ({error})", fix)]
    if old.current_stage != Stage.HANDOFF or new.current_stage != Stage.HANDOFF:
        return [_illegal(ticket, f"the ticket is archived at Stage {int(old.current_stage)}; only Stage 8 can "
                                 "be archived", fix)]
    reasons = []
    if new.permission == Permission.UNLOCKED:
        reasons.append(_illegal(ticket, "an archived ticket must be Locked", fix))
    if new.gate(Stage.HANDOFF) != GateStatus.PASS:
        reasons.append(_illegal(ticket, f"the ticket is archived with the Stage 8 gate recorded "
                                        f"`{new.gate(Stage.HANDOFF).value}`, not `Pass`", fix))
    reasons += _gate_reasons(Stage.HANDOFF, ticket, new, f"ticket {name!r} is archived",
                             rule="illegal-transition")
    return reasons


def _check_reopen(ticket: TicketInput, new: WorkflowState) -> list[Reason]:
    name = ticket.name
    old, error, _ = _read(ticket.before)
    fix = f"reopen it with `ftgate reopen {name} --stage N`; it comes back Locked, and the gates from there are " \
          "walked again"
    if old is None or old.current_stage != Stage.HANDOFF or old.gate(Stage.HANDOFF) != GateStatus.PASS:
        what = f"unreadable ({error})" if old is None else \
            f"at Stage {int(old.current_stage)} with the Stage 8 gate `{old.gate(Stage.HANDOFF).value}`"
        return [_illegal(ticket, f"the archived state is {what}: it was never a legal archive, so it cannot be "
                                 "reopened", "start a new ticket instead")]
    reasons = []
    last = new.transitions[-1] if new.transitions else None
    named = last.to_stage.strip() if last is not None and last.from_stage.strip().lower() == "done" else None
    if named != str(int(new.current_stage)):
        reasons.append(_illegal(ticket, f"a reopen lands on the stage its transition row names (from `done`); "
                                        f"the state says Stage {int(new.current_stage)}, the row "
                                        f"{'is missing' if named is None else 'says ' + repr(named)}", fix))
    if new.permission == Permission.UNLOCKED:
        reasons.append(_illegal(ticket, "a reopened ticket must start locked", fix))
    if new.active_reentry:
        reasons.append(_illegal(ticket, "a reopen is not a re-entry; it starts with no active re-entry", fix))
    if new.current_stage != Stage.HANDOFF and new.gate(new.current_stage) == GateStatus.PASS:
        reasons.append(_illegal(ticket, f"the Stage {int(new.current_stage)} gate is still `Pass` after the "
                                        "reopen; the gates from the named stage are walked again", fix))
    return reasons


def _check_unlock(ticket: TicketInput, state: WorkflowState) -> list[Reason]:
    name = ticket.name
    if state.current_stage != Stage.IMPLEMENTATION:
        return [_illegal(ticket, f"Code Edit Permission becomes Unlocked at Stage {int(state.current_stage)}; "
                                 "source unlocks only at Stage 4",
                         f"set it back to Locked; walk to Stage 4 with `ftgate advance {name}`")]
    if state.gate(Stage.PLAN) != GateStatus.PASS:
        return [_illegal(ticket, f"Code Edit Permission becomes Unlocked while the Stage 3 gate is "
                                 f"`{state.gate(Stage.PLAN).value}`; it must be `Pass`",
                         f"finish implementation-plan.md, then `ftgate unlock {name}`")]
    return _gate_reasons(Stage.PLAN, ticket, state, "Code Edit Permission becomes Unlocked")
