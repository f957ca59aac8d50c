"""Coding-agent commands: hook, install, uninstall, context.

Thin: parse arguments, call ``ftgate.agents``, print. Agents reach
``ftgate agent hook`` through ``ftgate.git.fastpath`` without loading click;
this command is its ``--help``-able face and calls the same function.
"""

from __future__ import annotations

import click

from ftgate.errors import EXIT_OK, EXIT_USAGE

AGENTS = click.Choice(["claude", "codex"])


@click.group()
def agent() -> None:
    """Gate coding agents' edits (Claude Code, Codex) before they happen."""


@agent.command("hook")
@click.option("--for", "dialect", type=AGENTS, default=None,
              help="The agent sending the payload (default: detected from the payload).")
@click.option("--answer", type=click.Choice(["json", "exit-code"]), default=None,
              help="Refuse with hookSpecificOutput JSON (exit 0) or with exit 2 and the reason on stderr "
                   "(default: json for Claude Code, exit-code for Codex).")
def hook(dialect: str | None, answer: str | None) -> int:
    """Answer one PreToolUse payload (JSON on stdin).

    Refuses a call that would write a source path while the ticket is not at
    Stage 4 Unlocked in both HEAD and the working tree, or that would switch
    enforcement off. Gives no decision otherwise, never `allow`.
    """
    from ftgate.agents import hook as agent_hook

    args = [*(["--for", dialect] if dialect else []), *(["--answer", answer] if answer else [])]
    return agent_hook.main(args)


def _targets(claude: bool, codex: bool) -> tuple[bool, bool]:
    return (claude, codex) if (claude or codex) else (True, True)


@agent.command("install")
@click.option("--claude", is_flag=True, help="Write the hooks into .claude/settings.json.")
@click.option("--codex", is_flag=True, help="Write the hooks into .codex/config.toml.")
def install(claude: bool, codex: bool) -> int:
    """Add ftgate's PreToolUse, SessionStart and UserPromptSubmit hooks to the
    project's agent settings, merged with what is there (run it again: nothing
    changes)."""
    from ftgate.agents import install as inst
    from ftgate.workflow.tickets import find_repo_root

    if not (claude or codex):
        click.echo("ftgate agent install: say which agent: --claude, --codex or both", err=True)
        return EXIT_USAGE
    root = find_repo_root()
    done = (inst.install_claude(root) if claude else []) + (inst.install_codex(root) if codex else [])
    for line in done:
        click.echo(f"added {line}")
    if not done:
        click.echo("ftgate's agent hooks were already installed; nothing changed")
    click.echo("the hooks run `ftgate` from the agent's PATH; `ftgate agent uninstall` removes them")
    return EXIT_OK


@agent.command("uninstall")
@click.option("--claude", is_flag=True, help="Only .claude/settings.json.")
@click.option("--codex", is_flag=True, help="Only .codex/config.toml.")
def uninstall(claude: bool, codex: bool) -> int:
    """Remove ftgate's hooks from the agent settings; other hooks and keys stay."""
    from ftgate.agents import install as inst
    from ftgate.workflow.tickets import find_repo_root

    claude, codex = _targets(claude, codex)
    root = find_repo_root()
    done = (inst.uninstall_claude(root) if claude else []) + (inst.uninstall_codex(root) if codex else [])
    for line in done:
        click.echo(f"removed {line}")
    if not done:
        click.echo("no ftgate agent hooks found; nothing changed")
    return EXIT_OK


@agent.command("context")
@click.option("--for", "dialect", type=AGENTS, default=None,
              help="Print the hookSpecificOutput.additionalContext JSON the agent reads.")
@click.option("--event", type=click.Choice(["SessionStart", "UserPromptSubmit"]), default="SessionStart",
              show_default=True, help="The hook event named in the JSON answer.")
def context(dialect: str | None, event: str) -> int:
    """Print the ticket's stage, permission and what is missing to advance."""
    from ftgate.agents.context import context_lines, render

    click.echo(render(context_lines(), event=event if dialect else None))
    return EXIT_OK
