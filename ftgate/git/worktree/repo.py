"""What the worktree commands read from git: the settings, the one text-mode
git call they share, and the repository's worktrees, remotes and refs."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from ftgate import proc
from ftgate.errors import FtgateError
from ftgate.workflow.tickets import (
    BRANCH_PREFIX,
    check_name,
)

DEFAULT_REMOTE = "origin"
# Beside the main checkout rather than inside it, so the main checkout's
# status, searches and editors never see a second copy of the repository.
DEFAULT_LOCATION = "../{repo}-worktrees"
DEFAULT_FINALIZE = "merge"
# A fetch from an unreachable host can hang for minutes; a bootstrap should not.
FETCH_TIMEOUT_S = 120
NOT_APPLICABLE = "N/A"

# ------------------------------------------------------------------ settings


@dataclass(frozen=True, slots=True)
class WorktreeSettings:
    """The ``worktree:`` section of ``ftgate.yaml``."""

    base_branch: str | None = None
    remote: str = DEFAULT_REMOTE
    location: str = DEFAULT_LOCATION
    finalize: str = DEFAULT_FINALIZE


def worktree_settings(repo_root: Path) -> WorktreeSettings:
    """The ``worktree:`` section of ``<repo_root>/ftgate.yaml`` (validated by
    the shared config, which refuses unknown keys: a typo must not silently
    fall back to a default base branch); defaults when absent."""
    from ftgate.policy.config import load_config

    rules = load_config(repo_root).worktree
    return WorktreeSettings(base_branch=rules.base_branch, remote=rules.remote, location=rules.location,
                            finalize=rules.finalize)


# ----------------------------------------------------------------------- git


class GitFailed(proc.GitError):
    """A git command failed; the message carries git's own words."""


def git(cwd: Path, *args: str, check: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """``git ARGS`` in ``cwd`` through the one runner, as text. Worktree
    commands address repositories by cwd only, so nothing of a calling
    hook's git environment passes."""
    try:
        done = proc.run(args, cwd=cwd, ok_codes=None, timeout=timeout)
    except proc.GitError as err:
        raise GitFailed(err.argv, err.code, err.stderr, message=err.message) from None
    result = proc.text(done)
    if check and result.returncode != 0:
        raise GitFailed(list(args), result.returncode, result.stderr or result.stdout,
                        message=f"`git {' '.join(args)}` failed: {last_words(result)}")
    return result


def last_words(done: subprocess.CompletedProcess[str]) -> str:
    text = (done.stderr or done.stdout or "").strip()
    lines = [line.removeprefix("fatal: ").removeprefix("error: ").strip() for line in text.splitlines() if line.strip()]
    return "; ".join(lines[-3:]) or f"exit status {done.returncode}"


def ref_exists(repo: Path, ref: str) -> bool:
    return git(repo, "rev-parse", "--verify", "--quiet", ref + "^{commit}", check=False).returncode == 0


def git_toplevel(start: Path) -> Path | None:
    """The checkout that holds ``start``, or None outside git."""
    done = git(start, "rev-parse", "--show-toplevel", check=False)
    if done.returncode != 0 or not done.stdout.strip():
        return None
    return Path(done.stdout.strip()).resolve()


@dataclass(frozen=True, slots=True)
class WorktreeEntry:
    path: Path
    head: str | None
    branch: str | None  # short name, None when detached or bare
    bare: bool = False
    prunable: bool = False

    @property
    def ticket(self) -> str | None:
        if self.branch and self.branch.startswith(BRANCH_PREFIX):
            return self.branch[len(BRANCH_PREFIX):]
        return None


def list_worktrees(repo: Path) -> list[WorktreeEntry]:
    """Every worktree git knows, the main one first."""
    out = git(repo, "worktree", "list", "--porcelain").stdout
    entries: list[WorktreeEntry] = []
    for block in out.strip().split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, _, value = line.partition(" ")
            fields[key] = value
        if "worktree" not in fields:
            continue
        branch = fields.get("branch")
        entries.append(WorktreeEntry(
            path=Path(fields["worktree"]),
            head=fields.get("HEAD"),
            branch=branch.removeprefix("refs/heads/") if branch else None,
            bare="bare" in fields,
            prunable="prunable" in fields,
        ))
    return entries


def main_checkout(repo: Path) -> Path:
    entries = list_worktrees(repo)
    if not entries or entries[0].bare:
        raise FtgateError("this repository has no main checkout (it is bare)",
                          hint="run ftgate in a clone with a working tree")
    return entries[0].path


def remotes(repo: Path) -> list[str]:
    return git(repo, "remote").stdout.split()


def ticket_branch(name: str) -> str:
    return BRANCH_PREFIX + check_name(name)


def check_branch_name(repo: Path, branch: str, what: str) -> None:
    if git(repo, "check-ref-format", "--branch", branch, check=False).returncode != 0:
        raise FtgateError(f"{what} {branch!r} is not a valid git branch name")
