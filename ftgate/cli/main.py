"""The click command tree.

Subcommands load lazily: ``ftgate status`` must not pay for the trainer's
imports, and the trainer's commands must not load unless asked for.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Sequence

import click

from ftgate import __version__
from ftgate.errors import EXIT_USAGE, FtgateError

# name -> "module:attribute"; each module stays thin and calls the library.
COMMANDS: dict[str, str] = {
    "ticket": "ftgate.cli.ticket_commands:ticket",
    "status": "ftgate.cli.ticket_commands:status",
    "advance": "ftgate.cli.ticket_commands:advance",
    "unlock": "ftgate.cli.ticket_commands:unlock",
    "lock": "ftgate.cli.ticket_commands:lock",
    "reenter": "ftgate.cli.ticket_commands:reenter",
    "block": "ftgate.cli.ticket_commands:block",
    "done": "ftgate.cli.ticket_commands:done",
    "reopen": "ftgate.cli.ticket_commands:reopen",
    "approve": "ftgate.cli.approve_command:approve",
    "validate": "ftgate.cli.ticket_commands:validate",
    "board": "ftgate.cli.board_commands:board",
    "demo": "ftgate.cli.demo_command:demo",
    # enforcement
    "check": "ftgate.cli.enforce_commands:check",
    "hook": "ftgate.cli.enforce_commands:hook",
    "ci": "ftgate.cli.enforce_commands:ci",
    "install": "ftgate.cli.enforce_commands:install",
    "init": "ftgate.cli.enforce_commands:init",
    "uninstall": "ftgate.cli.enforce_commands:uninstall",
    "doctor": "ftgate.cli.enforce_commands:doctor",
    "config": "ftgate.cli.enforce_commands:config",
    "agent": "ftgate.cli.agent_commands:agent",
    # worktrees
    "worktree": "ftgate.cli.worktree_commands:worktree",
    # trainer (needs the `train` extra)
    "model": "ftgate.cli.train_commands:model",
    "data": "ftgate.cli.train_commands:data",
    "train": "ftgate.cli.train_commands:train",
    "export": "ftgate.cli.train_commands:export",
    "evidence": "ftgate.cli.evidence_commands:evidence",
}


class ClosedPipe(Exception):
    """The reader of stdout went away (``ftgate status | head -1``). Not an
    OSError, so click does not turn it into exit status 1 on its way out."""


class LazyGroup(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise ClosedPipe() from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        command: click.Command = getattr(importlib.import_module(module_name), attr)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ftgate")
def cli() -> None:
    """Enforce a staged LLM fine-tuning workflow with git.

    Exit codes: 0 fine, 1 a gate or policy finding, 2 bad usage, bad config
    or a file ftgate cannot read.
    """


def _json_error(message: str, hint: str | None, code: int) -> None:
    """An error as the JSON a ``--json`` caller parses: on stdout, one object."""
    click.echo(json.dumps({"error": message, "fix": hint, "exit_code": code}))


def _quiet_stdout() -> None:
    # The interpreter flushes stdout on exit; into a closed pipe that fails
    # again, so what is left goes nowhere instead.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def run_cli(args: Sequence[str]) -> int:
    args = list(args)
    wants_json = "--json" in args
    # https://no-color.org: click strips styling from everything it prints.
    color = False if os.environ.get("NO_COLOR") else None
    try:
        rv = cli.main(args=args, prog_name="ftgate", standalone_mode=False, color=color)
    except ClosedPipe:
        _quiet_stdout()
        return 0
    except FtgateError as err:
        if wants_json:
            _json_error(err.message, err.hint, err.exit_code)
        else:
            click.echo(f"ftgate: {err}", err=True)
        return err.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        if wants_json:
            _json_error(exc.format_message(), None, EXIT_USAGE)
        else:
            exc.show()
        return EXIT_USAGE
    except click.exceptions.Abort:
        click.echo("ftgate: aborted", err=True)
        return EXIT_USAGE
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except Exception as exc:  # a bug in ftgate: one clear line, traceback on request
        if os.environ.get("FTGATE_DEBUG"):
            raise
        if wants_json:
            _json_error(f"internal error: {type(exc).__name__}: {exc}",
                        "rerun with FTGATE_DEBUG=1 for the traceback and report it", EXIT_USAGE)
            return EXIT_USAGE
        click.echo(f"ftgate: internal error: {type(exc).__name__}: {exc}", err=True)
        click.echo("  fix: rerun with FTGATE_DEBUG=1 for the traceback and report it", err=True)
        return EXIT_USAGE
    # Commands return their exit code; None means success.
    return rv if isinstance(rv, int) else 0
