"""Commits to judge, and each commit's own change, streamed in batches.

``iter_commit_units`` lists the commits (with parents) of a ref with one
``rev-list`` piped into one ``diff-tree --stdin`` and yields them as judge
units while git is still working; ``judge_units`` judges such a stream in
batches, so a push of any size holds one batch at a time. A merge's change
is what ``diff-tree --cc`` reports: only paths whose result differs from
every parent, so a clean merge of a finished ticket branch changes nothing
and an evil merge shows its extra edit. stdlib only.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence

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


def _unit(commit: str, parents: list[str], entries: list[pl.RawEntry], *, branch: str | None,
          ref: str | None) -> Unit:
    return Unit(label=f"commit {commit[:10]}", after=commit, before=parents[0] if parents else None,
                entries=entries, branch=branch, commit=commit, ref=ref, merge=len(parents) > 1,
                others=tuple(parents[1:]))


def commit_units(commits: Sequence[list[str]], *, branch: str | None, ref: str | None,
                 cwd: str | None = None, keep: Collection[str] = proc.KEEP_NONE) -> list[Unit]:
    if not commits:
        return []
    payload = "".join(c[0] + "\n" for c in commits).encode()
    parsed = pl.parse_raw(pl.git(DIFF_ARGS, cwd=cwd, input=payload, keep=keep), with_commits=True)
    # diff-tree prints nothing for a commit that changes nothing: no entries.
    by_commit = {commit: entries for commit, entries in parsed if commit}
    return [_unit(c[0], c[1:], by_commit.get(c[0], []), branch=branch, ref=ref) for c in commits]


def iter_commit_units(include: Sequence[str], exclude: Sequence[str], *, branch: str | None, ref: str | None,
                      exclude_all: bool = False, exclude_remotes: str | None = None, cwd: str | None = None,
                      keep: Collection[str] = proc.KEEP_NONE) -> Iterator[Unit]:
    """Units for every commit in ``include --not exclude``, oldest first,
    as rev-list and diff-tree (one pipeline) produce them."""
    args = rev_list_args(include, exclude, exclude_all=exclude_all, exclude_remotes=exclude_remotes)
    for commit, parents, entries in pl.rev_list_diff_tree(args, DIFF_ARGS, cwd=cwd, keep=keep):
        yield _unit(commit, parents, entries, branch=branch, ref=ref)


# Units judged together: enough that the lookup rounds of a batch cost little
# per commit, few enough that a batch's objects stay small however large the push.
BATCH = 2000
# Verdicts kept to show, per ref: a push refused for every one of 100,000
# commits says so in a count, not in 100,000 reports.
MAX_SHOWN = 1000


@record(slots=True)
class Outcome:
    """What judging a stream of units came to: how many were judged and
    refused, and the verdicts worth showing (refusals and acceptances
    with notes, up to MAX_SHOWN; ``hidden`` counts the rest)."""

    shown: list[Judged]
    judged: int = 0
    refused: int = 0
    hidden: int = 0

    @property
    def ok(self) -> bool:
        return self.refused == 0

    def add(self, judged: Judged) -> None:
        self.judged += 1
        verdict = judged.verdict
        if not verdict.allowed:
            self.refused += 1
        elif not verdict.notes:
            return
        if len(self.shown) < MAX_SHOWN:
            self.shown.append(judged)
        else:
            self.hidden += 1


def judge_units(judge: Judge, units: Iterable[Unit], *, batch: int = BATCH) -> Outcome:
    """Judge a stream of units (a parent before its children) in batches
    of ``batch``, keeping only what :class:`Outcome` keeps, so memory does
    not grow with the number of units. The judge carries each batch's
    facts into the next (judge._Plan.carry), so a batch boundary costs no
    lookup where the history runs straight through it."""
    # The cyclic collector is left on: nothing here makes reference cycles
    # and a batch's objects die with it, so it only ever rescans one batch
    # (switching it off measured no faster).
    outcome = Outcome([])
    pending: list[Unit] = []
    for unit in units:
        pending.append(unit)
        if len(pending) >= batch:
            for one in judge.judge(pending):
                outcome.add(one)
            pending = []
    if pending:
        for one in judge.judge(pending):
            outcome.add(one)
    return outcome


def judge_updates(updates: Sequence[RefUpdate], *, cwd: str | None = None, exclude_remotes: str | None = None,
                  exclude_all: bool = True, old_may_be_missing: bool = False,
                  keep: Collection[str] = proc.KEEP_NONE, batch: int = BATCH) -> list[tuple[RefUpdate, Outcome]]:
    """Judge every commit each update brings to its ref. A deleted ref
    brings nothing to judge.

    On the server (``exclude_all``) that is what is new *to the ref*:
    ``new --not old``, or for a new ref ``new --not <default branch>``; a
    commit already accepted on another ref is judged again when it reaches
    this one (by fast-forward or merge), because this ref's policy may be
    stricter. Each commit must pass both its parent's ``ftgate.yaml`` and
    the target's: the ref's current tip's, or for a new ref the default
    branch's (``HEAD``). Before a push (pre-push) the remote's tip for the
    ref and its remote-tracking branches are left out instead.

    Commits stream from git and are judged ``batch`` at a time, with one
    pair of ``cat-file`` processes for every lookup of the run: memory and
    the number of git processes stay the same whatever the push's size."""
    with pl.Lookups(cwd, keep):
        return _judge_updates(updates, cwd=cwd, exclude_remotes=exclude_remotes, exclude_all=exclude_all,
                              old_may_be_missing=old_may_be_missing, keep=keep, batch=batch)


def _judge_updates(updates: Sequence[RefUpdate], *, cwd: str | None, exclude_remotes: str | None,
                   exclude_all: bool, old_may_be_missing: bool, keep: Collection[str],
                   batch: int) -> list[tuple[RefUpdate, Outcome]]:
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
    results: list[tuple[RefUpdate, Outcome]] = []
    # A commit pushed to two refs is judged once per target policy and branch.
    seen: set[tuple[str, str | None, str | None]] | None = set() if len(alive) > 1 else None
    for update in updates:
        if update.deleted:
            results.append((update, Outcome([])))
            continue
        tip = tips[id(update)]
        if exclude_all:
            exclude = [tip] if tip else []
        else:
            exclude = [tip] if tip and not update.created else []
        hit = found.get(f"{tip}:{CONFIG_FILE}") if tip else None
        target = hit[0] if hit and hit[1] == "blob" else None
        # Where the units land, for the adoption rule (judge.Judge._adoption):
        # a new ref on the server lands beside its default branch.
        landing = update.old if not update.created else ("HEAD" if exclude_all else None)
        units = iter_commit_units([update.new], exclude, branch=update.branch, ref=update.ref,
                                  exclude_remotes=exclude_remotes, cwd=cwd, keep=keep)
        results.append((update, judge_units(judge, _landing(units, seen, target, landing, tip is not None,
                                                            update.branch), batch=batch)))
    return results


def _landing(units: Iterable[Unit], seen: set[tuple[str, str | None, str | None]] | None, target: str | None,
             landing: str | None, targeted: bool, branch: str | None) -> Iterator[Unit]:
    for unit in units:
        if seen is not None:
            key = (unit.after, target, branch)
            if key in seen:
                continue
            seen.add(key)
        unit.target = landing
        if targeted:
            unit.target_config, unit.targeted = target, True
        yield unit


def _resolve_commit(rev: str, cwd: str | None, keep: Collection[str]) -> str | None:
    out = pl.git(["rev-parse", "-q", "--verify", f"{rev}^{{commit}}"], cwd=cwd, ok_codes=(0, 1, 128), keep=keep)
    return out.decode("ascii", "replace").strip() or None


def _exists(oid: str, cwd: str | None, keep: Collection[str]) -> bool:
    out = pl.git(["rev-parse", "-q", "--verify", f"{oid}^{{commit}}"], cwd=cwd, ok_codes=(0, 1, 128), keep=keep)
    return bool(out.strip())
