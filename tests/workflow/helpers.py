"""Driving tickets through the CLI in-process, as a user would from a shell."""

from __future__ import annotations

import os
import string
from importlib import resources
from pathlib import Path

from ftgate.__main__ import main
from ftgate.workflow.model import Stage
from ftgate.workflow.stages import RULES


class Run:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    @property
    def text(self) -> str:
        return self.out + self.err

    def __repr__(self) -> str:
        return f"Run(code={self.code}, out={self.out!r}, err={self.err!r})"


def ftgate(capsys, cwd: Path, *args: str) -> Run:
    """Run ``ftgate ARGS`` in ``cwd`` in this process and capture its output."""
    old = Path.cwd()
    os.chdir(cwd)
    try:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
    finally:
        os.chdir(old)
    return Run(code, captured.out, captured.err)


def example(name: str, ticket: str) -> str:
    """The filled-in artifact of ftgate's example ticket."""
    text = resources.files("ftgate.examples").joinpath("ticket", name).read_text(encoding="utf-8")
    return string.Template(text).safe_substitute(ticket=ticket)


def fill(folder: Path, stage: Stage, ticket: str) -> None:
    """Write what the person working on ``stage`` would write."""
    name = RULES[stage].artifact
    if stage == Stage.BOOTSTRAP:
        return
    (folder / name).write_text(example(name, ticket), encoding="utf-8")
