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
    from ftgate.evidence import record as rec
    from ftgate.evidence.approval_files import waiver_check
    from ftgate.evidence.verify import render, resolve_ticket, verify_ticket

    path = resolve_ticket(ticket)
    result = verify_ticket(path, waiver_approval=waiver_check(path, rec.find_repo_root(path.resolve())))
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


@evidence.command("attach")
@click.argument("ticket", required=False)
@click.option("--config", "config", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The external run's config: evaluation: and success_criteria: as in a run config.")
@click.option("--generations", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help='Every held-out generation, JSON lines {"prompt", "reference", "output"[, "baseline"]}.')
@click.option("--metrics", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The metrics the run claims (JSON); each is recomputed from the generations.")
@click.option("--data", "data", multiple=True, type=click.Path(path_type=Path),
              help="A data file or folder the run trained or evaluated on (repeatable).")
@click.option("--manifest", type=click.Path(path_type=Path), help="The data manifest, instead of or beside --data.")
@click.option("--artifact", "artifacts", multiple=True, type=click.Path(path_type=Path),
              help="A file or folder the run produced, such as the weights (repeatable); its hash is recorded.")
@click.option("--commit", help="The commit the run trained from (default: HEAD).")
def attach(ticket: str | None, config: Path, generations: Path, metrics: Path, data: tuple[Path, ...],
           manifest: Path | None, artifacts: tuple[Path, ...], commit: str | None) -> int:
    """Record a run made outside ftgate as Stage 5 evidence of TICKET.

    The claimed metrics must be what the generations score; the new
    evidence/RUN-NNN/ is then checked by `ftgate evidence verify` like a
    bundled run. Exit 0 when every criterion passed, 1 otherwise.
    """
    from ftgate.evidence import record as rec
    from ftgate.evidence.attach import AttachInputs, attach_run
    from ftgate.evidence.verify import requirements_criteria, resolve_ticket
    from ftgate.train.report import update_report
    from ftgate.workflow.fileio import ticket_lock

    path = resolve_ticket(ticket)
    inputs = AttachInputs(config=config, generations=generations, metrics=metrics, data=data, manifest=manifest,
                          artifacts=artifacts, commit=commit)
    run_id, run, recorded = attach_run(path, inputs)
    with ticket_lock(path):
        update_report(path / rec.REPORT_FILE, run=run, metrics=recorded,
                      criteria_in_requirements=requirements_criteria(path / rec.REQUIREMENTS_FILE))
    click.echo(f"{run_id}: attached in {path / rec.EVIDENCE_DIR / run_id}")
    for decision in recorded["criteria"]:
        click.echo(f"  {decision['id']}: {decision['decision']} ({decision['reason']})")
    return EXIT_OK if all(d["decision"] == "Passed" for d in recorded["criteria"]) else EXIT_FINDINGS


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
