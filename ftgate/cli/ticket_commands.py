"""Ticket commands: thin wrappers that parse arguments, call the workflow
library and print. Exit codes: 0 fine, 1 findings, 2 bad usage or an
unreadable file."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ftgate.constants import DONE, IN_PROGRESS, TICKETS
from ftgate.errors import EXIT_FINDINGS, EXIT_OK, FtgateError
from ftgate.evidence.stage5 import RepoEvidence
from ftgate.workflow import transitions as tr
from ftgate.workflow.model import ReentryClass, Stage
from ftgate.workflow.stages import RULES
from ftgate.workflow.status import as_json as status_json
from ftgate.workflow.status import render_text, ticket_status
from ftgate.workflow.tickets import (
    Ticket,
    bootstrap_for_checkout,
    create_ticket,
    find_repo_root,
    resolve_ticket,
    tickets_in,
)
from ftgate.workflow.validate import validate_ticket

if TYPE_CHECKING:
    from ftgate.git.approvals import Signer
    from ftgate.git.board import BoardRow

TICKET_ARG = click.argument("name", required=False, metavar="[TICKET]")


def _print_outcome(outcome: tr.Outcome, root: Path | None = None) -> int:
    if outcome.findings:
        click.echo(f"{outcome.ticket}: {outcome.message}", err=True)
        for finding in outcome.findings:
            click.echo("  - " + finding.render().replace("\n", "\n  "), err=True)
        return EXIT_FINDINGS
    click.echo(f"{outcome.ticket}: {outcome.message}")
    for path in outcome.written:
        click.echo(f"  wrote {path}")
    prefix = ""
    if root is not None:
        up = os.path.relpath(root, Path.cwd())
        prefix = "" if up == "." else up + "/"
    hint = outcome.commit_hint(prefix)
    if hint:
        click.echo(f"  next: {hint}")
    return EXIT_OK


@click.group()
def ticket() -> None:
    """Create and list tickets."""


@ticket.command("new")
@click.argument("name")
@click.option("--no-worktree", is_flag=True,
              help="Bootstrap in the current checkout instead of a codex/NAME worktree.")
@click.option("--base", "base", default=None, help="Base branch to cut from and record (git only).")
@click.option("--remote", default=None, help="Remote to refresh and cut from (git only).")
@click.option("--path", "path", default=None, type=click.Path(path_type=Path), metavar="DIR",
              help="Where the ticket's worktree goes (git only).")
@click.option("--no-fetch", is_flag=True, help="Do not refresh the remote first (git only).")
def ticket_new(name: str, no_worktree: bool, base: str | None, remote: str | None, path: Path | None,
               no_fetch: bool) -> int:
    """Start a ticket at Stage 0 (folder, requirements.md, workflow-state.md).

    In git, the ticket gets its own branch codex/NAME in its own worktree,
    as `ftgate worktree new` makes them; outside git, or with --no-worktree,
    it starts in the current folder."""
    from ftgate.git.worktree import git_toplevel, new_ticket_worktree
    from ftgate.gitdir import git_dirs

    own, common = git_dirs(Path.cwd(), use_env=False)
    if own is not None and own == common and own.name != ".git":
        raise FtgateError(f"{own}: a bare repository has no work tree, so a ticket folder would be committed "
                          "by nobody", hint="start the ticket in a clone of it")
    in_git = git_toplevel(Path.cwd()) is not None
    if in_git and not no_worktree:
        from ftgate.cli.worktree_commands import report_new

        return report_new(new_ticket_worktree(Path.cwd(), name, base=base, remote=remote, path=path,
                                              fetch=not no_fetch))
    if path is not None or remote is not None:
        raise FtgateError("--path and --remote describe a ticket worktree; they do not apply here",
                          hint="drop them" + (" or drop --no-worktree" if in_git else ""))
    root = find_repo_root()
    values = bootstrap_for_checkout(root, base)
    created = create_ticket(root, name, values)
    click.echo(f"{name}: created at Stage 0 ({values.mode} mode), source edits locked")
    click.echo(f"  wrote {created.display}/workflow-state.md")
    click.echo(f"  wrote {created.display}/requirements.md")
    click.echo(f"  next: fill in the Stage 0 record, then `ftgate advance {name}`")
    return EXIT_OK


REMOTE_OPTION = click.option(
    "--remote", "remote", is_flag=False, flag_value="origin", default=None, metavar="[NAME]",
    help="Also read the remote's codex/* branches (default remote: origin); run `git fetch` first.")


def _everywhere(remote: str | None) -> list[BoardRow] | None:
    """Tickets in progress in every checkout of this repository (the main
    one and each linked worktree) and, with ``remote``, on its codex/*
    branches; None outside git, where only this folder's tickets exist.
    The board's gathering, so both commands see the same tickets."""
    from ftgate.git.board import gather
    from ftgate.gitdir import git_dirs

    if git_dirs(Path.cwd(), use_env=False)[0] is None:
        return None
    try:
        rows = gather(Path.cwd(), remote=remote, done_days=0).rows
    except FtgateError:
        # No git to ask (or a repository git cannot read): this folder's tickets still count.
        return None
    return [r for r in rows if r.status == IN_PROGRESS]


def _row_line(row: BoardRow) -> str:
    where = row.where if row.source == "remote" else os.path.relpath(row.where, Path.cwd())
    if row.error:
        return f"{row.ticket}: unreadable: {row.error}  ({where})"
    return (f"{row.ticket}: Stage {row.stage} {row.stage_title}, {row.permission}  "
            f"({row.branch or 'detached'}, {row.source} {where})")


def _row_json(row: BoardRow) -> dict[str, object]:
    entry: dict[str, object] = {"ticket": row.ticket, "branch": row.branch, "source": row.source,
                                "where": row.where}
    if row.error:
        entry["error"] = row.error
    else:
        entry.update(stage=row.stage, permission=row.permission)
    return entry


@ticket.command("list")
@click.option("--json", "as_json", is_flag=True)
@REMOTE_OPTION
def ticket_list(as_json: bool, remote: str | None) -> int:
    """List tickets in progress with their stage and permission, in this
    checkout and every linked worktree (and with --remote, on codex/* branches)."""
    rows = _everywhere(remote)
    if rows is not None:
        if as_json:
            click.echo(json.dumps([_row_json(r) for r in rows], indent=2))
        else:
            for row in rows:
                click.echo(_row_line(row))
        return EXIT_OK
    root = find_repo_root()
    found = []
    for name in tickets_in(root):
        entry: dict[str, object] = {"ticket": name}
        try:
            state = resolve_ticket(name, root).read_state().state
            entry.update(stage=int(state.current_stage), permission=state.permission.value)
        except Exception as err:  # noqa: BLE001 - one unreadable ticket must not hide the others
            entry.update(error=str(err))
        found.append(entry)
    if as_json:
        click.echo(json.dumps(found, indent=2))
    else:
        for entry in found:
            if "error" in entry:
                click.echo(f"{entry['ticket']}: unreadable: {entry['error']}")
            else:
                click.echo(f"{entry['ticket']}: Stage {entry['stage']}, {entry['permission']}")
    return EXIT_OK


def _locate(name: str | None, remote: str | None) -> tuple[Ticket | None, list[BoardRow] | None]:
    """The ticket ``status`` means, looked for here first, then in the other
    checkouts; or None with every ticket found, for an overview."""
    try:
        return resolve_ticket(name, include_done=True), None
    except FtgateError:
        rows = _everywhere(remote)
        if not rows:
            raise
        if name is None:
            return None, rows
        match = [r for r in rows if r.ticket == name]
        if not match:
            raise
        if match[0].source != "remote":
            return resolve_ticket(name, Path(match[0].where), include_done=True), None
        return None, match


@click.command()
@TICKET_ARG
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@REMOTE_OPTION
def status(name: str | None, as_json: bool, remote: str | None) -> int:
    """Show a ticket's stage, permission, gates and what is missing to advance.

    The ticket may live in any checkout of the repository; with no ticket
    here, every ticket of every worktree (and with --remote, of the remote's
    codex/* branches) is listed."""
    ticket_, rows = _locate(name, remote)
    if ticket_ is None:
        assert rows is not None
        if as_json:
            click.echo(json.dumps({"tickets": [_row_json(r) for r in rows]}, indent=2))
        else:
            click.echo("tickets in this repository's checkouts" + (f" and on {remote}" if remote else "") + ":")
            for row in rows:
                click.echo("  " + _row_line(row))
            click.echo("  next: ftgate status NAME")
        return EXIT_OK
    found = ticket_status(ticket_, RepoEvidence(ticket_.root))
    if as_json:
        click.echo(json.dumps(status_json(found), indent=2))
    else:
        click.echo("\n".join(render_text(found)))
        others = [r for r in _everywhere(remote) or [] if r.ticket != ticket_.name]
        if others:
            click.echo("other tickets:")
            for row in others:
                click.echo("  " + _row_line(row))
    return EXIT_OK


@click.command()
@TICKET_ARG
@click.option("--dry-run", is_flag=True, help="Run the gate and report; change nothing.")
def advance(name: str | None, dry_run: bool) -> int:
    """Pass the current stage's gate and move to the next stage."""
    ticket_ = resolve_ticket(name)
    return _print_outcome(tr.advance(ticket_, dry_run=dry_run, evidence=RepoEvidence(ticket_.root)), ticket_.root)


SIGN_OPTION = click.option(
    "--sign", is_flag=True,
    help="Sign this transition as an approver (ftgate.yaml `approvals`): approvals/<transition>.json and .sig "
         "in the ticket folder, over its files as they will be committed.")
KEY_OPTION = click.option("--key", default=None, metavar="PATH",
                          help="With --sign: the ssh key (default: git's user.signingkey when gpg.format is ssh).")
UNSIGNED_OPTION = click.option(
    "--unsigned", is_flag=True,
    help="Make the change although ftgate.yaml asks for an approval; an approver signs it before the commit "
         "(ftgate approve).")


def _signed(signer: Signer | None, outcome: tr.Outcome, folder: str) -> None:
    """Sign the transition just made, into the outcome's files to commit."""
    if signer is None or not outcome.ok:
        return
    written = signer.sign()
    outcome.message += f"; signed `{signer.transition}` as {signer.principal}"
    outcome.written += written
    # The approval covers every file of the folder, so the commit must too.
    outcome.stage_paths.append(folder)


def _print_notes(signer: Signer | None) -> None:
    for note in signer.notes if signer is not None else []:
        click.echo(f"  note: {note}")


@click.command()
@TICKET_ARG
@SIGN_OPTION
@KEY_OPTION
@UNSIGNED_OPTION
def unlock(name: str | None, sign: bool, key: str | None, unsigned: bool) -> int:
    """Allow source edits (Stage 4 only, with the Stage 3 gate Pass)."""
    from ftgate.git.approvals import plan_signature

    ticket_ = resolve_ticket(name)
    signer = plan_signature(ticket_.root, ticket_.name, "unlock", sign=sign, key=key, unsigned=unsigned)
    outcome = tr.unlock(ticket_)
    _signed(signer, outcome, ticket_.display)
    code = _print_outcome(outcome, ticket_.root)
    _print_notes(signer)
    return code


@click.command()
@TICKET_ARG
def lock(name: str | None) -> int:
    """Forbid source edits (allowed at any stage)."""
    return _print_outcome(tr.lock(resolve_ticket(name)))


@click.command()
@TICKET_ARG
@click.option("--class", "klass", required=True,
              type=click.Choice([c.value for c in ReentryClass], case_sensitive=False),
              help="Re-entry classification.")
@click.option("--reason", required=True, help="Why the stage failed.")
def reenter(name: str | None, klass: str, reason: str) -> int:
    """Record a failure at Stage 4-7 and walk back along the re-entry path."""
    chosen = next(c for c in ReentryClass if c.value.lower() == klass.lower())
    return _print_outcome(tr.reenter(resolve_ticket(name), chosen, reason))


@click.command()
@TICKET_ARG
@click.option("--reason", required=True, help="What blocks the stage (compute, access, data...).")
def block(name: str | None, reason: str) -> int:
    """Record the current stage as Blocked (Stages 5, 7 and 8)."""
    return _print_outcome(tr.block(resolve_ticket(name), reason))


@click.command()
@TICKET_ARG
@click.option("--verified-by", required=True, help="Who verified the work.")
@click.option("--finalize", "finalize", is_flag=True,
              help="Then commit the archive and merge or push the ticket branch (worktree.finalize in ftgate.yaml).")
@SIGN_OPTION
@KEY_OPTION
@UNSIGNED_OPTION
def done(name: str | None, verified_by: str, finalize: bool, sign: bool, key: str | None, unsigned: bool) -> int:
    """Record the user's verification and archive the ticket to tickets/done/."""
    from ftgate.git.approvals import plan_signature

    ticket_ = resolve_ticket(name)
    plan = None
    if finalize:
        from ftgate.git.finalize import plan_finalization

        if unsigned:
            raise FtgateError("--unsigned cannot go with --finalize: the archive commit would lack its approval",
                              hint="use --sign, or archive with --unsigned, commit it approved, then "
                                   f"`ftgate worktree finalize {ticket_.name}`")
        # Before archiving: whatever would stop the finalization refuses while nothing has changed yet.
        plan = plan_finalization(ticket_)
    later = None if plan is None else (
        f"or archive without --finalize (--unsigned), commit it with a `done` approval (ftgate approve "
        f"{ticket_.name} --transition done), then `ftgate worktree finalize {ticket_.name}`")
    record = ticket_.read_state().state.bootstrap
    signer = plan_signature(ticket_.root, ticket_.name, "done", sign=sign, key=key, unsigned=unsigned,
                            base=plan.target_branch if plan else record.finalization_branch,
                            commits=plan is not None, later=later)
    outcome = tr.done(ticket_, verified_by)
    if plan is None:
        # The approval signs the archived folder as it now stands; finalize signs after its own edit.
        archived = f"{TICKETS}/{DONE}/{ticket_.name}"
        _signed(signer, outcome, archived)
        if signer is not None and outcome.ok:
            outcome.commit = f"{ticket_.name}: done, approved by {signer.principal}"
            outcome.stage_paths.insert(0, ticket_.display)
    code = _print_outcome(outcome, ticket_.root)
    _print_notes(signer)
    if plan is None or code != EXIT_OK:
        return code
    from ftgate.cli.worktree_commands import report_finalize
    from ftgate.git.finalize import finalize as finalize_ticket

    return report_finalize(finalize_ticket(plan, verified_by.strip(), signer))


@click.command()
@click.argument("name")
@click.option("--stage", type=click.IntRange(0, 8), default=8, show_default=True,
              help="Stage to reopen at.")
@click.option("--reason", default="Reopened", show_default=True)
def reopen(name: str, stage: int, reason: str) -> int:
    """Move an archived ticket back to tickets/in-progress/."""
    from ftgate.workflow.tickets import check_name

    check_name(name)
    return _print_outcome(tr.reopen(find_repo_root(), name, Stage(stage), reason))


@click.command()
@click.argument("target", required=False, metavar="[TICKET|PATH]")
def validate(target: str | None) -> int:
    """Lint every artifact of a ticket; exit 1 on findings."""
    ticket_ = resolve_ticket(target, include_done=True)
    findings = validate_ticket(ticket_)
    if not findings:
        click.echo(f"{ticket_.name}: every artifact reads cleanly")
        return EXIT_OK
    for finding in findings:
        click.echo(finding.render(), err=True)
    click.echo(f"{ticket_.name}: {len(findings)} finding(s)", err=True)
    sys.stderr.flush()
    return EXIT_FINDINGS


@ticket.command("template")
@click.argument("artifact", type=click.Choice(sorted({rule.artifact for rule in RULES.values()})))
@click.argument("name", required=False, metavar="[TICKET]")
def ticket_template(artifact: str, name: str | None) -> int:
    """Write ftgate's template for a missing artifact (never overwrites)."""
    from ftgate.workflow.fileio import atomic_write_text
    from ftgate.workflow.tickets import render_template, today

    ticket_ = resolve_ticket(name)
    path = ticket_.folder / artifact
    if path.exists():
        click.echo(f"{ticket_.display}/{artifact} already exists; leaving it as it is", err=True)
        return EXIT_FINDINGS
    atomic_write_text(path, render_template(artifact, ticket=ticket_.name, date=today()))
    click.echo(f"  wrote {ticket_.display}/{artifact}")
    return EXIT_OK
