"""Real git repositories for the worktree tests: a bare "server", a clone of
it (so ``origin/HEAD`` exists), and a repository whose remote was added by
hand (so it does not)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from workflow.helpers import Run, ftgate  # noqa: F401 - one in-process runner for all CLI tests


@pytest.fixture(autouse=True)
def _private_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No dependence on the machine's git config, and no leaked hook variables."""
    config = tmp_path / "gitconfig"
    config.write_text("[init]\n\tdefaultBranch = main\n[user]\n\tname = ftgate tests\n"
                      "\temail = tests@ftgate.invalid\n[protocol \"file\"]\n\tallow = always\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "FTGATE_TICKET"):
        monkeypatch.delenv(name, raising=False)


def git(cwd: Path, *args: str, check: bool = True) -> str:
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


@dataclass
class Repos:
    tmp: Path
    server: Path   # bare; its HEAD names main
    seed: Path     # where the server's history was written

    def clone(self, name: str = "clone") -> Path:
        git(self.tmp, "clone", "-q", str(self.server), name)
        return self.tmp / name

    def hand(self, name: str = "hand", url: str | None = None) -> Path:
        """A repository whose remote was added by hand and fetched: remote
        branches are there, ``origin/HEAD`` is not."""
        repo = self.tmp / name
        git(self.tmp, "init", "-q", name)
        git(repo, "remote", "add", "origin", url or str(self.server))
        git(repo, "fetch", "-q", "origin")
        return repo

    def push_seed(self, *refspecs: str) -> None:
        git(self.seed, "push", "-q", str(self.server), *refspecs)


@pytest.fixture
def repos(tmp_path: Path) -> Repos:
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


def state_text(worktree: Path, name: str) -> str:
    return (worktree / "tickets" / "in-progress" / name / "workflow-state.md").read_text()


def record(worktree: Path, name: str):
    from ftgate.workflow.state import read_state

    return read_state(state_text(worktree, name), "workflow-state.md").state.bootstrap
