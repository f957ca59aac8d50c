"""``ftgate demo``: ftgate's whole job on an embedded example, in a scratch
folder, with no network and no GPU.

It plays one ticket from start to finish the way a team would: a server
repository with ftgate's server hooks, a clone with the local hooks, a
ticket on its own ``codex/`` worktree, a source edit refused before the plan
(also when the local hook is skipped), the stages walked through their
gates, a real LoRA run on a tiny local model whose evidence the Stage 5 gate
verifies, and the finished branch merged and pushed. Each step runs the real
command a person would type and shows its output, so the demo is also a tour.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import string
import subprocess
import sys
import tempfile
from collections.abc import Callable
from importlib import resources
from importlib.util import find_spec
from pathlib import Path

from ftgate import proc
from ftgate.errors import FtgateError
from ftgate.workflow.model import Stage
from ftgate.workflow.stages import RULES

TICKET = "color-map"
CONFIG = "configs/color-map.yaml"


class DemoFailed(RuntimeError):
    pass


class Demo:
    def __init__(self, base: Path, echo: Callable[[str], None]) -> None:
        self.base = base
        self.echo = echo
        self.server = base / "server.git"
        self.project = base / "project"
        self.tree = base / "project-worktrees" / TICKET
        self.cwd = base
        self.env = dict(os.environ)
        self.env.update({
            "GIT_AUTHOR_NAME": "ftgate demo", "GIT_AUTHOR_EMAIL": "demo@ftgate.invalid",
            "GIT_COMMITTER_NAME": "ftgate demo", "GIT_COMMITTER_EMAIL": "demo@ftgate.invalid",
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": str(base / "gitconfig"),
            "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false",
            "PYTHONUNBUFFERED": "1",
        })
        # The demo's own ftgate must win over any other on PATH, for the hooks too.
        self.env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), self.env.get("PATH", "")])
        self.env.pop("FTGATE_TICKET", None)
        (base / "gitconfig").write_text("[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n")

    @property
    def folder(self) -> Path:
        return self.tree / "tickets" / "in-progress" / TICKET

    # -- running things ----------------------------------------------------
    def step(self, title: str) -> None:
        self.echo("")
        self.echo(f"== {title}")

    def say(self, text: str) -> None:
        self.echo(f"   {text}")

    def run(self, argv: list[str], *, shown: str, expect: int | None = 0, quiet: bool = False) -> str:
        self._prompt(shown)
        result = subprocess.run(argv, check=False, cwd=self.cwd, capture_output=True, text=True, env=self.env)
        return self._show(shown, result, expect=expect, quiet=quiet)

    def _prompt(self, shown: str) -> None:
        where = os.path.relpath(self.cwd, self.base)
        self.echo(f"[{where}]$ {shown}")

    def _show(self, shown: str, result: subprocess.CompletedProcess[str], *, expect: int | None,
              quiet: bool = False) -> str:
        output = (result.stdout + result.stderr).rstrip()
        lines = output.splitlines()
        if quiet and len(lines) > 12:
            lines = lines[:4] + [f"... ({len(lines) - 8} lines)"] + lines[-4:]
        for line in lines:
            self.echo(f"    {line}")
        if expect is not None and result.returncode != expect:
            raise DemoFailed(f"`{shown}` exited {result.returncode}, expected {expect}")
        return output

    def ftgate(self, *args: str, expect: int | None = 0, quiet: bool = False) -> str:
        return self.run([sys.executable, "-m", "ftgate", *args], shown=shlex.join(["ftgate", *args]),
                        expect=expect, quiet=quiet)

    def git(self, *args: str, expect: int | None = 0) -> str:
        # Through ftgate's one git runner: what a user types, in the demo's
        # environment, with nothing inherited that points git elsewhere.
        shown = "git " + shlex.join(args)
        self._prompt(shown)
        result = proc.text(proc.run(args, cwd=self.cwd, ok_codes=None, base_env=self.env))
        return self._show(shown, result, expect=expect)

    def commit(self, message: str, *paths: str) -> None:
        self.git("add", "--", *(paths or (".",)))
        self.git("commit", "-q", "-m", message)

    # -- writing what a person would write ---------------------------------
    def fill(self, stage: Stage) -> None:
        name = RULES[stage].artifact
        text = resources.files("ftgate.examples").joinpath("ticket", name).read_text(encoding="utf-8")
        (self.folder / name).write_text(string.Template(text).safe_substitute(ticket=TICKET), encoding="utf-8")
        self.say(f"(the ticket's owner writes {name})")

    def edit(self, name: str, old: str, new: str) -> None:
        path = self.folder / name
        text = path.read_text(encoding="utf-8")
        changed = re.sub(old, new, text, count=1, flags=re.MULTILINE)
        if changed == text:
            raise DemoFailed(f"{name}: expected to find {old!r}")
        path.write_text(changed, encoding="utf-8")


def _have_trainer() -> bool:
    return all(find_spec(name) is not None for name in ("torch", "transformers", "trl", "peft", "datasets"))


def run_demo(directory: Path | None, echo: Callable[[str], None], *, keep: bool = False) -> int:
    if directory is not None and directory.exists() and any(directory.iterdir()):
        raise FtgateError(f"{directory} is not empty; the demo needs a fresh folder", hint="pass a new --dir")
    base = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="ftgate-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    base = base.resolve()
    trainer = _have_trainer()
    demo = Demo(base, echo)
    echo(f"ftgate demo in {base}")
    if not trainer:
        echo("(the `train` extra is not installed: the demo stops before training; "
             "`pip install 'ftgate-workflow[train]'` runs it all)")
    try:
        _play(demo, trainer)
    except DemoFailed as err:
        echo(f"\ndemo failed: {err}")
        return 1
    finally:
        if directory is None and not keep:
            shutil.rmtree(base, ignore_errors=True)
    echo("")
    echo("demo finished: every gate passed on real files, the bypass was refused, "
         + ("the evidence verified, and the ticket is archived and merged." if trainer
            else "and source edits are unlocked at Stage 4."))
    return 0


def _play(demo: Demo, trainer: bool) -> None:
    from ftgate.examples.colormap import run_config, write_data

    demo.step("A team's server repository, and a clone of it with a small project")
    demo.git("init", "-q", "--bare", str(demo.server))
    demo.git("clone", "-q", str(demo.server), str(demo.project))
    demo.cwd = demo.project
    (demo.project / "train").mkdir()
    (demo.project / "train" / "format.py").write_text(
        '"""How answers are cleaned before scoring."""\n\n\ndef clean(text: str) -> str:\n'
        '    return text.strip()\n', encoding="utf-8")
    (demo.project / ".gitignore").write_text("__pycache__/\n", encoding="utf-8")
    demo.commit("initial project")
    demo.git("push", "-q", "origin", "main")

    demo.step("Install ftgate: server hooks on the bare repository, local hooks in the clone")
    demo.ftgate("install", "--server", str(demo.server))
    demo.ftgate("install")

    demo.step("Stage 0: a ticket on its own codex/ branch and worktree, cut from a refreshed origin/main")
    demo.ftgate("worktree", "new", TICKET)
    demo.cwd = demo.tree
    demo.ftgate("status")

    demo.step("Before any plan, a source change is refused by the local hook ...")
    format_py = demo.tree / "train" / "format.py"
    original = format_py.read_text(encoding="utf-8")
    format_py.write_text(original.replace("text.strip()", "text.strip().lower()"), encoding="utf-8")
    demo.git("commit", "-q", "-am", "lower-case answers", expect=1)
    demo.say("... and skipping the local hooks does not help: the server refuses the push")
    demo.git("commit", "-q", "--no-verify", "-am", "lower-case answers (hooks skipped)")
    demo.git("push", "--no-verify", "-q", "origin", f"codex/{TICKET}", expect=1)
    demo.git("reset", "-q", "--hard", "HEAD~1")

    demo.ftgate("advance")
    demo.commit("Stage 0 gate passed", "tickets")
    for stage in (Stage.INVESTIGATION, Stage.REQUIREMENTS, Stage.PLAN):
        demo.step(f"Stage {int(stage)}: {stage.title}")
        if stage == Stage.INVESTIGATION:
            demo.ftgate("advance", expect=1)
            demo.say("(the gate reads the notes: an empty template does not pass)")
        demo.fill(stage)
        demo.ftgate("advance")
        demo.commit(f"Stage {int(stage)} gate passed", "tickets")

    demo.step("Stage 4: unlock (the plan's gate passed), then change source")
    demo.ftgate("unlock")
    demo.commit("unlock source edits", "tickets")
    write_data(demo.tree / "data")
    outputs = demo.base / "outputs"  # weights stay outside git
    config = demo.tree / CONFIG
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(run_config(ticket=TICKET, model=str(outputs / "tiny-model"), outputs=str(outputs)),
                      encoding="utf-8")
    demo.commit("color-map run config and data splits", "configs", "data")
    if not trainer:
        demo.ftgate("status")
        return

    demo.ftgate("model", "tiny", "--out", str(outputs / "tiny-model"), "--from-text", "data/train.jsonl")
    report = f"tickets/in-progress/{TICKET}/data-preparation.md"
    demo.ftgate("data", "prepare", CONFIG, "--report", report, quiet=True)
    demo.fill(Stage.IMPLEMENTATION)
    demo.ftgate("advance")
    demo.commit("Stage 4 gate passed: data prepared and checked", "tickets")

    demo.step("Stage 5: train, evaluate against the baseline, write evidence the gate can verify")
    demo.ftgate("train", CONFIG, quiet=True)
    demo.say("(the owner reads the report ftgate filled in, and signs the decision)")
    demo.edit("training-validation-report.md", r"^- Current Status: .*$", "- Current Status: `Current`")
    demo.edit("training-validation-report.md", r"^- Stage 5 Decision: .*$", "- Stage 5 Decision: `Pass`")
    demo.ftgate("evidence", "verify")
    demo.ftgate("advance")
    demo.commit("Stage 5 gate passed: RUN-001 evidence", "tickets")

    for stage in (Stage.CODE_REVIEW, Stage.DOCS_SYNC):
        demo.step(f"Stage {int(stage)}: {stage.title}")
        demo.fill(stage)
        demo.ftgate("advance")
        demo.commit(f"Stage {int(stage)} gate passed", "tickets")

    demo.step("Stage 8: hand off, the user verifies, archive, merge into main")
    demo.fill(Stage.HANDOFF)
    demo.commit("handoff summary", "tickets")
    demo.ftgate("done", "--verified-by", "the demo user", "--finalize")
    demo.cwd = demo.project
    demo.git("push", "-q", "origin", "main")
    demo.git("log", "--oneline", "-3", "main")
