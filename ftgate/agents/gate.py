"""Judge the paths one tool call would write, with the commit's ``decide()``.

The edit gate asks the same question as the commit hook, twice: once with
the ticket state of ``HEAD`` (what the commit hook's parent side and the
server see) and once with the state in the working tree (what the agent
sees and ``ftgate status`` prints). A source write is let through only when
both show the ticket at Stage 4 Unlocked, so an agent is never let into an
edit that its commit would then be refused for, and an unlock that exists
only in the working tree (never committed, perhaps hand-edited) opens
nothing. The policy is ``HEAD``'s ``ftgate.yaml``, as for a commit: a
change cannot loosen the policy that judges it.

Paths that switch enforcement off are refused at every stage: ``ftgate.yaml``,
the hook folders, and the agents' own hook settings.

A ticket's ``workflow-state.md`` is a ticket file: writing it is let
through here, because the text it will hold is not known for every tool;
the commit hook judges the transition, and an unlock only opens source once
it is committed (the ``HEAD`` side above).

stdlib only at import time: this runs on every tool call.
"""

from __future__ import annotations

import os
from pathlib import Path

from ftgate.agents.outcome import Outcome
from ftgate.agents.payload import ToolCall
from ftgate.constants import (
    BRANCH_PREFIX,
    CONFIG_FILE,
    IN_PROGRESS,
    STATE_FILE,
    TICKETS,
)
from ftgate.git import plumbing as pl
from ftgate.gitdir import current_branch, git_dirs
from ftgate.policy.compiled import Cache, Policy, PolicyError, load_policy
from ftgate.policy.decide import (
    Change,
    PathChange,
    Reason,
    StateSummary,
    TicketInput,
    TicketSide,
    decide,
    governing_ticket,
    show_path,
    source_changes,
    ticket_folders,
    ticket_of_path,
    touched_tickets,
)
from ftgate.records import record

#: The agents' own hook settings, relative to the repository root.
AGENT_SETTINGS = (".claude/settings.json", ".claude/settings.local.json", ".codex/config.toml",
                  ".codex/hooks.json")
#: The pre-commit framework's config: it decides whether ftgate's hook runs.
FRAMEWORK_CONFIG = ".pre-commit-config.yaml"
_STATE_TAIL = "/" + STATE_FILE


@record(slots=True)
class Checkout:
    root: Path
    git_dir: Path
    common_dir: Path


def find_checkout(cwd: str) -> Checkout | None:
    here = Path(cwd)
    try:
        here = here.resolve()
    except OSError:
        return None
    own, common = git_dirs(here, use_env=False)
    if own is None or common is None:
        return None
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return Checkout(folder, own, common)
    return None


# ------------------------------------------------------------------ paths


@record(slots=True)
class Resolved:
    changes: list[PathChange]
    protected: list[tuple[str, str]]  # (shown path, why it is protected)


def _relative(checkout: Checkout, cwd: Path, raw: str) -> tuple[str | None, Path]:
    """``raw`` (as the agent wrote it) -> (path relative to the root, or None
    outside the checkout; the absolute path)."""
    path = Path(os.path.normpath(cwd / os.path.expanduser(raw)))
    try:
        return path.relative_to(checkout.root).as_posix(), path
    except ValueError:
        pass
    # Reached through a symlink (the root is resolved): resolve it too, so a
    # linked path can not walk around the gate. Only on this rare branch:
    # realpath costs a system call per component.
    real = Path(os.path.realpath(path))
    try:
        return real.relative_to(checkout.root).as_posix(), real
    except ValueError:
        return None, path


def _hook_folders(checkout: Checkout) -> list[Path]:
    folders = [checkout.common_dir / "hooks"]
    # core.hooksPath, read from the config file itself: a git process on
    # every tool call would cost more than the rest of the gate.
    for config in {checkout.common_dir / "config", checkout.git_dir / "config.worktree"}:
        try:
            text = config.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            key, eq, value = line.strip().partition("=")
            if eq and key.strip().lower() == "hookspath":
                setting = value.strip().strip('"')
                base = checkout.root if config.name == "config.worktree" or not Path(setting).is_absolute() \
                    else Path("/")
                folders.append(Path(os.path.normpath(base / os.path.expanduser(setting))))
    return folders


def _unexpanded(raw: str) -> bool:
    return "$" in raw or "`" in raw


def _protected(checkout: Checkout, rel: str | None, absolute: Path, hooks: list[Path]) -> str | None:
    """Why writing this path is refused at every stage, or None."""
    if rel == CONFIG_FILE:
        return f"{CONFIG_FILE} is the policy every ftgate hook enforces"
    if rel in AGENT_SETTINGS:
        return "it holds the coding agent's hook settings, which run this gate"
    if rel == FRAMEWORK_CONFIG:
        return "it decides whether the pre-commit framework runs ftgate's hook"
    for folder in hooks:
        if absolute == folder or folder in absolute.parents:
            return "it is in the git hooks folder, where ftgate's commit and push hooks live"
    return None


def resolve(checkout: Checkout, call: ToolCall) -> Resolved:
    cwd = Path(os.path.normpath(os.path.join(checkout.root, call.cwd)))
    hooks = _hook_folders(checkout)
    changes: list[PathChange] = []
    protected: list[tuple[str, str]] = []

    def one(raw: str) -> tuple[str | None, Path]:
        if "\0" in raw:  # cp/mv to DEST: DEST/<name> when DEST is a folder
            dest, base = raw.split("\0", 1)
            rel, absolute = _relative(checkout, cwd, dest)
            if absolute.is_dir():
                return _relative(checkout, cwd, os.path.join(dest, base))
            return rel, absolute
        return _relative(checkout, cwd, raw)

    def guard(raw: str) -> tuple[str | None, bool]:
        rel, absolute = one(raw)
        why = _protected(checkout, rel, absolute, hooks)
        if why is not None:
            protected.append((rel or str(absolute), why))
            return rel, True
        inside_git = rel is not None and (rel == ".git" or rel.startswith(".git/"))
        return (None if inside_git else rel), False

    for write in call.writes:
        if _unexpanded(write.path) or (write.old_path is not None and _unexpanded(write.old_path)):
            continue  # a variable or substitution: out of sight, like a script
        new, new_hit = guard(write.path)
        old, old_hit = guard(write.old_path) if write.old_path is not None else (None, False)
        if new_hit or old_hit:
            continue
        if write.old_path is not None:
            if new is not None and old is not None:
                changes.append(PathChange("R", new, old))
            elif new is not None:
                changes.append(PathChange("A", new))
            elif old is not None:
                changes.append(PathChange("D", old))
        elif new is not None:
            status = write.status
            if status == "M" and not (checkout.root / new).exists():
                status = "A"
            changes.append(PathChange(status, new))
    if call.shell is not None:
        for raw in call.shell.mode_changes:
            guard(raw)
    return Resolved(changes, list(dict.fromkeys(protected)))


# ------------------------------------------------------------------ state


def _blob_id(data: bytes) -> str:
    """git's blob id of ``data`` (SHA-1), the key the commit hook caches
    state summaries under. The builtin ``_sha1`` spares loading OpenSSL."""
    try:
        from _sha1 import sha1  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - an interpreter built without it
        from hashlib import sha1
    digest: str = sha1(b"blob %d\0" % len(data) + data).hexdigest()
    return digest


class _States:
    """Ticket states of one checkout, from ``HEAD`` (one ``cat-file``) and
    from the working tree (plain file reads), summarised through the same
    cache as the commit hook."""

    def __init__(self, checkout: Checkout) -> None:
        self.checkout = checkout
        self.cache = Cache(checkout.common_dir)
        self._summaries: dict[str, StateSummary] = {}
        self.head: dict[str, tuple[str, bytes] | None] = {}

    def read_head(self, paths: list[str]) -> None:
        wanted = [p for p in dict.fromkeys(paths) if p not in self.head]
        if not wanted:
            return
        names = ["HEAD:" + p for p in wanted]
        payload = b"".join(pl.encode_path(n) + b"\n" for n in names)
        out = pl.git(["cat-file", "--batch"], cwd=str(self.checkout.root), input=payload)
        pos = 0
        for path in wanted:
            end = out.index(b"\n", pos)
            header = out[pos:end].decode("utf-8", "replace").rsplit(" ", 2)
            pos = end + 1
            if len(header) == 3 and header[1] in ("blob", "tree") and header[2].isdigit():
                size = int(header[2])
                self.head[path] = (header[0], out[pos:pos + size])
                pos += size + 1
            else:
                self.head[path] = None

    def head_listing(self) -> list[str]:
        hit = self.head.get(f"{TICKETS}/{IN_PROGRESS}")
        if hit is None:
            return []
        size = 64 if len(hit[0]) == 64 else 40
        return sorted(n for mode, n, _ in pl.tree_entries(hit[1], size) if mode == "40000" and not n.startswith("."))

    def worktree_listing(self) -> list[str]:
        try:
            with os.scandir(self.checkout.root / TICKETS / IN_PROGRESS) as entries:
                return sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))
        except OSError:
            return []

    def summary(self, blob: str, data: bytes) -> StateSummary:
        known = self._summaries.get(blob)
        if known is not None:
            return known
        cached = self.cache.get("state", blob)
        if cached is not None:
            summary = StateSummary(cached["stage"], cached["unlocked"], cached.get("error"), cached.get("hint"))
        else:
            from ftgate.git.judge import summarize_state

            summary = summarize_state(data, STATE_FILE)
            self.cache.put("state", blob, {"stage": summary.stage, "unlocked": summary.unlocked,
                                           "error": summary.error, "hint": summary.hint})
        self._summaries[blob] = summary
        return summary

    def state_text(self, folder: str, *, head: bool) -> str | None:
        """The text of ``folder``'s state file in HEAD or the working tree."""
        path = folder + _STATE_TAIL
        if head:
            self.read_head([path])
            hit = self.head.get(path)
            return hit[1].decode("utf-8", "replace") if hit is not None else None
        try:
            return (self.checkout.root / path).read_bytes().decode("utf-8", "replace")
        except OSError:
            return None

    def head_side(self, name: str) -> TicketSide:
        for folder in ticket_folders(name):
            hit = self.head.get(folder + _STATE_TAIL)
            if hit is not None:
                return TicketSide(folder, hit[0], self.summary(hit[0], hit[1]))
        return TicketSide(None)

    def worktree_side(self, name: str) -> TicketSide:
        for folder in ticket_folders(name):
            path = self.checkout.root / folder / STATE_FILE
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            except OSError as exc:
                return TicketSide(folder, None, StateSummary(None, error=f"{folder}/{STATE_FILE}: cannot be read "
                                                                         f"({exc.strerror or exc})",
                                                             hint="make the file readable"))
            blob = _blob_id(data)
            return TicketSide(folder, blob, self.summary(blob, data))
        return TicketSide(None)


def _state_paths(names: list[str]) -> list[str]:
    return [f"{folder}{_STATE_TAIL}" for name in names for folder in ticket_folders(name)]


# ------------------------------------------------------------------ judge


def judge(call: ToolCall, checkout: Checkout) -> Outcome:
    resolved = resolve(checkout, call)
    reasons: list[str] = []
    rules: list[str] = []
    for tamper in call.tamper:
        reasons.append(f"{tamper.message}; that is refused at every stage. Commit normally and let the "
                       "hooks judge the change (`ftgate status` says what the ticket needs).")
        rules.append(tamper.rule)
    for path, why in resolved.protected:
        reasons.append(f"{show_path(path)} may not be changed by a coding agent: {why}. A person changes it "
                       "by hand, outside the agent.")
        rules.append("protected-path")

    # Writing the state file is judged at commit; see the module docstring.
    changes = [c for c in resolved.changes if not _is_state_file(c)]
    after_texts = _requirements_after(checkout, call, changes)
    if after_texts is not None:
        # A requirements.md write whose result is not known before it runs
        # (a shell command, a patch) is judged at commit, like the state file.
        changes = [c for c in changes if not _opaque_requirements(c, after_texts)]
    shown = [c.path for c in resolved.changes]
    if call.shell is not None and call.shell.unparsed:
        changes += _unparsed_sources(checkout, call)
    if changes:
        source_reasons, source_rules = _judge_changes(checkout, changes, after_texts=after_texts or {})
        reasons += source_reasons
        rules += source_rules
    if not reasons:
        return Outcome(False, paths=shown, rules=[])
    head = f"ftgate refused this {call.tool} call."
    return Outcome(True, "\n".join([head, *(f"- {r}" for r in reasons)]), shown, rules)


_REQUIREMENTS_TAIL = "/requirements.md"


def _touches_requirements(change: PathChange) -> bool:
    return change.path.endswith(_REQUIREMENTS_TAIL) or (change.old_path is not None
                                                         and change.old_path.endswith(_REQUIREMENTS_TAIL))


def _opaque_requirements(change: PathChange, known: dict[str, str]) -> bool:
    """A write of a ticket's requirements.md whose result is unknown, and
    that moves nothing out of the source tree (which is judged here)."""
    from ftgate.policy.criteria_rule import requirements_edits

    if change.path in known or change.status == "D":
        return False
    if not any(after == change.path for _, after in requirements_edits([change]).values()):
        return False
    return change.old_path is None or change.old_path.startswith(TICKETS + "/")


def _requirements_after(checkout: Checkout, call: ToolCall, changes: list[PathChange]) -> dict[str, str] | None:
    """For writes to a ticket's requirements.md: its text after the call
    (path -> text), where the call says (Write, Edit, MultiEdit, a
    deletion). None when the call writes no requirements.md."""
    touching = [c for c in changes if _touches_requirements(c)]
    if not touching:
        return None
    out: dict[str, str] = {}
    for change in touching:
        if change.status == "D":
            out[change.path] = ""
        elif change.old_path is None and call.text is not None and len(call.writes) == 1:
            try:
                current: str | None = (checkout.root / change.path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                current = None
            text = call.text.apply(current)
            if text is not None:
                out[change.path] = text
    return out


def _attach_requirements(states: _States, change: Change, label: str, after_texts: dict[str, str]) -> None:
    """Give the criteria rule what it compares: the ticket's state on this
    side (with its text) and requirements.md as committed (HEAD) and as the
    call leaves it."""
    from ftgate.policy.criteria_rule import requirements_edits
    from ftgate.policy.types import RequirementsEdit

    for name, (before, after) in requirements_edits(change.paths).items():
        ticket = change.tickets.get(name)
        if ticket is None:
            states.read_head(_state_paths([name]))
            side = states.head_side(name) if label == "HEAD" else states.worktree_side(name)
            ticket = TicketInput(name, side, side)
            change.tickets = {**change.tickets, name: ticket}
        for side in (ticket.before, ticket.after):
            if side.folder is not None and side.text is None:
                side.text = states.state_text(side.folder, head=label == "HEAD")
        edit = RequirementsEdit(before, after, loaded=True)
        if before is not None:
            states.read_head([before])
            hit = states.head.get(before)
            if hit is None:
                edit.before_text = ""
            else:
                try:
                    edit.before_text = hit[1].decode("utf-8")
                except UnicodeDecodeError as exc:
                    edit.before_error = f"it is not UTF-8 text at HEAD (byte {exc.start})"
        edit.after_text = after_texts.get(after, "") if after is not None else ""
        ticket.requirements = edit


def _is_state_file(change: PathChange) -> bool:
    return all(_names_state_file(p) for p in (change.path, change.old_path) if p is not None)


def _names_state_file(path: str) -> bool:
    hit = ticket_of_path(path) if path.endswith(_STATE_TAIL) else None
    return hit is not None and path == hit[1] + _STATE_TAIL


def _unparsed_sources(checkout: Checkout, call: ToolCall) -> list[PathChange]:
    """For a command shlex could not split that holds a write construct: the
    words that name files in the checkout (judged as writes, so only source
    ones can be refused)."""
    assert call.shell is not None and call.shell.unparsed is not None
    cwd = Path(os.path.normpath(os.path.join(checkout.root, call.cwd)))
    out = []
    for word in dict.fromkeys(call.shell.unparsed):
        if "/" not in word and "." not in word:
            continue
        rel, absolute = _relative(checkout, cwd, word)
        if rel is None or rel.startswith(".git") or not absolute.is_file():
            continue
        out.append(PathChange("M", rel))
    return out


def _ignored(checkout: Checkout, paths: list[str]) -> set[str]:
    """Paths git ignores and does not track (``check-ignore`` reports a
    tracked path as not ignored): no commit takes them without ``-f``."""
    if not paths:
        return set()
    out = pl.git(["check-ignore", "--stdin", "-z"], cwd=str(checkout.root),
                 input=b"".join(pl.encode_path(p) + b"\0" for p in paths), ok_codes=(0, 1))
    return {pl.decode_path(p) for p in out.split(b"\0") if p}


def _judge_changes(checkout: Checkout, changes: list[PathChange], *, after_texts: dict[str, str] | None = None,
                   ignored_checked: bool = False) -> tuple[list[str], list[str]]:
    states = _States(checkout)
    explicit = os.environ.get("FTGATE_TICKET") or None
    branch = current_branch(checkout.root, use_env=False)
    named = [n for n in (explicit,) if n]
    if branch and branch.startswith(BRANCH_PREFIX) and len(branch) > len(BRANCH_PREFIX):
        named.append(branch[len(BRANCH_PREFIX):])
    named += touched_tickets(changes)
    listing = states.worktree_listing()
    states.read_head([CONFIG_FILE, f"{TICKETS}/{IN_PROGRESS}", *_state_paths([*named, *listing])])

    config = states.head.get(CONFIG_FILE)
    policy_note = None
    policy = load_policy(config[0] if config else None, lambda: config[1] if config else None, states.cache)
    if isinstance(policy, PolicyError):
        policy_note = f"HEAD's {CONFIG_FILE} is invalid ({policy.message}); judged with the default policy"
        policy = load_policy(None, lambda: None, states.cache)
    assert isinstance(policy, Policy)

    head_listing = states.head_listing()
    sides = {}
    for label, in_progress in (("HEAD", head_listing), ("working tree", listing)):
        change = Change(changes, {}, branch, explicit, in_progress, label=f"agent edit ({label})")
        gov = governing_ticket(change, policy)
        if gov.ticket is not None:
            states.read_head(_state_paths([gov.ticket]))
            side = states.head_side(gov.ticket) if label == "HEAD" else states.worktree_side(gov.ticket)
            change.tickets = {gov.ticket: TicketInput(gov.ticket, side, side)}
        if after_texts:
            _attach_requirements(states, change, label, after_texts)
        sides[label] = (change, decide(change, policy))

    tree_change, tree = sides["working tree"]
    head_change, head = sides["HEAD"]
    if tree.allowed and head.allowed:
        return [], []
    if not ignored_checked:
        # Output the agent sends to an ignored file (``> outputs/run.log``)
        # never reaches a commit; asked only on a refusal, so an allowed
        # call costs no extra git process.
        refused = [p for c in source_changes(changes, policy.is_source) for p in (c.path, c.old_path) if p]
        ignored = _ignored(checkout, list(dict.fromkeys(refused)))
        if ignored:
            kept = [c for c in changes if not all(p in ignored for p in (c.path, c.old_path) if p)]
            return _judge_changes(checkout, kept, after_texts=after_texts, ignored_checked=True) if kept \
                else ([], [])
    out: list[str] = []
    rules: list[str] = []
    verdict, change = (tree, tree_change) if not tree.allowed else (head, head_change)
    name = verdict.ticket
    ticket = change.tickets.get(name) if name else None
    summary = ticket.after.summary if ticket else None
    locked = [r for r in verdict.reasons if r.rule == "source-locked"]
    other = [r for r in verdict.reasons if r.rule != "source-locked"]
    if locked and name and summary is not None and summary.stage is not None:
        permission = "Unlocked" if summary.unlocked else "Locked"
        title = stage_facts(summary.stage, states.cache)[0]
        described = {c.path: c.describe() for c in changes}
        paths = ", ".join(dict.fromkeys(described.get(r.path, show_path(r.path)) for r in locked))
        where = "the working tree" if verdict is tree else "HEAD (the last commit)"
        out.append(f"ticket {name!r} ({verdict.ticket_source}) is at Stage {summary.stage} ({title}), code edits "
                   f"{permission}, in {where}; source may change only at Stage 4 Unlocked. Refused: {paths}.")
        out.append("Next: " + next_step(name, summary.stage, summary.unlocked, states.cache))
        rules.append("source-locked")
    for reason in other:
        out.append(_render(reason))
        rules.append(reason.rule)
    reopened = [r for r in head.reasons if r.rule == "criteria-changed"]
    if tree.allowed and reopened and len(reopened) == len(head.reasons):
        folder = reopened[0].path.rsplit("/", 1)[0]
        out.append(f"the working tree's {STATE_FILE} reopens the success criteria (a re-entry back to Stage 2) but "
                   f"HEAD's does not. Next: commit the state first (`git add {folder}/{STATE_FILE} && git commit "
                   "-m \"Re-enter: Requirement Gap\"`), then edit the criteria.")
        rules.append("state-not-committed")
    elif tree.allowed and not head.allowed:
        folder = ticket.after.folder if ticket and ticket.after.folder else f"{TICKETS}/{IN_PROGRESS}/{name}"
        out.append(f"the working tree shows ticket {name!r} at Stage 4 Unlocked but HEAD does not, and the commit "
                   f"would be judged on the committed state. Next: commit the state first "
                   f"(`git add {folder}/{STATE_FILE} && git commit -m \"Unlock {name}\"`).")
        rules.append("state-not-committed")
    if policy_note:
        out.append(policy_note)
    return out, rules


def _render(reason: Reason) -> str:
    return f"{reason.message}. Fix: {reason.fix}"


def stage_facts(stage: int, cache: Cache | None = None) -> tuple[str, str | None]:
    """A stage's title and the artifact it finishes. The workflow's tables
    cost a refusal about ten milliseconds of imports (``dataclasses``), so
    they are read once per ftgate version and kept in the cache."""
    key = f"stage-{stage}"
    hit = cache.get("agent", key) if cache is not None else None
    if isinstance(hit, list) and len(hit) == 2:
        return str(hit[0]), hit[1]
    from ftgate.workflow.model import Stage
    from ftgate.workflow.stages import STAGE_RULES

    try:
        facts: tuple[str, str | None] = (Stage(stage).title, STAGE_RULES[stage].artifact)
    except (ValueError, IndexError):
        facts = ("unknown stage", None)
    if cache is not None:
        cache.put("agent", key, list(facts))
    return facts


def next_step(name: str, stage: int, unlocked: bool, cache: Cache | None = None) -> str:
    """The next command for a ticket whose source is locked, in one line."""
    if stage < 4:
        artifact = stage_facts(stage, cache)[1]
        return (f"Stage {stage}: finish {artifact}, then `ftgate advance {name}` (source opens at Stage 4 "
                f"with `ftgate unlock {name}`; `ftgate status {name}` lists what is missing).")
    if stage == 4 and not unlocked:
        return (f"Stage 4: `ftgate unlock {name}` once the plan is current, then commit the state file "
                f"(`ftgate status {name}` lists what is missing).")
    return (f"Stage {stage}: source is locked after Stage 4; to change code, re-enter: "
            f"`ftgate reenter {name} --class \"Local Fix\" --reason \"...\"`.")
