"""A ticket's status: where it stands and what is missing to leave its stage.

``ftgate status`` prints this as text or JSON; the command only parses its
arguments, calls :func:`ticket_status` and prints what :func:`render_text` or
:func:`as_json` return.
"""

from __future__ import annotations

from dataclasses import dataclass

from ftgate.workflow.findings import Finding
from ftgate.workflow.gates import Stage5Evidence, run_gate
from ftgate.workflow.model import Stage, WorkflowState
from ftgate.workflow.tickets import Ticket
from ftgate.workflow.transitions import gate_context


@dataclass(frozen=True, slots=True)
class TicketStatus:
    ticket: Ticket
    state: WorkflowState
    # The current stage's gate findings; empty for an archived ticket.
    findings: list[Finding]


def ticket_status(ticket: Ticket, evidence: Stage5Evidence | None = None) -> TicketStatus:
    """Read the ticket's state and, unless it is archived, run the current
    stage's gate (``evidence``: the Stage 5 gate's verifier)."""
    parsed = ticket.read_state()
    state = parsed.state
    findings: list[Finding] = []
    if not ticket.done:
        findings = run_gate(state.current_stage, gate_context(ticket, parsed, evidence))
    return TicketStatus(ticket, state, findings)


def as_json(status: TicketStatus) -> dict[str, object]:
    # pydantic only for this output: `ftgate status` as text stays without it.
    from pydantic import TypeAdapter

    ticket, state = status.ticket, status.state
    return {
        "ticket": ticket.name,
        "folder": ticket.display,
        "archived": ticket.done,
        "stage": int(state.current_stage),
        "stage_name": state.current_stage.title,
        "permission": state.permission.value,
        "source_edits_allowed": state.source_edits_allowed,
        "active_reentry": state.active_reentry,
        "gates": {str(int(s)): state.gate(s).value for s in Stage},
        "findings": [f.as_dict() for f in status.findings],
        "state": TypeAdapter(WorkflowState).dump_python(state, mode="json"),
    }


def render_text(status: TicketStatus) -> list[str]:
    """The status as lines for a terminal."""
    ticket, state = status.ticket, status.state
    stage = state.current_stage
    lines = [
        f"ticket      {ticket.name}  ({ticket.display})",
        f"stage       {int(stage)} {stage.title}" + ("  [archived]" if ticket.done else ""),
        f"permission  {state.permission.value}"
        + ("  (source edits allowed)" if state.source_edits_allowed else ""),
    ]
    if state.active_reentry:
        klass = state.reentry_class.value if state.reentry_class else "?"
        path = " -> ".join(str(int(s)) for s in state.reentry.return_path)
        lines.append(f"re-entry    {klass} from Stage {int(state.reentry.trigger_stage or stage)}, path {path}")
    lines.append("gates")
    for s in Stage:
        marker = ">" if s == stage else " "
        lines.append(f"  {marker} {int(s)} {s.title:<36} {state.gate(s).value}")
    if ticket.done:
        return lines
    if status.findings:
        lines.append(f"to leave Stage {int(stage)}:")
        lines += ["  - " + finding.render().replace("\n", "\n  ") for finding in status.findings]
    elif stage == Stage.HANDOFF:
        lines.append(f"ready: after the user verifies, run `ftgate done {ticket.name} --verified-by NAME`")
    else:
        lines.append(f"ready: `ftgate advance {ticket.name}` moves to Stage {int(stage) + 1}")
    return lines
