"""Enforcement commands: check, hook, ci, install, doctor, config.

Thin: parse arguments, call ``ftgate.git`` / ``ftgate.policy``, print. The
hooks normally run through ``ftgate.git.fastpath`` without loading click;
``check`` and ``hook`` here are the documented, ``--help``-able face of it
and use its parser. Exit codes: 0 fine, 1 refused, 2 bad usage, config or git
failure.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import click

from ftgate.errors import EXIT_FINDINGS, EXIT_OK, FtgateError

# The hook commands take their arguments raw and hand them to the hooks'
# one parser (ftgate.git.fastpath.parse); click only routes and prints --help.
_RAW = {"ignore_unknown_options": True, "help_option_names": ["-h", "--help"]}


def _hook(args: Sequence[str]) -> int:
    from ftgate.git import fastpath

    try:
        call = fastpath.parse(args)
    except fastpath.HookUsage as err:
        raise click.UsageError(str(err)) from None
    return fastpath.run(call)


@click.command(context_settings=_RAW)
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="[-v]")
def check(args: tuple[str, ...]) -> int:
    """Judge the staged change (the index against HEAD), as the pre-commit hook does.

    Source may change only while the governing ticket is at Stage 4 with Code
    Edit Permission Unlocked, in the staged files themselves.

    -v, --verbose: also say so when the change is fine.
    """
    return _hook(["check", *args])


@click.group()
def hook() -> None:
    """Entry points for git hooks (pre-commit, pre-push, pre-receive, update)."""


@hook.command("pre-commit", context_settings=_RAW)
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="[-v]")
def hook_pre_commit(args: tuple[str, ...]) -> int:
    """Same as `ftgate check` (-v, --verbose)."""
    return _hook(["hook", "pre-commit", *args])


@hook.command("pre-push", context_settings=_RAW)
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="[REMOTE [URL]] [--all-branches]")
def hook_pre_push(args: tuple[str, ...]) -> int:
    """Judge every commit of every pushed ref not yet on REMOTE (lines on stdin).

    --all-branches: for the pre-commit framework, which passes only the first
    pushed ref (PRE_COMMIT_LOCAL_BRANCH / PRE_COMMIT_TO_REF): refuse on that
    ref, only warn about other local branches. Without the framework's
    variables, judge every local branch.
    """
    return _hook(["hook", "pre-push", *args])


@hook.command("pre-receive", context_settings=_RAW)
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="")
def hook_pre_receive(args: tuple[str, ...]) -> int:
    """Server side: judge every pushed ref (`<old> <new> <ref>` lines on stdin)."""
    return _hook(["hook", "pre-receive", *args])


@hook.command("update", context_settings=_RAW)
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="REF OLD NEW")
def hook_update(args: tuple[str, ...]) -> int:
    """Server side: judge one pushed ref; refusing it leaves the other refs alone."""
    return _hook(["hook", "update", *args])


@click.command()
@click.option("--base", required=True, help="The commit the range starts after (e.g. origin/main).")
@click.option("--head", "head", default="HEAD", show_default=True, help="The last commit to judge.")
@click.option("--branch", default=None,
              help="Branch the commits are for (codex/<ticket> names the ticket); default from the CI environment.")
@click.option("--github/--no-github", "github", default=None,
              help="GitHub Actions annotations and job summary (default: when GITHUB_ACTIONS=true).")
def ci(base: str, head: str, branch: str | None, github: bool | None) -> int:
    """Judge every commit in BASE..HEAD; exit 1 when any is refused."""
    from ftgate import proc
    from ftgate.git import ci as ci_mod

    if proc.run(["rev-parse", "--git-dir"], cwd=Path.cwd(), ok_codes=None).returncode != 0:
        raise FtgateError(f"{Path.cwd()}: not inside a git repository",
                          hint="run `ftgate ci` in the clone the CI job checked out")

    return ci_mod.run(base, head, branch=branch, github=github)


@click.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--server", "server", is_flag=True,
              help="PATH is a bare repository (or a GitLab custom_hooks folder): install server hooks.")
@click.option("--hook", "hooks", multiple=True, type=click.Choice(["pre-commit", "pre-push", "pre-receive", "update"]),
              help="Which hooks (default: pre-commit and pre-push; with --server: update).")
@click.option("--force", is_flag=True, help="Replace a hook ftgate did not write (kept as <hook>.ftgate-backup).")
def install(path: Path | None, server: bool, hooks: tuple[str, ...], force: bool) -> int:
    """Write ftgate's git hooks (for users who do not use the pre-commit framework)."""
    from ftgate.git.install import install_hooks

    repo = path or Path.cwd()
    if server and path is None:
        raise FtgateError("--server needs the path of the bare repository",
                          hint="ftgate install --server /srv/git/x.git")
    report = install_hooks(repo, server=server, force=force, hooks=hooks or None)
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        click.echo("ftgate: some hooks were left alone because another tool wrote them (see above); a hook "
                   "manager's are never replaced, call ftgate from its config; --force replaces any other "
                   "hook, keeping it as <hook>.ftgate-backup", err=True)
        return EXIT_FINDINGS
    return EXIT_OK


@click.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
def doctor(path: Path | None) -> int:
    """Report installed hooks, missing ones, and whether this checkout is protected."""
    from ftgate.git.doctor import diagnose

    target = path or Path.cwd()
    if not target.is_dir():
        raise FtgateError(f"{target}: no such folder", hint="pass the path of a checkout or a bare repository")
    report = diagnose(target)
    for line in report.lines:
        click.echo(line)
    return EXIT_OK if report.healthy else EXIT_FINDINGS


@click.command()
@click.option("--no-hooks", is_flag=True, help="Write ftgate.yaml only; install no hooks.")
@click.option("--dry-run", is_flag=True, help="Say what would be written, write nothing.")
def init(no_hooks: bool, dry_run: bool) -> int:
    """Adopt ftgate in this repository: propose ftgate.yaml from the layout,
    install the hooks (or print a hook manager's lines), and print the server
    and CI steps. The adoption commit that follows needs no ticket."""
    from ftgate.git.adopt import init as init_repo

    report = init_repo(Path.cwd(), hooks=not no_hooks, dry_run=dry_run)
    for line in report.lines:
        click.echo(line)
    return EXIT_OK if report.ok else EXIT_FINDINGS


@click.command()
def uninstall() -> int:
    """Remove what `ftgate init` and `ftgate install` added: ftgate's hooks
    (restoring a hook they replaced) and files init wrote, if unchanged."""
    from ftgate.git.adopt import uninstall as uninstall_repo

    for line in uninstall_repo(Path.cwd()).lines:
        click.echo(line)
    return EXIT_OK


@click.group()
def config() -> None:
    """The repository's ftgate.yaml."""


@config.command("schema")
def config_schema() -> int:
    """Print the JSON Schema of ftgate.yaml."""
    from ftgate.policy.config import json_schema

    click.echo(json_schema())
    return EXIT_OK


@config.command("show")
@click.option("--json", "as_json", is_flag=True)
def config_show(as_json: bool) -> int:
    """Validate ./ftgate.yaml and print the effective policy."""
    from ftgate.policy.config import load_config
    from ftgate.workflow.tickets import find_repo_root

    cfg = load_config(find_repo_root())
    if as_json:
        click.echo(json.dumps(cfg.model_dump(), indent=2))
    else:
        for line in _flatten(cfg.model_dump()):
            click.echo(line)
        click.echo("always: tickets/ is never source; ftgate.yaml always is")
    return EXIT_OK


def _flatten(data: dict[str, object], prefix: str = "") -> list[str]:
    """``section.key: value`` lines for every setting, nested sections
    included, so a section added to the config shows up without code here."""
    lines: list[str] = []
    for key, value in data.items():
        if isinstance(value, dict):
            lines += _flatten(value, f"{prefix}{key}.")
        elif isinstance(value, list):
            lines.append(f"{prefix}{key}: " + (", ".join(str(v) for v in value) or "(none)"))
        else:
            lines.append(f"{prefix}{key}: " + ("(none)" if value is None else str(value)))
    return lines


@config.command("is-source")
@click.argument("paths", nargs=-1, required=True)
def config_is_source(paths: tuple[str, ...]) -> int:
    """Say whether each repository path is source under ./ftgate.yaml."""
    from ftgate.policy.config import load_config
    from ftgate.workflow.tickets import find_repo_root

    cfg = load_config(find_repo_root())
    for p in paths:
        click.echo(f"{'source' if cfg.is_source(p) else 'not source'}\t{p}")
    return EXIT_OK


__all__ = ["check", "ci", "config", "doctor", "hook", "init", "install", "uninstall"]
