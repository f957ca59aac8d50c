"""Ticket worktrees: one branch ``codex/<ticket>`` per ticket, checked out in
its own worktree, cut from a base branch that was resolved with care and
refreshed from the remote first (Stage 0 of the workflow).

Worktree management is not a hot path, so this module spends git processes
freely and favours messages that say exactly what happened.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


from ftgate import proc
from ftgate.errors import FtgateError
from ftgate.workflow.tickets import (
    BRANCH_PREFIX,
    DONE,
    IN_PROGRESS,
    TICKETS,
    BootstrapValues,
    Ticket,
    check_name,
    create_ticket,
)

from ftgate.constants import CONFIG_FILE
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
                        message=f"`git {' '.join(args)}` failed: {_last_words(result)}")
    return result


def _last_words(done: subprocess.CompletedProcess[str]) -> str:
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


def _check_branch_name(repo: Path, branch: str, what: str) -> None:
    if git(repo, "check-ref-format", "--branch", branch, check=False).returncode != 0:
        raise FtgateError(f"{what} {branch!r} is not a valid git branch name")


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
    _check_branch_name(repo, name, "base branch")
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


# ----------------------------------------------------------------- creation


@dataclass(slots=True)
class WorktreeOutcome:
    name: str
    branch: str
    path: Path
    ticket: Ticket | None = None
    base: BaseChoice | None = None
    refresh: Refresh | None = None
    bootstrap: BootstrapValues | None = None
    already: bool = False             # everything existed; nothing changed
    steps: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)  # protection problems, empty when protected
    written: list[str] = field(default_factory=list)


def find_ticket(root: Path, name: str) -> Ticket | None:
    for where in (IN_PROGRESS, DONE):
        folder = root / TICKETS / where / name
        if folder.is_dir():
            return Ticket(name, folder, root)
    return None


def worktree_for(repo: Path, branch: str) -> WorktreeEntry | None:
    return next((e for e in list_worktrees(repo) if e.branch == branch and not e.prunable), None)


def default_path(main: Path, settings: WorktreeSettings, name: str) -> Path:
    folder = Path(settings.location.format(repo=main.name))
    if not folder.is_absolute():
        folder = main / folder
    return Path(os.path.normpath(folder / name))


def record_path(path: Path, main: Path) -> str:
    """The worktree path as the bootstrap record holds it: relative to the
    main checkout, so a committed ticket file does not carry one person's
    home folder."""
    try:
        return Path(os.path.relpath(path, main)).as_posix()
    except ValueError:  # another drive on Windows
        return path.as_posix()


def new_ticket_worktree(start: Path, name: str, *, base: str | None = None, remote: str | None = None,
                        path: Path | None = None, fetch: bool = True) -> WorktreeOutcome:
    """``ftgate worktree new``: branch, worktree, hooks and the Stage 0 ticket,
    reusing whatever already exists for this ticket. On failure, whatever
    this call created is removed again."""
    check_name(name)
    branch = ticket_branch(name)
    here = git_toplevel(start)
    if here is None:
        raise FtgateError(f"{start} is not inside a git repository", hint="ftgate ticket new NAME works outside git")
    _check_branch_name(here, branch, "ticket branch")
    settings = worktree_settings(here)
    remote = remote or settings.remote
    main = main_checkout(here)
    # Records of worktrees whose folder was deleted by hand would block reuse.
    git(here, "worktree", "prune")

    existing = worktree_for(here, branch)
    if existing is not None and existing.path.is_dir():
        ticket = find_ticket(existing.path, name)
        if ticket is not None:
            outcome = WorktreeOutcome(name, branch, existing.path, ticket=ticket, already=True)
            outcome.steps.append(f"reused worktree {existing.path} on {branch} with its ticket; nothing created")
            outcome.hooks = protect(existing.path)
            return outcome

    refresh = refresh_remote(here, remote, enabled=fetch)
    requested = base or settings.base_branch
    source = "from --base" if base else "from ftgate.yaml worktree.base_branch"
    choice = resolve_base(here, remote, requested=requested, source=source, may_ask_remote=fetch)

    target = existing.path if existing is not None else (
        Path(os.path.abspath(path)) if path is not None else default_path(main, settings, name))
    outcome = WorktreeOutcome(name, branch, target, base=choice, refresh=refresh)
    values = BootstrapValues(
        mode="Git",
        user_base=base or (f"{settings.base_branch} (ftgate.yaml)" if settings.base_branch else NOT_APPLICABLE),
        base_remote=choice.remote or NOT_APPLICABLE,
        base_branch=choice.branch,
        final_remote=choice.remote or NOT_APPLICABLE,
        final_branch=choice.branch,
        refresh_performed=refresh.performed,
        refresh_result=refresh.result,
        worktree_path=record_path(target, main),
        ticket_branch=branch,
    )
    outcome.bootstrap = values

    with _undo_on_failure(here) as undo:
        if existing is None:
            branch_existed = ref_exists(here, f"refs/heads/{branch}")
            undo.folders_made = _missing_ancestors(target)
            undo.worktree = target
            if branch_existed:
                git(here, "worktree", "add", "--quiet", str(target), branch)
                outcome.steps.append(f"reused existing branch {branch}; created worktree {target}")
            else:
                undo.branch = branch
                # --no-track: the ticket branch must not inherit the base as its
                # upstream, or a bare `git push` could aim at the base branch.
                git(here, "worktree", "add", "--quiet", "--no-track", "-b", branch, str(target), choice.ref)
                outcome.steps.append(f"created branch {branch} from {choice.display} and worktree {target}")
        else:
            outcome.steps.append(f"reused worktree {target} on {branch}")
        # Hooks first, ticket second: the worktree is never unprotected while it holds a ticket.
        outcome.hooks = protect(target, install=True)
        ticket = find_ticket(target, name)
        if ticket is None:
            ticket = create_ticket(target, name, values)
            outcome.written += [f"{ticket.display}/workflow-state.md", f"{ticket.display}/requirements.md"]
            outcome.steps.append(commit_bootstrap(target, ticket))
        else:
            outcome.steps.append(f"reused ticket {ticket.display} already on {branch}")
            outcome.bootstrap = None
        outcome.ticket = ticket
    return outcome


def commit_bootstrap(worktree: Path, ticket: Ticket) -> str:
    """Commit the Stage 0 files as the ticket branch's first commit. The
    hooks judge a commit by the ticket state they find in git, so until the
    state file is committed they cannot tell the ticket's stage; committed,
    the branch also says by itself which ticket it carries. The hooks run:
    this commit is checked like any other."""
    folder = ticket.folder.relative_to(worktree).as_posix()
    git(worktree, "add", "--", folder)
    done = git(worktree, "commit", "--quiet", "-m", f"Start ticket {ticket.name} at Stage 0", "--", folder,
               check=False)
    if done.returncode != 0:
        said = (done.stderr + done.stdout).strip() or f"exit status {done.returncode}"
        raise GitFailed(["commit", "--", folder], done.returncode, said,
                        message=f"committing the Stage 0 ticket files failed:\n{said}")
    sha = git(worktree, "rev-parse", "--short", "HEAD").stdout.strip()
    return f"committed the Stage 0 ticket files ({sha})"


def _missing_ancestors(path: Path) -> list[Path]:
    """``path`` and its parents that do not exist yet, deepest first: what a
    rollback may delete without touching anything that was there before."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists() or folder.is_symlink():
            break
        missing.append(folder)
    return missing


@dataclass(slots=True)
class _Undo:
    repo: Path
    branch: str | None = None
    worktree: Path | None = None
    folders_made: list[Path] = field(default_factory=list)

    def run(self) -> list[str]:
        problems: list[str] = []
        if self.worktree is not None and self.worktree in self.folders_made:
            if git(self.repo, "worktree", "remove", "--force", str(self.worktree), check=False).returncode != 0 \
                    and self.worktree.exists():
                shutil.rmtree(self.worktree, ignore_errors=True)
        git(self.repo, "worktree", "prune", check=False)
        if self.branch is not None and ref_exists(self.repo, f"refs/heads/{self.branch}"):
            done = git(self.repo, "branch", "-D", self.branch, check=False)
            if done.returncode != 0:
                problems.append(f"could not delete branch {self.branch}: {_last_words(done)}")
        for folder in self.folders_made:
            if folder.exists():
                try:
                    folder.rmdir()
                except OSError:
                    problems.append(f"left {folder} behind (not empty)")
        return problems


@contextmanager
def _undo_on_failure(repo: Path) -> Iterator[_Undo]:
    undo = _Undo(repo)
    try:
        yield undo
    except BaseException as err:
        made_something = undo.worktree is not None or undo.branch is not None
        problems = undo.run()
        if isinstance(err, FtgateError):
            if problems:
                err.message += "\nclean-up was incomplete: " + "; ".join(problems)
            elif made_something:
                err.message += "\nwhat this run had created (branch, worktree, folders) was removed again"
            raise
        if isinstance(err, OSError):
            detail = f"{err.strerror or err}" + (f": {err.filename}" if err.filename else "")
            message = f"bootstrapping the worktree failed ({detail}); what this run created was removed"
            if problems:
                message += "; clean-up was incomplete: " + "; ".join(problems)
            raise FtgateError(message) from err
        raise


# -------------------------------------------------------------------- hooks


def protect(worktree: Path, *, install: bool = False) -> list[str]:
    """Make sure the enforcement hooks run in ``worktree``; return what stops
    them (empty when protected).

    Linked worktrees share the common git dir's hooks, so installing there
    once covers every ticket. A ``core.hooksPath`` redirects git elsewhere,
    often to a folder another tool or the team owns: ftgate reports it and
    writes nothing there (``ftgate install`` does, when asked)."""
    from ftgate.git.install import install_hooks, protection_status

    status = protection_status(worktree)
    problems: list[str] = []
    if install and status.hooks_path_setting is None:
        report = install_hooks(worktree)
        problems += [f"{r.name}: {r.detail or r.action}" for r in report.results if r.action == "skipped-foreign"]
        status = protection_status(worktree)
    if status.protected:
        return []
    if status.hooks_path_setting is not None:
        problems.insert(0, f"core.hooksPath is set to {status.hooks_path_setting!r}, so git runs hooks from "
                           f"{status.hooks_dir} instead of the repository's own hooks folder; ftgate's hooks "
                           "are not there (`ftgate install` writes them there, or unset core.hooksPath)")
    return problems + [r for r in status.reasons if not r.startswith("core.hooksPath")]


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
