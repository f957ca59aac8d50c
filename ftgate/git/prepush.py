"""``ftgate hook pre-push``: the last local door before commits leave.

git runs the hook with the remote's name and URL as arguments and one line
per ref on stdin: ``<local-ref> <local-id> <remote-ref> <remote-id>``. Every
line is judged (not only the first), and for each, every commit not yet on
that remote: not reachable from the remote's tip for the ref, nor from any
remote-tracking branch of that remote. A deletion (local id all zeros)
brings nothing to judge. Commits made with ``--no-verify`` are caught here
(and again by the server and CI). stdlib only.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TextIO

from ftgate import proc
from ftgate.constants import ZERO_OID
from ftgate.git import plumbing as pl
from ftgate.git.history import Outcome, RefUpdate, judge_updates
from ftgate.git.report import render


def parse_lines(lines: Sequence[str]) -> list[RefUpdate]:
    updates = []
    for line in lines:
        parts = line.rstrip("\n").split(" ")
        if len(parts) != 4:
            raise ValueError(f"unexpected pre-push input line {line!r}; "
                             "expected '<local-ref> <local-id> <remote-ref> <remote-id>'")
        _local_ref, local_id, remote_ref, remote_id = parts
        updates.append(RefUpdate(remote_id, local_id, remote_ref))
    return updates


def local_branches(cwd: str | None) -> list[RefUpdate]:
    """Every local branch as if pushed: what ``--all-branches`` judges when
    no hook framework says which ref is pushed, and what the framework mode
    warns about."""
    out = pl.git(["for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/"], cwd=cwd,
                 keep=proc.KEEP_PUSH)
    zero = ZERO_OID
    updates = []
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        oid, ref = line.split(" ", 1)
        updates.append(RefUpdate(zero, oid, ref))
    return updates


def framework_ref(cwd: str | None, remote: str) -> RefUpdate | None:
    """The one pushed ref the pre-commit framework names in its environment
    (``PRE_COMMIT_LOCAL_BRANCH``, ``PRE_COMMIT_TO_REF``,
    ``PRE_COMMIT_REMOTE_BRANCH``, ``PRE_COMMIT_FROM_REF``), or None when
    the hook does not run under the framework."""
    env = os.environ
    local, to_ref = env.get("PRE_COMMIT_LOCAL_BRANCH", ""), env.get("PRE_COMMIT_TO_REF", "")
    if not (local or to_ref):
        return None
    new = to_ref
    if not new:
        # The framework leaves TO_REF out when the push carries a root commit.
        new = pl.git(["rev-parse", "--verify", "-q", f"{local}^{{commit}}"], cwd=cwd, keep=proc.KEEP_PUSH,
                     ok_codes=(0, 1)).decode().strip()
        if not new:
            raise ValueError(f"the pre-commit framework names {local!r}, which is not a local commit")
    # With a named remote every commit it lacks is judged; FROM_REF alone may
    # be the first new commit's parent rather than the remote's tip.
    old = ZERO_OID if remote else (env.get("PRE_COMMIT_FROM_REF") or ZERO_OID)
    return RefUpdate(old, new, env.get("PRE_COMMIT_REMOTE_BRANCH") or local or "HEAD")


def _warn_others(results: Sequence[tuple[RefUpdate, Outcome]]) -> list[str]:
    """Other local branches are not being pushed: what ftgate would refuse
    there is said, and left to the push that carries them."""
    bad = [update.ref.removeprefix("refs/heads/") for update, outcome in results if not outcome.ok]
    if not bad:
        return []
    return [f"ftgate: warning: not pushed now, but would be refused when pushed: {', '.join(bad)} "
            "(`git push` them to see why)"]


def _is_remote_name(name: str, cwd: str | None) -> bool:
    if not name or "/" in name or ":" in name:
        return False
    out = pl.git(["config", "--get", f"remote.{name}.url"], cwd=cwd, ok_codes=(0, 1), keep=proc.KEEP_PUSH)
    return bool(out.strip())


def main(remote: str | None = None, *, all_branches: bool = False, stdin: TextIO | None = None,
         stream: TextIO | None = None, cwd: str | None = None) -> int:
    """``remote`` as git names it (the pre-commit framework says it in
    ``PRE_COMMIT_REMOTE_NAME`` instead); ``all_branches`` judges every local
    branch rather than the refs on stdin."""
    stdin = stdin if stdin is not None else sys.stdin
    stream = stream if stream is not None else sys.stderr
    if remote is None:
        remote = os.environ.get("PRE_COMMIT_REMOTE_NAME", "")
    named_count = None
    try:
        named_remote = _is_remote_name(remote, cwd)
        named = framework_ref(cwd, remote if named_remote else "") if all_branches else None
        if named is not None:
            # Under the framework: refuse on the ref it names, warn about the rest.
            others = [u for u in local_branches(cwd) if u.new != named.new]
            updates, named_count = [named, *others], 1
        elif all_branches:
            updates = local_branches(cwd)
        else:
            updates = parse_lines([line for line in stdin.read().splitlines() if line.strip()])
        results = judge_updates(updates, cwd=cwd, exclude_all=False, old_may_be_missing=True, keep=proc.KEEP_PUSH,
                                exclude_remotes=remote if named_remote else None)
    except (ValueError, pl.GitError) as err:
        stream.write(f"ftgate: pre-push could not judge the push: {err}\n")
        return 2
    warnings: list[str] = []
    if named_count is not None:
        results, warnings = results[:named_count], _warn_others(results[named_count:])
    lines: list[str] = []
    ok = True
    for update, outcome in results:
        shown = render(outcome.shown, total=outcome.judged, refused_count=outcome.refused, hidden=outcome.hidden)
        if not outcome.ok:
            ok = False
            lines += shown
            lines.append(f"ftgate: {update.ref}: refused")
        else:
            lines += [line for line in shown if line]
    if not ok:
        lines.append("ftgate: push stopped before anything was sent. Fix the commits (git rebase -i) or finish "
                     "the ticket's gates first.")
    lines += warnings
    if lines:
        stream.write("\n".join(lines) + "\n")
    return 0 if ok else 1
