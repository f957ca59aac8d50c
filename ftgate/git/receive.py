"""Server-side doors: ``ftgate hook pre-receive`` and ``ftgate hook update``.

They speak git's hook protocol (githooks(5)):

* pre-receive reads ``<old> <new> <ref>`` lines on stdin, one per pushed
  ref, and refuses the whole push when any commit is refused;
* update gets ``<ref> <old> <new>`` as arguments and refuses only its ref,
  so the other refs of the push still land ("judged ref by ref").

An all-zero id means a created (old) or deleted (new) ref. Every commit a ref
brings that the repository does not have yet is judged against its own
parent, with the ticket state of its own tree. Objects of the push sit in a
quarantine directory that git announces through ``GIT_OBJECT_DIRECTORY`` and
``GIT_ALTERNATE_OBJECT_DIRECTORIES``; the git processes ftgate starts
pass exactly those through (``proc.KEEP_RECEIVE``), so they see the pushed
objects, and nothing else of the caller's git environment.

Push options (``git push -o ftgate.verbose``) arrive as
``GIT_PUSH_OPTION_COUNT`` / ``GIT_PUSH_OPTION_<n>``; none of them can skip
the check. Messages go to stderr, which the client prints as ``remote:``
lines (prefixed ``GL-HOOK-ERR:`` under GitLab, which shows only those).

stdlib only.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Collection, Sequence
from typing import TextIO

from ftgate import proc
from ftgate.git import plumbing as pl
from ftgate.git.history import Outcome, RefUpdate, judge_updates
from ftgate.git.report import for_remote, render


def push_options(environ: dict[str, str] | None = None) -> list[str]:
    env = os.environ if environ is None else environ
    try:
        count = int(env.get("GIT_PUSH_OPTION_COUNT", "0"))
    except ValueError:
        return []
    return [env.get(f"GIT_PUSH_OPTION_{i}", "") for i in range(count)]


def parse_updates(lines: Sequence[str]) -> list[RefUpdate]:
    updates = []
    for line in lines:
        parts = line.rstrip("\n").split(" ", 2)
        if len(parts) != 3 or not parts[2]:
            raise ValueError(f"unexpected hook input line {line!r}; expected '<old-id> <new-id> <ref>'")
        updates.append(RefUpdate(parts[0], parts[1], parts[2]))
    return updates


REPLACE_PREFIX = "refs/replace/"


def ref_refusals(updates: Sequence[RefUpdate], *, cwd: str | None = None,
                 keep: Collection[str] = proc.KEEP_RECEIVE) -> dict[str, list[str]]:
    """Refs the server refuses before judging any commit, with the lines
    that say why (each names its rule).

    ``refs/replace/*`` would let a pusher make git show a harmless commit
    in place of another to every later reader that honours replacements;
    ftgate's own calls ignore them, but nothing else on the server does, so
    they are not taken at all. A ref whose object, once tags are peeled, is
    not a commit (a tag of a tree or a blob) carries content no commit
    judgment ever sees."""
    out: dict[str, list[str]] = {}
    alive = [u for u in updates if not u.deleted]
    for update in alive:
        if update.ref.startswith(REPLACE_PREFIX):
            out.setdefault(update.ref, []).extend((
                f"ftgate: {update.ref}: refused [replace-ref]: replacement refs make git show one object in "
                "place of another, so this server does not accept them",
                "    fix: push the commit itself instead of a replacement for it"))
    names = [f"{u.new}^{{}}" for u in alive if u.ref not in out]
    kinds = pl.batch_check(names, cwd=cwd, keep=keep) if names else {}
    for update in alive:
        if update.ref in out:
            continue
        hit = kinds.get(f"{update.new}^{{}}")
        kind = hit[1] if hit else "missing object"
        if kind != "commit":
            out.setdefault(update.ref, []).extend((
                f"ftgate: {update.ref}: refused [ref-not-commit]: it points at a {kind}, not a commit, so "
                "no commit judgment would ever see its content",
                "    fix: tag or push a commit (git tag NAME COMMIT)"))
    return out


def _emit(lines: list[str], stream: TextIO) -> None:
    if lines:
        stream.write("\n".join(for_remote(lines)) + "\n")
        stream.flush()


def _report(results: list[tuple[RefUpdate, Outcome]], *, verbose: bool, stream: TextIO) -> bool:
    ok = True
    lines: list[str] = []
    for update, outcome in results:
        if not outcome.ok:
            ok = False
        if update.deleted:
            if verbose:
                lines.append(f"ftgate: {update.ref}: deleted (nothing to judge)")
            continue
        body = render(outcome.shown, show_ok=False, total=outcome.judged, refused_count=outcome.refused,
                      hidden=outcome.hidden)
        if body:
            lines += body
        if verbose or not outcome.ok:
            state = "ok" if outcome.ok else "refused"
            lines.append(f"ftgate: {update.ref}: {state} ({outcome.judged} new commit(s) judged)")
    _emit(lines, stream)
    return ok


def pre_receive(stdin: TextIO | None = None, *, stream: TextIO | None = None, cwd: str | None = None) -> int:
    stdin = stdin if stdin is not None else sys.stdin
    stream = stream if stream is not None else sys.stderr
    try:
        updates = parse_updates([line for line in stdin.read().splitlines() if line.strip()])
        with pl.Lookups(cwd, proc.KEEP_RECEIVE):  # one pair of cat-file processes for the whole run
            refused = ref_refusals(updates, cwd=cwd)
            results = judge_updates([u for u in updates if u.ref not in refused], cwd=cwd,
                                    keep=proc.KEEP_RECEIVE)
    except (ValueError, pl.GitError) as err:
        _emit([f"ftgate: pre-receive could not judge the push: {err}"], stream)
        return 2
    verbose = "ftgate.verbose" in push_options()
    _emit([line for lines in refused.values() for line in lines], stream)
    ok = _report(results, verbose=verbose, stream=stream) and not refused
    if not ok:
        _emit(["ftgate: push refused; nothing was updated"], stream)
    return 0 if ok else 1


def update(ref: str, old: str, new: str, *, stream: TextIO | None = None, cwd: str | None = None) -> int:
    stream = stream if stream is not None else sys.stderr
    try:
        with pl.Lookups(cwd, proc.KEEP_RECEIVE):  # one pair of cat-file processes for the whole run
            refused = ref_refusals([RefUpdate(old, new, ref)], cwd=cwd)
            if refused:
                _emit(refused[ref], stream)
                return 1
            results = judge_updates([RefUpdate(old, new, ref)], cwd=cwd, keep=proc.KEEP_RECEIVE)
    except (ValueError, pl.GitError) as err:
        _emit([f"ftgate: update hook could not judge {ref}: {err}"], stream)
        return 2
    verbose = "ftgate.verbose" in push_options()
    ok = _report(results, verbose=verbose, stream=stream)
    return 0 if ok else 1
