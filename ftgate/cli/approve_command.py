"""``ftgate approve``: sign a ticket transition with an ssh key."""

from __future__ import annotations

import click

from ftgate.policy.approvals import TRANSITIONS


@click.command()
@click.argument("name", metavar="TICKET")
@click.option("--transition", required=True, type=click.Choice(TRANSITIONS),
              help="What is approved: unlock, done, waive or reopen.")
@click.option("--key", default=None, metavar="PATH",
              help="The ssh key to sign with (default: git's user.signingkey when gpg.format is ssh).")
@click.option("--base", default=None, metavar="BRANCH",
              help="For done: the branch the ticket merges into, to find the source it changed.")
def approve(name: str, transition: str, key: str | None, base: str | None) -> int:
    """Sign TICKET's TRANSITION over its files as they are now (and, for
    done, the source it changed), into the ticket folder's approvals/."""
    from ftgate.git.approvals import make_approval

    written, public, allowed = make_approval(name, transition, key=key, base=base)
    click.echo(f"{name}: approved `{transition}` with {public.split()[0]} key {public.split()[1][-16:]}")
    for path in written:
        click.echo(f"  wrote {path}")
    if allowed:
        click.echo(f"  who may approve here: {', '.join(allowed)}")
    folder = written[0].rsplit("/", 2)[0]
    click.echo(f"next: git add {folder} && git commit -m \"{name}: {transition} approved\"")
    return 0
