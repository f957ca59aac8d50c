"""``ftgate demo``: the whole job on an embedded example, in a scratch
repository, with no network and no GPU.

Each step runs the real command a person would type and shows its output, so
the demo doubles as a tour.
"""

from __future__ import annotations

import os
import shutil
import string
import subprocess
import sys
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from ftgate.workflow.model import Stage
from ftgate.workflow.stages import RULES

TICKET = "color-map"


class Demo:
    def __init__(self, root: Path, echo: Callable[[str], None]) -> None:
        self.root = root
        self.echo = echo
        self.folder = root / "tickets" / "in-progress" / TICKET

    def step(self, title: str) -> None:
        self.echo("")
        self.echo(f"== {title}")

    def ftgate(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        return self.run([sys.executable, "-m", "ftgate", *args], shown="ftgate " + " ".join(args), expect=expect)

    def git(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        return self.run(["git", *args], shown="git " + " ".join(args), expect=expect)

    def run(self, argv: list[str], *, shown: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        self.echo(f"$ {shown}")
        result = subprocess.run(argv, cwd=self.root, capture_output=True, text=True, env=self.env)
        for line in (result.stdout + result.stderr).rstrip().splitlines():
            self.echo(f"  {line}")
        if result.returncode != expect:
            raise DemoFailed(f"`{shown}` exited {result.returncode}, expected {expect}")
        return result

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "GIT_AUTHOR_NAME": "ftgate demo", "GIT_AUTHOR_EMAIL": "demo@ftgate.invalid",
            "GIT_COMMITTER_NAME": "ftgate demo", "GIT_COMMITTER_EMAIL": "demo@ftgate.invalid",
            "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
        })
        env.pop("FTGATE_TICKET", None)
        return env

    def fill(self, stage: Stage) -> None:
        """Write the stage's artifact as the person doing the work would."""
        name = RULES[stage].artifact
        text = resources.files("ftgate.examples").joinpath("ticket", name).read_text(encoding="utf-8")
        (self.folder / name).write_text(string.Template(text).safe_substitute(ticket=TICKET), encoding="utf-8")
        self.echo(f"  (wrote {self.folder.relative_to(self.root)}/{name})")


class DemoFailed(RuntimeError):
    pass


def run_demo(directory: Path | None, echo: Callable[[str], None]) -> int:
    root = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="ftgate-demo-"))
    if directory and root.exists() and any(root.iterdir()):
        from ftgate.errors import FtgateError

        raise FtgateError(f"{root} is not empty; the demo needs a fresh folder", hint="pass a new --dir")
    root.mkdir(parents=True, exist_ok=True)
    demo = Demo(root, echo)
    echo(f"ftgate demo in {root}")
    try:
        demo.step("A project with a git history")
        demo.git("init", "-q", "-b", "main")
        (root / "train").mkdir()
        (root / "train" / "format.py").write_text('def answer(text: str) -> str:\n    return text.strip()\n')
        demo.git("add", "-A")
        demo.git("commit", "-q", "-m", "initial project")

        demo.step("Stage 0: start a ticket")
        demo.ftgate("ticket", "new", TICKET, "--no-worktree")
        demo.ftgate("advance")

        for stage in (Stage.INVESTIGATION, Stage.REQUIREMENTS, Stage.PLAN):
            demo.step(f"Stage {int(stage)}: {stage.title}")
            demo.ftgate("advance", expect=1) if stage != Stage.REQUIREMENTS else None
            demo.fill(stage)
            demo.ftgate("advance")

        demo.step("Stage 4: unlock source edits (only now, with the plan's gate passed)")
        demo.ftgate("unlock")
        demo.ftgate("status")
    except DemoFailed as err:
        echo(f"demo failed: {err}")
        return 1
    finally:
        if directory is None:
            shutil.rmtree(root, ignore_errors=True)
    echo("")
    echo("demo finished: the ticket walked its gates and source edits are unlocked at Stage 4")
    return 0
