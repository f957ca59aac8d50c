"""Gather what decide() needs for many changes at once, from git objects.

A *unit* is one change: the staged changes against ``HEAD``, or one commit
against its first parent. Each unit is judged on its own sides: the ticket
state of the commit's own tree (or the index) and of its parent, never the
working directory. The config in force is the parent's ``ftgate.yaml`` (the
defaults when there is none): a change cannot loosen the policy that judges
it, and ``ftgate.yaml`` itself is source.

All lookups of all units go into a few batched git calls, so checking 10,000
pushed commits starts the same handful of processes as checking one.

stdlib only: this runs inside the commit hook.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ftgate.git import plumbing as pl
from ftgate.policy.compiled import Cache, Policy, PolicyError, load_policy, policy_from_data
from ftgate.policy.decide import (
    BRANCH_PREFIX,
    CONFIG_FILE,
    DONE,
    IN_PROGRESS,
    STATE_FILE,
    TICKETS,
    Change,
    Reason,
    StateSummary,
    TicketInput,
    TicketSide,
    Verdict,
    decide,
    governing_ticket,
    needs,
    state_changes,
    ticket_folders,
    touched_tickets,
)

INDEX = ""  # the "revision" of the index: ``:path`` names the staged blob


@dataclass(slots=True)
class Unit:
    label: str
    after: str              # commit id, or INDEX
    before: str | None      # parent commit id; None for a root commit / unborn HEAD
    entries: list[pl.RawEntry]
    branch: str | None = None
    explicit_ticket: str | None = None
    commit: str | None = None
    ref: str | None = None


@dataclass(slots=True)
class Judged:
    unit: Unit
    verdict: Verdict


def _name(rev: str, path: str) -> str:
    return f"{rev}:{path}"


def find_git_dir(cwd: str | None = None) -> Path | None:
    """The common git dir, found without a git process when possible (it only
    holds ftgate's cache, so a miss costs speed, not correctness)."""
    env = os.environ.get("GIT_COMMON_DIR") or os.environ.get("GIT_DIR")
    if env:
        return Path(cwd or ".").joinpath(env).resolve()
    start = Path(cwd or os.getcwd()).resolve()
    for folder in (start, *start.parents):
        dot = folder / ".git"
        if dot.is_dir():
            return dot
        if dot.is_file():
            try:
                text = dot.read_text(encoding="utf-8").strip()
            except OSError:
                return None
            if not text.startswith("gitdir:"):
                return None
            git_dir = (folder / text.split(":", 1)[1].strip()).resolve()
            common = git_dir / "commondir"
            if common.is_file():
                return (git_dir / common.read_text(encoding="utf-8").strip()).resolve()
            return git_dir
        if (folder / "HEAD").is_file() and (folder / "objects").is_dir():
            return folder  # a bare repository
    return None


class Judge:
    def __init__(self, *, cwd: str | None = None, cache: Cache | None = None) -> None:
        self.cwd = cwd
        self.cache = cache if cache is not None else Cache(find_git_dir(cwd))
        self._summaries: dict[str, StateSummary] = {}
        self._policies: dict[str | None, Policy | PolicyError] = {}
        self._oid_len = 40

    # -------------------------------------------------------------- config

    def _policy(self, blob: str | None) -> Policy | PolicyError:
        if blob not in self._policies:
            data = self.cache.get("config", blob or "none")
            if data is None:
                from ftgate.policy.config import compile_policy

                raw = pl.read_objects([blob], cwd=self.cwd).get(blob) if blob else None
                data = compile_policy(raw, CONFIG_FILE)
                self.cache.put("config", blob or "none", data)
            self._policies[blob] = policy_from_data(data)
        return self._policies[blob]

    def _default_policy(self) -> Policy:
        policy = self._policy(None)
        assert isinstance(policy, Policy)
        return policy

    # -------------------------------------------------------------- states

    def _summaries_for(self, blobs: list[str]) -> None:
        missing = []
        for blob in dict.fromkeys(blobs):
            if blob in self._summaries:
                continue
            data = self.cache.get("state", blob)
            if data is None:
                missing.append(blob)
            else:
                self._summaries[blob] = StateSummary(data["stage"], data["unlocked"], data.get("error"),
                                                     data.get("hint"))
        if not missing:
            return
        contents = pl.read_objects(missing, cwd=self.cwd)
        for blob in missing:
            summary = summarize_state(contents.get(blob), STATE_FILE)
            self._summaries[blob] = summary
            self.cache.put("state", blob, {"stage": summary.stage, "unlocked": summary.unlocked,
                                           "error": summary.error, "hint": summary.hint})

    # -------------------------------------------------------------- judge

    def judge(self, units: list[Unit]) -> list[Judged]:
        if not units:
            return []
        for unit in units:
            for rev in (unit.after, unit.before):
                if rev and len(rev) == 64:
                    self._oid_len = 64
        # Round 1: the parents' configs, and the tickets every unit names
        # without needing the policy (branch, touched folders, state edits).
        wanted: dict[str, None] = {}
        for unit in units:
            if unit.before is not None:
                wanted[_name(unit.before, CONFIG_FILE)] = None
            for name in self._guess_tickets(unit):
                self._want_ticket(wanted, unit, name)
        resolved = pl.batch_check(list(wanted), cwd=self.cwd)

        changes: list[tuple[Unit, Change, Policy | PolicyError]] = []
        more: dict[str, None] = {}
        listing_units: list[Unit] = []
        for unit in units:
            config = resolved.get(_name(unit.before, CONFIG_FILE)) if unit.before is not None else None
            policy = self._policy(config[0] if config else None)
            effective = policy if isinstance(policy, Policy) else self._default_policy()
            change = Change([e.change() for e in unit.entries], branch=unit.branch,
                            explicit_ticket=unit.explicit_ticket, label=unit.label)
            need = needs(change, effective)
            for name in need.tickets:
                self._want_ticket(more, unit, name)
            if need.in_progress_listing:
                listing_units.append(unit)
                more[_name(unit.after, f"{TICKETS}/{IN_PROGRESS}")] = None
            changes.append((unit, change, policy))
        extra = [n for n in more if n not in resolved]
        if extra:
            resolved.update(pl.batch_check(extra, cwd=self.cwd))

        # Round 2: the in-progress listings, for units no rule named a ticket.
        listings: dict[int, list[str]] = {}
        if listing_units:
            listings = self._listings(listing_units, resolved)
            more = {}
            for unit in listing_units:
                names = listings.get(id(unit), [])
                if len(names) == 1:
                    self._want_ticket(more, unit, names[0])
            extra = [n for n in more if n not in resolved]
            if extra:
                resolved.update(pl.batch_check(extra, cwd=self.cwd))

        # Round 3: state summaries (cached by blob id), then the full texts and
        # ticket files of the few units that edit a state file.
        state_blobs = [v[0] for name, v in resolved.items() if v and v[1] == "blob" and name.endswith("/" + STATE_FILE)]
        self._summaries_for(state_blobs)

        results: list[Judged] = []
        for unit, change, policy in changes:
            if unit.after is not None and id(unit) in listings:
                change.in_progress = listings[id(unit)]
            names = needs(change, policy if isinstance(policy, Policy) else self._default_policy()).tickets
            if change.in_progress is not None and len(change.in_progress) == 1:
                names = list(dict.fromkeys(names + list(change.in_progress)))
            tickets = {name: self._ticket_input(unit, name, resolved) for name in names}
            change.tickets = tickets
            if CONFIG_FILE in {e.path for e in unit.entries}:
                self._check_new_config(unit, change)
            results.append((unit, change, policy))  # type: ignore[arg-type]
        self._load_transition_files(results)  # type: ignore[arg-type]

        judged: list[Judged] = []
        for unit, change, policy in results:  # type: ignore[misc]
            if isinstance(policy, PolicyError):
                verdict = decide(change, self._default_policy())
                verdict.notes.append(f"the parent's {CONFIG_FILE} is invalid ({policy.message}); "
                                     "judged with the default policy")
            else:
                verdict = decide(change, policy)
            judged.append(Judged(unit, verdict))
        return judged

    # -------------------------------------------------------------- helpers

    def _guess_tickets(self, unit: Unit) -> list[str]:
        names = dict.fromkeys(state_changes([e.change() for e in unit.entries]))
        if unit.explicit_ticket:
            names[unit.explicit_ticket] = None
        elif unit.branch and unit.branch.startswith(BRANCH_PREFIX) and len(unit.branch) > len(BRANCH_PREFIX):
            names[unit.branch[len(BRANCH_PREFIX):]] = None
        else:
            touched = touched_tickets([e.change() for e in unit.entries])
            if len(touched) == 1:
                names[touched[0]] = None
        return list(names)

    def _want_ticket(self, wanted: dict[str, None], unit: Unit, name: str) -> None:
        if "\n" in name or not name:
            return
        # The parent's state matters only when this change edits the state
        # file (the transition check); skipping it halves the lookups.
        before = unit.before is not None and name in state_changes([e.change() for e in unit.entries])
        for folder in ticket_folders(name):
            wanted[_name(unit.after, f"{folder}/{STATE_FILE}")] = None
            if before:
                wanted[_name(unit.before, f"{folder}/{STATE_FILE}")] = None

    def _listings(self, units: list[Unit], resolved: dict[str, tuple[str, str] | None]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        index_units = [u for u in units if u.after == INDEX]
        trees: dict[str, str] = {}
        for unit in units:
            if unit.after == INDEX:
                continue
            hit = resolved.get(_name(unit.after, f"{TICKETS}/{IN_PROGRESS}"))
            if hit and hit[1] == "tree":
                trees[hit[0]] = ""
        contents = pl.read_objects(list(trees), cwd=self.cwd)
        for unit in units:
            if unit.after == INDEX:
                continue
            hit = resolved.get(_name(unit.after, f"{TICKETS}/{IN_PROGRESS}"))
            names: list[str] = []
            if hit and hit[1] == "tree" and hit[0] in contents:
                names = sorted(n for mode, n, _ in pl.tree_entries(contents[hit[0]], self._oid_len)
                               if mode == "40000" and not n.startswith("."))
            out[id(unit)] = names
        if index_units:
            prefix = f"{TICKETS}/{IN_PROGRESS}/"
            raw = pl.git(["ls-files", "-z", "--", prefix], cwd=self.cwd)
            names = sorted({pl.decode_path(p)[len(prefix):].split("/", 1)[0]
                            for p in raw.split(b"\0") if p and b"/" in p[len(prefix):]})
            for unit in index_units:
                out[id(unit)] = [n for n in names if not n.startswith(".")]
        return out

    def _side(self, rev: str | None, name: str, resolved: dict[str, tuple[str, str] | None]) -> TicketSide:
        if rev is None:
            return TicketSide(None)
        for folder in ticket_folders(name):
            hit = resolved.get(_name(rev, f"{folder}/{STATE_FILE}"))
            if hit and hit[1] == "blob":
                return TicketSide(folder, hit[0], self._summaries.get(hit[0]))
        return TicketSide(None)

    def _ticket_input(self, unit: Unit, name: str, resolved: dict[str, tuple[str, str] | None]) -> TicketInput:
        return TicketInput(name, self._side(unit.before, name, resolved), self._side(unit.after, name, resolved))

    def _check_new_config(self, unit: Unit, change: Change) -> None:
        entry = next(e for e in unit.entries if e.path == CONFIG_FILE)
        if entry.status == "D" or pl.is_zero(entry.new_oid):
            return
        policy = self._policy(entry.new_oid)
        if isinstance(policy, PolicyError):
            change.config_error = policy.message
            change.config_hint = policy.hint

    def _load_transition_files(self, results: list[tuple[Unit, Change, object]]) -> None:
        """Texts of edited state files and the new side's ticket files, for
        the transition check (only units that edit a state file)."""
        todo: list[tuple[Unit, TicketInput]] = []
        for unit, change, _ in results:
            for name in state_changes(change.paths):
                ticket = change.tickets.get(name)
                if ticket is not None and ticket.state_changed:
                    todo.append((unit, ticket))
        if not todo:
            return
        blob_ids: list[str] = []
        tree_names: dict[str, None] = {}
        for unit, ticket in todo:
            for side in (ticket.before, ticket.after):
                if side.blob:
                    blob_ids.append(side.blob)
            if ticket.after.folder and unit.after != INDEX:
                tree_names[_name(unit.after, ticket.after.folder)] = None
        trees = pl.batch_check(list(tree_names), cwd=self.cwd) if tree_names else {}
        tree_data = pl.read_objects([v[0] for v in trees.values() if v], cwd=self.cwd)
        folder_files: dict[tuple[int, str], dict[str, str]] = {}
        for unit, ticket in todo:
            folder = ticket.after.folder
            if folder is None:
                continue
            entries: list[tuple[str, str]] = []
            if unit.after == INDEX:
                raw = pl.git(["ls-files", "-s", "-z", "--", folder + "/"], cwd=self.cwd)
                for rec in raw.split(b"\0"):
                    if not rec:
                        continue
                    meta, path = rec.split(b"\t", 1)
                    rel = pl.decode_path(path)[len(folder) + 1:]
                    if "/" not in rel and rel.endswith(".md"):
                        entries.append((rel, meta.split(b" ")[1].decode()))
            else:
                hit = trees.get(_name(unit.after, folder))
                if hit and hit[0] in tree_data:
                    entries = [(n, oid) for mode, n, oid in pl.tree_entries(tree_data[hit[0]], self._oid_len)
                               if mode.startswith("100") and n.endswith(".md")]
            folder_files[(id(unit), ticket.name)] = dict(entries)
            blob_ids += [oid for _, oid in entries]
        contents = pl.read_objects(blob_ids, cwd=self.cwd)
        for unit, ticket in todo:
            for side in (ticket.before, ticket.after):
                if side.blob and side.blob in contents:
                    side.text = _decode(contents[side.blob])
            files = folder_files.get((id(unit), ticket.name), {})
            ticket.after.files = {n: _decode(contents[oid]) for n, oid in files.items() if oid in contents}


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def summarize_state(data: bytes | None, label: str) -> StateSummary:
    """Read one state blob with the workflow's reader (fail closed)."""
    if data is None:
        return StateSummary(None, error=f"{label}: could not be read from git")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return StateSummary(None, error=f"{label}: not UTF-8 text (byte {exc.start})",
                            hint="save the file as UTF-8")
    from ftgate.errors import ReadError
    from ftgate.workflow.model import Permission
    from ftgate.workflow.state import read_state

    try:
        state = read_state(text, label).state
    except ReadError as err:
        return StateSummary(None, error=err.message, hint=err.hint)
    return StateSummary(int(state.current_stage), state.permission == Permission.UNLOCKED)


def reason_lines(reason: Reason) -> list[str]:
    return [f"{reason.message}", f"  fix: {reason.fix}"]
