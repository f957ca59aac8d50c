"""Finding tickets, naming them, and creating them from ftgate's templates."""

from __future__ import annotations

import datetime as _dt
import os
import re
import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ftgate.constants import BRANCH_PREFIX, DONE, IN_PROGRESS, TICKETS
from ftgate.errors import FtgateError
from ftgate.gitdir import current_branch as _current_branch
from ftgate.gitdir import git_dirs
from ftgate.ticketname import name_problem
from ftgate.workflow.fileio import atomic_write_text, read_text
from ftgate.workflow.stages import STATE_FILE
from ftgate.workflow.state import StateFile, read_state

__all__ = ["BRANCH_PREFIX", "DONE", "IN_PROGRESS", "TICKETS"]


def check_name(name: str) -> str:
    """Refuse names that would make a bad folder or branch: only lowercase
    letters, digits, ``.``, ``_`` and ``-``; no ``..``, no leading dot or dash,
    no ``.lock`` ending (git refuses such refs)."""
    problem = name_problem(name)
    if problem:
        suggestion = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip(".-_").replace("..", ".") or "my-ticket"
        raise FtgateError(f"ticket name {name!r} {problem}", hint=f"use a name like {suggestion!r}")
    return name


def today() -> str:
    return _dt.date.today().isoformat()


def find_repo_root(start: Path | None = None) -> Path:
    """The folder that holds ``tickets/``: the git top level (a ``.git`` entry,
    file or folder), else the nearest folder up with ``tickets/``, else the
    start folder. No git process: this runs on every command."""
    start = (start or Path.cwd()).resolve()
    tickets_at = None
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
        if tickets_at is None and (folder / TICKETS).is_dir():
            tickets_at = folder
    return tickets_at or start


def git_dir_of(root: Path) -> Path | None:
    """The git dir for a checkout (follows the ``gitdir:`` file of a linked
    worktree)."""
    return git_dirs(root, use_env=False)[0]


def current_branch(root: Path) -> str | None:
    return _current_branch(root, use_env=False)


@dataclass(frozen=True, slots=True)
class Ticket:
    name: str
    folder: Path
    root: Path

    @property
    def state_path(self) -> Path:
        return self.folder / STATE_FILE

    @property
    def done(self) -> bool:
        return self.folder.parent.name == DONE

    @property
    def display(self) -> str:
        try:
            return self.folder.relative_to(self.root).as_posix()
        except ValueError:
            return str(self.folder)

    def read_state(self) -> StateFile:
        if not self.state_path.is_file():
            raise FtgateError(f"{self.display}/{STATE_FILE} is missing, so the ticket's stage is unknown",
                              hint=f"restore it from git (git checkout -- {self.display}/{STATE_FILE})")
        return read_state(read_text(self.state_path), f"{self.display}/{STATE_FILE}")


def tickets_in(root: Path, where: str = IN_PROGRESS) -> list[str]:
    folder = root / TICKETS / where
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def resolve_ticket(name_or_path: str | None, root: Path | None = None, *, include_done: bool = False) -> Ticket:
    """Which ticket a command means: the argument (a name or a folder), else
    ``FTGATE_TICKET``, else the branch ``codex/<name>``, else the only ticket
    in progress; otherwise an error listing the candidates."""
    root = root or find_repo_root()
    if name_or_path and (os.sep in name_or_path or "/" in name_or_path):
        folder = Path(name_or_path).resolve()
        if not (folder / STATE_FILE).is_file():
            raise FtgateError(f"{name_or_path}: not a ticket folder (no {STATE_FILE})")
        return Ticket(folder.name, folder, find_repo_root(folder))
    candidates = tickets_in(root)
    name = name_or_path or os.environ.get("FTGATE_TICKET") or None
    how = "argument" if name_or_path else "FTGATE_TICKET"
    if name is None:
        branch = current_branch(root)
        if branch and branch.startswith(BRANCH_PREFIX):
            name, how = branch[len(BRANCH_PREFIX):], f"branch {branch}"
    if name is None:
        if len(candidates) == 1:
            name = candidates[0]
        elif not candidates:
            raise FtgateError(f"no ticket in progress under {TICKETS}/{IN_PROGRESS}/",
                              hint="start one: ftgate ticket new NAME")
        else:
            raise FtgateError("several tickets are in progress: " + ", ".join(candidates),
                              hint="name one (ftgate status NAME) or set FTGATE_TICKET")
    check_name(name)
    folder = root / TICKETS / IN_PROGRESS / name
    if folder.is_dir():
        return Ticket(name, folder, root)
    done_folder = root / TICKETS / DONE / name
    if include_done and done_folder.is_dir():
        return Ticket(name, done_folder, root)
    if done_folder.is_dir():
        raise FtgateError(f"ticket {name!r} is archived in {TICKETS}/{DONE}/",
                          hint=f"reopen it first: ftgate reopen {name}")
    listed = ", ".join(candidates) or "none"
    raise FtgateError(f"no ticket {name!r} (from {how}); tickets in progress: {listed}",
                      hint="ftgate ticket new NAME")


def render_template(name: str, **values: str) -> str:
    text = resources.files("ftgate.workflow").joinpath("templates", name).read_text(encoding="utf-8")
    return string.Template(text).safe_substitute(values)


@dataclass(slots=True)
class BootstrapValues:
    mode: str = "Non-Git"
    user_base: str = "N/A"
    base_remote: str = "N/A"
    base_branch: str = "N/A"
    final_remote: str = "N/A"
    final_branch: str = "N/A"
    refresh_performed: str = "N/A"
    refresh_result: str = "N/A"
    worktree_path: str = "N/A"
    ticket_branch: str = "N/A"


def bootstrap_for_checkout(root: Path, base: str | None) -> BootstrapValues:
    """The bootstrap record for a ticket started in the current checkout
    (no worktree of its own): Git mode on the checkout's branch, or Non-Git
    outside git."""
    if not (root / ".git").exists():
        return BootstrapValues()
    branch = current_branch(root) or "N/A"
    return BootstrapValues(
        mode="Git",
        user_base=base or "N/A",
        base_remote="N/A",
        base_branch=base or branch,
        final_remote="N/A",
        final_branch=base or branch,
        refresh_performed="No",
        refresh_result="not attempted: bootstrapped in the current checkout",
        worktree_path=str(root),
        ticket_branch=branch,
    )


def create_ticket(root: Path, name: str, bootstrap: BootstrapValues) -> Ticket:
    """Stage 0: the folder, ``requirements.md`` (Draft) and
    ``workflow-state.md`` with the bootstrap record. Refuses to touch an
    existing ticket."""
    check_name(name)
    folder = root / TICKETS / IN_PROGRESS / name
    if folder.exists():
        raise FtgateError(f"{folder.relative_to(root).as_posix()} already exists",
                          hint=f"ftgate status {name}")
    if (root / TICKETS / DONE / name).exists():
        raise FtgateError(f"a ticket named {name!r} is archived in {TICKETS}/{DONE}/",
                          hint=f"reopen it (ftgate reopen {name}) or pick another name")
    folder.mkdir(parents=True)
    values = {"ticket": name, "date": today(), **{k: getattr(bootstrap, k) for k in bootstrap.__slots__}}
    atomic_write_text(folder / "requirements.md", render_template("requirements.md", **values))
    atomic_write_text(folder / STATE_FILE, render_template(STATE_FILE, **values))
    return Ticket(name, folder, root)
