"""Commits to judge, and each commit's own change, in batches.

``new_commits`` lists commits (with parents) with one ``rev-list`` per ref;
``commit_units`` turns any number of commits into judge units with a single
``diff-tree --stdin``. A merge's change is what ``diff-tree --cc`` reports:
only paths whose result differs from every parent, so a clean merge of a
finished ticket branch changes nothing and an evil merge shows its extra
edit. stdlib only.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from ftgate import proc
from ftgate.constants import CONFIG_FILE
from ftgate.git import plumbing as pl
from ftgate.git.judge import Judge, Judged, Unit
from ftgate.records import record


@record(slots=True)
class RefUpdate:
    old: str
    new: str
    ref: str

    @property
    def deleted(self) -> bool:
        return pl.is_zero(self.new)

    @property
    def created(self) -> bool:
        return pl.is_zero(self.old)

    @property
    def branch(self) -> str | None:
        return self.ref[len("refs/heads/"):] if self.ref.startswith("refs/heads/") else None


DIFF_ARGS = ("diff-tree", "--stdin", "-z", "-r", "--raw", "-M", "--cc", "--root")


def rev_list_args(include: Sequence[str], exclude: Sequence[str], *, exclude_all: bool = False,
                  exclude_remotes: str | None = None) -> list[str]:
    """Only object ids and pseudo-options reach the command line (git 2.39
    refuses ``--all`` on ``--stdin``), so no ref name can be read as an
    option."""
    args = ["rev-list", "--parents", "--reverse", "--topo-order", *include, "--not", *exclude]
    if exclude_all:
        args.append("--all")
    if exclude_remotes is not None:
        args.append(f"--remotes={exclude_remotes}")
    for oid in (*include, *exclude):
        if not all(c in "0123456789abcdef" for c in oid):
            raise ValueError(f"not an object id: {oid!r}")
    return args


def rev_list(include: Sequence[str], exclude: Sequence[str], *, exclude_all: bool = False,
             exclude_remotes: str | None = None, cwd: str | None = None,
             keep: Collection[str] = proc.KEEP_NONE) -> list[list[str]]:
    """``[[commit, parent...], ...]`` oldest first."""
    out = pl.git(rev_list_args(include, exclude, exclude_all=exclude_all, exclude_remotes=exclude_remotes),
                 cwd=cwd, keep=keep)
    return [line.split() for line in out.decode("ascii").splitlines() if line]


def _units(commits: Sequence[list[str]], parsed: list[tuple[str | None, list[pl.RawEntry]]], *,
           branch: str | None, ref: str | None) -> list[Unit]:
    # diff-tree prints nothing for a commit that changes nothing: no entries.
    by_commit = {commit: entries for commit, entries in parsed if commit}
    units = []
    for line in commits:
        commit, parents = line[0], line[1:]
        units.append(Unit(label=f"commit {commit[:10]}", after=commit, before=parents[0] if parents else None,
                          entries=by_commit.get(commit, []), branch=branch, commit=commit, ref=ref,
                          merge=len(parents) > 1))
    return units


def commit_units(commits: Sequence[list[str]], *, branch: str | None, ref: str | None,
                 cwd: str | None = None, keep: Collection[str] = proc.KEEP_NONE) -> list[Unit]:
    if not commits:
        return []
    payload = "".join(c[0] + "\n" for c in commits).encode()
    parsed = pl.parse_raw(pl.git(DIFF_ARGS, cwd=cwd, input=payload, keep=keep), with_commits=True)
    return _units(commits, parsed, branch=branch, ref=ref)


def new_commit_units(include: Sequence[str], exclude: Sequence[str], *, branch: str | None, ref: str | None,
                     exclude_all: bool = False, exclude_remotes: str | None = None,
                     skip: set[str] | None = None, cwd: str | None = None,
                     keep: Collection[str] = proc.KEEP_NONE) -> list[Unit]:
    """Units for every commit in ``include --not exclude``: rev-list and
    diff-tree run as one pipeline. Commits in ``skip`` (already judged for
    another ref) are left out, and the rest added to it."""
    args = rev_list_args(include, exclude, exclude_all=exclude_all, exclude_remotes=exclude_remotes)
    commits, parsed = pl.rev_list_diff_tree(args, DIFF_ARGS, cwd=cwd, keep=keep)
    if skip is not None:
        commits = [c for c in commits if c[0] not in skip]
        skip.update(c[0] for c in commits)
    return _units(commits, parsed, branch=branch, ref=ref)


def judge_updates(updates: Sequence[RefUpdate], *, cwd: str | None = None, exclude_remotes: str | None = None,
                  exclude_all: bool = True, old_may_be_missing: bool = False,
                  keep: Collection[str] = proc.KEEP_NONE) -> list[tuple[RefUpdate, list[Judged]]]:
    """Judge every commit each update brings to its ref. A deleted ref
    brings nothing to judge.

    On the server (``exclude_all``) that is what is new *to the ref*:
    ``new --not old``, or for a new ref ``new --not <default branch>``; a
    commit already accepted on another ref is judged again when it reaches
    this one (by fast-forward or merge), because this ref's policy may be
    stricter. Each commit must pass both its parent's ``ftgate.yaml`` and
    the target's: the ref's current tip's, or for a new ref the default
    branch's (``HEAD``). Before a push (pre-push) the remote's tip for the
    ref and its remote-tracking branches are left out instead."""
    judge = Judge(cwd=cwd, keep=keep)
    alive = [u for u in updates if not u.deleted]
    head = None
    if exclude_all and any(u.created for u in alive):
        head = _resolve_commit("HEAD", cwd, keep)
    tips: dict[int, str | None] = {}
    for update in alive:
        if not update.created and (not old_may_be_missing or _exists(update.old, cwd, keep)):
            tips[id(update)] = update.old
        else:
            tips[id(update)] = head
    config_names = [f"{tip}:{CONFIG_FILE}" for tip in tips.values() if tip]
    found = pl.batch_check(config_names, cwd=cwd, keep=keep) if config_names else {}
    plan: list[tuple[RefUpdate, list[Unit]]] = []
    all_units: list[Unit] = []
    # A commit pushed to two refs is judged once per target policy and branch.
    seen: set[tuple[str, str | None, str | None]] = set()
    for update in updates:
        if update.deleted:
            plan.append((update, []))
            continue
        tip = tips[id(update)]
        if exclude_all:
            exclude = [tip] if tip else []
        else:
            exclude = [tip] if tip and not update.created else []
        hit = found.get(f"{tip}:{CONFIG_FILE}") if tip else None
        target = hit[0] if hit and hit[1] == "blob" else None
        units = new_commit_units([update.new], exclude, branch=update.branch, ref=update.ref,
                                 exclude_remotes=exclude_remotes, cwd=cwd, keep=keep)
        kept = units
        if len(alive) > 1:
            kept = []
            for unit in units:
                key = (unit.after, target, update.branch)
                if key not in seen:
                    seen.add(key)
                    kept.append(unit)
        # Where the units land, for the adoption rule (judge.Judge._adoption):
        # a new ref on the server lands beside its default branch.
        landing = update.old if not update.created else ("HEAD" if exclude_all else None)
        for unit in kept:
            unit.target = landing
            if tip is not None:
                unit.target_config, unit.targeted = target, True
        plan.append((update, kept))
        all_units += kept
    judged = {id(j.unit): j for j in judge.judge(all_units)}
    return [(update, [judged[id(u)] for u in units]) for update, units in plan]


def _resolve_commit(rev: str, cwd: str | None, keep: Collection[str]) -> str | None:
    out = pl.git(["rev-parse", "-q", "--verify", f"{rev}^{{commit}}"], cwd=cwd, ok_codes=(0, 1, 128), keep=keep)
    return out.decode("ascii", "replace").strip() or None


def _exists(oid: str, cwd: str | None, keep: Collection[str]) -> bool:
    out = pl.git(["rev-parse", "-q", "--verify", f"{oid}^{{commit}}"], cwd=cwd, ok_codes=(0, 1, 128), keep=keep)
    return bool(out.strip())
