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
from ftgate.git.history import RefUpdate, judge_updates
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
    """Every local branch as if pushed: under the pre-commit framework the
    hook is not told which refs are pushed (it passes only the first), so
    all of them are judged instead of trusting one range."""
    out = pl.git(["for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/"], cwd=cwd,
                 keep=proc.KEEP_PUSH)
    zero = ZERO_OID
    updates = []
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        oid, ref = line.split(" ", 1)
        updates.append(RefUpdate(zero, oid, ref))
    return updates


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
    try:
        if all_branches:
            updates = local_branches(cwd)
        else:
            updates = parse_lines([line for line in stdin.read().splitlines() if line.strip()])
        results = judge_updates(updates, cwd=cwd, exclude_all=False, old_may_be_missing=True, keep=proc.KEEP_PUSH,
                                exclude_remotes=remote if _is_remote_name(remote, cwd) else None)
    except (ValueError, pl.GitError) as err:
        stream.write(f"ftgate: pre-push could not judge the push: {err}\n")
        return 2
    lines: list[str] = []
    ok = True
    for update, judged in results:
        if any(not j.verdict.allowed for j in judged):
            ok = False
            lines += render(judged)
            lines.append(f"ftgate: {update.ref}: refused")
        else:
            lines += [line for line in render(judged) if line]
    if not ok:
        lines.append("ftgate: push stopped before anything was sent. Fix the commits (git rebase -i) or finish "
                     "the ticket's gates first.")
    if lines:
        stream.write("\n".join(lines) + "\n")
    return 0 if ok else 1
