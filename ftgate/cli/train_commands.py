"""Trainer commands: ``ftgate model``, ``ftgate data``, ``ftgate train``.

Thin: parse, call ``ftgate.train``, print, return an exit code. Everything
under ``ftgate.train`` (and torch with it) loads inside the command bodies,
so listing ``ftgate --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ftgate.errors import EXIT_FINDINGS, EXIT_OK, FtgateError

_OFFLINE_HINT = "install the trainer with `pip install 'ftgate-workflow[train]'`"


def _need_train_extra() -> None:
    import importlib.util

    missing = [m for m in ("torch", "transformers", "datasets", "tokenizers") if importlib.util.find_spec(m) is None]
    if missing:
        raise FtgateError(f"this command needs {', '.join(missing)}, which are not installed", hint=_OFFLINE_HINT)


# -- ftgate model --------------------------------------------------------------


@click.group()
def model() -> None:
    """Models for the trainer (offline tiny models for tests and demos)."""


@model.command("tiny")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder to write.")
@click.option(
    "--from-text",
    "from_text",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Train the tokenizer on this text or dataset file (default: a small built-in text).",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for the random weights.")
@click.option("--vocab-size", default=512, show_default=True, type=click.IntRange(300, 65536))
def tiny(out: Path, from_text: Path | None, seed: int, vocab_size: int) -> int:
    """Build a tiny random Llama-style model and a locally trained tokenizer in OUT.

    Needs no network; load it with from_pretrained like any other model.
    """
    _need_train_extra()
    from ftgate.train.tiny import TinySpec, build_tiny_model, iter_text

    if out.exists() and any(out.iterdir()):
        raise FtgateError(f"{out} exists and is not empty", hint="pass an empty or new folder to --out")
    texts = list(iter_text(from_text)) if from_text else None
    if texts is not None and not any(t.strip() for t in texts):
        raise FtgateError(f"{from_text} holds no text to train a tokenizer on")
    build_tiny_model(out, texts=texts, spec=TinySpec(vocab_size=vocab_size, seed=seed))
    click.echo(f"wrote a tiny model and tokenizer to {out}")
    return EXIT_OK


# -- ftgate data ---------------------------------------------------------------


@click.group()
def data() -> None:
    """Stage 4 data preparation and its checks."""


@data.command("prepare")
@click.argument("config_path", metavar="CONFIG", type=click.Path(path_type=Path))
@click.option(
    "--report", type=click.Path(dir_okay=False, path_type=Path), help="Also write the report as markdown here."
)
@click.option("--debug", "debug_count", default=0, type=click.IntRange(0), help="Show N samples token by token.")
@click.option(
    "--split", type=click.Choice(["train", "eval"]), default="train", show_default=True, help="Split for --debug."
)
@click.option("--json", "as_json", is_flag=True, help="Print the check results as JSON.")
def prepare_command(config_path: Path, report: Path | None, debug_count: int, split: str, as_json: bool) -> int:
    """Load, template, tokenize and check CONFIG's data; write the dataset and manifest.

    Exit 0 when every check passes, 1 when one fails (the data is still
    written, with the failure in its manifest), 2 for a bad config or file.
    """
    _need_train_extra()
    from ftgate.train.checks import render_markdown, render_text
    from ftgate.train.config import load_config
    from ftgate.train.data.prepare import prepare
    from ftgate.train.debug_view import render_samples

    config = load_config(config_path)
    result = prepare(config)
    color = sys.stdout.isatty()
    if debug_count:
        click.echo(
            render_samples(
                result.encoded[split],
                result.tokenizer.tokenizer,
                count=debug_count,
                color=color,
                max_length=config.max_length,
            )
        )
    if as_json:
        click.echo(
            json.dumps(
                [c.summary_dict() | {"summary": c.summary, "examples": c.examples} for c in result.checks], indent=2
            )
        )
    else:
        click.echo(render_text(result.checks, color=color))
        rows = result.manifest["rows"]
        click.echo(
            f"prepared {rows['train']['kept']} training and {rows['eval']['kept']} held-out rows into {result.written}"
        )
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(render_markdown(result.checks, result.manifest), encoding="utf-8")
        click.echo(f"report written to {report}")
    if not result.passed:
        failed = ", ".join(c.name for c in result.checks if not c.passed)
        click.echo(f"ftgate: data checks failed: {failed}", err=True)
        return EXIT_FINDINGS
    return EXIT_OK


@data.command("verify")
@click.argument("config_path", metavar="CONFIG", type=click.Path(path_type=Path))
def verify_command(config_path: Path) -> int:
    """Say whether CONFIG's prepared data still matches its data, config, tokenizer and template."""
    _need_train_extra()
    from ftgate.train.config import load_config
    from ftgate.train.data.manifest import verify_manifest

    config = load_config(config_path)
    changes = verify_manifest(config)
    if changes:
        for change in changes:
            click.echo(f"changed: {change}")
        click.echo(f"ftgate: prepared data is stale; run `ftgate data prepare {config_path}`", err=True)
        return EXIT_FINDINGS
    click.echo("prepared data matches its manifest")
    return EXIT_OK


# -- ftgate train ----------------------------------------------------------------


class _TrainGroup(click.Group):
    """``ftgate train schema`` is a subcommand; anything else is a CONFIG to train."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and not args[0].startswith("-") and self.get_command(ctx, args[0]) is None:
            return _run.name, _run, args
        return super().resolve_command(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "CONFIG [--resume] | schema")


@click.command("run", hidden=True)
@click.argument("config_path", metavar="CONFIG", type=click.Path(path_type=Path))
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint in model.output_dir.")
def _run(config_path: Path, resume: bool) -> int:
    _need_train_extra()
    from ftgate.train.run import run_training

    return run_training(config_path, resume=resume, report=click.echo)


@click.group(cls=_TrainGroup, no_args_is_help=True)
def train() -> None:
    """Train: `ftgate train CONFIG [--resume]`, or `ftgate train schema`."""


train.add_command(_run)


@train.command("schema")
def schema() -> int:
    """Print the run config's JSON Schema."""
    from ftgate.train.config import json_schema

    click.echo(json.dumps(json_schema(), indent=2, sort_keys=True))
    return EXIT_OK


# -- ftgate export ---------------------------------------------------------------


@click.command("export")
@click.argument("run_dir", metavar="RUN", type=click.Path(file_okay=False, path_type=Path))
@click.option("--merge", is_flag=True, help="Fold a LoRA adapter into the base weights.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder to write.")
def export(run_dir: Path, merge: bool, out: Path) -> int:
    """Write RUN's model (an evidence folder, e.g. tickets/in-progress/T/evidence/RUN-001) as safetensors.

    The export's file hashes are recorded in RUN/export.json.
    """
    _need_train_extra()
    from ftgate.train.export import EXPORT_JSON, export_run

    entry = export_run(run_dir, out, merge=merge)
    click.echo(f"exported {entry['run_id']} to {out} ({len(entry['files'])} files, sha256 {entry['sha256'][:12]})")
    click.echo(f"hashes recorded in {Path(run_dir) / EXPORT_JSON}")
    return EXIT_OK
