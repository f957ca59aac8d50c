"""``ftgate worktree``: one branch and one worktree per ticket. Thin: parse,
call ``ftgate.git.worktree``, print."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ftgate.errors import EXIT_FINDINGS, EXIT_OK
from ftgate.git import worktree as wt
from ftgate.git.finalize import FinalizeOutcome, finalize_archived


@click.group()
def worktree() -> None:
    """Create, list and remove ticket worktrees (branch codex/NAME)."""


def worktree_options(command: click.decorators.FC) -> click.decorators.FC:
    """The options `worktree new` and `ticket new` share."""
    for option in reversed((
        click.option("--base", default=None, metavar="BRANCH",
                     help="Base branch to cut from (default: ftgate.yaml, then the remote's default branch)."),
        click.option("--remote", default=None, metavar="REMOTE",
                     help=f"Remote to refresh and cut from (default: ftgate.yaml, then {wt.DEFAULT_REMOTE})."),
        click.option("--path", "path", default=None, type=click.Path(path_type=Path), metavar="DIR",
                     help="Where the worktree goes (default: beside the main checkout)."),
        click.option("--no-fetch", is_flag=True,
                     help="Do not refresh the remote first; cut from the refs already here."),
    )):
        command = option(command)
    return command


@worktree.command("new")
@click.argument("name")
@worktree_options
def worktree_new(name: str, base: str | None, remote: str | None, path: Path | None, no_fetch: bool) -> int:
    """Create branch codex/NAME and its worktree, and start the ticket there."""
    outcome = wt.new_ticket_worktree(Path.cwd(), name, base=base, remote=remote, path=path, fetch=not no_fetch)
    return report_new(outcome)


def report_new(outcome: wt.WorktreeOutcome) -> int:
    if outcome.already:
        click.echo(f"{outcome.name}: already set up in {outcome.path} on {outcome.branch}; nothing changed")
    else:
        click.echo(f"{outcome.name}: ticket at Stage 0 in {outcome.path} on {outcome.branch}, source edits locked")
    for step in outcome.steps:
        click.echo(f"  {step}")
    if outcome.base is not None:
        click.echo(f"  base: {outcome.base.display} ({outcome.base.how})")
    if outcome.refresh is not None:
        click.echo(f"  remote refresh: {outcome.refresh.result}")
    for path in outcome.written:
        click.echo(f"  wrote {path}")
    if outcome.hooks:
        click.echo(f"{outcome.name}: the enforcement hooks are NOT active in {outcome.path}:", err=True)
        for reason in outcome.hooks:
            click.echo(f"  - {reason}", err=True)
        click.echo("  fix: ftgate doctor", err=True)
        return EXIT_FINDINGS
    click.echo("  hooks: active (commits in this worktree are checked)")
    if not outcome.already:
        click.echo(f"  next: cd {outcome.path} && ftgate status")
    return EXIT_OK


@worktree.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def worktree_list(as_json: bool) -> int:
    """Every ticket worktree: branch, path, stage, permission, dirty."""
    rows = wt.ticket_worktrees(Path.cwd())
    if as_json:
        click.echo(json.dumps([row.as_dict() for row in rows], indent=2))
        return EXIT_OK
    if not rows:
        click.echo("no ticket worktrees (start one: ftgate worktree new NAME)")
    for row in rows:
        if row.error:
            where = f"{row.error}"
        else:
            where = f"Stage {row.stage}, {row.permission}" + (", archived" if row.archived else "")
        dirty = {True: "dirty", False: "clean", None: "-"}[row.dirty]
        click.echo(f"{row.name}  {row.branch}  {where}  {dirty}  {row.path}")
    return EXIT_OK


@worktree.command("remove")
@click.argument("name")
@click.option("--force", is_flag=True,
              help="Remove even when dirty or not merged (an unmerged branch is still kept).")
def worktree_remove(name: str, force: bool) -> int:
    """Remove a ticket's worktree; delete its branch only when merged."""
    outcome = wt.remove_ticket_worktree(Path.cwd(), name, force=force)
    click.echo(f"{outcome.name}:")
    for step in outcome.steps:
        click.echo(f"  {step}")
    return EXIT_OK


@worktree.command("finalize")
@click.argument("name")
@click.option("--sign", is_flag=True,
              help="Sign the `done` the archive commit makes (ftgate.yaml `approvals`), over its files as committed.")
@click.option("--key", default=None, metavar="PATH",
              help="With --sign: the ssh key (default: git's user.signingkey when gpg.format is ssh).")
def worktree_finalize(name: str, sign: bool, key: str | None) -> int:
    """Merge or push an archived ticket's branch (retry for `done --finalize`)."""
    return report_finalize(finalize_archived(Path.cwd(), name, sign=sign, key=key))


def report_finalize(outcome: FinalizeOutcome) -> int:
    plan = outcome.plan
    click.echo(f"{plan.name}: finalized ({plan.mode} into {plan.target})")
    for step in outcome.steps:
        click.echo(f"  {step}")
    click.echo(f"  next: once nothing else needs it, ftgate worktree remove {plan.name}")
    return EXIT_OK
