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
            "signed": result.signed,
        }, indent=2))
    else:
        click.echo(render(result))
    return EXIT_OK if result.ok else EXIT_FINDINGS


@evidence.command("reeval")
@click.argument("run", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--tolerance", default=None, type=click.FloatRange(0, 1),
              help="Largest difference accepted between a recorded and a re-scored metric (default 0.02).")
def reeval(run: Path, tolerance: float | None) -> int:
    """Load RUN's saved weights, re-score its prepared held-out set, compare with metrics.json.

    RUN is an evidence folder (tickets/.../evidence/RUN-001). Needs the
    `train` extra and the weights on this machine. Exit 0 when every task
    metric agrees within the tolerance, 1 otherwise.
    """
    from ftgate.cli.train_commands import _need_train_extra

    _need_train_extra()
    from ftgate.train.reeval import DEFAULT_TOLERANCE
    from ftgate.train.reeval import reeval as run_reeval

    result = run_reeval(run, tolerance=DEFAULT_TOLERANCE if tolerance is None else tolerance)
    click.echo(result.render())
    return EXIT_OK if result.ok else EXIT_FINDINGS
