"""``ftgate worktree list`` and ``remove``: each ticket's worktree with its
state, and removal that refuses to lose work."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ftgate.errors import FtgateError
from ftgate.git.worktree.create import (
    find_ticket,
    worktree_for,
)
from ftgate.git.worktree.repo import (
    git,
    git_toplevel,
    list_worktrees,
    main_checkout,
    ref_exists,
    ticket_branch,
)
from ftgate.workflow.tickets import (
    BRANCH_PREFIX,
    DONE,
    IN_PROGRESS,
    TICKETS,
    check_name,
)

# --------------------------------------------------------------- list/remove


@dataclass(frozen=True, slots=True)
class TicketWorktree:
    name: str
    branch: str
    path: Path
    exists: bool
    dirty: bool | None
    stage: int | None
    permission: str | None
    archived: bool
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"ticket": self.name, "branch": self.branch, "path": str(self.path), "exists": self.exists,
                "dirty": self.dirty, "stage": self.stage, "permission": self.permission,
                "archived": self.archived, "error": self.error}


def is_dirty(worktree: Path) -> bool:
    """Tracked changes or untracked files (ignored files do not count)."""
    return bool(git(worktree, "status", "--porcelain", "--untracked-files=normal").stdout.strip())


def ticket_worktrees(start: Path) -> list[TicketWorktree]:
    here = git_toplevel(start)
    if here is None:
        raise FtgateError(f"{start} is not inside a git repository")
    rows = []
    for entry in list_worktrees(here):
        name = entry.ticket
        if name is None:
            continue
        exists = entry.path.is_dir()
        stage = permission = error = None
        archived = False
        dirty = is_dirty(entry.path) if exists else None
        ticket = find_ticket(entry.path, name) if exists else None
        if not exists:
            error = "folder is missing (prunable)"
        elif ticket is None:
            error = f"no ticket folder {TICKETS}/{IN_PROGRESS}/{name}"
        else:
            archived = ticket.done
            try:
                state = ticket.read_state().state
                stage, permission = int(state.current_stage), state.permission.value
            except FtgateError as err:  # one unreadable ticket must not hide the others
                error = err.message
        rows.append(TicketWorktree(name, entry.branch or "", entry.path, exists, dirty, stage, permission,
                                   archived, error))
    return rows


@dataclass(slots=True)
class RemoveOutcome:
    name: str
    branch: str
    steps: list[str] = field(default_factory=list)


def recorded_bases(repo: Path, worktree: Path | None, name: str) -> list[str]:
    """Refs the ticket branch counts as merged into: its recorded base and
    finalization target, on the remote and as local branches. Read from the
    worktree when it is there, else from the branch's last commit."""
    from ftgate.workflow.stages import STATE_FILE
    from ftgate.workflow.state import read_state

    ticket = find_ticket(worktree, name) if worktree is not None and worktree.is_dir() else None
    if ticket is not None:
        record = ticket.read_state().state.bootstrap
    else:
        for where in (IN_PROGRESS, DONE):
            spec = f"refs/heads/{BRANCH_PREFIX}{name}:{TICKETS}/{where}/{name}/{STATE_FILE}"
            done = git(repo, "show", spec, check=False)
            if done.returncode == 0:
                record = read_state(done.stdout, f"{BRANCH_PREFIX}{name}:{TICKETS}/{where}/{name}/{STATE_FILE}")\
                    .state.bootstrap
                break
        else:
            return []
    refs: list[str] = []
    for remote, branch in ((record.resolved_base_remote, record.resolved_base_branch),
                           (record.finalization_remote, record.finalization_branch)):
        if not branch:
            continue
        if remote:
            refs.append(f"refs/remotes/{remote}/{branch}")
        refs.append(f"refs/heads/{branch}")
    return list(dict.fromkeys(refs))


def remove_ticket_worktree(start: Path, name: str, *, force: bool = False) -> RemoveOutcome:
    check_name(name)
    branch = ticket_branch(name)
    here = git_toplevel(start)
    if here is None:
        raise FtgateError(f"{start} is not inside a git repository")
    outcome = RemoveOutcome(name, branch)
    entry = worktree_for(here, branch)
    main = main_checkout(here)
    if entry is not None and entry.path == main:
        raise FtgateError(f"{branch} is checked out in the main checkout {main}; that is not a ticket worktree",
                          hint="switch the main checkout to another branch; ftgate never removes it")
    branch_exists = ref_exists(here, f"refs/heads/{branch}")
    if entry is None and not branch_exists:
        raise FtgateError(f"no worktree and no branch for ticket {name!r}", hint="ftgate worktree list")

    merged_into = None
    bases: list[str] = []
    if entry is not None:
        cwd = Path.cwd().resolve()
        if cwd == entry.path or entry.path in cwd.parents:
            raise FtgateError(f"you are inside the worktree {entry.path}",
                              hint=f"run it from another checkout: cd {main} && ftgate worktree remove {name}")
        if is_dirty(entry.path) and not force:
            changes = git(entry.path, "status", "--short").stdout.rstrip().splitlines()
            shown = "\n    ".join(changes[:10]) + ("\n    ..." if len(changes) > 10 else "")
            raise _Refused(f"worktree {entry.path} has uncommitted changes:\n    {shown}",
                           hint=f"commit or discard them, or remove anyway (losing them): "
                                f"ftgate worktree remove {name} --force")
    try:
        bases = recorded_bases(here, entry.path if entry is not None else None, name)
    except FtgateError as err:
        outcome.steps.append(f"could not read the recorded base ({err.message})")
    bases = [ref for ref in bases if ref_exists(here, ref)]
    for ref in bases:
        if git(here, "merge-base", "--is-ancestor", f"refs/heads/{branch}", ref, check=False).returncode == 0:
            merged_into = ref
            break
    if merged_into is None and not force:
        against = ", ".join(_short(ref) for ref in bases) or "no recorded base that exists here"
        raise _Refused(f"{branch} is not merged into its recorded base ({against})",
                       hint=f"merge or finalize it first (ftgate done --finalize), `git fetch` if it was merged "
                            f"on the remote, or remove the worktree anyway, keeping the branch: "
                            f"ftgate worktree remove {name} --force")
    # Only now that nothing refuses: a refused remove changes nothing at all.
    pruned = git(here, "worktree", "prune", "--verbose")
    if (pruned.stdout + pruned.stderr).strip():
        outcome.steps.append("pruned stale worktree records")
    if entry is not None:
        args = ["worktree", "remove", str(entry.path)]
        if force:
            args[2:2] = ["--force", "--force"]  # twice: also removes a locked worktree
        git(here, *args)
        outcome.steps.append(f"removed worktree {entry.path}")
    if branch_exists:
        if merged_into is not None:
            sha = git(here, "rev-parse", "--short", f"refs/heads/{branch}").stdout.strip()
            git(here, "branch", "-D", branch)
            outcome.steps.append(f"deleted branch {branch} (was {sha}; merged into {_short(merged_into)})")
        else:
            outcome.steps.append(f"kept branch {branch}: it is not merged into its recorded base; "
                                 f"delete it yourself if the work is not needed: git branch -D {branch}")
    return outcome


def _short(ref: str) -> str:
    return ref.removeprefix("refs/remotes/").removeprefix("refs/heads/")


class _Refused(FtgateError):
    exit_code = 1
