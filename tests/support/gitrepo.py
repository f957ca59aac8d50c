"""Real git repositories for tests: no mocks of git, hooks or the pre-commit
framework. Config and identity come from :mod:`tests.support.isolation`."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.isolation import IDENTITY, git_config

PYTHON = sys.executable


def git(cwd: Path, *args: str, check: bool = True) -> str:
    """``git ARGS`` in ``cwd`` with the suite's environment; stdout, stripped."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}:\n{proc.stdout}{proc.stderr}")
    return proc.stdout.strip()


def commit_file(repo: Path, rel: str, text: str, message: str) -> str:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    git(repo, "add", rel)
    git(repo, "commit", "-q", "--no-verify", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def git_env(home: Path) -> dict[str, str]:
    """An environment for git and hook subprocesses: the suite's git config,
    a private HOME and pre-commit cache, and this interpreter's ``ftgate`` first
    on PATH (installed hooks call it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "FTGATE_", "GITHUB_", "GL_"))}
    home.mkdir(parents=True, exist_ok=True)
    env.update(IDENTITY)
    env.update({
        "GIT_CONFIG_GLOBAL": str(git_config()),
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(home),
        "PATH": str(Path(PYTHON).parent) + os.pathsep + env.get("PATH", ""),
        "PRE_COMMIT_HOME": str(home / "pre-commit-cache"),
    })
    return env


@dataclass
class Repo:
    path: Path
    env: dict[str, str]

    def git(self, *args: str, check: bool = True, input: str | bytes | None = None
            ) -> subprocess.CompletedProcess[bytes]:
        data = input.encode() if isinstance(input, str) else input
        proc = subprocess.run(["git", *args], cwd=self.path, env=self.env, input=data, capture_output=True)
        if check and proc.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout.decode(errors='replace')}\n{proc.stderr.decode(errors='replace')}")
        return proc

    def out(self, *args: str) -> str:
        return self.git(*args).stdout.decode().strip()

    def ftgate(self, *args: str, input: str | None = None, env: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PYTHON, "-m", "ftgate", *args], cwd=self.path, env=env or self.env,
                              input=input, capture_output=True, text=True)

    def write(self, rel: str, text: str | bytes) -> Path:
        path = self.path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def commit(self, message: str, *paths: str, verify: bool = False) -> subprocess.CompletedProcess[bytes]:
        """Stage ``paths`` (all changes when none) and commit; hooks skipped
        unless ``verify``."""
        if paths:
            self.git("add", "-A", "--", *paths)
        else:
            self.git("add", "-A")
        args = ["commit", "-q", "--allow-empty", "-m", message]
        if not verify:
            args.append("--no-verify")
        return self.git(*args, check=not verify)

    def head(self) -> str:
        return self.out("rev-parse", "HEAD")


def init_repo(path: Path, env: dict[str, str]) -> Repo:
    path.mkdir(parents=True, exist_ok=True)
    repo = Repo(path, env)
    repo.git("init", "-q", "-b", "main")
    return repo


@dataclass
class Repos:
    """A bare "server" whose HEAD names main, the repository its history was
    written in, and ways to get a clone (``origin/HEAD`` set) or a repository
    whose remote was added by hand (``origin/HEAD`` absent)."""

    tmp: Path
    server: Path
    seed: Path

    def clone(self, name: str = "clone") -> Path:
        git(self.tmp, "clone", "-q", str(self.server), name)
        return self.tmp / name

    def hand(self, name: str = "hand", url: str | None = None) -> Path:
        repo = self.tmp / name
        git(self.tmp, "init", "-q", name)
        git(repo, "remote", "add", "origin", url or str(self.server))
        git(repo, "fetch", "-q", "origin")
        return repo

    def push_seed(self, *refspecs: str) -> None:
        git(self.seed, "push", "-q", str(self.server), *refspecs)


def make_repos(tmp_path: Path) -> Repos:
    seed = tmp_path / "seed"
    git(tmp_path, "init", "-q", "seed")
    commit_file(seed, "README.md", "project\n", "Start")
    commit_file(seed, "src/app.py", "print('hello')\n", "Add the app")
    git(seed, "branch", "release")
    git(tmp_path, "clone", "-q", "--bare", str(seed), "server.git")
    return Repos(tmp_path, tmp_path / "server.git", seed)


def worktrees(repo: Path) -> list[str]:
    return [line.split(" ", 1)[1] for line in git(repo, "worktree", "list", "--porcelain").splitlines()
            if line.startswith("worktree ")]


def branches(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/").split()
