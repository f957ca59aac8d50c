"""``ftgate demo``."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Play the demo in this new folder and keep it (default: a temporary folder, removed afterwards).")
def demo(directory: Path | None) -> int:
    """Run ftgate's whole job on an embedded example: no network, no GPU."""
    from ftgate.demo import run_demo

    return run_demo(directory, click.echo)
