"""Signing and verification with real keys made by ssh-keygen in the test."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ftgate import sshsig


def _key(tmp: Path, name: str) -> Path:
    path = tmp / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)], check=True)
    return path


def _signers(*entries: tuple[str, Path], namespaces: str | None = None) -> bytes:
    opts = f' namespaces="{namespaces}"' if namespaces else ""
    return "".join(f"{who}{opts} {sshsig.public_key_of(key)}\n" for who, key in entries).encode()


def test_a_listed_key_verifies_and_names_its_principal(tmp_path: Path) -> None:
    alice = _key(tmp_path, "alice")
    sig = sshsig.sign(b"ticket t: unlock", key=alice, namespace=sshsig.APPROVAL_NAMESPACE)
    signers = _signers(("alice@example.com", alice))
    assert sshsig.verify(b"ticket t: unlock", sig, allowed_signers=signers,
                         namespace=sshsig.APPROVAL_NAMESPACE) == "alice@example.com"


def test_tampered_data_other_namespace_and_unlisted_key_are_refused(tmp_path: Path) -> None:
    alice, mallory = _key(tmp_path, "alice"), _key(tmp_path, "mallory")
    signers = _signers(("alice@example.com", alice))
    sig = sshsig.sign(b"ticket t: unlock", key=alice, namespace=sshsig.APPROVAL_NAMESPACE)
    with pytest.raises(sshsig.SignatureError, match="does not match"):
        sshsig.verify(b"ticket t: done", sig, allowed_signers=signers, namespace=sshsig.APPROVAL_NAMESPACE)
    # An evidence signature is never an approval, even by the same key.
    evidence_sig = sshsig.sign(b"ticket t: unlock", key=alice, namespace=sshsig.EVIDENCE_NAMESPACE)
    with pytest.raises(sshsig.SignatureError):
        sshsig.verify(b"ticket t: unlock", evidence_sig, allowed_signers=_signers(
            ("alice@example.com", alice), namespaces=sshsig.APPROVAL_NAMESPACE), namespace=sshsig.APPROVAL_NAMESPACE)
    forged = sshsig.sign(b"ticket t: unlock", key=mallory, namespace=sshsig.APPROVAL_NAMESPACE)
    with pytest.raises(sshsig.SignatureError, match="not in the allowed signers"):
        sshsig.verify(b"ticket t: unlock", forged, allowed_signers=signers, namespace=sshsig.APPROVAL_NAMESPACE)
    with pytest.raises(sshsig.SignatureError, match="not an SSH signature"):
        sshsig.verify(b"x", "Signed-off-by: alice@example.com", allowed_signers=signers,
                      namespace=sshsig.APPROVAL_NAMESPACE)


def test_a_missing_key_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(sshsig.SignatureError, match="does not exist"):
        sshsig.sign(b"x", key=tmp_path / "nope", namespace=sshsig.APPROVAL_NAMESPACE)
