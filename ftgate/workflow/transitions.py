"""Moving a ticket through the workflow: advance, unlock, lock, re-enter,
block, done and reopen.

Every operation holds the ticket's lock, reads the state, checks the rule,
and writes only the lines it owns (atomically). On a refusal nothing is
written.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ftgate.constants import STATE_FILE
from ftgate.errors import FtgateError, GateRefused
from ftgate.workflow import expectations as ex
from ftgate.workflow import markdown as md
from ftgate.workflow.fileio import atomic_write_text, read_text, ticket_lock
from ftgate.workflow.findings import Finding
from ftgate.workflow.gates import DirFiles, GateContext, Stage5Evidence, run_gate
from ftgate.workflow.model import (
    GateStatus,
    Permission,
    ReentryClass,
    Stage,
    TransitionRow,
    WorkflowState,
    YesNo,
)
from ftgate.workflow.stages import RULES, format_path, return_path
from ftgate.workflow.state import StateEditor, StateFile, next_transition_id
from ftgate.workflow.tickets import (
    DONE,
    IN_PROGRESS,
    TICKETS,
    Ticket,
    render_template,
    today,
)


@dataclass(slots=True)
class Outcome:
    """What an operation did, for the CLI to print."""

    ticket: str
    message: str
    findings: list[Finding] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    changed: bool = True
    # The commit that records this step (message), and the paths it needs
    # staged beyond ``written``: the state on disk counts only once committed.
    commit: str | None = None
    stage_paths: list[str] = field(default_factory=list)

    def commit_hint(self, prefix: str = "") -> str | None:
        """``git add ... && git commit -m ...`` for this step, or None;
        ``prefix`` leads from where the command runs to the ticket's root."""
        paths = [*self.written, *(p for p in self.stage_paths if p not in self.written)]
        if not self.commit or not paths:
            return None
        return (f"git add {' '.join(shlex.quote(prefix + p) for p in paths)} && "
                f"git commit -m {shlex.quote(self.commit)}")

    @property
    def ok(self) -> bool:
        return not self.findings


def gate_context(ticket: Ticket, parsed: StateFile, evidence: Stage5Evidence | None = None) -> GateContext:
    """The gate's view of a ticket on disk; ``evidence`` is what the Stage 5
    gate verifies the training evidence with (the caller's adapter)."""
    return GateContext(files=DirFiles(ticket.folder, ticket.display), state=parsed.state, ticket=ticket.name,
                       folder=ticket.folder, repo_root=ticket.root, evidence=evidence)


def next_stage_of(state: WorkflowState) -> Stage | None:
    """Where ``advance`` goes: along the re-entry path while one is active,
    else the next stage. None after Stage 8 (``ftgate done`` archives)."""
    stage = state.current_stage
    path = state.reentry.return_path
    if state.active_reentry and path and stage in path and stage != state.reentry.trigger_stage:
        index = path.index(stage)
        if index + 1 < len(path):
            return path[index + 1]
    if stage == Stage.HANDOFF:
        return None
    return Stage(stage + 1)


def _transition(editor: StateEditor, state: WorkflowState, *, to: str, reason: str,
                classification: str = "N/A", permission: Permission, evidence: str = "") -> str:
    ident = next_transition_id(state)
    editor.append_transition(TransitionRow(
        transition_id=ident, date=today(), from_stage=str(int(state.current_stage)), to_stage=to,
        reason=reason.replace("\n", " "), classification=classification, permission_after=permission.value,
        evidence=evidence,
    ))
    editor.set_text("lasttransitionid", ident)
    editor.set_text("lastupdated", today())
    return ident


def _mutate(ticket: Ticket, change: Callable[[StateFile, StateEditor], Outcome], *, dry_run: bool = False) -> Outcome:
    with ticket_lock(ticket.folder):
        parsed = ticket.read_state()
        editor = StateEditor(parsed)
        outcome = change(parsed, editor)
        if outcome.ok and outcome.changed and not dry_run:
            atomic_write_text(ticket.state_path, editor.render())
            outcome.written.insert(0, f"{ticket.display}/workflow-state.md")
        return outcome


def advance(ticket: Ticket, *, dry_run: bool = False, evidence: Stage5Evidence | None = None) -> Outcome:
    def change(parsed: StateFile, editor: StateEditor) -> Outcome:
        state = parsed.state
        stage = state.current_stage
        if stage == Stage.HANDOFF:
            raise GateRefused("Stage 8 is the last stage; archive the ticket once the user has verified it",
                              hint=f"ftgate done {ticket.name} --verified-by NAME")
        findings = run_gate(stage, gate_context(ticket, parsed, evidence))
        target = next_stage_of(state)
        assert target is not None
        if findings:
            return Outcome(ticket.name, f"Stage {int(stage)} gate is not met; nothing changed", findings)
        if dry_run:
            return Outcome(ticket.name, f"Stage {int(stage)} gate passes; advance would move to Stage {int(target)}",
                           changed=False)
        leaving_trigger = state.active_reentry and stage == state.reentry.trigger_stage
        editor.set_gate(stage, GateStatus.PASS)
        editor.set_gate(target, GateStatus.IN_PROGRESS)
        permission = state.permission
        if stage == Stage.IMPLEMENTATION or permission == Permission.UNLOCKED:
            # Leaving Stage 4 locks: source may change only inside Stage 4.
            permission = Permission.LOCKED
            editor.set_token("codeeditpermission", Permission.LOCKED)
        classification = "N/A"
        if state.active_reentry:
            classification = state.reentry_class.value if state.reentry_class else "N/A"
        _transition(editor, state, to=str(int(target)), reason=f"Stage {int(stage)} gate passed",
                    classification=classification, permission=permission,
                    evidence=RULES[stage].artifact)
        if leaving_trigger:
            editor.set_token("activereentry", YesNo.NO)
            editor.set_text("reentryclassification", "N/A")
        editor.set_stage(target)
        state.active_reentry = state.active_reentry and not leaving_trigger
        state.current_stage = target
        following = next_stage_of(state)
        editor.set_next_stage(following)
        outcome = Outcome(ticket.name, f"Stage {int(stage)} gate passed; ticket is now at Stage {int(target)} "
                                       f"({target.title})")
        artifact = RULES[target].artifact
        if not (ticket.folder / artifact).exists():
            atomic_write_text(ticket.folder / artifact, render_template(artifact, ticket=ticket.name, date=today()))
            outcome.written.append(f"{ticket.display}/{artifact}")
        if leaving_trigger:
            outcome.message += "; re-entry resolved"
        outcome.commit = f"{ticket.name}: Stage {int(stage)} gate passed, now at Stage {int(target)}"
        return outcome

    return _mutate(ticket, change, dry_run=dry_run)


def unlock(ticket: Ticket) -> Outcome:
    def change(parsed: StateFile, editor: StateEditor) -> Outcome:
        state = parsed.state
        if state.current_stage != Stage.IMPLEMENTATION:
            raise GateRefused(f"source edits unlock only at Stage 4; the ticket is at Stage {int(state.current_stage)}",
                              hint="ftgate advance (each gate on the way must pass)")
        if state.gate(Stage.PLAN) != GateStatus.PASS:
            raise GateRefused(f"the Stage 3 gate is `{state.gate(Stage.PLAN).value}`, it must be `Pass` to unlock",
                              hint="finish implementation-plan.md and walk the plan gate again")
        commit = f"{ticket.name}: unlock source edits (Stage 4)"
        if state.permission == Permission.UNLOCKED:
            # A refused commit with an unlocked ticket on disk means the unlock is not staged or committed.
            return Outcome(ticket.name, "source edits are already unlocked in the working tree; commits are "
                           "judged on the staged state, so stage the state file if a commit is refused",
                           changed=False, commit=commit, stage_paths=[f"{ticket.display}/{STATE_FILE}"])
        editor.set_token("codeeditpermission", Permission.UNLOCKED)
        _transition(editor, state, to="4", reason="Code edits unlocked (Stage 3 gate Pass)",
                    permission=Permission.UNLOCKED, evidence="implementation-plan.md")
        return Outcome(ticket.name, "source edits unlocked (Stage 4)", commit=commit)

    return _mutate(ticket, change)


def lock(ticket: Ticket, reason: str = "Code edits locked") -> Outcome:
    def change(parsed: StateFile, editor: StateEditor) -> Outcome:
        state = parsed.state
        if state.permission == Permission.LOCKED and state.permission_written:
            return Outcome(ticket.name, "source edits are already locked", changed=False)
        editor.set_token("codeeditpermission", Permission.LOCKED)
        _transition(editor, state, to=str(int(state.current_stage)), reason=reason, permission=Permission.LOCKED)
        return Outcome(ticket.name, "source edits locked")

    return _mutate(ticket, change)


def reenter(ticket: Ticket, classification: ReentryClass, reason: str) -> Outcome:
    def change(parsed: StateFile, editor: StateEditor) -> Outcome:
        state = parsed.state
        trigger = state.current_stage
        path = return_path(trigger, classification)
        if path is None:
            from ftgate.workflow.stages import REENTRY_MATRIX

            allowed = ", ".join(c.value for c in REENTRY_MATRIX.get(trigger, {})) or "none"
            raise GateRefused(
                f"`{classification.value}` is not a re-entry from Stage {int(trigger)} (allowed: {allowed})",
                hint="re-entry starts at Stage 4, 5, 6 or 7; see the matrix in the workflow spec",
            )
        editor.set_token("codeeditpermission", Permission.LOCKED)
        editor.set_token("activereentry", YesNo.YES)
        editor.set_token("reentryclassification", classification)
        upstream = [RULES[s].artifact for s in path if s != trigger]
        declaration = {
            "triggerstage": str(int(trigger)),
            "classification": classification.value,
            "requiredreturnpath": format_path(path),
            "requiredupstreamartifactstoupdatebeforemoresourceedits": ", ".join(dict.fromkeys(upstream)) or "N/A",
            "resumecondition": f"Stage {int(trigger)} gate passes again after walking {format_path(path)}",
        }
        editor.set_reentry(declaration)
        for stage in path:
            editor.set_gate(stage, GateStatus.IN_PROGRESS if stage == path[0] else GateStatus.NOT_STARTED)
        _transition(editor, state, to=str(int(path[0])), reason=reason, classification=classification.value,
                    permission=Permission.LOCKED)
        editor.set_stage(path[0])
        following = path[1] if len(path) > 1 else Stage(path[0] + 1)
        editor.set_next_stage(following)
        return Outcome(ticket.name, f"re-entry `{classification.value}` from Stage {int(trigger)}: locked, "
                                    f"now at Stage {int(path[0])}, path {format_path(path)}")

    return _mutate(ticket, change)


def block(ticket: Ticket, reason: str) -> Outcome:
    def change(parsed: StateFile, editor: StateEditor) -> Outcome:
        state = parsed.state
        stage = state.current_stage
        if not RULES[stage].blockable:
            raise GateRefused(f"Stage {int(stage)} cannot be recorded as Blocked; only Stages 5, 7 and 8 can",
                              hint="use ftgate reenter --class ... for a failure that needs rework")
        editor.set_gate(stage, GateStatus.BLOCKED, evidence=reason)
        _transition(editor, state, to=str(int(stage)), reason=f"Blocked: {reason}", classification="Blocked",
                    permission=state.permission)
        return Outcome(ticket.name, f"Stage {int(stage)} recorded as Blocked; the ticket stays at Stage {int(stage)}")

    return _mutate(ticket, change)


def mark_handoff(text: str, label: str, answers: dict[str, str]) -> str:
    """Answer the handoff summary's finalization lines that are there
    (``User verification received: `No``` becomes ``Yes``), keeping every
    other byte; a summary written without them stays without them."""
    doc = md.parse(text, label)
    editor = md.Editor.for_document(doc)
    for name, answer in answers.items():
        wanted = ex.name_id(name)
        for pair in doc.pairs:
            if ex.name_id(pair.key) != wanted:
                continue
            span = pair.value.span
            lead = "" if span.start != span.end or doc.line_text(span.line)[:span.start].endswith(" ") else " "
            editor.replace(span, lead + answer)
    return editor.render()


def _set_handoff_verification(ticket: Ticket, who: str) -> str:
    path = ticket.folder / "handoff-summary.md"
    text = read_text(path)
    label = f"{ticket.display}/handoff-summary.md"
    doc = md.parse(text, label)
    editor = md.Editor.for_document(doc)
    for key, value in (("Verified By", who), ("Verified On", today())):
        pairs = doc.pairs_for(key)
        if pairs:
            for pair in pairs:
                span = pair.value.span
                if span.start == span.end:
                    value = " " + value if not doc.line_text(span.line)[:span.start].endswith(" ") else value
                editor.replace(span, value)
        else:
            editor.insert_after(len(doc.lines), f"- {key}: {value}")
    return mark_handoff(editor.render(), label, {ex.HANDOFF_VERIFIED.name: "Yes"})


def done(ticket: Ticket, verified_by: str) -> Outcome:
    if not verified_by.strip():
        raise FtgateError("--verified-by needs the name of the person who verified the work")
    with ticket_lock(ticket.folder):
        parsed = ticket.read_state()
        state = parsed.state
        if state.current_stage != Stage.HANDOFF:
            raise GateRefused(f"the ticket is at Stage {int(state.current_stage)}; only Stage 8 can be archived",
                              hint="ftgate advance")
        handoff = ticket.folder / "handoff-summary.md"
        if not handoff.exists():
            raise GateRefused(f"{ticket.display}/handoff-summary.md is missing", hint="write the handoff summary first")
        original = read_text(handoff)
        updated = _set_handoff_verification(ticket, verified_by.strip())
        atomic_write_text(handoff, updated)
        findings = run_gate(Stage.HANDOFF, gate_context(ticket, parsed))
        if findings:
            atomic_write_text(handoff, original)
            return Outcome(ticket.name, "Stage 8 gate is not met; nothing changed", findings)
        editor = StateEditor(parsed)
        editor.set_gate(Stage.HANDOFF, GateStatus.PASS, evidence=f"verified by {verified_by.strip()}")
        _transition(editor, state, to="done", reason=f"Verified by {verified_by.strip()}; archived",
                    permission=Permission.LOCKED, evidence="handoff-summary.md")
        editor.set_next_stage(None)
        atomic_write_text(ticket.state_path, editor.render())
        target = ticket.root / TICKETS / DONE / ticket.name
        if target.exists():
            raise FtgateError(f"{TICKETS}/{DONE}/{ticket.name} already exists; not overwriting it")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(ticket.folder, target)
        # Recorded after the move, in the archived copy: the line then says
        # what has happened, never what is about to.
        archived = target / "handoff-summary.md"
        atomic_write_text(archived, mark_handoff(read_text(archived),
                                                 f"{TICKETS}/{DONE}/{ticket.name}/handoff-summary.md",
                                                 {ex.HANDOFF_MOVED.name: "Yes"}))
    return Outcome(ticket.name, f"verified by {verified_by.strip()}; archived to {TICKETS}/{DONE}/{ticket.name}",
                   written=[f"{TICKETS}/{DONE}/{ticket.name}"])


def reopen(root: Path, name: str, stage: Stage = Stage.HANDOFF, reason: str = "Reopened") -> Outcome:
    source = root / TICKETS / DONE / name
    target = root / TICKETS / IN_PROGRESS / name
    if not source.is_dir():
        raise FtgateError(f"no archived ticket {name!r} in {TICKETS}/{DONE}/")
    if target.exists():
        raise FtgateError(f"{TICKETS}/{IN_PROGRESS}/{name} already exists; not overwriting it")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Move first: the spec wants the folder back in progress before any update.
    os.replace(source, target)
    ticket = Ticket(name, target, root)

    def change(parsed: StateFile, editor: StateEditor) -> Outcome:
        state = parsed.state
        editor.set_token("codeeditpermission", Permission.LOCKED)
        editor.set_gate(stage, GateStatus.IN_PROGRESS)
        row = TransitionRow(transition_id=next_transition_id(state), date=today(), from_stage="done",
                            to_stage=str(int(stage)), reason=reason, classification="N/A",
                            permission_after=Permission.LOCKED.value, evidence="")
        editor.append_transition(row)
        editor.set_text("lasttransitionid", row.transition_id)
        editor.set_text("lastupdated", today())
        editor.set_stage(stage)
        editor.set_next_stage(None if stage == Stage.HANDOFF else Stage(stage + 1))
        return Outcome(name, f"reopened at Stage {int(stage)} ({stage.title}), locked")

    return _mutate(ticket, change)
