"""Ticket worktrees: one branch ``codex/<ticket>`` per ticket, checked out in
its own worktree, cut from a base branch that was resolved with care and
refreshed from the remote first (Stage 0 of the workflow).

Worktree management is not a hot path, so this module spends git processes
freely and favours messages that say exactly what happened.

The work is split by job: :mod:`.repo` (settings, the git call, worktree and
ref facts), :mod:`.base` (base branch and refresh), :mod:`.create` (new
worktree, bootstrap, rollback, hooks) and :mod:`.remove` (list and remove).
This package re-exports them for the CLI and ``finalize``.
"""

from __future__ import annotations

from ftgate.git.worktree.base import (
    BaseChoice,
    Refresh,
    refresh_remote,
    resolve_base,
)
from ftgate.git.worktree.create import (
    WorktreeOutcome,
    commit_bootstrap,
    default_path,
    find_ticket,
    new_ticket_worktree,
    protect,
    record_path,
    worktree_for,
)
from ftgate.git.worktree.remove import (
    RemoveOutcome,
    TicketWorktree,
    is_dirty,
    recorded_bases,
    remove_ticket_worktree,
    ticket_worktrees,
)
from ftgate.git.worktree.repo import (
    DEFAULT_FINALIZE,
    DEFAULT_LOCATION,
    DEFAULT_REMOTE,
    FETCH_TIMEOUT_S,
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
    remotes,
    ticket_branch,
    worktree_settings,
)

__all__ = [
    "DEFAULT_FINALIZE",
    "DEFAULT_LOCATION",
    "DEFAULT_REMOTE",
    "FETCH_TIMEOUT_S",
    "NOT_APPLICABLE",
    "BaseChoice",
    "GitFailed",
    "Refresh",
    "RemoveOutcome",
    "TicketWorktree",
    "WorktreeEntry",
    "WorktreeOutcome",
    "WorktreeSettings",
    "check_branch_name",
    "commit_bootstrap",
    "default_path",
    "find_ticket",
    "git",
    "git_toplevel",
    "is_dirty",
    "last_words",
    "list_worktrees",
    "main_checkout",
    "new_ticket_worktree",
    "protect",
    "record_path",
    "recorded_bases",
    "ref_exists",
    "refresh_remote",
    "remotes",
    "remove_ticket_worktree",
    "resolve_base",
    "ticket_branch",
    "ticket_worktrees",
    "worktree_for",
    "worktree_settings",
]
