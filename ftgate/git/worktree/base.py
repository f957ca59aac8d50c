"""Which branch a ticket is cut from, and refreshing it from the remote
first: resolved with care, because a wrong base is a silent mistake."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ftgate.errors import FtgateError
from ftgate.git.worktree.repo import (
    FETCH_TIMEOUT_S,
    GitFailed,
    check_branch_name,
    git,
    ref_exists,
    remotes,
)

# -------------------------------------------------------------- base branch


@dataclass(frozen=True, slots=True)
class BaseChoice:
    """Where a ticket branch is cut from, and how ftgate decided it."""

    remote: str | None  # None: a local branch that is not on the remote
    branch: str
    ref: str            # the full ref the ticket branch starts at
    how: str

    @property
    def display(self) -> str:
        return f"{self.remote}/{self.branch}" if self.remote else self.branch


def resolve_base(repo: Path, remote: str, *, requested: str | None, source: str,
                 may_ask_remote: bool) -> BaseChoice:
    """The base branch: the one asked for (``--base`` or config), else the
    remote's default branch (``<remote>/HEAD``), else what ``git remote
    set-head --auto`` detects, else the remote's ``main`` or ``master``.
    Never the current HEAD: cutting a ticket from whatever happens to be
    checked out is how unrelated work leaks into a ticket."""
    if requested:
        return _named_base(repo, remote, requested, source)
    known = remote in remotes(repo)
    if known:
        choice = _remote_head(repo, remote, f"the default branch of {remote} ({remote}/HEAD)")
        if choice:
            return choice
        if may_ask_remote:
            # Asks the remote which branch its HEAD names and records it locally.
            git(repo, "remote", "set-head", remote, "--auto", check=False, timeout=FETCH_TIMEOUT_S)
            choice = _remote_head(repo, remote, f"the default branch of {remote}, detected with "
                                                f"`git remote set-head {remote} --auto`")
            if choice:
                return choice
        present = [b for b in ("main", "master") if ref_exists(repo, f"refs/remotes/{remote}/{b}")]
        if len(present) == 1:
            return BaseChoice(remote, present[0], f"refs/remotes/{remote}/{present[0]}",
                              f"{remote}/{present[0]}: {remote} names no default branch and it is the only "
                              "one of main/master there")
        if len(present) == 2:
            raise FtgateError(f"{remote} names no default branch and has both `main` and `master`; "
                              "ftgate will not guess between them",
                              hint="name the base: --base main (or set worktree.base_branch in ftgate.yaml, "
                                   f"or `git remote set-head {remote} main`)")
    where = f"remote {remote!r}" if known else f"any remote (there is no remote named {remote!r})"
    raise FtgateError(f"cannot tell which branch to cut the ticket from: no default branch is known for {where}, "
                      "and ftgate does not fall back to the current HEAD",
                      hint="name one: --base BRANCH, or `worktree: {base_branch: BRANCH}` in ftgate.yaml, "
                           f"or `git remote set-head {remote} BRANCH`")


def _remote_head(repo: Path, remote: str, how: str) -> BaseChoice | None:
    done = git(repo, "symbolic-ref", "--quiet", f"refs/remotes/{remote}/HEAD", check=False)
    target = done.stdout.strip()
    prefix = f"refs/remotes/{remote}/"
    if done.returncode != 0 or not target.startswith(prefix) or not ref_exists(repo, target):
        return None
    return BaseChoice(remote, target[len(prefix):], target, how)


def _named_base(repo: Path, remote: str, requested: str, source: str) -> BaseChoice:
    name = requested.removeprefix("refs/heads/")
    known = remotes(repo)
    head, _, rest = name.partition("/")
    if rest and head in known and ref_exists(repo, f"refs/remotes/{name}"):
        # `--base origin/main` names the remote along with the branch.
        return BaseChoice(head, rest, f"refs/remotes/{name}", f"{name}, {source}")
    check_branch_name(repo, name, "base branch")
    if remote in known and ref_exists(repo, f"refs/remotes/{remote}/{name}"):
        return BaseChoice(remote, name, f"refs/remotes/{remote}/{name}", f"{remote}/{name}, {source}")
    if ref_exists(repo, f"refs/heads/{name}"):
        return BaseChoice(None, name, f"refs/heads/{name}",
                          f"local branch {name} ({source}; not on {remote if remote in known else 'any remote'})")
    on = f"on {remote}" if remote in known else f"on a remote (no remote named {remote!r})"
    raise FtgateError(f"base branch {requested!r} ({source}) does not exist {on} nor as a local branch",
                      hint="list the branches with `git branch -a`; check the name, or fetch it first")


# ------------------------------------------------------------------ refresh


@dataclass(frozen=True, slots=True)
class Refresh:
    performed: str  # Yes / No / N/A, the bootstrap record's tokens
    result: str


def refresh_remote(repo: Path, remote: str, *, enabled: bool) -> Refresh:
    """``git fetch <remote>`` so the base is what the remote holds now. A
    failure stops the bootstrap: a ticket cut from stale refs starts behind."""
    if not enabled:
        return Refresh("No", "skipped (--no-fetch): base taken from the refs already in the repository")
    if remote not in remotes(repo):
        raise FtgateError(f"cannot refresh from {remote!r}: there is no remote by that name",
                          hint=f"add it (git remote add {remote} URL), pick another with --remote, "
                               "or cut from local refs with --no-fetch")
    try:
        git(repo, "fetch", "--quiet", remote, timeout=FETCH_TIMEOUT_S)
    except GitFailed as err:
        raise FtgateError(f"refreshing {remote!r} failed, so the base branch may be stale: {err.message}",
                          hint="fix the remote (or the network), or cut from the refs you have with --no-fetch") \
            from None
    return Refresh("Yes", f"Success: fetched {remote}")
