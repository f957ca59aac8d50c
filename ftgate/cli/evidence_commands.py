"""`ftgate evidence ...`: check a ticket's Stage 5 evidence without the train extra."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ftgate.errors import EXIT_FINDINGS, EXIT_OK


@click.group()
def evidence() -> None:
    """Inspect and verify Stage 5 training evidence."""


@evidence.command("verify")
@click.argument("ticket", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify(ticket: str | None, as_json: bool) -> int:
    """Recompute a ticket's evidence hashes and criterion decisions.

    TICKET is a ticket name or folder; without it, FTGATE_TICKET or the
    codex/<ticket> branch decides. Exit 0 when the evidence holds, 1 with
    findings, 2 when the ticket cannot be found or read.
    """
    from ftgate.evidence.verify import render, resolve_ticket, verify_ticket

    path = resolve_ticket(ticket)
    result = verify_ticket(path)
    if as_json:
        click.echo(json.dumps({
            "ticket": str(Path(result.ticket_path).name),
            "ok": result.ok,
            "runs": {c.run_id: ("verified" if c.verified else c.status) for c in result.runs},
            "closure": {k: {"decision": d, "run": r} for k, (d, r) in result.closure.items()},
            "findings": [f.as_dict() for f in result.findings],
            "notes": result.notes,
        }, indent=2))
    else:
        click.echo(render(result))
    return EXIT_OK if result.ok else EXIT_FINDINGS
