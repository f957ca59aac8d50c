"""``ftgate check``: the pre-commit door.

Judges what is staged (the index against ``HEAD``, or against the empty tree
before the first commit), never the working tree: with ``git add -p`` only
the staged half is committed, so only it counts. ``GIT_INDEX_FILE`` is
honoured, so ``git commit -a`` and ``git commit PATH`` (which stage into a
temporary index) are judged on what they will really commit.

stdlib only.
"""

from __future__ import annotations

import os
import sys

from ftgate import proc
from ftgate.constants import STATE_FILE
from ftgate.git import plumbing as pl
from ftgate.git.judge import INDEX, Judge, Judged, Unit
from ftgate.git.report import render
from ftgate.gitdir import current_branch
from ftgate.policy.decide import show_path

# git's hook environment, of which the index it is committing matters most.
KEEP = proc.KEEP_COMMIT


def staged_unit(cwd: str | None = None) -> Unit:
    args = ["diff-index", "--cached", "-z", "--raw", "-M", "--no-ext-diff", "--ignore-submodules=none"]
    before: str | None = "HEAD"
    try:
        raw = pl.git([*args, "HEAD", "--"], cwd=cwd, keep=KEEP)
    except pl.GitError:
        # No commit yet: everything staged is added.
        head = pl.git(["rev-parse", "-q", "--verify", "HEAD"], cwd=cwd, ok_codes=(0, 1), keep=KEEP).strip()
        if head:
            raise
        raw = pl.git([*args, pl.empty_tree(cwd, KEEP), "--"], cwd=cwd, keep=KEEP)
        before = None
    entries = pl.parse_raw(raw)[0][1]
    return Unit(label="staged changes" if before else "staged changes (first commit)", after=INDEX,
                before=before, entries=entries, branch=current_branch(cwd),
                explicit_ticket=os.environ.get("FTGATE_TICKET") or None)


def check_staged(cwd: str | None = None) -> Judged:
    return Judge(cwd=cwd, keep=KEEP).judge([staged_unit(cwd)])[0]


def unstaged_state_lines(cwd: str | None = None) -> list[str]:
    """When a ticket's state file in the working tree is not what is staged
    (``ftgate unlock`` after ``git add``), the refusal names it and the
    ``git add`` that fixes it: the commit is judged on the staged copy only.
    Asked only after a refusal, so an accepted commit pays nothing."""
    try:
        raw = pl.git(["diff", "--name-only", "-z", "--no-ext-diff", "--", f":(top,glob)tickets/*/*/{STATE_FILE}"],
                     cwd=cwd, keep=KEEP)
    except pl.GitError:
        return []
    paths = [p for p in raw.decode("utf-8", "surrogateescape").split("\0") if p]
    if not paths:
        return []
    import shlex

    top = pl.git(["rev-parse", "--show-cdup"], cwd=cwd, keep=KEEP).decode("utf-8", "surrogateescape").strip()
    shown = " ".join(shlex.quote(top + p) for p in paths)
    return [f"ftgate: the ticket state in the working tree differs from the staged one ({', '.join(paths)}); "
            "the commit is judged on what is staged.",
            f"  fix: git add {shown}   (then commit again)"]


def main(*, verbose: bool = False, cwd: str | None = None) -> int:
    """Exit 0 when the staged change may be committed, 1 when it is refused,
    2 when git could not be asked."""
    try:
        judged = check_staged(cwd)
    except pl.GitError as err:
        print(f"ftgate: cannot read the staged change: {err}", file=sys.stderr)
        return 2
    lines = render([judged], show_ok=verbose)
    if not judged.verdict.allowed:
        lines += unstaged_state_lines(cwd)
        lines.append("ftgate: the commit was not made. `ftgate status` shows the ticket's stage; "
                     "`git restore --staged PATH` unstages a file.")
        print("\n".join(lines), file=sys.stderr)
        return 1
    if verbose:
        count = len(judged.verdict.source_paths)
        ticket = judged.verdict.ticket
        lines.append(f"ftgate: ok ({count} source change(s)"
                     + (f", ticket {show_path(ticket)} at Stage 4 Unlocked)" if count and ticket else ")"))
    if lines:
        print("\n".join(lines), file=sys.stderr)
    return 0
