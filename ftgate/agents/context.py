"""``ftgate agent context``: where the ticket stands, in a few lines.

For the agents' ``SessionStart`` and ``UserPromptSubmit`` hooks: whatever
they print is added to the model's context, so the agent starts each turn
knowing the stage, whether source is open, and what the stage still needs,
instead of finding out from a refused edit.
"""

from __future__ import annotations

import json
from pathlib import Path

from ftgate.agents.gate import next_step
from ftgate.errors import FtgateError

#: Findings listed before "and N more": the context is read every turn.
MAX_FINDINGS = 5


def context_lines(root: Path | None = None) -> list[str]:
    from ftgate.workflow import transitions as tr
    from ftgate.workflow.gates import run_gate
    from ftgate.workflow.tickets import resolve_ticket

    try:
        ticket = resolve_ticket(None, root)
        parsed = ticket.read_state()
    except FtgateError as err:
        return [f"ftgate: {err.message}; source edits are refused until a ticket is at Stage 4 Unlocked.",
                f"Next: {err.hint}" if err.hint else "Next: ftgate status"]
    state = parsed.state
    stage = int(state.current_stage)
    unlocked = state.source_edits_allowed
    lines = [f"ftgate: ticket {ticket.name} ({ticket.display}) is at Stage {stage} "
             f"({state.current_stage.title}); code edits {state.permission.value}"
             + (" (source may change)." if unlocked else " (source writes are refused).")]
    findings = run_gate(state.current_stage, tr.gate_context(ticket, parsed))
    if findings:
        lines.append(f"To leave Stage {stage}:")
        for finding in findings[:MAX_FINDINGS]:
            lines.append("  - " + finding.render().splitlines()[0])
        if len(findings) > MAX_FINDINGS:
            lines.append(f"  - and {len(findings) - MAX_FINDINGS} more (`ftgate status {ticket.name}`)")
    if unlocked:
        lines.append(f"Next: implement the plan; `ftgate advance {ticket.name}` when Stage 4's gate passes "
                     "(it locks source again).")
    elif findings:
        lines.append("Next: " + next_step(ticket.name, stage, state.source_edits_allowed))
    elif stage == 4:
        lines.append(f"Next: `ftgate unlock {ticket.name}`, then commit the state file.")
    elif stage == 8:
        lines.append(f"Next: after the user verifies, `ftgate done {ticket.name} --verified-by NAME`.")
    else:
        lines.append(f"Next: `ftgate advance {ticket.name}` moves to Stage {stage + 1}.")
    return lines


def render(lines: list[str], *, event: str | None) -> str:
    """Plain lines, or (with ``event``) the JSON both agents read as added
    context: ``hookSpecificOutput.additionalContext``."""
    text = "\n".join(lines)
    if event is None:
        return text
    return json.dumps({"hookSpecificOutput": {"hookEventName": event, "additionalContext": text}})
