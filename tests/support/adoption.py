"""Real repositories for the adoption tests: a scratch home per test, the
suite's one git config (tests.support.isolation), ftgate and the hook managers
from this interpreter's environment, nothing from the machine's git setup."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.isolation import IDENTITY, git_config

PYTHON = sys.executable
BIN = Path(PYTHON).parent
ROOT = Path(__file__).resolve().parents[2]


def scratch_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GIT_", "FTGATE_", "GITHUB_", "PRE_COMMIT", "LEFTHOOK", "PREK", "HUSKY"))}
    home.mkdir(parents=True, exist_ok=True)
    env.update(IDENTITY)
    env.update({
        "HOME": str(home),
        "GIT_CONFIG_GLOBAL": str(git_config()),
        "GIT_CONFIG_NOSYSTEM": "1",
        # Hooks and hook managers find this environment's ftgate, lefthook and
        # prek first, and ftgate's code is this checkout's.
        "PATH": str(BIN) + os.pathsep + env.get("PATH", ""),
        "PYTHONPATH": str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
        "PRE_COMMIT_HOME": str(home / "pre-commit-cache"),
        "PREK_HOME": str(home / "prek-cache"),
        "XDG_CACHE_HOME": str(home / "cache"),
    })
    return env


@dataclass
class Repo:
    path: Path
    env: dict[str, str]

    def run(self, *cmd: str, check: bool = True, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(list(cmd), cwd=cwd or self.path, env=env or self.env, check=False, capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}) in {cwd or self.path}:\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def git(self, *args: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return self.run("git", *args, check=check, cwd=cwd)

    def out(self, *args: str, cwd: Path | None = None) -> str:
        return self.git(*args, cwd=cwd).stdout.strip()

    def ftgate(self, *args: str, check: bool = False, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return self.run(PYTHON, "-m", "ftgate", *args, check=check, cwd=cwd)

    def write(self, rel: str, text: str, *, cwd: Path | None = None) -> Path:
        path = (cwd or self.path) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def commit(self, message: str, *paths: str, cwd: Path | None = None) -> str:
        """Commit without hooks (history set-up, not the thing under test)."""
        self.git("add", "-A", "--", *(paths or (".",)), cwd=cwd)
        self.git("commit", "-q", "--no-verify", "--allow-empty", "-m", message, cwd=cwd)
        return self.out("rev-parse", "HEAD", cwd=cwd)
