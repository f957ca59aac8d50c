"""Gather what decide() needs for many changes at once, from git objects.

A *unit* is one change: the staged changes against ``HEAD``, or one commit
against its first parent. Each unit is judged on its own sides: the ticket
state of the commit's own tree (or the index) and of its parent, never the
working directory. The config in force is the parent's ``ftgate.yaml`` (the
defaults when there is none): a change cannot loosen the policy that judges
it, and ``ftgate.yaml`` itself is source.

All lookups of all units go into a few batched git calls, so checking 10,000
pushed commits starts the same handful of processes as checking one; and a
commit's facts are carried from its parent through its own diff, so names
are looked up only where the units join older history (and at merges).

stdlib only: this runs inside the commit hook.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path

from ftgate import proc
from ftgate.git import plumbing as pl
from ftgate.gitdir import git_dirs
from ftgate.policy.compiled import Cache, Policy, PolicyError, policy_from_data
from ftgate.policy.decide import (
    BRANCH_PREFIX,
    CONFIG_FILE,
    IN_PROGRESS,
    STATE_FILE,
    TICKETS,
    TICKETS_SLASH,
    Change,
    Needs,
    PathChange,
    Reason,
    StateSummary,
    TicketInput,
    TicketSide,
    Verdict,
    decide,
    needs,
    state_changes,
    ticket_folders,
    ticket_of_path,
    touched_tickets,
)
from ftgate.records import record

TYPE_CHECKING = False  # typing costs milliseconds on the commit hook's path
if TYPE_CHECKING:
    from typing import TypeAlias, TypeVar

    T = TypeVar("T")

INDEX = ""  # the "revision" of the index: ``:path`` names the staged blob


@record(slots=True)
class Unit:
    label: str
    after: str              # commit id, or INDEX
    before: str | None      # parent commit id; None for a root commit / unborn HEAD
    entries: list[pl.RawEntry]
    branch: str | None = None
    explicit_ticket: str | None = None
    commit: str | None = None
    ref: str | None = None
    # A merge's entries are diff-tree --cc's (paths that differ from every
    # parent), which do not say how its tree differs from the first parent.
    merge: bool = False
    # A merge's other parents (the first is ``before``), for the criteria
    # rule's look past the combined diff (requirements_texts.add_merge_edits).
    others: tuple[str, ...] = ()
    # requirements.md path -> the merge parent its edit is judged from, where
    # that is not ``before`` (requirements_texts.add_merge_edits).
    criteria_base: dict[str, str] | None = None
    # The policy of the ref the unit lands on (its tip's ftgate.yaml blob,
    # None for the defaults), when the door knows one: a commit must pass
    # both it and its parent's, so a pusher cannot choose a looser policy.
    target_config: str | None = None
    targeted: bool = False
    # The tip of the ref the unit lands on (a push's old id, CI's base), when
    # it is not the unit's parent: an adoption commit must find no policy there.
    target: str | None = None
    _changes: list[PathChange] | None = None

    def path_changes(self) -> list[PathChange]:
        if self._changes is None:
            self._changes = [e.change() for e in self.entries]
        return self._changes


@record(slots=True)
class Judged:
    unit: Unit
    verdict: Verdict


def _name(rev: str, path: str) -> str:
    return f"{rev}:{path}"


def find_git_dir(cwd: str | None = None) -> Path | None:
    """The common git dir (it only holds ftgate's cache, so a miss costs
    speed, not correctness)."""
    return git_dirs(cwd)[1]


# ------------------------------------------------------------------ facts
#
# The facts of a tree that judging needs, as plain values: ``config`` (the
# blob id of ftgate.yaml, or None), ``listing`` (folder names under
# tickets/in-progress) and ``states`` (path of a workflow-state.md -> blob
# id, for the tickets looked at). A unit's facts are its parent's with its
# own diff applied, unless the parent is an anchor (looked up in git).

_STATE_TAIL = "/" + STATE_FILE
_IN_PROGRESS_PREFIX = f"{TICKETS}/{IN_PROGRESS}/"
EMPTY_STATES: dict[str, str] = {}


def _usable(name: str) -> bool:
    return bool(name) and "\n" not in name


def _meta(path: str) -> bool:
    return path.startswith("tickets/") or path == CONFIG_FILE


def _blob_mode(mode: str) -> bool:
    return mode.startswith("100") or mode == "120000"


def _removed(entry: pl.RawEntry) -> str | None:
    """The path a change takes away: a deletion's, or a rename's source."""
    if entry.status == "D":
        return entry.path
    if entry.old_path is not None and entry.old_path != entry.path and entry.status == "R":
        return entry.old_path
    return None


def _added(entry: pl.RawEntry) -> str | None:
    return None if entry.status == "D" else entry.path


def next_config(before: str | None, entries: list[pl.RawEntry]) -> str | None:
    config = before
    for e in entries:
        if e.path == CONFIG_FILE or e.old_path == CONFIG_FILE:
            if _removed(e) == CONFIG_FILE:
                config = None
            if _added(e) == CONFIG_FILE:
                # Only a regular file is a policy: a symbolic link's blob is its target's name.
                config = e.new_oid if _regular(e.new_mode) and not pl.is_zero(e.new_oid) else None
    return config


def _regular(mode: str) -> bool:
    return mode.startswith("100")


def config_removal(unit: Unit, before: str | None, after: str | None) -> str | None:
    """How ``unit`` takes ``ftgate.yaml`` away (for the ``config-removed``
    rule), or None when it keeps one or there was none to keep. ``before``
    and ``after`` are the config blobs of its parent and of its own tree."""
    if after is not None:
        return None
    if before is None:
        if unit.targeted and unit.target_config is not None:
            where = unit.ref.removeprefix("refs/heads/") if unit.ref else "the base"
            return (f"missing from this commit, while {where}, where it lands, has one (history from before "
                    f"{CONFIG_FILE} was added, or that dropped it: rebase it onto {where})")
        return None
    if unit.merge:
        return "dropped by this merge"
    how = "deleted by this change"
    for e in unit.entries:
        if e.old_path == CONFIG_FILE and e.path != CONFIG_FILE and e.status == "R":
            how = f"renamed to {e.path} by this change"
        elif e.path == CONFIG_FILE and e.status != "D" and not _regular(e.new_mode):
            kind = {"120000": "a symbolic link", "160000": "a submodule"}.get(e.new_mode, f"mode {e.new_mode}")
            how = f"replaced by {kind} by this change"
        elif e.path.startswith(CONFIG_FILE + "/"):
            how = "replaced by a folder by this change"
    return how


def next_listing(before: frozenset[str], entries: list[pl.RawEntry], emptied: tuple[str, ...]) -> frozenset[str]:
    added = None
    for e in entries:
        path = _added(e)
        if path is not None and path.startswith(_IN_PROGRESS_PREFIX):
            name, slash, _ = path[len(_IN_PROGRESS_PREFIX):].partition("/")
            if slash and name and name not in before:
                added = added or set()
                added.add(name)
    if not added and not emptied:
        return before
    return frozenset((before | (added or set())) - set(emptied))


def next_states(before: dict[str, str], entries: list[pl.RawEntry]) -> dict[str, str]:
    states = before
    for e in entries:
        for path, gone in ((_removed(e), True), (_added(e), False)):
            if path is None or not path.endswith(_STATE_TAIL) or not path.startswith("tickets/"):
                continue
            hit = ticket_of_path(path)
            if hit is None or path != hit[1] + _STATE_TAIL:
                continue
            if states is before:
                states = dict(before)
            if gone or not _blob_mode(e.new_mode) or pl.is_zero(e.new_oid):
                states.pop(path, None)
            else:
                states[path] = e.new_oid
    return states


class _Anchor:
    """Facts of a commit the units start from. Looked up in git, unless
    an earlier batch of the same run judged that commit: then its walked
    facts are carried over (``known``: the tickets whose state files they
    hold for sure; ``has_listing``: whether the listing was walked), and
    git is asked only for what they lack."""

    __slots__ = ("config", "has_listing", "known", "listing", "states")

    def __init__(self) -> None:
        self.config: str | None = None
        self.listing: frozenset[str] = frozenset()
        self.states: dict[str, str] = EMPTY_STATES
        self.known: frozenset[str] | None = None
        self.has_listing = False

    def copy(self) -> _Anchor:
        other = _Anchor()
        other.config, other.listing, other.states = self.config, self.listing, self.states
        other.known, other.has_listing = self.known, self.has_listing
        return other


def _config_of(anchor: _Anchor) -> str | None:
    return anchor.config


def _listing_of(anchor: _Anchor) -> frozenset[str]:
    return anchor.listing


def _states_of(anchor: _Anchor) -> dict[str, str]:
    return anchor.states


class _Plan:
    """Where each unit's facts come from: the unit before it (its parent),
    an anchor, or nothing (a root commit)."""

    def __init__(self, units: list[Unit], carried: dict[str, _Anchor] | None = None) -> None:
        self.units = units
        self.anchors: dict[str, _Anchor] = {}
        self.configs: list[str | None] = []
        carried = carried or {}

        def anchor(commit: str) -> None:
            if commit not in self.anchors:
                known = carried.get(commit)
                self.anchors[commit] = known.copy() if known is not None else _Anchor()
        self.parent: list[int | str | None] = []
        # Units deleting something in a ticket folder: (unit, folder names).
        self.emptied: list[tuple[Unit, list[str]]] = []
        # Whether a unit's diff touches tickets/ or ftgate.yaml at all.
        self.touches: list[bool] = []
        position: dict[str, int] = {}
        for i, unit in enumerate(units):
            touches = False
            for e in unit.entries:
                if _meta(e.path) or (e.old_path is not None and _meta(e.old_path)):
                    touches = True
                    break
            self.touches.append(touches)
            if unit.merge:
                anchor(unit.after)
            before = unit.before
            if before is None:
                self.parent.append(None)
            elif before in position:
                self.parent.append(position[before])
            else:
                anchor(before)
                self.parent.append(before)
            if unit.after != INDEX:
                position[unit.after] = i
            if not unit.merge and self.touches[-1]:
                names = []
                for e in unit.entries:
                    path = _removed(e)
                    if path is not None and path.startswith(_IN_PROGRESS_PREFIX):
                        name, slash, _ = path[len(_IN_PROGRESS_PREFIX):].partition("/")
                        if slash and name:
                            names.append(name)
                if names:
                    self.emptied.append((unit, list(dict.fromkeys(names))))

    def walk(self, of_anchor: Callable[[_Anchor], T], empty: T, step: Callable[[T, Unit], T]) -> list[T]:
        """Each unit's value after its change; ``step(before, unit)`` runs
        only for units whose diff touches tickets/ or the config, the rest
        inherit their parent's value as it is. ``of_anchor`` reads the value
        where the units join older history."""
        values: list[T] = []  # filled in order: a parent before its children
        anchors, touches = self.anchors, self.touches
        for i, src in enumerate(self.parent):
            unit = self.units[i]
            if unit.merge:
                values.append(of_anchor(anchors[unit.after]))
                continue
            before: T
            if src is None:
                before = empty
            elif type(src) is int:
                before = values[src]
            else:
                before = of_anchor(anchors[str(src)])
            values.append(step(before, unit) if touches[i] else before)
        return values

    def carry(self, states: list[dict[str, str]], listings: list[frozenset[str]] | None,
              wanted: dict[str, None]) -> dict[str, _Anchor]:
        """Each judged commit's facts after its change, as anchors for the
        next batch of the same run: a unit whose parent was judged in this
        batch then starts from them without asking git again. Their
        states are complete for the tickets this batch looked at."""
        known = frozenset(wanted)
        out: dict[str, _Anchor] = {}
        for i, unit in enumerate(self.units):
            if unit.after == INDEX:
                continue
            facts = out[unit.after] = _Anchor()
            facts.config, facts.states, facts.known = self.configs[i], states[i], known
            if listings is not None:
                facts.listing, facts.has_listing = listings[i], True
        return out

    def before(self, values: list[T], i: int, of_anchor: Callable[[_Anchor], T], empty: T) -> T:
        """Unit ``i``'s value before its change: its parent's."""
        src = self.parent[i]
        if src is None:
            return empty
        if isinstance(src, int):
            return values[src]
        return of_anchor(self.anchors[src])


def _find_state(states: dict[str, str], name: str) -> tuple[str | None, str | None]:
    for folder in ticket_folders(name):
        blob = states.get(folder + _STATE_TAIL)
        if blob is not None:
            return folder, blob
    return None, None


class _Judging:
    """One policy a unit is judged under: the config as read (a
    PolicyError when invalid), the policy that then judges (the defaults
    for an invalid one), and where it comes from, for messages."""

    __slots__ = ("effective", "policy", "where")

    def __init__(self, policy: Policy | PolicyError, effective: Policy, where: str) -> None:
        self.policy = policy
        self.effective = effective
        self.where = where


if TYPE_CHECKING:
    # One unit with its change and the policies that judge it: its parent's,
    # and the target ref's when that is another.
    _Result: TypeAlias = tuple[Unit, Change, list[_Judging]]


class _Pending:
    """A unit on its way to a verdict: its change, its policies, and what
    they need to know about it."""

    __slots__ = ("change", "need", "policy", "unit")

    def __init__(self, unit: Unit, change: Change, policy: list[_Judging], need: Needs) -> None:
        self.unit = unit
        self.change = change
        self.policy = policy
        self.need = need


class Judge:
    def __init__(self, *, cwd: str | None = None, cache: Cache | None = None,
                 keep: Collection[str] = proc.KEEP_NONE) -> None:
        self.cwd = cwd
        # What of git's hook environment the calling door passes through (ftgate.proc).
        self.keep = keep
        self.cache = cache if cache is not None else Cache(find_git_dir(cwd))
        self._summaries: dict[str, StateSummary] = {}
        self._policies: dict[str | None, Policy | PolicyError] = {}
        self._oid_len = 40
        # The previous batch's facts, for a run judged in batches (history.judge_units).
        self._carried: dict[str, _Anchor] = {}

    # -------------------------------------------------------------- config

    def _policy(self, blob: str | None) -> Policy | PolicyError:
        if blob not in self._policies:
            data = self.cache.get("config", blob or "none")
            if data is None:
                from ftgate.policy.config import compile_policy

                raw = pl.read_objects([blob], cwd=self.cwd, keep=self.keep).get(blob) if blob else None
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
        contents = pl.read_objects(missing, cwd=self.cwd, keep=self.keep)
        for blob in missing:
            summary = summarize_state(contents.get(blob), STATE_FILE)
            self._summaries[blob] = summary
            self.cache.put("state", blob, {"stage": summary.stage, "unlocked": summary.unlocked,
                                           "error": summary.error, "hint": summary.hint})

    # -------------------------------------------------------------- judge

    def judge(self, units: list[Unit]) -> list[Judged]:
        """Judge every unit, in order (a unit's parent, when it is one of
        the units, comes before it, as ``rev-list --reverse`` lists them).

        What a unit needs of a tree (the parent's ``ftgate.yaml``, the
        tickets in progress, a ticket's ``workflow-state.md``) is looked up
        in git only at *anchors*: parents that are not themselves judged
        here, and merges. Every other commit starts from its parent's facts
        and applies its own diff, which lists every path it changes, so a
        commit that touches neither ``tickets/`` nor ``ftgate.yaml`` costs
        no lookup at all and the lookups stay as few as the anchors."""
        if not units:
            return []
        for unit in units:
            for rev in (unit.after, unit.before):
                if rev and len(rev) == 64:
                    self._oid_len = 64
        if any(unit.merge for unit in units):
            from ftgate.git import requirements_texts

            requirements_texts.add_merge_edits(units, oid_len=self._oid_len, cwd=self.cwd, keep=self.keep)
        self._size_ticket_files(units)
        plan = _Plan(units, self._carried)
        named, resolved = self._round_anchors(plan)
        pending = self._policies_and_needs(plan, resolved)
        listings = None
        if any(p.need.in_progress_listing for p in pending):
            listings = self._round_listings(plan, resolved)
        unit_names, wanted = self._ticket_names(pending, listings, named)
        states = self._round_states(plan, resolved, named, wanted)
        self._carried = plan.carry(states, listings, wanted)
        results = self._ticket_inputs(plan, pending, unit_names, states)
        self._load_transition_files(results)
        self._check_evidence(results)
        signed: list[tuple[Unit, Change, Policy | PolicyError]] = []
        for unit, change, policies in results:
            # The target's approvals when it asks for them (it is in force on
            # the ref; the parent's could be the pusher's choice), else the parent's.
            wanting = [one.effective for one in policies if one.effective.approvals]
            if wanting:
                signed.append((unit, change, wanting[-1]))
        if signed:
            from ftgate.git.approvals import attach

            attach(signed, cwd=self.cwd, keep=self.keep)
        return [self._verdict(one) for one in results]

    def _size_ticket_files(self, units: list[Unit]) -> None:
        """Sizes of the blobs changes write under ``tickets/``, for the
        ticket-folder rule's caps: one git call for the whole batch, none
        when no unit touches a ticket folder."""
        oids = [e.new_oid for u in units for e in u.entries
                if e.path.startswith(TICKETS_SLASH) and not pl.is_zero(e.new_oid)]
        if not oids:
            return
        sizes = pl.object_sizes(oids, cwd=self.cwd, keep=self.keep)
        for unit in units:
            unit._changes = [e.change(sizes.get(e.new_oid)) for e in unit.entries]

    def _round_anchors(self, plan: _Plan) -> tuple[dict[str, None], dict[str, tuple[str, str] | None]]:
        """Round 1: each anchor's config, its tickets folder, and the state
        files of the tickets the units name without any policy (branch,
        touched folder, state edits); plus, for the few commits that delete
        something in a ticket folder, whether the folder is left. Returns
        those ticket names and what git resolved."""
        named: dict[str, None] = {}
        for i, unit in enumerate(plan.units):
            for name in self._guess_tickets(unit, plan.touches[i]):
                if _usable(name):
                    named[name] = None
        wanted: dict[str, None] = {}
        for anchor, facts in plan.anchors.items():
            known = facts.known
            if known is None:
                wanted[_name(anchor, CONFIG_FILE)] = None
            if not facts.has_listing:
                wanted[_name(anchor, f"{TICKETS}/{IN_PROGRESS}")] = None
            for name in named:
                if known is not None and name in known:
                    continue
                for folder in ticket_folders(name):
                    wanted[_name(anchor, f"{folder}/{STATE_FILE}")] = None
        for unit, names in plan.emptied:
            if unit.after != INDEX:
                for name in names:
                    wanted[_name(unit.after, f"{TICKETS}/{IN_PROGRESS}/{name}")] = None
        return named, pl.batch_check(list(wanted), cwd=self.cwd, keep=self.keep)

    def _policies_and_needs(self, plan: _Plan, resolved: dict[str, tuple[str, str] | None]) -> list[_Pending]:
        """Each unit's policy (its parent's config, walked from the anchors)
        and what that policy needs to know about it."""
        for anchor, facts in plan.anchors.items():
            if facts.known is None:
                hit = resolved.get(_name(anchor, CONFIG_FILE))
                facts.config = hit[0] if hit and hit[1] == "blob" else None
        configs = plan.configs = plan.walk(_config_of, None, lambda before, unit: next_config(before, unit.entries))
        pending: list[_Pending] = []
        by_config: dict[tuple[str | None, str], _Judging] = {}

        def judging(config: str | None, where: str) -> _Judging:
            known = by_config.get((config, where))
            if known is None:
                policy = self._policy(config)
                known = by_config[(config, where)] = _Judging(
                    policy, policy if isinstance(policy, Policy) else self._default_policy(), where)
            return known

        for i, unit in enumerate(plan.units):
            config = plan.before(configs, i, _config_of, None)
            policies = [judging(config, "the parent's")]
            if unit.targeted and unit.target_config != config:
                policies.append(judging(unit.target_config, f"the target {unit.ref or 'base'}'s"))
            change = Change(unit.path_changes(), {}, unit.branch, unit.explicit_ticket, label=unit.label)
            change.config_removed = config_removal(unit, config, configs[i])
            need = needs(change, policies[0].effective)
            for extra in policies[1:]:
                more = needs(change, extra.effective)
                need = Needs(list(dict.fromkeys([*need.tickets, *more.tickets])),
                             need.in_progress_listing or more.in_progress_listing)
            pending.append(_Pending(unit, change, policies, need))
        return pending

    def _round_listings(self, plan: _Plan, resolved: dict[str, tuple[str, str] | None]) -> list[frozenset[str]]:
        """Round 2, only when some unit falls back to "the only ticket in
        progress": the anchors' tickets/in-progress listings, walked."""
        self._anchor_listings(plan, resolved)
        emptied = self._emptied(plan, resolved)
        return plan.walk(_listing_of, frozenset(),
                         lambda before, unit: next_listing(before, unit.entries, emptied.get(id(unit), ())))

    def _ticket_names(self, pending: list[_Pending], listings: list[frozenset[str]] | None,
                      named: dict[str, None]) -> tuple[list[list[str]], dict[str, None]]:
        """The tickets each unit's decision reads, and all of them together."""
        wanted: dict[str, None] = dict(named)
        unit_names: list[list[str]] = []
        shown: dict[int, list[str]] = {}  # listing object -> its names, sorted once
        for i, one in enumerate(pending):
            names = one.need.tickets
            if one.need.in_progress_listing and listings is not None:
                listing = listings[i]
                in_progress = shown.get(id(listing))
                if in_progress is None:
                    in_progress = shown[id(listing)] = sorted(n for n in listing if not n.startswith("."))
                one.change.in_progress = in_progress
                # The one of them the commit carries at Stage 4 Unlocked governs.
                names = in_progress if not names else list(dict.fromkeys([*names, *in_progress]))
            if names:
                names = [n for n in names if _usable(n)]
                wanted.update(dict.fromkeys(names))
            unit_names.append(names)
        return unit_names, wanted

    def _round_states(self, plan: _Plan, resolved: dict[str, tuple[str, str] | None], named: dict[str, None],
                      wanted: dict[str, None]) -> list[dict[str, str]]:
        """Round 3: state files of the tickets only a policy or a listing
        named; then every unit's state files, walked."""
        extra = [name for name in wanted if name not in named]
        if extra:
            more = [_name(anchor, f"{folder}/{STATE_FILE}")
                    for anchor, facts in plan.anchors.items() for name in extra
                    if facts.known is None or name not in facts.known for folder in ticket_folders(name)]
            resolved.update(pl.batch_check(more, cwd=self.cwd, keep=self.keep))
        for anchor, facts in plan.anchors.items():
            known = facts.known
            if known is None:
                todo, states = list(wanted), {}
            else:  # carried from the previous batch: only the tickets it did not look at
                todo = [name for name in wanted if name not in known]
                if not todo:
                    continue
                states = dict(facts.states)
                for name in todo:
                    for folder in ticket_folders(name):
                        states.pop(f"{folder}/{STATE_FILE}", None)
            for name in todo:
                for folder in ticket_folders(name):
                    hit = resolved.get(_name(anchor, f"{folder}/{STATE_FILE}"))
                    if hit and hit[1] == "blob":
                        states[f"{folder}/{STATE_FILE}"] = hit[0]
            facts.states = states
        return plan.walk(_states_of, EMPTY_STATES, lambda before, unit: next_states(before, unit.entries))

    def _ticket_inputs(self, plan: _Plan, pending: list[_Pending], unit_names: list[list[str]],
                       states: list[dict[str, str]]) -> list[_Result]:
        """Each unit's tickets, both sides, with their state summaries.

        Most units share their parent's states dict, so one TicketSide per
        (states, name) serves them all; a side is filled in (summary, and
        for a state edit its texts) only once. A ticket whose state the
        unit changes gets sides of its own."""
        results: list[_Result] = []
        shared: dict[tuple[int, str], TicketSide] = {}
        own: list[TicketSide] = []

        def side(states: dict[str, str], name: str) -> TicketSide:
            key = (id(states), name)
            hit = shared.get(key)
            if hit is None:
                hit = shared[key] = TicketSide(*_find_state(states, name))
            return hit

        for i, one in enumerate(pending):
            unit, change = one.unit, one.change
            names = unit_names[i]
            if names:
                before = plan.before(states, i, _states_of, EMPTY_STATES)
                after = states[i]
                tickets = {}
                for name in names:
                    ticket = TicketInput(name, side(before, name), side(after, name))
                    if ticket.state_changed:
                        ticket.before = TicketSide(ticket.before.folder, ticket.before.blob)
                        ticket.after = TicketSide(ticket.after.folder, ticket.after.blob)
                        own += (ticket.before, ticket.after)
                    tickets[name] = ticket
                change.tickets = tickets
            if plan.touches[i] and any(e.path == CONFIG_FILE for e in unit.entries):
                self._check_new_config(unit, change)
            results.append((unit, change, one.policy))
        sides = [*shared.values(), *own]
        self._summaries_for([s.blob for s in sides if s.blob])
        for one_side in sides:
            if one_side.blob:
                one_side.summary = self._summaries.get(one_side.blob)
        return results

    def _verdict(self, result: _Result) -> Judged:
        """The unit passes only when every policy it is judged under allows
        it; the reasons of all of them are reported, each once."""
        unit, change, policies = result
        verdict: Verdict | None = None
        for one in policies:
            got = decide(change, one.effective)
            if isinstance(one.policy, PolicyError):
                got.notes.append(f"{one.where} {CONFIG_FILE} is invalid ({one.policy.message}); "
                                 "judged with the default policy")
            elif not got.allowed:
                got = self._adoption(unit, change, one.policy) or got
            if verdict is None:
                verdict = got
                continue
            if not got.allowed:
                seen = set(verdict.reasons)
                verdict.reasons += [r for r in got.reasons if r not in seen]
                verdict.notes.append(f"judged under {one.where} {CONFIG_FILE} as well as the parent's: a "
                                     "commit must pass the policy of the ref it lands on")
                verdict.allowed = False
                if verdict.ticket is None:
                    verdict.ticket, verdict.ticket_source = got.ticket, got.ticket_source
                    verdict.source_paths = got.source_paths
            verdict.notes += [n for n in got.notes if n not in verdict.notes]
        assert verdict is not None
        return Judged(unit, verdict)

    def _adoption(self, unit: Unit, change: Change, policy: Policy) -> Verdict | None:
        """The verdict for an adoption commit (``ftgate.git.adoption_rule``),
        or None when ``unit`` is not one: it must add a valid policy where its
        parent has none (the default policy judges it), change only ftgate's
        own files, and, when it lands on a ref, find no policy at that ref's
        tip either, so an older branch cannot bring a looser policy in."""
        from ftgate.git.adoption_rule import adopts

        if unit.merge or change.config_error or policy is not self._policies.get(None):
            return None
        if not adopts((e.status, e.path, e.old_path) for e in unit.entries):
            return None
        if unit.target and unit.target != unit.before and not pl.is_zero(unit.target):
            name = _name(unit.target, CONFIG_FILE)
            if pl.batch_check([name], cwd=self.cwd, keep=self.keep).get(name):
                return None
        return Verdict(True, [], notes=[f"adopts ftgate ({CONFIG_FILE} and ftgate's own files only, where no "
                                        "policy was before): accepted without a ticket"])

    # -------------------------------------------------------------- helpers

    def _guess_tickets(self, unit: Unit, touches: bool = True) -> list[str]:
        if unit.explicit_ticket:
            first = unit.explicit_ticket
        elif unit.branch and unit.branch.startswith(BRANCH_PREFIX) and len(unit.branch) > len(BRANCH_PREFIX):
            first = unit.branch[len(BRANCH_PREFIX):]
        else:
            first = None
        if not touches:  # no ticket folder in the diff: only the name given
            return [first] if first else []
        changes = unit.path_changes()
        names = dict.fromkeys(state_changes(changes))
        if unit.explicit_ticket:
            names[unit.explicit_ticket] = None
        elif unit.branch and unit.branch.startswith(BRANCH_PREFIX) and len(unit.branch) > len(BRANCH_PREFIX):
            names[unit.branch[len(BRANCH_PREFIX):]] = None
        else:
            touched = touched_tickets(changes)
            if len(touched) == 1:
                names[touched[0]] = None
        return list(names)

    def _anchor_listings(self, plan: _Plan, resolved: dict[str, tuple[str, str] | None]) -> None:
        trees: dict[str, str] = {}
        for anchor in plan.anchors:
            hit = resolved.get(_name(anchor, f"{TICKETS}/{IN_PROGRESS}"))
            if hit and hit[1] == "tree":
                trees[anchor] = hit[0]
        contents = pl.read_objects(list(dict.fromkeys(trees.values())), cwd=self.cwd, keep=self.keep)
        for anchor, facts in plan.anchors.items():
            if facts.has_listing:
                continue
            names: frozenset[str] = frozenset()
            oid = trees.get(anchor)
            if oid is not None and oid in contents:
                names = frozenset(n for mode, n, _ in pl.tree_entries(contents[oid], self._oid_len)
                                  if mode == "40000")
            facts.listing = names

    def _emptied(self, plan: _Plan, resolved: dict[str, tuple[str, str] | None]) -> dict[int, tuple[str, ...]]:
        """For units that delete paths in ticket folders: the folders the
        delete leaves empty (gone from the tree)."""
        out: dict[int, tuple[str, ...]] = {}
        index_names: list[str] = []
        for unit, names in plan.emptied:
            if unit.after == INDEX:
                index_names += names
                continue
            out[id(unit)] = tuple(n for n in names
                                  if (resolved.get(_name(unit.after, f"{TICKETS}/{IN_PROGRESS}/{n}")) or ("", ""))[1]
                                  != "tree")
        if index_names:
            prefix = f"{TICKETS}/{IN_PROGRESS}/"
            raw = pl.git(["ls-files", "-z", "--", *(prefix + n + "/" for n in index_names)],
                         cwd=self.cwd, keep=self.keep)
            left = {pl.decode_path(p)[len(prefix):].split("/", 1)[0] for p in raw.split(b"\0") if p}
            for unit, names in plan.emptied:
                if unit.after == INDEX:
                    out[id(unit)] = tuple(n for n in names if n not in left)
        return out

    def _check_new_config(self, unit: Unit, change: Change) -> None:
        entry = next(e for e in unit.entries if e.path == CONFIG_FILE)
        if entry.status == "D" or pl.is_zero(entry.new_oid):
            return
        if not _regular(entry.new_mode):
            if change.config_removed is None:  # no policy before it: it must not become one
                change.config_error = f"{CONFIG_FILE} must be a regular file, not mode {entry.new_mode}"
                change.config_hint = f"commit the policy itself as {CONFIG_FILE}, not a link to it"
            return
        policy = self._policy(entry.new_oid)
        if isinstance(policy, PolicyError):
            change.config_error = policy.message
            change.config_hint = policy.hint

    def _check_evidence(self, results: list[_Result]) -> None:
        """For a state edit that walks past Stage 5: the policy's
        ``stage5_evidence`` and, when ``verified``, the evidence check run
        on the unit's own tree (rare: once per ticket)."""
        for unit, change, policies in results:
            # The strictest of the unit's policies: "verified" wins over "report".
            modes = {one.effective.stage5_evidence for one in policies}
            mode = "verified" if "verified" in modes else next(iter(modes))
            for name in state_changes(change.paths):
                ticket = change.tickets.get(name)
                if ticket is None or not ticket.state_changed or ticket.after.folder is None:
                    continue
                old, new = ticket.before.summary, ticket.after.summary
                if old is None or new is None or old.stage is None or new.stage is None:
                    continue
                if not old.stage <= 5 < new.stage:
                    continue
                ticket.stage5_evidence = mode
                if mode == "verified":
                    from ftgate.git.evidence_tree import evidence_check

                    ticket.evidence_findings, ticket.evidence_notes = evidence_check(
                        unit.after, ticket.after.folder, cwd=self.cwd, keep=self.keep)

    def _load_transition_files(self, results: list[_Result]) -> None:
        """Texts of edited state files and the new side's ticket files, for
        the transition check (only units that edit a state file); and what
        the rule on success criteria asks of units that touch a ticket's
        requirements.md (ftgate.git.requirements_texts)."""
        from ftgate.git import requirements_texts

        requirements_texts.load(results, cwd=self.cwd, keep=self.keep)
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
        trees = pl.batch_check(list(tree_names), cwd=self.cwd, keep=self.keep) if tree_names else {}
        tree_data = pl.read_objects([v[0] for v in trees.values() if v], cwd=self.cwd, keep=self.keep)
        folder_files: dict[tuple[int, str], dict[str, str]] = {}
        for unit, ticket in todo:
            folder = ticket.after.folder
            if folder is None:
                continue
            entries: list[tuple[str, str]] = []
            if unit.after == INDEX:
                raw = pl.git(["ls-files", "-s", "-z", "--", folder + "/"], cwd=self.cwd, keep=self.keep)
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
        contents = pl.read_objects(blob_ids, cwd=self.cwd, keep=self.keep)
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
