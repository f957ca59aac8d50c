"""``ftgate board``: one line per ticket across checkouts, worktrees and the remote."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ftgate.errors import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, FtgateError


@click.command()
@click.option("--remote", "remote", is_flag=False, flag_value="origin", default=None, metavar="[NAME]",
              help="Also read the remote's codex/* branches (default remote: origin). Run `git fetch` first.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--markdown", "as_markdown", is_flag=True,
              help="A Markdown table, e.g. for $GITHUB_STEP_SUMMARY.")
@click.option("--done-days", type=click.IntRange(min=0), default=14, show_default=True,
              help="Show done tickets whose state changed within this many days.")
def board(remote: str | None, as_json: bool, as_markdown: bool, done_days: int) -> int:
    """The team's tickets: stage, permission, owner branch and age, one line each.

    Reads the main checkout, every linked worktree and, with --remote, the
    remote's codex/* branches without checking them out. Exit 1 when a
    ticket's state cannot be read.
    """
    from ftgate.git import board as board_mod

    if as_json and as_markdown:
        raise click.UsageError("choose one of --json and --markdown")
    try:
        result = board_mod.gather(Path.cwd(), remote=remote, done_days=done_days)
    except FtgateError as err:
        if not as_json:
            raise
        click.echo(json.dumps({"error": err.message, "fix": err.hint}))
        return EXIT_USAGE
    if as_json:
        click.echo(board_mod.render_json(result), nl=False)
    elif as_markdown:
        click.echo(board_mod.render_markdown(result, Path.cwd()), nl=False)
    else:
        click.echo(board_mod.render_text(result, Path.cwd()), nl=False)
    return EXIT_FINDINGS if result.unreadable else EXIT_OK
