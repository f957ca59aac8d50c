"""A run's in-toto Statement and its SSH signature.

``statement.json`` is an in-toto Statement v1: its subject lists every file
of the run folder with its sha256, its predicate is the bound record from
``run.json`` (ticket, run id and path, commit, source, config, data, base
weights, tokenizer, versions, seed). ``statement.json.sig`` is an
``ssh-keygen -Y sign`` signature of the statement's exact bytes in the
evidence namespace. A signer listed in ``evidence_signers`` (an
allowed_signers file named in ftgate.yaml) vouches that the files are the
ones its run wrote: a forger who rewrites every file consistently cannot
re-sign without that key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ftgate import hashing, sshsig
from ftgate.errors import FtgateError

STATEMENT_JSON = "statement.json"
SIGNATURE_FILE = "statement.json.sig"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://ftgate.dev/training-evidence/v1"
# The statement and its signature cannot list themselves.
NOT_SUBJECTS = frozenset({STATEMENT_JSON, SIGNATURE_FILE})

# The keys of run.json that bind it to its place and inputs.
BOUND_KEYS = ("schema", "run_id", "ticket", "run_path", "git", "source", "config", "inputs", "data_manifest_sha256",
              "base_model", "tokenizer", "seed", "environment", "output", "artifacts", "baseline_state")


def predicate(run: Mapping[str, Any]) -> dict[str, Any]:
    """The bound record: the parts of run.json that say what ran, on what, where."""
    out = {k: run[k] for k in BOUND_KEYS if k in run}
    source = out.get("source")
    if isinstance(source, Mapping):
        # The per-file list is in run.json; its combined hash binds it.
        out["source"] = {"hash": source.get("hash")}
    return out


def subject(run_path: Path) -> list[dict[str, Any]]:
    return [{"name": p.name, "digest": {"sha256": hashing.sha256_file(p)}}
            for p in sorted(run_path.iterdir()) if p.is_file() and p.name not in NOT_SUBJECTS]


def build_statement(run_path: Path, run: Mapping[str, Any]) -> bytes:
    statement = {"_type": STATEMENT_TYPE, "subject": subject(run_path), "predicateType": PREDICATE_TYPE,
                 "predicate": predicate(run)}
    return (json.dumps(statement, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n").encode("utf-8")


def write_statement(run_path: Path, run: Mapping[str, Any], *, key: str | Path | None) -> float:
    """Write the statement, and its signature when a key is configured; the seconds signing took."""
    import time

    from ftgate.workflow.fileio import atomic_write_bytes

    data = build_statement(run_path, run)
    atomic_write_bytes(run_path / STATEMENT_JSON, data)
    if key is None:
        return 0.0
    t0 = time.perf_counter()
    signature = sshsig.sign(data, key=key, namespace=sshsig.EVIDENCE_NAMESPACE)
    atomic_write_bytes(run_path / SIGNATURE_FILE, signature.encode("ascii"))
    return time.perf_counter() - t0


def check_statement(run_path: Path, run: Mapping[str, Any]) -> list[str]:
    """What in the folder disagrees with its statement; empty when all agrees."""
    path = run_path / STATEMENT_JSON
    try:
        statement = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"{STATEMENT_JSON} cannot be read ({exc})"]
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE \
            or statement.get("predicateType") != PREDICATE_TYPE:
        return [f"{STATEMENT_JSON} is not an ftgate in-toto Statement v1"]
    problems: list[str] = []
    listed = {s.get("name"): (s.get("digest") or {}).get("sha256") for s in statement.get("subject", [])
              if isinstance(s, dict)}
    actual = {s["name"]: s["digest"]["sha256"] for s in subject(run_path)}
    for name in sorted(str(n) for n in listed.keys() | actual.keys()):
        if name not in actual:
            problems.append(f"{name} is in {STATEMENT_JSON} but missing from the folder")
        elif name not in listed:
            problems.append(f"{name} is in the folder but not in {STATEMENT_JSON}")
        elif listed[name] != actual[name]:
            problems.append(f"{name} differs from the digest in {STATEMENT_JSON}")
    if statement.get("predicate") != json.loads(json.dumps(predicate(run), default=str)):
        problems.append(f"run.json's bound record differs from the predicate of {STATEMENT_JSON}")
    return problems


def check_signature(run_path: Path, allowed_signers: bytes) -> str:
    """The principal who signed the run's statement; SignatureError when unsigned or not trusted."""
    path, sig = run_path / STATEMENT_JSON, run_path / SIGNATURE_FILE
    if not path.is_file():
        raise sshsig.SignatureError(f"has no {STATEMENT_JSON}, so it is unsigned",
                                    hint="re-run with an evidence signing key configured")
    if not sig.is_file():
        raise sshsig.SignatureError(f"is unsigned ({SIGNATURE_FILE} is missing)",
                                    hint="re-run with an evidence signing key configured (see "
                                         "docs/training-evidence.md)")
    try:
        return sshsig.verify(path.read_bytes(), sig.read_text(encoding="ascii"), allowed_signers=allowed_signers,
                             namespace=sshsig.EVIDENCE_NAMESPACE)
    except UnicodeDecodeError:
        raise sshsig.SignatureError(f"{SIGNATURE_FILE} is not an armored SSH signature") from None


def load_signers(root: Path, configured: str | None) -> bytes | None:
    """The allowed_signers bytes that ``evidence_signers`` names, or None when none are configured."""
    if not configured:
        return None
    path = root / configured
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FtgateError(f"ftgate.yaml: evidence_signers: {configured} cannot be read ({exc.strerror})",
                          hint="commit the allowed_signers file, or remove evidence_signers") from None


#: A CI runner's secret key, named in its environment, wins over ftgate.yaml.
SIGNING_KEY_ENV = "FTGATE_EVIDENCE_SIGNING_KEY"


def signing_key(root: Path) -> Path | None:
    """The key evidence is signed with: the environment (a CI runner's secret) first, then ftgate.yaml."""
    import os

    from ftgate.policy.config import load_config

    configured = os.environ.get(SIGNING_KEY_ENV) or load_config(root).evidence_signing_key
    if not configured:
        return None
    path = Path(configured).expanduser()
    return path if path.is_absolute() else root / path
