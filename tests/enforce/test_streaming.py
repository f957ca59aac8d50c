"""Pre-receive judges a push as a stream, in batches: the verdicts must not
depend on where the batches split the history, a unit whose parent sits in
an earlier batch must start from that parent's facts, and the number of git
processes must not grow with the number of batches. Real repositories, real
git; the batch size is the judging's own parameter."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ftgate.git import plumbing as pl
from ftgate.git.history import Outcome, RefUpdate, iter_commit_units, judge_updates
from ftgate.proc import KEEP_NONE
from tests.support import fastimport
from tests.support.gitrepo import Repo
from tests.support.server import make_server, push
from tests.support.tickets import state_text

STATE = "tickets/in-progress/t/workflow-state.md"


def _history(tmp_path: Path, env: dict[str, str]) -> tuple[Repo, Repo, str, str, dict[str, str]]:
    """A server at a ticket at Stage 4 Unlocked, and in the clone a push of
    60 commits on main and 7 on a side branch merged back: source edits while
    unlocked (accepted), the lock (commit 20), a source edit right after it
    (refused), empty commits, the side branch forked before the lock with a
    source edit of its own, a clean merge of it and an evil merge that edits
    source while the ticket is locked (refused). The clone's main is left at
    the base, as the server's is while its hook runs."""
    bare, work = make_server(tmp_path, env, hook="pre-receive", stage=4, unlocked=True)
    base = work.head()
    lines: list[str] = []
    for i in range(60):
        parent = base if i == 0 else None
        files: dict[str, str] = {f"docs/n{i % 7}.md": f"note {i}\n"}
        if i in (3, 12):
            files = {"src/early.py": f"x = {i}\n"}
        elif i == 20:
            files = {STATE: state_text("t", 4)}
        elif i == 21:
            files = {"src/train.py": "print('after the lock')\n"}
        elif i in (8, 9, 33):
            files = {}
        if i == 45:
            fastimport.commit(lines, 1000 + i, when=i, merge=":205", files={})
        elif i == 52:
            fastimport.commit(lines, 1000 + i, when=i, merge=":206", files={"src/evil.py": "y = 1\n"})
        else:
            fastimport.commit(lines, 1000 + i, when=i, parent=parent, files=files)
        if i == 10:
            for k in range(7):
                side_files = {"src/side.py": "z = 1\n"} if k == 2 else {f"docs/side{k}.md": f"s {k}\n"}
                fastimport.commit(lines, 200 + k, when=100 + k, ref="refs/heads/side",
                                  parent=":1010" if k == 0 else None, files=side_files)
    fastimport.run(work, lines)
    head = work.out("rev-parse", "refs/heads/main")
    marks = {"lock": work.out("rev-parse", "main~39"), "after_lock": work.out("rev-parse", "main~38"),
             "clean_merge": work.out("rev-parse", "main~14"), "evil_merge": work.out("rev-parse", "main~7")}
    work.git("update-ref", "refs/heads/main", base)
    work.git("update-ref", "-d", "refs/heads/side")
    return bare, work, base, head, marks


def _order(work: Repo, base: str, head: str) -> list[list[str]]:
    out = work.out("rev-list", "--parents", "--reverse", "--topo-order", head, "--not", "--all")
    return [line.split() for line in out.splitlines()]


def _summary(outcome: Outcome) -> tuple[int, int, list[tuple[str, bool, list[str], list[str]]]]:
    return (outcome.judged, outcome.refused,
            [(j.unit.label, j.verdict.allowed, [f"{r.rule} {r.path}" for r in j.verdict.reasons], j.verdict.notes)
             for j in outcome.shown])


def _judge(work: Repo, base: str, head: str, batch: int) -> Outcome:
    [(_, outcome)] = judge_updates([RefUpdate(base, head, "refs/heads/main")], cwd=str(work.path), batch=batch)
    return outcome


def test_verdicts_do_not_depend_on_where_batches_split(tmp_path: Path, env: dict[str, str]) -> None:
    _, work, base, head, marks = _history(tmp_path, env)
    order = _order(work, base, head)
    assert len(order) == 67
    at = {fields[0]: i for i, fields in enumerate(order)}
    whole = _judge(work, base, head, 10_000)
    judged, refused, shown = _summary(whole)
    assert (judged, refused) == (67, 2)
    assert [label for label, allowed, _, _ in shown if not allowed] == \
        [f"commit {c[:10]}" for c in sorted((marks["after_lock"], marks["evil_merge"]), key=at.__getitem__)]
    # The refused edit opens a batch of its own and its parent, the lock,
    # closes the batch before: the lock must reach it through the carry.
    cut = at[marks["after_lock"]]
    assert order[cut][1] == marks["lock"] and at[marks["lock"]] == cut - 1
    # A merge whose first parent is in one batch and the side parent in another.
    merge = order[at[marks["clean_merge"]]]
    assert len(merge) == 3
    straddle = next(b for b in range(2, 30)
                    if len({at[p] // b for p in merge[1:]}) == 2 and at[merge[2]] // b != at[merge[0]] // b)
    for batch in sorted({1, 2, 3, 7, cut, straddle}):
        assert _summary(_judge(work, base, head, batch)) == (judged, refused, shown), f"batch {batch}"


def test_the_hook_refuses_the_same_commits(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work, base, head, marks = _history(tmp_path, env)
    work.git("update-ref", "refs/heads/main", head)
    proc = push(work, "main")
    assert proc.returncode != 0
    for name in ("after_lock", "evil_merge"):
        assert f"commit {marks[name][:10]} on refs/heads/main: refused" in proc.stderr
    assert "2 of 67 change(s) refused" in proc.stderr
    assert bare.out("rev-parse", "main") == base


def _git_starts(trace: Path) -> list[str]:
    starts = []
    for line in trace.read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "start":
            starts.append(" ".join(event["argv"][1:3]))
    trace.unlink()
    return starts


def test_git_processes_do_not_grow_with_the_batches(tmp_path: Path, env: dict[str, str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _, work, base, head, _ = _history(tmp_path, env)
    trace = tmp_path / "trace.json"
    monkeypatch.setenv("GIT_TRACE2_EVENT", str(trace))
    _judge(work, base, head, 10_000)
    whole = _git_starts(trace)
    _judge(work, base, head, 1)
    one_by_one = _git_starts(trace)
    assert sorted(one_by_one) == sorted(whole), (whole, one_by_one)
    # rev-list, diff-tree and the pair of cat-file processes every lookup goes through.
    assert sum(1 for argv in whole if argv.startswith("cat-file")) <= 2
    assert len(whole) <= 6, whole


def test_lookups_answer_as_the_one_shot_calls_do(tmp_path: Path, env: dict[str, str]) -> None:
    _, work, _base, head, _ = _history(tmp_path, env)
    cwd = str(work.path)
    big = "x" * 300_000 + "\n"  # more than a pipe holds, among small ones
    work.write("big.txt", big)
    work.git("add", "big.txt")
    big_oid = work.out("hash-object", "-w", "big.txt")
    names = [f"{head}:{STATE}", f"{head}:src/train.py", f"{head}:nope", f"{head}:src", f"{head}:a b c missing",
             "", " ", head, "0" * 40]
    names += [f"{head}:docs/n{i % 7}.md" for i in range(1500)]  # well past one window
    # A newline would make two requests of one name and shift the answers after it.
    names.append(f"{head}:with\nnewline")
    names += [f"{head}:docs/n{i % 7}.md" for i in range(7)] + [f"{head}:nope2"]
    oids = [big_oid, *(hit[0] for hit in pl.batch_check(names[:2], cwd=cwd).values() if hit), "f" * 40, big_oid]
    once = (pl.batch_check(names, cwd=cwd), pl.object_sizes(oids, cwd=cwd), pl.read_objects(oids, cwd=cwd))
    with pl.Lookups(cwd, KEEP_NONE):
        session = (pl.batch_check(names, cwd=cwd), pl.object_sizes(oids, cwd=cwd), pl.read_objects(oids, cwd=cwd))
        again = pl.read_objects([big_oid], cwd=cwd)
    assert session == once
    # A name with a newline cannot be asked line by line: missing, not misread.
    assert session[0][f"{head}:with\nnewline"] is None and session[0][f"{head}:nope2"] is None
    assert session[0][f"{head}:docs/n6.md"] is not None
    assert session[2][big_oid] == big.encode() == again[big_oid]
    assert session[0][f"{head}:nope"] is None and session[0][f"{head}:src"] is not None


def test_a_stream_left_early_stops_git(tmp_path: Path, env: dict[str, str]) -> None:
    _, work, base, head, _ = _history(tmp_path, env)
    started = time.monotonic()
    units = iter_commit_units([head], [base], branch="main", ref="refs/heads/main", cwd=str(work.path))
    first = [next(units) for _ in range(3)]
    units.close()
    assert [u.before for u in first[1:]] == [u.after for u in first[:-1]]
    assert time.monotonic() - started < 30
