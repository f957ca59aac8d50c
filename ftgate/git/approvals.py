"""Approvals read from git objects and checked with ssh-keygen and git.

The judge (every door: pre-commit, pre-push, the server hook, ``ftgate ci``)
calls :func:`attach` once per batch of changes; it fills
:attr:`TicketInput.approvals <ftgate.policy.types.TicketInput.approvals>`
for the tickets whose approvals the pure check in
:mod:`ftgate.policy.approvals` will compare. :func:`make_approval` is what
``ftgate approve`` runs in a checkout.

The allowed-signers file is read from the tree whose ``ftgate.yaml`` judges
the change (the parent's), so a change to who may approve takes effect once
it has landed, like any policy change.

Only changes that edit a ticket's state, or (under ``separate: true``) change
source, under a policy with approvals on, reach this module: the ssh-keygen
calls stay off the common path.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Collection, Sequence
from pathlib import Path

from ftgate import proc, sshsig
from ftgate.constants import DONE, IN_PROGRESS, TICKETS
from ftgate.errors import FtgateError
from ftgate.evidence.approval_files import check_record as _check_record
from ftgate.evidence.approval_files import principals as _principals
from ftgate.git import plumbing as pl
from ftgate.policy import approvals as ap
from ftgate.policy.compiled import Policy, PolicyError
from ftgate.policy.decide import Change, TicketInput, governing_ticket, source_changes, state_changes
from ftgate.policy.types import ApprovalFacts, Found
from ftgate.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol

    class Unit(Protocol):
        """What this module reads of a judge unit (ftgate.git.judge.Unit)."""

        after: str
        before: str | None
        entries: list[pl.RawEntry]
        merge: bool

INDEX = ""
_GOOD = re.compile(r'Good "git" signature for (\S+) with ')


class _Reader:
    """Git lookups for one judge run, with what was verified kept so the
    same record and signers are checked by ssh-keygen once."""

    def __init__(self, cwd: str | None, keep: Collection[str]) -> None:
        self.cwd, self.keep = cwd, keep
        self._verified: dict[tuple[str, str, bytes], Found] = {}
        self._signers: dict[tuple[str | None, str], tuple[bytes | None, str | None]] = {}
        self._folders: dict[tuple[str, str], str | None] = {}   # (commit, folder) -> tree id
        self._trees: dict[str, dict[str, str]] = {}             # tree id -> its files
        self._authors: dict[str, str] = {}

    def prefetch(self, jobs: Sequence[tuple[Unit, str, str]]) -> None:
        """Look up, for all (unit, ticket folder, signers path) at once, what
        :meth:`signers`, :meth:`listing` and :meth:`authors` will ask, so a
        push of many commits costs a few git processes, not a few per commit."""
        befores = {(u.before, path) for u, _, path in jobs if u.before and (u.before, path) not in self._signers}
        folders = {(u.after, folder) for u, folder, _ in jobs if u.after != INDEX}
        names = [f"{rev}:{path}" for rev, path in befores] + [f"{rev}:{folder}" for rev, folder in folders]
        hits = pl.batch_check(names, cwd=self.cwd, keep=self.keep) if names else {}
        blobs = [hit[0] for rev, path in befores if (hit := hits.get(f"{rev}:{path}")) and hit[1] == "blob"]
        contents = pl.read_objects(blobs, cwd=self.cwd, keep=self.keep)
        for rev, path in befores:
            hit = hits.get(f"{rev}:{path}")
            if hit is None or hit[1] != "blob":
                self._signers[(rev, path)] = (None, f"{path} does not exist in the parent commit")
            else:
                data = contents.get(hit[0])
                self._signers[(rev, path)] = (data, None) if data is not None else (None, f"{path} cannot be read")
        for rev, folder in folders:
            hit = hits.get(f"{rev}:{folder}")
            self._folders[(rev, folder)] = hit[0] if hit and hit[1] == "tree" else None
        for tree in {t for t in self._folders.values() if t and t not in self._trees}:
            self._trees[tree] = self._ls_tree(tree)
        commits = list(dict.fromkeys(u.after for u, _, _ in jobs if u.after != INDEX and u.after not in self._authors))
        # Read as objects, through the run's cat-file when one is open
        # (plumbing.Lookups): the server judges a push in batches, and a
        # `git log` per batch would make the processes grow with the push.
        for commit, data in pl.read_objects(commits, cwd=self.cwd, keep=self.keep).items():
            email = _raw_author_email(data)
            if email is not None:
                self._authors[commit] = email

    def _ls_tree(self, tree: str) -> dict[str, str]:
        """Every blob under ``tree`` (path -> id), as ``ls-tree -r`` lists
        them, read level by level through cat-file."""
        out: dict[str, str] = {}
        level = [("", tree)]
        while level:
            contents = pl.read_objects([oid for _, oid in level], cwd=self.cwd, keep=self.keep)
            deeper = []
            for prefix, oid in level:
                data = contents.get(oid)
                if data is None:
                    raise pl.GitError(["cat-file", "--batch"], None, "", message=f"tree {oid} cannot be read")
                for mode, name, child in pl.tree_entries(data, len(oid)):
                    if mode == "40000":
                        deeper.append((f"{prefix}{name}/", child))
                    elif mode != pl.GITLINK_MODE:
                        out[prefix + name] = child
            level = deeper
        return out

    def git(self, args: Sequence[str], ok: Sequence[int] | None = (0,), input: bytes | None = None) -> bytes:
        return proc.run(args, cwd=self.cwd, keep=self.keep, ok_codes=ok, input=input).stdout

    def signers(self, rev: str | None, path: str) -> tuple[bytes | None, str | None]:
        key = (rev, path)
        if key not in self._signers:
            if not rev:
                self._signers[key] = (None, "the change has no parent to read it from")
            else:
                hit = pl.batch_check([f"{rev}:{path}"], cwd=self.cwd, keep=self.keep).get(f"{rev}:{path}")
                if hit is None or hit[1] != "blob":
                    self._signers[key] = (None, f"{path} does not exist in the parent commit")
                else:
                    data = pl.read_objects([hit[0]], cwd=self.cwd, keep=self.keep).get(hit[0])
                    self._signers[key] = (data, None) if data is not None else (None, f"{path} cannot be read")
        return self._signers[key]

    def listing(self, rev: str, folder: str) -> dict[str, str]:
        """Every file under ``folder`` on a side (relative name -> blob id)."""
        if rev == INDEX:
            raw = self.git(["ls-files", "-s", "-z", "--", folder + "/"])
            out = {}
            for rec in raw.split(b"\0"):
                if rec:
                    meta, path = rec.split(b"\t", 1)
                    out[pl.decode_path(path)[len(folder) + 1:]] = meta.split(b" ")[1].decode()
            return out
        if (rev, folder) not in self._folders:
            hit = pl.batch_check([f"{rev}:{folder}"], cwd=self.cwd, keep=self.keep).get(f"{rev}:{folder}")
            self._folders[(rev, folder)] = hit[0] if hit and hit[1] == "tree" else None
        tree = self._folders[(rev, folder)]
        if tree is None:
            return {}
        if tree not in self._trees:
            self._trees[tree] = self._ls_tree(tree)
        return self._trees[tree]

    def oids(self, rev: str, paths: Collection[str]) -> dict[str, str | None]:
        if not paths:
            return {}
        if rev == INDEX:
            raw = self.git(["ls-files", "-s", "-z", "--", *paths])
            found = {}
            for rec in raw.split(b"\0"):
                if rec:
                    meta, path = rec.split(b"\t", 1)
                    found[pl.decode_path(path)] = meta.split(b" ")[1].decode()
            return {p: found.get(p) for p in paths}
        names = {p: f"{rev}:{p}" for p in paths}
        hits = pl.batch_check(list(names.values()), cwd=self.cwd, keep=self.keep)
        return {p: (hit[0] if (hit := hits.get(name)) and hit[1] == "blob" else None) for p, name in names.items()}

    def verify(self, transition: str, record_oid: str, sig_oid: str, signers: bytes) -> Found:
        # The same record, signature and list verify the same way in every commit that carries them.
        key = (record_oid, sig_oid, signers)
        if key in self._verified:
            return self._verified[key]
        blobs = pl.read_objects([record_oid, sig_oid], cwd=self.cwd, keep=self.keep)
        found = _check_record(transition, blobs.get(record_oid), blobs.get(sig_oid), signers)
        self._verified[key] = found
        return found

    def commit_signer(self, commit: str, signers: bytes) -> tuple[str | None, str | None]:
        with tempfile.TemporaryDirectory(prefix="ftgate-signers-") as tmp:
            path = Path(tmp) / "allowed_signers"
            path.write_bytes(signers)
            done = proc.run(["-c", "gpg.format=ssh", "-c", f"gpg.ssh.allowedSignersFile={path}",
                             "verify-commit", "-v", commit], cwd=self.cwd, keep=self.keep, ok_codes=None)
        said = done.stderr.decode("utf-8", "replace")
        hit = _GOOD.search(said)
        if done.returncode == 0 and hit:
            return hit.group(1), None
        if "no signature" in said.lower() or not said.strip():
            return None, None
        last = [line for line in said.splitlines() if line.strip()][-1:] or ["not verified"]
        return None, f"the commit's signature does not verify against the allowed signers ({last[0].strip()})"

    def authors(self, unit: Unit) -> list[str]:
        if unit.after == INDEX:
            ident = self.git(["var", "GIT_AUTHOR_IDENT"], ok=None).decode("utf-8", "replace")
            hit = re.search(r"<([^>]*)>", ident)
            return [hit.group(1)] if hit else []
        if unit.after not in self._authors:
            self._authors[unit.after] = self.git(["show", "-s", "--format=%ae", unit.after]).decode(
                "utf-8", "replace").strip()
        return [self._authors[unit.after]]


def _raw_author_email(commit: bytes) -> str | None:
    """The author's email in a raw commit object, as ``%ae`` prints it:
    between the first ``<`` of the author line and the ``>`` after it."""
    for line in commit.split(b"\n"):
        if not line:
            return None  # the headers end here
        if line.startswith(b"author "):
            _, lt, rest = line.partition(b"<")
            if not lt:
                return None
            return rest.partition(b">")[0].decode("utf-8", "replace").strip()
    return None


def _facts(reader: _Reader, unit: Unit, change: Change, ticket: TicketInput, policy: Policy) -> ApprovalFacts:
    rules = policy.approvals or {}
    path = str(rules.get("allowed_signers"))
    facts = ApprovalFacts(list(rules.get("transitions") or []), path, bool(rules.get("separate")),
                             staged=unit.after == INDEX)
    signers, problem = reader.signers(unit.before, path)
    facts.signers_error = problem
    if signers is not None:
        facts.signers = _principals(signers)
        if not facts.signers:
            facts.signers_error = f"{path} lists no key"
    folder = ticket.after.folder
    assert folder is not None
    listing = reader.listing(unit.after, folder)
    facts.files = ap.ticket_files(listing)
    for entry in unit.entries:
        if policy.is_source(entry.path):
            facts.changed_sources[entry.path] = None if entry.status == "D" or pl.is_zero(entry.new_oid) \
                else entry.new_oid
        if entry.old_path and entry.old_path != entry.path and policy.is_source(entry.old_path):
            facts.changed_sources[entry.old_path] = None
    if signers is not None and facts.signers:
        for transition in ap.TRANSITIONS:
            record_oid = listing.get(ap.record_name(transition))
            sig_oid = listing.get(ap.signature_name(transition))
            if record_oid is None and sig_oid is None:
                continue
            if record_oid is None or sig_oid is None:
                facts.found[transition] = Found(transition, error=f"{ap.record_name(transition)} and "
                                                   f"{ap.signature_name(transition)} must come together")
                continue
            facts.found[transition] = reader.verify(transition, record_oid, sig_oid, signers)
        if unit.after != INDEX and ticket.state_changed:
            facts.commit_signer, facts.commit_signer_error = reader.commit_signer(unit.after, signers)
    if ticket.state_changed:  # a source-only change reads only who approved the unlock
        wanted = set(facts.changed_sources)
        for found in facts.found.values():
            wanted |= set(found.sources or {})
        facts.tree = reader.oids(unit.after, wanted)
    facts.authors = reader.authors(unit)
    return facts


def attach(results: Sequence[tuple[Unit, Change, Policy | PolicyError]], *, cwd: str | None = None,
           keep: Collection[str] = proc.KEEP_NONE) -> None:
    """Fill in the approvals of the tickets the pure check will compare:
    those whose state a change edits, and under ``separate: true`` the
    ticket governing a source change. Also, for a ticket that arrives
    archived (a squash), run the Stage 5 evidence check on its tree."""
    jobs: list[tuple[Unit, Change, TicketInput, Policy]] = []
    for unit, change, policy in results:
        if not isinstance(policy, Policy) or not policy.approvals or unit.merge:
            continue
        names = [n for n in state_changes(change.paths) if n in change.tickets
                 and change.tickets[n].state_changed]
        if policy.approvals.get("separate") and source_changes(change.paths, policy.is_source):
            gov = governing_ticket(change, policy).ticket
            if gov is not None and gov in change.tickets and gov not in names:
                names.append(gov)
        for name in names:
            ticket = change.tickets[name]
            if ticket.after.folder is not None:
                jobs.append((unit, change, ticket, policy))
    if not jobs:
        return
    reader = _Reader(cwd, keep)
    reader.prefetch([(unit, str(ticket.after.folder), str((policy.approvals or {}).get("allowed_signers")))
                     for unit, _, ticket, policy in jobs])
    for unit, change, ticket, policy in jobs:
        folder = str(ticket.after.folder)
        ticket.approvals = _facts(reader, unit, change, ticket, policy)
        if ap.is_squash(ticket) and ticket.evidence_findings is None:
            ticket.stage5_evidence = policy.stage5_evidence
            if policy.stage5_evidence == "verified":
                from ftgate.git.evidence_tree import evidence_findings

                ticket.evidence_findings = evidence_findings(unit.after, folder, cwd=cwd, keep=keep)


# ------------------------------------------------------------------ making one


def _signing_key(root: Path, key: str | None) -> Path:
    if key:
        return Path(key).expanduser()
    fmt = proc.run(["config", "gpg.format"], cwd=root, ok_codes=None).stdout.decode().strip()
    configured = proc.run(["config", "user.signingkey"], cwd=root, ok_codes=None).stdout.decode().strip()
    if fmt != "ssh" or not configured:
        raise FtgateError("no signing key: pass --key PATH (an ssh private key, or its .pub with the key in "
                          "ssh-agent)", hint="or set git's ssh signing: git config gpg.format ssh; "
                                             "git config user.signingkey ~/.ssh/id_ed25519")
    if configured.startswith("key::") or configured.startswith("ssh-"):
        raise FtgateError("user.signingkey holds a literal key; ftgate approve needs a key file",
                          hint="pass --key PATH")
    return Path(configured).expanduser()


def _find_ticket(root: Path, name: str) -> str:
    for where in (IN_PROGRESS, DONE):
        folder = f"{TICKETS}/{where}/{name}"
        if (root / folder).is_dir():
            return folder
    raise FtgateError(f"no ticket {name!r}: neither {TICKETS}/{IN_PROGRESS}/{name} nor {TICKETS}/{DONE}/{name} "
                      "exists in this checkout", hint="ftgate ticket list")


def _hash_files(root: Path, paths: list[str]) -> dict[str, str]:
    if not paths:
        return {}
    out = proc.run(["hash-object", "--stdin-paths"], cwd=root,
                   input="".join(p + "\n" for p in paths).encode()).stdout.decode().split()
    return dict(zip(paths, out, strict=True))


def _ticket_sources(root: Path, base: str | None, is_source: Callable[[str], bool]) -> dict[str, str | None]:
    """The source paths the ticket's branch changed since it left ``base``,
    as they are in the working tree (None: deleted)."""
    candidates = [base] if base else []
    candidates += ["origin/HEAD", "main", "master"]
    fork = None
    for ref in candidates:
        done = proc.run(["merge-base", "HEAD", ref], cwd=root, ok_codes=None)
        if done.returncode == 0:
            fork = done.stdout.decode().strip()
            break
    if fork is None:
        raise FtgateError("cannot tell which source the ticket changed: no base branch to compare with",
                          hint="pass --base BRANCH (the branch the ticket will be merged into)")
    raw = proc.run(["diff", "--name-only", "-z", "--no-renames", fork, "--"], cwd=root).stdout
    paths = [pl.decode_path(p) for p in raw.split(b"\0") if p]
    paths = [p for p in paths if is_source(p)]
    present = [p for p in paths if (root / p).is_file()]
    hashed = _hash_files(root, present)
    return {p: hashed.get(p) for p in paths}


def _ticket_digest(root: Path, folder: str) -> dict[str, str]:
    """The ticket's files an approval signs, as they are on disk (the
    approvals left out): relative name -> git blob id."""
    rels = sorted(str(p.relative_to(root / folder)).replace("\\", "/")
                  for p in (root / folder).rglob("*") if p.is_file())
    rels = [r for r in rels if not ap.is_approval_file(r)]
    hashed = _hash_files(root, [f"{folder}/{r}" for r in rels])
    return {path[len(folder) + 1:]: oid for path, oid in hashed.items()}


def _write_approval(root: Path, name: str, transition: str, signing: Path,
                    sources: dict[str, str | None]) -> list[str]:
    folder = _find_ticket(root, name)
    data = ap.make_record(name, transition, ap.signed_files(transition, _ticket_digest(root, folder)), sources)
    signature = sshsig.sign(ap.canonical(data), key=signing, namespace=sshsig.APPROVAL_NAMESPACE)
    record_path = root / folder / ap.record_name(transition)
    record_path.parent.mkdir(parents=True, exist_ok=True)
    record_path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (root / folder / ap.signature_name(transition)).write_text(signature, encoding="ascii")
    return [f"{folder}/{ap.record_name(transition)}", f"{folder}/{ap.signature_name(transition)}"]


def make_approval(name: str, transition: str, *, key: str | None = None, base: str | None = None,
                  cwd: Path | None = None) -> tuple[list[str], str, list[str]]:
    """Sign ``transition`` of ticket ``name`` as its files stand in the
    working tree; returns (written paths, the public key used, the
    principals allowed to approve here)."""
    from ftgate.policy.config import load_config
    from ftgate.workflow.tickets import check_name

    check_name(name)
    if transition not in ap.TRANSITIONS:
        raise FtgateError(f"unknown transition {transition!r}", hint="one of " + ", ".join(ap.TRANSITIONS))
    top = proc.run(["rev-parse", "--show-toplevel"], cwd=cwd or Path.cwd()).stdout.decode().strip()
    root = Path(top)
    config = load_config(root)
    _find_ticket(root, name)
    sources = _ticket_sources(root, base or config.worktree.base_branch, config.is_source) \
        if transition == "done" else {}
    signing = _signing_key(root, key)
    written = _write_approval(root, name, transition, signing, sources)
    allowed: list[str] = []
    if config.approvals is not None and (root / config.approvals.allowed_signers).is_file():
        allowed = _principals((root / config.approvals.allowed_signers).read_bytes())
    return written, sshsig.public_key_of(signing), allowed


# ------------------------------------------------------------------ signing a transition as it is made


@record(slots=True)
class Signer:
    """A checked plan to sign one transition right after it is made: the
    key is listed (in the committed allowed-signers file), it signs, and for
    ``done`` the source the ticket changed is known, all found out before
    anything changed."""

    root: Path
    name: str
    transition: str
    key: Path
    principal: str
    sources: dict[str, str | None]
    notes: list[str]

    def sign(self) -> list[str]:
        """Write the approval over the ticket's files as they are now;
        returns the paths written."""
        return _write_approval(self.root, self.name, self.transition, self.key, self.sources)


# Bytes no approval record can be (not JSON), signed once to learn whose key
# this is before anything changes.
_KEY_PROBE = b"ftgate: which allowed signer holds this key? (not an approval)\n"


def _committed_signers(root: Path, path: str) -> bytes | None:
    """The allowed-signers file as HEAD has it: a commit's approvals are
    checked against its parent's list, and HEAD will be that parent."""
    done = proc.run(["cat-file", "blob", f"HEAD:{path}"], cwd=root, ok_codes=None)
    return done.stdout if done.returncode == 0 else None


def _who_may(signers: bytes | None, path: str) -> str:
    listed = _principals(signers) if signers is not None else []
    if not listed:
        return f"a key listed in {path} (none is committed yet)"
    return "one of " + ", ".join(listed[:8]) + (" ..." if len(listed) > 8 else "") + f" (listed in {path})"


def plan_signature(root: Path, name: str, transition: str, *, sign: bool, key: str | None = None,
                   unsigned: bool = False, base: str | None = None, commits: bool = False,
                   later: str | None = None) -> Signer | None:
    """Before ``transition`` changes any file: whether it must be signed,
    and by whom. Returns None when nothing is to be signed; raises
    :class:`~ftgate.errors.GateRefused` (nothing changed yet) when
    ``ftgate.yaml`` asks for an approval and ``sign`` is not given (unless
    ``unsigned``), or when the key may not approve here. ``commits``: this
    command makes the commit itself, so its author is known now. ``later``:
    how to approve afterwards instead, for the refusal."""
    from ftgate.errors import GateRefused
    from ftgate.policy.config import load_config

    if proc.run(["rev-parse", "--show-toplevel"], cwd=root, ok_codes=None).returncode != 0:
        if sign:
            raise FtgateError("--sign needs a git checkout: approvals are checked by git's hooks and CI")
        return None
    config = load_config(root)
    rules = config.approvals
    required = rules is not None and transition in rules.transitions
    if not sign:
        if required and not unsigned:
            assert rules is not None
            signers = _committed_signers(root, rules.allowed_signers)
            how = later or (f"or rerun with --unsigned and have them run `ftgate approve {name} --transition "
                            f"{transition}` before you commit")
            raise GateRefused(
                f"ticket {name!r}: `{transition}` needs a signed approval here (ftgate.yaml `approvals`) by "
                f"{_who_may(signers, rules.allowed_signers)}; nothing was changed",
                hint=f"rerun with --sign as that person (--key PATH, or git's user.signingkey); {how}")
        return None
    if rules is None:
        raise FtgateError("--sign: ftgate.yaml has no `approvals:` block, so no signature is checked here",
                          hint="drop --sign, or turn approvals on (`ftgate init` offers them)")
    signers = _committed_signers(root, rules.allowed_signers)
    if signers is None or not _principals(signers):
        raise GateRefused(f"{rules.allowed_signers} is not committed here (or lists no key), so no key can "
                          "approve yet; nothing was changed",
                          hint="commit the allowed-signers file first (it is policy: under a ticket at Stage 4 "
                               "Unlocked)")
    signing = _signing_key(root, key)
    probe = sshsig.sign(_KEY_PROBE, key=signing, namespace=sshsig.APPROVAL_NAMESPACE)
    try:
        principal = sshsig.verify(_KEY_PROBE, probe, allowed_signers=signers, namespace=sshsig.APPROVAL_NAMESPACE)
    except FtgateError as err:
        public = sshsig.public_key_of(signing)
        raise GateRefused(f"the key {signing} ({public.split()[0]} ...{public.split()[-1][-16:]}) may not approve "
                          f"here: {err.message}; nothing was changed",
                          hint=f"sign with a key of {_who_may(signers, rules.allowed_signers)}") from None
    notes: list[str] = []
    if rules.separate:
        author = _author_email(root)
        if transition == "done":
            if commits and author is not None and author.lower() == principal.lower():
                raise GateRefused(
                    f"`separate: true`: the `done` approver may not author the commit that carries it, and "
                    f"{principal} is git's author here; nothing was changed",
                    hint="let the developer's identity author the commit (GIT_AUTHOR_EMAIL or user.email), or "
                         "have another listed signer run this")
            if not commits:
                notes.append(f"`separate: true`: the commit that archives the ticket must be authored by "
                             f"someone other than {principal}")
        elif transition == "unlock":
            notes.append(f"`separate: true`: the source commits under this unlock must be authored by someone "
                         f"other than {principal}")
    sources: dict[str, str | None] = {}
    if transition == "done":
        sources = _ticket_sources(root, base or config.worktree.base_branch, config.is_source)
    return Signer(root, name, transition, signing, principal, sources, notes)


def _author_email(root: Path) -> str | None:
    ident = proc.run(["var", "GIT_AUTHOR_IDENT"], cwd=root, ok_codes=None).stdout.decode("utf-8", "replace")
    hit = re.search(r"<([^>]*)>", ident)
    return hit.group(1) if hit else None
