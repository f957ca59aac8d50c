"""Signatures made and checked with OpenSSH's own file signing.

ftgate signs two kinds of statement: a person's approval of a ticket
transition, and a run's evidence. Both use ``ssh-keygen -Y sign`` (the same
mechanism git uses for ``gpg.format=ssh``), and both are checked against an
``allowed_signers`` file in git's format, committed in the repository, so
the server hook, ``ftgate ci`` and a laptop verify the same way with the
same trust list.

Each use has its own *namespace*, so a signature made for one purpose can
never be replayed as the other (ssh-keygen binds the namespace into what it
signs). A leaf: nothing here knows about tickets.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ftgate.errors import FtgateError

#: A person approves a ticket transition (unlock, done, waive, reopen).
APPROVAL_NAMESPACE = "ftgate-approval"
#: A trainer's key vouches for a run's evidence.
EVIDENCE_NAMESPACE = "ftgate-evidence"

# ssh-keygen answers in milliseconds; a hang (an agent prompt for a
# passphrase, a stuck filesystem) must not hold a hook open.
_TIMEOUT = 20.0


class SignatureError(FtgateError):
    """A signature is missing, malformed, or not from an allowed signer."""

    exit_code = 1


def _ssh_keygen() -> str:
    found = shutil.which("ssh-keygen")
    if found is None:
        raise FtgateError("ssh-keygen is not installed or not on PATH; signatures cannot be made or checked",
                          hint="install OpenSSH's client tools (ssh-keygen 8.2 or newer)")
    return found


def _run(args: list[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
    # SSH_AUTH_SOCK is kept so a key held by an agent can sign; nothing else
    # from the environment changes what ssh-keygen checks.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "SSH_AUTH_SOCK", "LANG", "LC_ALL")}
    try:
        return subprocess.run([_ssh_keygen(), *args], input=data, capture_output=True, env=env,
                              timeout=_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        raise SignatureError(f"ssh-keygen {args[0]} {args[1]} did not answer within {_TIMEOUT:.0f} s") from exc


def _last_line(stream: bytes) -> str:
    lines = [line for line in stream.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no message"


def sign(data: bytes, *, key: str | os.PathLike[str], namespace: str) -> str:
    """An armored SSH signature of ``data`` by the private ``key`` (a file;
    with an ssh-agent, the matching ``.pub`` file works too)."""
    path = Path(key).expanduser()
    if not path.is_file():
        raise SignatureError(f"signing key {path} does not exist",
                             hint="pass the private key (or its .pub with the key loaded in ssh-agent)")
    proc = _run(["-Y", "sign", "-f", str(path), "-n", namespace], data)
    text = proc.stdout.decode("ascii", "replace")
    if proc.returncode != 0 or "BEGIN SSH SIGNATURE" not in text:
        raise SignatureError(f"ssh-keygen could not sign with {path}: {_last_line(proc.stderr)}")
    return text


def verify(data: bytes, signature: str, *, allowed_signers: bytes, namespace: str) -> str:
    """The principal of ``allowed_signers`` whose key made ``signature``
    over ``data`` in ``namespace``; raises SignatureError otherwise.

    ``allowed_signers`` is the file's content (on a server it is a blob, not
    a file), written to a private temporary file for ssh-keygen."""
    if "BEGIN SSH SIGNATURE" not in signature:
        raise SignatureError("not an SSH signature (no BEGIN SSH SIGNATURE block)")
    with tempfile.TemporaryDirectory(prefix="ftgate-sig-") as tmp:
        signers = Path(tmp) / "allowed_signers"
        signers.write_bytes(allowed_signers)
        sig = Path(tmp) / "data.sig"
        sig.write_text(signature, encoding="ascii", errors="replace")
        found = _run(["-Y", "find-principals", "-f", str(signers), "-s", str(sig), "-n", namespace], b"")
        principals = [line.strip() for line in found.stdout.decode("utf-8", "replace").splitlines() if line.strip()]
        if found.returncode != 0 or not principals:
            raise SignatureError("the signature's key is not in the allowed signers list")
        for principal in principals:
            checked = _run(["-Y", "verify", "-f", str(signers), "-I", principal, "-n", namespace,
                            "-s", str(sig)], data)
            if checked.returncode == 0:
                return principal
        raise SignatureError(f"the signature does not match what it claims to sign "
                             f"({_last_line(checked.stderr)})")


def public_key_of(key: str | os.PathLike[str]) -> str:
    """The public key line (``type base64``) of a private or public key file."""
    path = Path(key).expanduser()
    pub = path if path.suffix == ".pub" else path.with_name(path.name + ".pub")
    if pub.is_file():
        parts = pub.read_text(encoding="utf-8").split()
        if len(parts) >= 2:
            return f"{parts[0]} {parts[1]}"
    proc = _run(["-y", "-f", str(path)], b"")
    parts = proc.stdout.decode("ascii", "replace").split()
    if proc.returncode != 0 or len(parts) < 2:
        raise SignatureError(f"cannot read a public key from {path}: {_last_line(proc.stderr)}")
    return f"{parts[0]} {parts[1]}"
