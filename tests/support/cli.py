"""Running the CLI in this process, as a user would from a shell."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ftgate.__main__ import main


class Run:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    @property
    def text(self) -> str:
        return self.out + self.err

    def __repr__(self) -> str:
        return f"Run(code={self.code}, out={self.out!r}, err={self.err!r})"


def ftgate(capsys: pytest.CaptureFixture[str], cwd: Path, *args: str) -> Run:
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
