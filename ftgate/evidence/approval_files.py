"""Approval records checked as files: the one check of a record and its
signature, and the waiver check of a ticket in a working tree.

The git doors (:mod:`ftgate.git.approvals`) read a record and its signature
from git objects, the working-tree commands (``ftgate evidence verify``,
``ftgate advance`` and ``ftgate status`` at Stage 5) from the ticket folder;
both verify them here, so a record means the same thing everywhere.

A waiver is a person's call that a criterion may stay unmet. When the
repository's ``ftgate.yaml`` lists ``waive`` under ``approvals:``,
:func:`waiver_check` gives :func:`ftgate.evidence.verify.verify_ticket` the
hook that turns each ``Waived`` row without a valid signed ``waive`` approval
into a finding on that row, naming who may approve and the command.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from ftgate import proc, sshsig
from ftgate.constants import CONFIG_FILE
from ftgate.errors import FtgateError
from ftgate.policy import approvals as ap
from ftgate.policy.types import Found

# A record is a few KB; anything much larger is not one, and is not parsed.
RECORD_CAP = 256 * 1024
WAIVE = "waive"


def principals(signers: bytes) -> list[str]:
    """The principals an allowed-signers file lists (first field, which may
    hold several comma-separated)."""
    out: list[str] = []
    for line in signers.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        first = line.split(None, 1)[0]
        out += [p for p in first.split(",") if p and p not in out]
    return out


def check_record(transition: str, record: bytes | None, signature: bytes | None, signers: bytes) -> Found:
    """A record and its signature, verified against ``signers`` (the
    allowed-signers file's content): the principal that signed it, or why it
    does not count. Whether it approves *this* change is the caller's
    comparison (:mod:`ftgate.policy.approvals`)."""
    name = ap.record_name(transition)
    if record is None or signature is None:
        return Found(transition, error=f"{name} or its signature cannot be read")
    if len(record) > RECORD_CAP:
        return Found(transition, error=f"{name} is larger than {RECORD_CAP} bytes; not an approval record")
    try:
        data = json.loads(record.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return Found(transition, error=f"{name} is not JSON ({exc})")
    ok_shape = (isinstance(data, dict) and data.get("format") == ap.RECORD_FORMAT
                and isinstance(data.get("ticket"), str) and isinstance(data.get("transition"), str)
                and isinstance(data.get("files"), dict) and isinstance(data.get("sources"), dict)
                and all(isinstance(k, str) and isinstance(v, str) for k, v in data["files"].items())
                and all(isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in data["sources"].items()))
    if not ok_shape:
        return Found(transition, error=f"{name} does not have the shape `ftgate approve` writes "
                                          "(format, ticket, transition, files, sources)")
    try:
        principal = sshsig.verify(ap.canonical(data), signature.decode("ascii", "replace"),
                                  allowed_signers=signers, namespace=sshsig.APPROVAL_NAMESPACE)
    except FtgateError as err:
        return Found(transition, error=f"{ap.signature_name(transition)}: {err.message}")
    # The transition the record itself names, which its signature covers: the
    # file name is anyone's to choose, so an `unlock` record renamed to
    # done.json must read as an approval of `unlock`, and callers compare.
    return Found(data["transition"], principal, None, data["ticket"], dict(data["files"]), dict(data["sources"]))


# ------------------------------------------------------------------ waivers in a working tree


WaiverApproval = Callable[[str, str, int], "str | None"]


def _read(path: Path) -> bytes | None:
    try:
        if path.stat().st_size > RECORD_CAP:
            return None
        return path.read_bytes()
    except OSError:
        return None


def _folder_files(root: Path, folder: Path) -> dict[str, str]:
    """Every file of the ticket folder but the approvals (relative name ->
    git blob id), as ``ftgate approve`` signs them."""
    rels = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    rels = [r for r in rels if not ap.is_approval_file(r)]
    if not rels:
        return {}
    paths = [(folder / r).relative_to(root).as_posix() for r in rels]
    out = proc.run(["hash-object", "--stdin-paths"], cwd=root,
                   input="".join(p + "\n" for p in paths).encode()).stdout.decode().split()
    return dict(zip(rels, out, strict=True))


def _problem(root: Path, folder: Path, ticket: str, signers_path: str) -> tuple[str | None, str]:
    """(why the folder's waive approval does not count, or None; who may
    approve, for the message)."""
    signers = _read(root / signers_path)
    listed = principals(signers) if signers is not None else []
    who = ("one of " + ", ".join(listed[:8]) + (" ..." if len(listed) > 8 else "") + f" (listed in {signers_path})"
           if listed else f"a key listed in {signers_path}, which lists nobody or cannot be read")
    if signers is None or not listed:
        return f"{signers_path} lists no key that could approve", who
    record = _read(folder / ap.record_name(WAIVE))
    signature = _read(folder / ap.signature_name(WAIVE))
    if record is None and signature is None:
        return f"there is no {ap.signature_name(WAIVE)} in the ticket folder", who
    found = check_record(WAIVE, record, signature, signers)
    if found.error:
        return found.error, who
    if found.ticket != ticket or found.transition != WAIVE:
        return (f"{ap.signature_name(WAIVE)} approves {found.transition!r} of ticket {found.ticket!r}, not "
                f"{WAIVE!r} of {ticket!r}"), who
    now = ap.signed_files(WAIVE, _folder_files(root, folder))
    if found.files != now:
        signed = found.files or {}
        changed = sorted(set(signed) ^ set(now) | {k for k in now if signed.get(k) not in (None, now[k])})
        return (f"{ap.record_name(WAIVE)} signs the ticket's files as they were, not as they are now "
                f"(differs: {', '.join(changed[:5]) or 'the file list'})"), who
    return None, who


def waiver_check(ticket_path: Path, root: Path | None) -> WaiverApproval | None:
    """The ``waiver_approval`` hook for a ticket folder in a checkout whose
    ``ftgate.yaml`` asks for ``waive`` approvals; None when it does not
    (approvals are off by default). The signature is checked once, however
    many rows are waived."""
    if root is None or not (root / CONFIG_FILE).is_file():
        return None
    from ftgate.policy.config import load_config

    rules = load_config(root).approvals
    if rules is None or WAIVE not in rules.transitions:
        return None
    folder = ticket_path.resolve()
    ticket = folder.name
    answer: list[tuple[str | None, str]] = []

    def check(sc: str, reason: str, line: int) -> str | None:
        if not answer:
            answer.append(_problem(root.resolve(), folder, ticket, rules.allowed_signers))
        problem, who = answer[0]
        if problem is None:
            return None
        return (f"Waived needs a signed `waive` approval by {who}: {problem}. Fix: they run "
                f"`ftgate approve {ticket} --transition waive` on the report as it will be committed, then "
                f"commit {ap.APPROVALS_DIR}/")

    return check
