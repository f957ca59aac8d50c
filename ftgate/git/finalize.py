"""Repository finalization (Stage 8): once the user has verified the work,
merge or push the ticket branch to the finalization target its bootstrap
record names, as ``worktree.finalize`` in ``ftgate.yaml`` says.

Ordering, and why:

1. ``plan_finalization`` runs *before* the ticket is archived. Everything it
   checks can fail without changing anything, so a refusal leaves the ticket
   exactly as it was.
2. ``ftgate done`` then records the verification and archives the ticket.
3. ``finalize`` runs *after* archiving, because what is merged or pushed must
   carry the archived ticket: it records the outcome in the handoff summary,
   commits the archive (the hooks run), then merges or pushes. If the merge
   or push fails, the archive commit is taken back off the branch (its
   changes stay staged) and the handoff summary says ``Pending`` again, so
   the branch never claims a finalization that did not happen.

Never a force-push, never ``--no-verify``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ftgate.errors import FtgateError
from ftgate.git.worktree import (
    FETCH_TIMEOUT_S,
    GitFailed,
    git,
    git_toplevel,
    last_words,
    list_worktrees,
    ref_exists,
    remotes,
    worktree_settings,
)
from ftgate.workflow import markdown as md
from ftgate.workflow.expectations import HANDOFF_FINALIZED
from ftgate.workflow.fileio import atomic_write_text, read_text
from ftgate.workflow.model import BootstrapMode
from ftgate.workflow.tickets import (
    BRANCH_PREFIX,
    DONE,
    IN_PROGRESS,
    TICKETS,
    Ticket,
    current_branch,
)
from ftgate.workflow.transitions import mark_handoff

if TYPE_CHECKING:
    from ftgate.git.approvals import Signer

HANDOFF = "handoff-summary.md"
STATUS_AFTER = {"merge": "Merged", "push": "Pushed"}


class FinalizeRefused(FtgateError):
    exit_code = 1


@dataclass(frozen=True, slots=True)
class FinalizePlan:
    mode: str                  # merge | push
    name: str
    branch: str                # codex/<name>
    checkout: Path             # the ticket's worktree
    target_remote: str | None
    target_branch: str
    target_checkout: Path | None  # merge: the worktree that has the target checked out

    @property
    def target(self) -> str:
        return f"{self.target_remote}/{self.target_branch}" if self.target_remote else self.target_branch


@dataclass(slots=True)
class FinalizeOutcome:
    plan: FinalizePlan
    steps: list[str] = field(default_factory=list)


def _ticket_paths(name: str) -> tuple[str, str]:
    return f"{TICKETS}/{IN_PROGRESS}/{name}", f"{TICKETS}/{DONE}/{name}"


def plan_finalization(ticket: Ticket) -> FinalizePlan:
    """Everything that could stop a finalization, checked before anything
    changes."""
    checkout = git_toplevel(ticket.root)
    if checkout is None:
        raise FtgateError("repository finalization needs git, and this ticket is not in a git checkout",
                          hint="drop --finalize")
    record = ticket.read_state().state.bootstrap
    if record.mode != BootstrapMode.GIT:
        raise FtgateError(f"{ticket.name} was bootstrapped in Non-Git mode; there is no branch to finalize",
                          hint="drop --finalize")
    mode = worktree_settings(checkout).finalize
    if mode == "none":
        raise FtgateError("repository finalization is turned off (`worktree.finalize: none` in ftgate.yaml)",
                          hint="drop --finalize, or set worktree.finalize to merge or push")
    branch = BRANCH_PREFIX + ticket.name
    here = current_branch(checkout)
    if here != branch:
        raise FtgateError(f"finalization merges {branch}, but this checkout is on {here or 'a detached HEAD'}",
                          hint="run it in the ticket's worktree (see `ftgate worktree list`)")
    if not record.finalization_branch:
        raise FtgateError(f"{ticket.display}/workflow-state.md names no `Default Finalization Target Branch`",
                          hint="fill it in the Stage 0 Bootstrap Record")
    target_remote = record.finalization_remote
    target_branch = record.finalization_branch

    owned = _ticket_paths(ticket.name)
    status = git(checkout, "status", "--porcelain", "--untracked-files=all", "--no-renames").stdout.splitlines()
    stray = [line[3:] for line in status if not any(line[3:].startswith(p + "/") for p in owned)]
    if stray:
        raise FinalizeRefused(f"the ticket's worktree has changes outside the ticket folder: {', '.join(stray[:5])}"
                              + (" ..." if len(stray) > 5 else ""),
                              hint="commit them (or discard them) first; finalization commits only the ticket")

    target_checkout = None
    if mode == "merge":
        if not ref_exists(checkout, f"refs/heads/{target_branch}"):
            start = f"{target_remote}/{target_branch}" if target_remote else target_branch
            raise FinalizeRefused(f"there is no local branch {target_branch} to merge into",
                                  hint=f"create it: git branch {target_branch} {start}")
        holder = next((e for e in list_worktrees(checkout) if e.branch == target_branch and not e.prunable), None)
        if holder is not None:
            target_checkout = holder.path
            if git(holder.path, "status", "--porcelain", "--untracked-files=no").stdout.strip():
                raise FinalizeRefused(f"{target_branch} is checked out in {holder.path}, which has uncommitted "
                                      "changes; ftgate will not merge into it",
                                      hint=f"commit or stash them in {holder.path} first")
        elif git(checkout, "merge-base", "--is-ancestor", f"refs/heads/{target_branch}", f"refs/heads/{branch}",
                 check=False).returncode != 0:
            raise FinalizeRefused(f"{target_branch} has moved on since {branch} was cut, and it is not checked out "
                                  "anywhere, so only a fast-forward is possible",
                                  hint=f"merge {target_branch} into {branch} first, or check {target_branch} out "
                                       "and run the finalization again")
    else:
        if not target_remote:
            raise FinalizeRefused(f"the finalization target {target_branch} names no remote to push to",
                                  hint="set `Default Finalization Target Remote`, or use worktree.finalize: merge")
        if target_remote not in remotes(checkout):
            raise FinalizeRefused(f"there is no remote named {target_remote!r} to push to",
                                  hint=f"git remote add {target_remote} URL")
    return FinalizePlan(mode, ticket.name, branch, checkout, target_remote, target_branch, target_checkout)


def _archived_handoff(plan: FinalizePlan) -> Path:
    path = plan.checkout / TICKETS / DONE / plan.name / HANDOFF
    if not path.is_file():
        raise FtgateError(f"{TICKETS}/{DONE}/{plan.name}/{HANDOFF} is missing; archive the ticket first",
                          hint=f"ftgate done {plan.name} --verified-by NAME")
    return path


def _with_fields(text: str, label: str, values: dict[str, str]) -> str:
    doc = md.parse(text, label)
    editor = md.Editor.for_document(doc)
    for key, value in values.items():
        pairs = doc.pairs_for(key)
        if not pairs:
            editor.insert_after(len(doc.lines), f"- {key}: {value}")
        for pair in pairs:
            span = pair.value.span
            empty_after_colon = span.start == span.end and not doc.line_text(span.line)[:span.start].endswith(" ")
            lead = " " if empty_after_colon else ""
            editor.replace(span, lead + value)
    return editor.render()


def finalize(plan: FinalizePlan, verified_by: str, signer: Signer | None = None) -> FinalizeOutcome:
    """Commit the archived ticket and merge or push the ticket branch. On
    failure, take back what this call did and say how to retry. With a
    ``signer``, the ``done`` approval is made over the ticket's files as
    this commit records them (after the handoff summary says how it was
    finalized), and lands in the same commit."""
    outcome = FinalizeOutcome(plan)
    handoff = _archived_handoff(plan)
    original = read_text(handoff)
    label = f"{TICKETS}/{DONE}/{plan.name}/{HANDOFF}"
    recorded = _with_fields(original, label, {"Finalization Target": plan.target,
                                              "Finalization Status": STATUS_AFTER[plan.mode]})
    atomic_write_text(handoff, mark_handoff(recorded, label, {HANDOFF_FINALIZED.name: "Yes"}))
    signed = _Signed(plan, signer)
    # Only paths git can match: a folder never committed and now moved away is neither on disk nor known.
    owned = [p for p in _ticket_paths(plan.name) if (plan.checkout / p).exists()
             or git(plan.checkout, "ls-files", "--", p).stdout.strip()
             or git(plan.checkout, "ls-tree", "--name-only", "HEAD", "--", p).stdout.strip()]
    before = git(plan.checkout, "rev-parse", "HEAD").stdout.strip()

    def restore_handoff() -> None:
        # The index too: a later plain `git commit` must not record a finalization that did not happen.
        atomic_write_text(handoff, original)
        git(plan.checkout, "add", "--", str(handoff.relative_to(plan.checkout)), check=False)
        signed.restore()

    try:
        signed.sign()
        outcome.steps += signed.steps
        # A path only HEAD still has (its removal already staged, as after a
        # failed push) matches nothing `git add` can see; the commit takes it.
        addable = [p for p in owned if (plan.checkout / p).exists()
                   or git(plan.checkout, "ls-files", "--", p).stdout.strip()]
        if addable:
            git(plan.checkout, "add", "--all", "--", *addable)
        if git(plan.checkout, "diff", "--cached", "--quiet", "--", *owned, check=False).returncode == 0:
            outcome.steps.append(f"the archived ticket was already committed on {plan.branch}")
        else:
            proc = git(plan.checkout, "commit", "--quiet", "-m",
                       f"Archive ticket {plan.name}, verified by {verified_by}", "--", *owned, check=False)
            if proc.returncode != 0:
                said = (proc.stderr + proc.stdout).strip() or f"exit status {proc.returncode}"
                raise FinalizeRefused(f"committing the archived ticket failed:\n{said}")
    except FtgateError as err:
        restore_handoff()
        raise FinalizeRefused(f"{err.message}\nthe ticket is archived but not finalized",
                              hint=f"fix that, then: ftgate worktree finalize {plan.name}") from None
    after = git(plan.checkout, "rev-parse", "HEAD").stdout.strip()
    if after != before:
        outcome.steps.append(f"committed the archived ticket on {plan.branch} ({after[:7]})")
    try:
        if plan.mode == "merge":
            outcome.steps.append(_merge(plan, after))
        else:
            outcome.steps.append(_push(plan))
    except FtgateError as err:
        # Take the archive commit back off the branch, only if nothing moved it since.
        if after != before:
            git(plan.checkout, "update-ref", "-m", "ftgate: finalization failed", f"refs/heads/{plan.branch}",
                before, after, check=False)
        restore_handoff()
        raise FinalizeRefused(f"{err.message}\nnothing was finalized: the archive commit was taken back (its "
                              "changes are staged) and the handoff summary is as it was",
                              hint=f"fix that, then: ftgate worktree finalize {plan.name}") from None
    return outcome


class _Signed:
    """The ``done`` approval finalize makes, and how to take it back: an
    approval of a finalization that did not happen would sign files that
    are no longer there."""

    def __init__(self, plan: FinalizePlan, signer: Signer | None) -> None:
        self.plan, self.signer = plan, signer
        self.before: dict[Path, bytes | None] = {}
        self.steps: list[str] = []

    def sign(self) -> None:
        if self.signer is None:
            return
        from ftgate.policy.approvals import record_name, signature_name

        folder = self.plan.checkout / TICKETS / DONE / self.plan.name
        for rel in (record_name("done"), signature_name("done")):
            path = folder / rel
            self.before[path] = path.read_bytes() if path.is_file() else None
        written = self.signer.sign()
        self.steps.append(f"signed `done` as {self.signer.principal} ({', '.join(written)})")

    def restore(self) -> None:
        for path, data in self.before.items():
            if data is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(data)
            git(self.plan.checkout, "add", "--all", "--", str(path.relative_to(self.plan.checkout)), check=False)
        for folder in {path.parent for path in self.before}:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()


def _merge(plan: FinalizePlan, tip: str) -> str:
    if plan.target_checkout is None:
        old = git(plan.checkout, "rev-parse", f"refs/heads/{plan.target_branch}").stdout.strip()
        if git(plan.checkout, "merge-base", "--is-ancestor", old, tip, check=False).returncode != 0:
            raise FinalizeRefused(f"{plan.target_branch} moved on meanwhile; only a fast-forward is possible")
        git(plan.checkout, "update-ref", "-m", f"ftgate: finalize {plan.branch}",
            f"refs/heads/{plan.target_branch}", tip, old)
        return f"fast-forwarded {plan.target_branch} to {plan.branch} ({tip[:7]})"
    where = plan.target_checkout
    proc = git(where, "merge", "--no-ff", "--no-edit", "-m", f"Merge {plan.branch}: ticket {plan.name}",
               f"refs/heads/{plan.branch}", check=False)
    if proc.returncode != 0:
        if ref_exists(where, "MERGE_HEAD"):
            git(where, "merge", "--abort", check=False)
        raise FinalizeRefused(f"merging {plan.branch} into {plan.target_branch} in {where} failed "
                              f"(aborted, nothing merged): {last_words(proc)}")
    sha = git(where, "rev-parse", "--short", "HEAD").stdout.strip()
    push = f"; push it when ready: git push {plan.target_remote} {plan.target_branch}" if plan.target_remote else ""
    return f"merged {plan.branch} into {plan.target_branch} in {where} ({sha}){push}"


def _push(plan: FinalizePlan) -> str:
    # No force, ever: a rejected push means the target moved, which a person must look at.
    refspec = f"refs/heads/{plan.branch}:refs/heads/{plan.target_branch}"
    try:
        git(plan.checkout, "push", "--quiet", str(plan.target_remote), refspec, timeout=FETCH_TIMEOUT_S)
    except GitFailed as err:
        raise FinalizeRefused(f"pushing {plan.branch} to {plan.target} was refused: {err.message}") from None
    return f"pushed {plan.branch} to {plan.target}"


def finalize_archived(start: Path, name: str, verified_by: str = "the recorded verifier", *,
                      sign: bool = False, key: str | None = None) -> FinalizeOutcome:
    """Finalize a ticket that ``ftgate done`` already archived (the retry
    path). When the archive is not committed yet, its commit makes the
    ``done`` transition, so an approval the policy asks for is made here
    (``sign``) or the retry is refused before anything changes."""
    checkout = git_toplevel(start)
    if checkout is None:
        raise FtgateError(f"{start} is not inside a git repository")
    folder = checkout / TICKETS / DONE / name
    if not folder.is_dir():
        raise FtgateError(f"no archived ticket {name!r} in {checkout / TICKETS / DONE}",
                          hint=f"archive it first: ftgate done {name} --verified-by NAME --finalize")
    ticket = Ticket(name, folder, checkout)
    doc = md.parse(read_text(folder / HANDOFF), f"{TICKETS}/{DONE}/{name}/{HANDOFF}")
    pairs = doc.pairs_for("Verified By")
    if pairs and pairs[0].value.text.strip():
        verified_by = pairs[0].value.text.strip().strip("`")
    plan = plan_finalization(ticket)
    signer = None
    archive_pending = git(checkout, "cat-file", "-e", f"HEAD:{TICKETS}/{IN_PROGRESS}/{name}/workflow-state.md",
                          check=False).returncode == 0
    if archive_pending or sign:
        from ftgate.git.approvals import plan_signature

        signer = plan_signature(checkout, name, "done", sign=sign, key=key, base=plan.target_branch, commits=True,
                                later=_LATER.format(name=name))
    return finalize(plan, verified_by, signer)


_LATER = ("or commit the archive yourself with a `done` approval (`ftgate approve {name} --transition done`), "
          "then run this again")
