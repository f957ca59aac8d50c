"""``ftgate worktree new``: branch, worktree, hooks and the Stage 0 ticket,
reusing what exists and undoing what this call made when a step fails."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ftgate.errors import FtgateError
from ftgate.git.worktree.base import (
    BaseChoice,
    Refresh,
    refresh_remote,
    resolve_base,
)
from ftgate.git.worktree.repo import (
    NOT_APPLICABLE,
    GitFailed,
    WorktreeEntry,
    WorktreeSettings,
    check_branch_name,
    git,
    git_toplevel,
    last_words,
    list_worktrees,
    main_checkout,
    ref_exists,
    ticket_branch,
    worktree_settings,
)
from ftgate.workflow.tickets import (
    DONE,
    IN_PROGRESS,
    TICKETS,
    BootstrapValues,
    Ticket,
    check_name,
    create_ticket,
)

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
    check_branch_name(here, branch, "ticket branch")
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
        if self.worktree is not None and self.worktree in self.folders_made \
                and git(self.repo, "worktree", "remove", "--force", str(self.worktree), check=False).returncode != 0 \
                and self.worktree.exists():
            shutil.rmtree(self.worktree, ignore_errors=True)
        git(self.repo, "worktree", "prune", check=False)
        if self.branch is not None and ref_exists(self.repo, f"refs/heads/{self.branch}"):
            done = git(self.repo, "branch", "-D", self.branch, check=False)
            if done.returncode != 0:
                problems.append(f"could not delete branch {self.branch}: {last_words(done)}")
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
