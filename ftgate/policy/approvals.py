"""Signed human approvals of ticket transitions: the record, what it signs,
and whether a change carries the approvals its policy asks for.

Gates read text, and anyone can write text that passes them. What a forger
cannot write is a signature by a key the repository lists, so a repository
can ask (``approvals:`` in ``ftgate.yaml``) that chosen transitions carry
one:

* ``unlock``: the state becomes Unlocked;
* ``done``: the ticket moves to ``tickets/done/`` (or arrives there in a
  squash merge);
* ``waive``: a gate becomes ``Waived``;
* ``reopen``: an archived ticket moves back to ``tickets/in-progress/``.

An approval is two files in the ticket folder, ``approvals/<transition>.json``
(the record) and ``approvals/<transition>.sig`` (an ``ssh-keygen -Y sign``
signature of the record's canonical bytes). The record names the ticket, the
transition, the git blob id of every file of the ticket folder at that moment
(the approvals themselves left out) and, for ``done``, the blob id of every
source path the ticket changed. Kept in the ticket folder, it survives
rebases and squash merges, which commit signatures do not. A commit signed
with a listed key (git's ssh signing) approves the transitions it makes, too.

Pure: the adapter (:mod:`ftgate.git.approvals`) reads the files and runs
``ssh-keygen``/``git verify-commit``; this module only compares what it found.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from ftgate.constants import DONE, IN_PROGRESS, STATE_FILE, TICKETS
from ftgate.policy.types import ApprovalFacts, Found, Reason, TicketInput

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ftgate.workflow.model import Stage, WorkflowState

TRANSITIONS: tuple[str, ...] = ("unlock", "done", "waive", "reopen")
#: The folder inside a ticket folder that holds the approvals.
APPROVALS_DIR = "approvals"
RECORD_FORMAT = 1


def record_name(transition: str) -> str:
    return f"{APPROVALS_DIR}/{transition}.json"


def signature_name(transition: str) -> str:
    return f"{APPROVALS_DIR}/{transition}.sig"


def is_approval_file(rel: str) -> bool:
    """Whether a path relative to a ticket folder is part of an approval
    (and so left out of the ticket digest it signs)."""
    return rel.startswith(APPROVALS_DIR + "/")


def ticket_files(listing: Mapping[str, str]) -> dict[str, str]:
    """The ticket's files an approval signs: every file of its folder
    (relative name -> git blob id) but the approvals."""
    return {rel: oid for rel, oid in sorted(listing.items()) if not is_approval_file(rel)}


def signed_files(transition: str, files: Mapping[str, str]) -> dict[str, str]:
    """The files an approval of ``transition`` signs. A waiver approves the
    Stage 5 basis (the report, its evidence and the artifacts before them),
    not the stage move: its record leaves out ``workflow-state.md`` and the
    artifacts of Stages 6 to 8, so the approval a person signs before
    ``ftgate advance`` leaves Stage 5 still holds after the advance writes the
    state and the next stage's template (the transition check judges that
    move on its own)."""
    if transition == "waive":
        from ftgate.workflow.model import Stage
        from ftgate.workflow.stages import RULES

        later = {RULES[stage].artifact for stage in Stage if stage > Stage.TRAINING}
        return {rel: oid for rel, oid in files.items() if rel != STATE_FILE and rel not in later}
    return dict(files)


def make_record(ticket: str, transition: str, files: Mapping[str, str],
                sources: Mapping[str, str | None] | None = None) -> dict[str, object]:
    return {"format": RECORD_FORMAT, "ticket": ticket, "transition": transition,
            "files": dict(sorted(files.items())), "sources": dict(sorted((sources or {}).items()))}


def canonical(data: Mapping[str, object]) -> bytes:
    """The bytes a signature covers: the record as sorted, compact JSON, so
    re-indenting the file changes nothing."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def init_block(allowed_signers: str = ".ftgate/allowed_signers", *, separate: bool = True) -> str:
    """The ``approvals:`` block ``ftgate init`` offers, as YAML text."""
    return ("approvals:\n"
            "  # Transitions that need a person's signature (unlock, done, waive, reopen).\n"
            "  transitions: [unlock, done]\n"
            "  # Who may approve: git's ssh allowed_signers format, one `email key` a line.\n"
            f"  allowed_signers: {allowed_signers}\n"
            "  # The approver may not be the author of the source commits the approval covers.\n"
            f"  separate: {'true' if separate else 'false'}\n")


# ------------------------------------------------------------------ reading states


def _states(ticket: TicketInput) -> tuple[WorkflowState | None, WorkflowState | None]:
    from ftgate.errors import ReadError
    from ftgate.workflow.state import read_state

    out: list[WorkflowState | None] = []
    for side in (ticket.before, ticket.after):
        if side.text is None or side.folder is None:
            out.append(None)
            continue
        try:
            out.append(read_state(side.text, side.state_path or "workflow-state.md").state)
        except ReadError:
            out.append(None)
    return out[0], out[1]


def _archived(folder: str | None) -> bool:
    return folder is not None and folder.startswith(f"{TICKETS}/{DONE}/")


def _active(folder: str | None) -> bool:
    return folder is not None and folder.startswith(f"{TICKETS}/{IN_PROGRESS}/")


def is_squash(ticket: TicketInput) -> bool:
    """A ticket that arrives already archived: its state file is added under
    ``tickets/done/`` where the parent had no such ticket (a squash merge)."""
    return ticket.before.folder is None and _archived(ticket.after.folder)


def transitions_made(ticket: TicketInput) -> list[str]:
    """The approvable transitions a state change makes."""
    from ftgate.workflow.model import Permission, Stage

    old, new = _states(ticket)
    made = []
    if new is not None:
        new_unlocked = new.permission == Permission.UNLOCKED
        old_unlocked = old is not None and old.permission == Permission.UNLOCKED
        if new_unlocked and not old_unlocked:
            made.append("unlock")
    if _archived(ticket.after.folder) and not _archived(ticket.before.folder):
        made.append("done")
    if new is not None and new.current_stage > Stage.TRAINING and (
            old is None or old.current_stage <= Stage.TRAINING) and _waives(ticket, new):
        made.append("waive")
    if _archived(ticket.before.folder) and _active(ticket.after.folder):
        made.append("reopen")
    return made


def _waives(ticket: TicketInput, state: WorkflowState) -> bool:
    """Whether the Stage 5 gate this change leaves passes with a success
    criterion decided ``Waived`` (a waiver is a person's call, not a metric)."""
    return bool(waived_rows(ticket, state))


def waived_rows(ticket: TicketInput, state: WorkflowState) -> list[str]:
    """The ``Waived`` rows of the report in the change's ticket files, as
    ``SC-001 (training-validation-report.md line 23)``."""
    from ftgate.errors import ReadError
    from ftgate.workflow import artifacts as art
    from ftgate.workflow.gates import GateContext, MappingFiles
    from ftgate.workflow.model import CriterionDecision

    files = dict(ticket.after.files or {})
    ctx = GateContext(files=MappingFiles(files, ticket.after.folder or ""), state=state, ticket=ticket.name)
    try:
        doc = ctx.doc("training-validation-report.md")
        rows = art.read_sc_closure(doc) if doc is not None else []
    except ReadError:
        return []
    return [f"{row.criterion} (training-validation-report.md line {row.line})" for row in rows
            if row.decision == CriterionDecision.WAIVED]


# ------------------------------------------------------------------ messages


def _who(facts: ApprovalFacts) -> str:
    if facts.signers:
        return "one of " + ", ".join(facts.signers[:8]) + (" ..." if len(facts.signers) > 8 else "") + \
            f" (listed in {facts.allowed_signers})"
    why = facts.signers_error or "it lists nobody"
    return f"a key listed in {facts.allowed_signers}, which cannot be used ({why})"


def _fix(ticket: TicketInput, transition: str, facts: ApprovalFacts) -> str:
    folder = ticket.after.folder or ticket.before.folder or f"{TICKETS}/.../{ticket.name}"
    how = (f"{_who(facts)} runs `ftgate approve {ticket.name} --transition {transition}` on the files as they "
           f"will be committed, then commit {folder}/{APPROVALS_DIR}/")
    if transition != "done" or not is_squash(ticket):
        how += " (or makes the commit signed: `git commit -S` with gpg.format=ssh)"
    return how


def _reason(ticket: TicketInput, rule: str, message: str, fix: str) -> Reason:
    return Reason(ticket.after.state_path or ticket.before.state_path or ticket.name, rule,
                  f"ticket {ticket.name!r}: {message}", fix)


def _record_problem(ticket: TicketInput, transition: str, found: Found, facts: ApprovalFacts,
                    *, check_files: bool = True) -> str | None:
    """Why a verified record does not approve this transition here, or None."""
    if found.error:
        return found.error
    if found.ticket != ticket.name or found.transition != transition:
        return (f"{signature_name(transition)} approves {found.transition!r} of ticket {found.ticket!r}, "
                f"not {transition!r} of {ticket.name!r}")
    expected = signed_files(transition, facts.files)
    if check_files and found.files != expected:
        changed = sorted(set(found.files or {}) ^ set(expected)
                         | {k for k in expected if (found.files or {}).get(k) not in (None, expected[k])})
        shown = ", ".join(changed[:5]) or "the file list"
        return (f"{record_name(transition)} signs the ticket's files as they were, not as committed here "
                f"(differs: {shown})")
    for path, oid in (found.sources or {}).items():
        if facts.tree.get(path) != oid:
            return f"{record_name(transition)} signs {path} as it was, not as committed here"
    return None


def _separate_problem(principal: str, facts: ApprovalFacts) -> str | None:
    if not facts.separate:
        return None
    mine = [a for a in facts.authors if a.lower() == principal.lower()]
    if mine:
        return (f"the approver {principal} is also the author of the source change it covers; "
                "`separate: true` asks for someone else")
    return None


def _approved(ticket: TicketInput, transition: str, facts: ApprovalFacts) -> list[str]:
    """Why ``transition`` is not approved here ([] when it is)."""
    problems = []
    found = facts.found.get(transition)
    if found is not None:
        problem = _record_problem(ticket, transition, found, facts)
        if problem is None and found.principal:
            separate = _separate_problem(found.principal, facts) if transition == "done" else None
            if separate is None:
                return []
            problems.append(separate)
        elif problem:
            problems.append(problem)
    if facts.commit_signer:
        separate = _separate_problem(facts.commit_signer, facts) if transition == "done" else None
        if separate is None:
            return []
        problems.append(separate)
    elif facts.commit_signer_error and found is None:
        problems.append(facts.commit_signer_error)
    if not problems:
        problems.append(f"no approval: there is no {signature_name(transition)}"
                        + ("" if facts.staged else " and the commit is not signed by a listed key")
                        + " (a `Signed-off-by` or `Approved-by` line in a message is not a signature)")
    return problems


def transition_reasons(ticket: TicketInput) -> list[Reason]:
    """Reasons a state change lacks an approval its policy asks for."""
    facts: ApprovalFacts | None = ticket.approvals
    if facts is None:
        return []
    reasons = []
    for transition in transitions_made(ticket):
        if transition not in facts.required:
            continue
        what = f"`{transition}`"
        if transition == "waive":
            new = _states(ticket)[1]
            rows = waived_rows(ticket, new) if new is not None else []
            what = f"`waive` ({', '.join(rows)} decided Waived)" if rows else what
        for problem in _approved(ticket, transition, facts):
            reasons.append(_reason(ticket, "approval-missing",
                                   f"{what} needs a signed approval by {_who(facts)}: {problem}",
                                   _fix(ticket, transition, facts)))
    return reasons


def source_reasons(ticket: TicketInput | None, source_count: int) -> list[Reason]:
    """Under ``separate: true``: the person who approved the unlock may not
    author the source change it lets through."""
    facts: ApprovalFacts | None = ticket.approvals if ticket is not None else None
    if ticket is None or facts is None or not facts.separate or "unlock" not in facts.required:
        return []
    found = facts.found.get("unlock")
    if found is None or found.principal is None:
        return []
    problem = _separate_problem(found.principal, facts)
    if problem is None:
        return []
    return [_reason(ticket, "approval-not-separate",
                    f"{source_count} source change(s) under an unlock approved by {found.principal}: {problem}",
                    "have another person author the source commits, or another listed signer approve the "
                    f"unlock: ftgate approve {ticket.name} --transition unlock")]


def squash_reasons(ticket: TicketInput,
                   gate_findings: Callable[[Stage, WorkflowState], list[str]]) -> list[Reason]:
    """A ticket that arrives archived, with its source, in one commit.

    Gates only read text, so the one thing that makes a squash trustworthy
    is a person's signature over its result: accepted only with approvals
    on, a ``done`` approval that signs the final ticket files and every
    source path the commit changes, every gate recorded ``Pass`` and passing
    on the committed files, and (``stage5_evidence: verified``) the Stage 5
    evidence verifying against this tree."""
    from ftgate.workflow.model import GateStatus, Permission, Stage

    facts: ApprovalFacts | None = ticket.approvals
    what = f"arrives already archived in {ticket.after.folder} (a squash merge)"
    if facts is None or "done" not in facts.required:
        return [_reason(ticket, "squash-needs-approvals",
                        f"{what}; ftgate accepts a squash only when approvals are on and a person signed "
                        "the finished ticket and its source",
                        "turn approvals on in ftgate.yaml (an `approvals:` block whose transitions include "
                        "`done`), or land the ticket branch with a merge commit (git merge --no-ff)")]
    _, new = _states(ticket)
    if new is None:
        return [_reason(ticket, "state-unreadable", f"{what}, but its state file cannot be read",
                        f"fix it: ftgate validate {ticket.name}")]
    reasons: list[Reason] = []
    missing: list[str] = []
    if new.current_stage != Stage.HANDOFF:
        missing.append(f"it is at Stage {int(new.current_stage)}, not finished at Stage {int(Stage.HANDOFF)}")
    if new.permission == Permission.UNLOCKED:
        missing.append("its source edits are still Unlocked")
    for one in Stage:
        status = new.gate(one)
        if status != GateStatus.PASS:
            missing.append(f"the Stage {int(one)} gate is recorded `{status.value}`, not `Pass`")
        found = gate_findings(one, new)
        if found:
            missing.append(f"the Stage {int(one)} gate does not pass on the committed files: "
                           + "; ".join(found[:3]) + (f" (and {len(found) - 3} more)" if len(found) > 3 else ""))
    if missing:
        reasons.append(_reason(ticket, "squash-unfinished",
                               f"{what}, but the ticket is not finished: " + "; ".join(missing),
                               f"finish the ticket on its branch (ftgate advance {ticket.name} ... ftgate done), "
                               "then squash again"))
    found_done = facts.found.get("done")
    problems = []
    if found_done is None:
        problems.append(f"there is no {signature_name('done')} (a squash needs a signed file; a commit "
                        "signature does not survive the squash)")
    else:
        problem = _record_problem(ticket, "done", found_done, facts)
        if problem is None:
            unsigned = sorted(p for p in facts.changed_sources if p not in (found_done.sources or {}))
            if unsigned:
                problem = (f"{record_name('done')} does not sign the source path(s) this commit changes: "
                           + ", ".join(unsigned[:5]))
        if problem is None and found_done.principal:
            problem = _separate_problem(found_done.principal, facts)
        if problem:
            problems.append(problem)
    for problem in problems:
        reasons.append(_reason(ticket, "approval-missing",
                               f"{what}; `done` needs a signed approval by {_who(facts)}: {problem}",
                               _fix(ticket, "done", facts)))
    return reasons
