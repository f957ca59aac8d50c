"""``ftgate board``: the team's tickets on one screen.

Tickets live in several places at once: the main checkout's tree, each
linked worktree (usually one per ``codex/<ticket>`` branch) and, for
teammates, the remote's ``codex/*`` branches, which nobody has checked out
here. The board reads all of them: checkouts from their files (what the
person sees, uncommitted edits included), remote branches straight from the
object database with ``cat-file --batch`` (no checkout needed). Age is the
time since the last commit that touched the ticket's state file.

Every git call goes through :func:`_git`, so the process runner can be
swapped in one place. The number of git processes does not grow with the
number of tickets: one ``worktree list``, one ``for-each-ref``, two
``cat-file --batch`` for all remote branches, and one ``log`` per distinct
commit the tickets were read from.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ftgate.constants import BRANCH_PREFIX, DONE, IN_PROGRESS, STATE_FILE, TICKETS
from ftgate.errors import FtgateError, ReadError
from ftgate.git import plumbing as pl
from ftgate.proc import NOT_INSTALLED
from ftgate.workflow.state import read_state

#: A done ticket stays on the board this long after its state last changed.
RECENT_DONE_DAYS = 14

CHECKOUT = "checkout"
WORKTREE = "worktree"
REMOTE = "remote"


@dataclass(slots=True)
class BoardRow:
    ticket: str
    status: str                 # in-progress | done
    stage: int | None           # None when the state file cannot be read
    stage_title: str | None
    permission: str | None
    branch: str | None          # the branch the ticket was read from; None when detached
    source: str                 # checkout | worktree | remote
    where: str                  # a checkout's folder, or the remote ref
    changed_at: int | None      # unix time of the last commit touching the state file
    age_seconds: int | None
    error: str | None = None


@dataclass(slots=True)
class Board:
    rows: list[BoardRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def unreadable(self) -> list[BoardRow]:
        return [r for r in self.rows if r.error]


def _git(args: Sequence[str], cwd: Path, *, input: bytes | None = None, ok_codes: Sequence[int] = (0,)) -> bytes:
    """The one door to git for the board."""
    try:
        return pl.git(list(args), cwd=str(cwd), input=input, ok_codes=ok_codes)
    except pl.GitError as err:
        if err.code is None:  # git never started: the runner says why
            if err.message == NOT_INSTALLED:
                raise FtgateError("git is not on PATH",
                                  hint="install git, or put it on PATH, and run the command again") from None
            raise FtgateError(err.message, hint=err.hint) from None
        raise FtgateError(f"git {' '.join(args)} failed: {err.stderr.strip() or err.code}") from None


# ---------------------------------------------------------------- sources


@dataclass(slots=True)
class _Checkout:
    path: Path
    head: str | None
    branch: str | None
    main: bool


def _checkouts(cwd: Path) -> list[_Checkout]:
    try:
        raw = _git(["worktree", "list", "--porcelain", "-z"], cwd)
    except FtgateError as err:
        if "not a git repository" in err.message:
            raise FtgateError(f"{cwd} is not inside a git repository",
                              hint="run ftgate board in a clone or one of its worktrees") from None
        raise
    out = raw.decode("utf-8", "surrogateescape")
    found: list[_Checkout] = []
    fields: dict[str, str] = {}
    seen = 0
    # -z ends every attribute with NUL and every worktree with an empty one.
    for item in out.split("\0") + [""]:
        if item:
            key, _, value = item.partition(" ")
            fields[key] = value
            continue
        if "worktree" in fields:
            seen += 1
            # A bare main repository has no files to read; a prunable
            # worktree's folder is gone.
            if "bare" not in fields and "prunable" not in fields:
                branch = fields.get("branch")
                found.append(_Checkout(Path(fields["worktree"]), fields.get("HEAD"),
                                       branch.removeprefix("refs/heads/") if branch else None, main=seen == 1))
        fields = {}
    return found


def _remote_refs(cwd: Path, remote: str) -> list[tuple[str, str]]:
    """``(short ref, commit)`` for every ``<remote>/codex/*`` branch."""
    out = _git(["for-each-ref", "--format=%(refname:short)%00%(objectname)",
                f"refs/remotes/{remote}/{BRANCH_PREFIX}"], cwd).decode("utf-8", "surrogateescape")
    refs = []
    for line in out.splitlines():
        name, _, oid = line.partition("\0")
        if name and oid:
            refs.append((name, oid))
    return refs


def _batch(cwd: Path, names: Sequence[str]) -> dict[str, bytes]:
    """Contents of ``<rev>:<path>`` objects, one process; missing names are left out."""
    if not names:
        return {}
    out = _git(["cat-file", "--batch"], cwd, input=b"".join(pl.encode_path(n) + b"\n" for n in names))
    found: dict[str, bytes] = {}
    pos = 0
    for name in names:
        end = out.index(b"\n", pos)
        header = out[pos:end].split(b" ")
        pos = end + 1
        if len(header) == 3 and header[-1] != b"missing":
            size = int(header[2])
            found[name] = out[pos:pos + size]
            pos += size + 1
    return found


def _change_times(cwd: Path, commit: str) -> dict[str, int]:
    """Newest commit time of every ticket state file reachable from ``commit``."""
    out = _git(["-c", "core.quotePath=false", "log", "--format=%x01%ct", "--name-only", commit, "--",
                f"{TICKETS}/{IN_PROGRESS}/*/{STATE_FILE}", f"{TICKETS}/{DONE}/*/{STATE_FILE}"],
               cwd).decode("utf-8", "surrogateescape")
    times: dict[str, int] = {}
    current = 0
    for line in out.splitlines():
        if line.startswith("\x01"):
            current = int(line[1:])
        elif line:
            times.setdefault(line, current)
    return times


# ---------------------------------------------------------------- reading


@dataclass(slots=True)
class _Found:
    ticket: str
    status: str
    text: str | None
    display_path: str
    rel_path: str
    branch: str | None
    source: str
    where: str
    commit: str | None


def _from_checkout(co: _Checkout) -> list[_Found]:
    found = []
    for status in (IN_PROGRESS, DONE):
        folder = co.path / TICKETS / status
        if not folder.is_dir():
            continue
        for state in sorted(folder.glob(f"*/{STATE_FILE}")):
            rel = f"{TICKETS}/{status}/{state.parent.name}/{STATE_FILE}"
            try:
                text: str | None = state.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                text = None
            found.append(_Found(state.parent.name, status, text, str(state), rel, co.branch,
                                CHECKOUT if co.main else WORKTREE, str(co.path), co.head))
    return found


def _from_remote(cwd: Path, refs: list[tuple[str, str]]) -> list[_Found]:
    oid_len = len(refs[0][1]) if refs else 40
    dirs = [f"{oid}:{TICKETS}/{status}" for _, oid in refs for status in (IN_PROGRESS, DONE)]
    trees = _batch(cwd, dirs)
    wanted: list[tuple[str, str, str, str]] = []  # ref, oid, status, ticket
    for ref, oid in refs:
        for status in (IN_PROGRESS, DONE):
            data = trees.get(f"{oid}:{TICKETS}/{status}")
            if data is None:
                continue
            for mode, name, _ in pl.tree_entries(data, oid_len):
                if mode == "40000":
                    wanted.append((ref, oid, status, name))
    blobs = _batch(cwd, [f"{oid}:{TICKETS}/{status}/{name}/{STATE_FILE}" for _, oid, status, name in wanted])
    found = []
    for ref, oid, status, name in wanted:
        rel = f"{TICKETS}/{status}/{name}/{STATE_FILE}"
        data = blobs.get(f"{oid}:{rel}")
        if data is None:
            continue  # a folder without a state file is not a ticket
        branch = ref.split("/", 1)[1] if "/" in ref else ref
        found.append(_Found(name, status, data.decode("utf-8", "replace"), f"{ref}:{rel}", rel, branch,
                            REMOTE, ref, oid))
    return found


def _row(item: _Found, times: dict[str, dict[str, int]], now: int) -> BoardRow:
    changed = times.get(item.commit or "", {}).get(item.rel_path)
    row = BoardRow(ticket=item.ticket, status=item.status, stage=None, stage_title=None, permission=None,
                   branch=item.branch, source=item.source, where=item.where, changed_at=changed,
                   age_seconds=max(0, now - changed) if changed is not None else None)
    if item.text is None:
        row.error = f"{item.display_path}: cannot be read as UTF-8 text"
        return row
    try:
        state = read_state(item.text, item.display_path).state
    except ReadError as err:
        row.error = str(err).splitlines()[0]
        return row
    row.stage = int(state.current_stage)
    row.stage_title = state.current_stage.title
    row.permission = state.permission.value
    return row


# Which copy of a ticket the board shows when it is in several places (every
# worktree cut from main carries main's archive): work in progress beats an
# archive, the copy on the ticket's own branch beats the others, then the main
# checkout, then another worktree, and a local copy beats the remote's (it is
# at least as new for the person who owns it).
def _rank(item: _Found) -> tuple[int, int, int]:
    return (
        0 if item.status == IN_PROGRESS else 1,
        0 if item.branch == f"{BRANCH_PREFIX}{item.ticket}" else 1,
        {CHECKOUT: 0, WORKTREE: 1, REMOTE: 2}[item.source],
    )


def gather(start: Path, *, remote: str | None = None, done_days: int = RECENT_DONE_DAYS,
           now: int | None = None) -> Board:
    """Every ticket visible from ``start``'s repository, one row each."""
    now = int(time.time()) if now is None else now
    board = Board()
    checkouts = _checkouts(start)
    if not checkouts:
        board.notes.append("this repository has no checkout to read tickets from")
    found: list[_Found] = [f for co in checkouts for f in _from_checkout(co)]
    if remote is not None:
        refs = _remote_refs(start, remote)
        if not refs:
            board.notes.append(f"no {remote}/{BRANCH_PREFIX}* branches here (run `git fetch {remote}` to see "
                               "teammates' tickets)")
        found += _from_remote(start, refs)
    # Choose each ticket's copy first: parsing the state and walking history
    # are the costly parts, and every worktree holds copies of main's tickets.
    best: dict[str, _Found] = {}
    for item in found:
        if item.ticket not in best or _rank(item) < _rank(best[item.ticket]):
            best[item.ticket] = item
    commits = {f.commit for f in best.values() if f.commit}
    times = {c: _change_times(start, c) for c in sorted(commits)}
    rows = [_row(item, times, now) for item in best.values()]
    rows = [r for r in rows
            if not (r.status == DONE and r.age_seconds is not None and r.age_seconds > done_days * 86400)]
    board.rows = sorted(rows, key=lambda r: (r.status != IN_PROGRESS, r.ticket))
    return board


# ---------------------------------------------------------------- output


def age_text(seconds: int | None) -> str:
    if seconds is None:
        return "uncommitted"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return "now"


def _place(row: BoardRow, here: Path | None) -> str:
    if row.source == REMOTE or here is None:
        return row.where
    try:
        return os.path.relpath(row.where, here)
    except ValueError:  # another drive on Windows
        return row.where


def _cells(row: BoardRow, here: Path | None) -> list[str]:
    stage = "?" if row.stage is None else f"{row.stage} {row.stage_title}"
    if row.status == DONE:
        stage += " (done)"
    return [row.ticket, stage, row.permission or "?", row.branch or "(detached)", age_text(row.age_seconds),
            _place(row, here)]


HEADERS = ["TICKET", "STAGE", "PERMISSION", "BRANCH", "AGE", "WHERE"]


def render_text(board: Board, here: Path | None = None) -> str:
    if not board.rows:
        return "\n".join(["no tickets in progress or recently done", *board.notes]) + "\n"
    table = [HEADERS, *(_cells(r, here) for r in board.rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=False)) + "  " + line[-1]
             for line in table]
    lines += [f"! {r.error}" for r in board.unreadable]
    lines += board.notes
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _md(cell: str) -> str:
    return cell.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render_markdown(board: Board, here: Path | None = None) -> str:
    lines = ["### ftgate board", ""]
    if not board.rows:
        lines.append("No tickets in progress or recently done.")
    else:
        lines.append("| " + " | ".join(h.title() for h in HEADERS) + " |")
        lines.append("|" + "---|" * len(HEADERS))
        for row in board.rows:
            cells = _cells(row, here)
            cells[0] = f"`{cells[0]}`"
            cells[3] = f"`{cells[3]}`"
            lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
    if board.unreadable or board.notes:
        lines.append("")
    lines += [f"- :warning: {_md(r.error or '')}" for r in board.unreadable]
    lines += [f"- {_md(n)}" for n in board.notes]
    return "\n".join(lines) + "\n"


def render_json(board: Board) -> str:
    return json.dumps({"tickets": [asdict(r) for r in board.rows], "notes": board.notes}, indent=2) + "\n"
