"""The types decide() reads and returns, in a leaf module of their own.

An adapter builds a :class:`Change` from its own source (the index, a commit
and its parent, a tool call) and gets a :class:`Verdict` back. The transition
check (:mod:`ftgate.policy.steps`) and :mod:`ftgate.policy.decide` both use
these types; keeping them here lets each import them without importing the
other. stdlib only: the commit hook imports this module on every commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ftgate.constants import STATE_FILE
from ftgate.records import field, record

TYPE_CHECKING = False  # typing costs the commit hook milliseconds at import

STATUS_WORDS = {
    "A": "added",
    "M": "modified",
    "D": "deleted",
    "R": "renamed",
    "C": "copied",
    "T": "type changed",
    "U": "unmerged",
}


@record(frozen=True, slots=True)
class PathChange:
    """One changed path: git's status letter, the path on the new side (the
    removed path for a deletion), and the old path of a rename or copy.
    ``mode`` (git's, e.g. ``100644``) and ``size`` (bytes) describe the new
    side when the adapter knows them; the ticket-folder rule reads them."""

    status: str
    path: str
    old_path: str | None = None
    mode: str | None = None
    size: int | None = None

    def describe(self) -> str:
        word = STATUS_WORDS.get(self.status, self.status)
        if self.old_path is not None and self.old_path != self.path:
            return f"{word} {show_path(self.old_path)} -> {show_path(self.path)}"
        return f"{word} {show_path(self.path)}"


def show_path(path: str) -> str:
    """A path as it can be printed on one line: control characters and bytes
    that are not UTF-8 escaped, like git's quoting."""
    if path.isprintable() and path.isascii() or (path.isprintable() and _utf8_clean(path)):
        return path
    return ascii_escape(path)


def _utf8_clean(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def ascii_escape(text: str) -> str:
    out = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif not ch.isprintable():
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


@record(slots=True)
class StateSummary:
    """What the hook needs of one ``workflow-state.md``: its stage and
    permission, or the reader's error (which blocks)."""

    stage: int | None
    unlocked: bool = False
    error: str | None = None
    hint: str | None = None

    @property
    def source_edits_allowed(self) -> bool:
        return self.error is None and self.stage == 4 and self.unlocked


@record(slots=True)
class TicketSide:
    """A ticket on one side of a change. ``folder`` None: no state file there."""

    folder: str | None
    blob: str | None = None
    summary: StateSummary | None = None
    # Loaded only when the state changes, for the transition check: the state
    # file's text and the ticket folder's files (name -> text).
    text: str | None = None
    files: Mapping[str, str] | None = None

    @property
    def state_path(self) -> str | None:
        return f"{self.folder}/{STATE_FILE}" if self.folder else None


@record(slots=True)
class Found:
    """One approval record (:mod:`ftgate.policy.approvals`) in the ticket folder, as the adapter read it: the
    principal whose listed key signed it, or why it does not count."""

    transition: str
    principal: str | None = None
    error: str | None = None
    ticket: str | None = None
    files: dict[str, str] | None = None
    sources: dict[str, str | None] | None = None


@record(slots=True)
class ApprovalFacts:
    """What the adapter gathered for one ticket of one change when the
    policy in force has approvals on."""

    required: list[str]
    allowed_signers: str
    separate: bool
    # Principals listed in the allowed-signers file of the policy's tree
    # (empty: the file is missing or lists nobody; ``signers_error`` says).
    signers: list[str] = field(default_factory=list)
    signers_error: str | None = None
    # The ticket folder's files on the change's side (approvals left out).
    files: dict[str, str] = field(default_factory=dict)
    found: dict[str, Found] = field(default_factory=dict)
    # Blob ids on the change's side of the source paths approvals name and of
    # those the change itself touches (None: absent there).
    tree: dict[str, str | None] = field(default_factory=dict)
    # The source paths this change touches -> their new blob id (None: deleted).
    changed_sources: dict[str, str | None] = field(default_factory=dict)
    # The principal of a listed key that signed the commit (git's ssh
    # signing), or why not; None for staged changes.
    commit_signer: str | None = None
    commit_signer_error: str | None = None
    # Author email(s) of the change's commit(s).
    authors: list[str] = field(default_factory=list)
    # Staged changes: the commit is not made yet, so a commit signature
    # cannot count here; the push and the server judge it.
    staged: bool = False


@record(slots=True)
class RequirementsEdit:
    """A ticket's ``requirements.md`` on both sides of a change that touches
    it: the path on each side (None: absent there) and, once the adapter has
    loaded them (``loaded``), the texts, or why one could not be read."""

    before_path: str | None
    after_path: str | None
    before_text: str | None = None
    after_text: str | None = None
    before_error: str | None = None
    after_error: str | None = None
    loaded: bool = False
    # The "before" text is another merge parent's, the one whose state the
    # merge took: that state (the after side's) alone says whether the
    # criteria may differ from it.
    from_state_parent: bool = False


@record(slots=True)
class TicketInput:
    name: str
    before: TicketSide
    after: TicketSide
    # For a state edit that walks past Stage 5: what ftgate.yaml's
    # ``stage5_evidence`` asks ("verified" or "report") and, when verified,
    # the findings of the evidence check run on the change's own tree, one
    # line each (None: the adapter did not run it, which refuses).
    stage5_evidence: str = "verified"
    evidence_findings: list[str] | None = None
    # What that check could not check in the tree (weights outside git):
    # shown as notes, so an accepted change does not pass it over in silence.
    evidence_notes: list[str] = field(default_factory=list)
    # When the policy in force has approvals on: the approvals the adapter
    # found and verified for this ticket (ftgate.policy.approvals).
    approvals: ApprovalFacts | None = None
    # When the change touches this ticket's requirements.md: both versions,
    # for the rule on success criteria after Stage 2 (ftgate.policy.criteria_rule).
    requirements: RequirementsEdit | None = None

    @property
    def state_changed(self) -> bool:
        return self.before.blob != self.after.blob or self.before.folder != self.after.folder


@record(slots=True)
class Change:
    """Everything decide() looks at, gathered by an adapter."""

    paths: Sequence[PathChange]
    tickets: Mapping[str, TicketInput] = field(default_factory=dict)
    # The branch the change is for (``codex/<ticket>`` names the ticket).
    branch: str | None = None
    # A ticket named outright (FTGATE_TICKET); wins over everything else.
    explicit_ticket: str | None = None
    # Tickets in progress on the new side, when an adapter listed them.
    in_progress: Sequence[str] | None = None
    # The new side's ftgate.yaml, when this change edits it and it is invalid.
    config_error: str | None = None
    config_hint: str | None = None
    # How this change takes ftgate.yaml away where its parent (or the ref it
    # lands on) has one: "deleted", "renamed to x"... None: it does not.
    config_removed: str | None = None
    # What is judged, for messages: "staged changes", "commit 1a2b3c4".
    label: str = "change"


@record(frozen=True, slots=True)
class Reason:
    """One reason a change is refused: where, which rule, what happened, and
    what would make it pass."""

    path: str
    rule: str
    message: str
    fix: str


@record(slots=True)
class Verdict:
    allowed: bool
    reasons: list[Reason]
    ticket: str | None = None
    ticket_source: str = ""
    source_paths: list[PathChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


if TYPE_CHECKING:
    from typing import Protocol


    class PolicyLike(Protocol):
        """The part of a policy decide() uses (``ftgate.policy.compiled.Policy``)."""

        @property
        def untracked_source(self) -> str: ...

        @property
        def ticket(self) -> str | None: ...

        def is_source(self, path: str) -> bool: ...
else:
    class PolicyLike:
        """The part of a policy decide() uses (``ftgate.policy.compiled.Policy``).
        A Protocol only for type checkers: importing typing costs the hook
        milliseconds."""
