"""A bare server repository with ftgate's server hook installed, a clone to
push from, and a ticket seeded before the hook judges anything."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.support.gitrepo import Repo
from tests.support.tickets import put_ticket


def bare_and_clone(tmp_path: Path, env: dict[str, str]) -> tuple[Repo, Repo]:
    """An empty bare server (branch ``main``) and a clone of it with
    README.md and src/train.py written but not committed."""
    bare = Repo(tmp_path / "server.git", env)
    bare.path.mkdir()
    bare.git("init", "-q", "--bare", "-b", "main")
    work = Repo(tmp_path / "clone", env)
    Repo(tmp_path, env).git("clone", "-q", str(bare.path), str(work.path))
    work.write("README.md", "# demo\n")
    work.write("src/train.py", "print('train')\n")
    return bare, work


def install_server_hook(bare: Repo, work: Repo, hook: str = "update") -> None:
    proc = work.ftgate("install", "--server", str(bare.path), "--hook", hook)
    assert proc.returncode == 0, proc.stderr


def make_server(tmp_path: Path, env: dict[str, str], *, hook: str = "update", stage: int | None = None,
                unlocked: bool = False, setup: Callable[[Repo], None] | None = None) -> tuple[Repo, Repo]:
    """A bare server and a clone. The ticket (hand-made at ``stage``) and
    whatever ``setup`` commits are pushed before the hook is installed:
    test set-up, not steps the server should judge."""
    bare, work = bare_and_clone(tmp_path, env)
    work.commit("initial")
    if stage is not None:
        seed_ticket(work, stage, unlocked=unlocked)
    if setup is not None:
        setup(work)
    work.git("push", "-q", "origin", "main")
    install_server_hook(bare, work, hook)
    return bare, work


def push(work: Repo, *refspecs: str, extra: tuple[str, ...] = ("--no-verify",), env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "push", *extra, "origin", *refspecs], cwd=work.path, env=env or work.env,
                          capture_output=True, text=True)


def seed_ticket(work: Repo, stage: int, *, unlocked: bool = False, name: str = "t") -> str:
    folder = put_ticket(work, name, stage, unlocked=unlocked)
    work.commit(f"ticket {name} at {stage}", folder)
    return folder
