"""Approvals at the local commit hook, in ftgate.yaml, and `ftgate approve`
with git's own signing key setting."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ftgate.errors import FtgateError
from ftgate.policy.approvals import init_block
from ftgate.policy.config import parse_config
from tests.approvals.test_approvals import ALICE, SIGNERS, _as, _config, _finished, _server, _squash, _unlock
from tests.support.server import push


def test_the_local_commit_hook_asks_for_the_same_approval(tmp_path: Path, git_env: dict[str, str]) -> None:
    _, work, keys = _server(tmp_path, git_env)
    assert work.ftgate("install").returncode == 0
    _unlock(work)
    work.git("add", "-A")
    refused = work.git("commit", "-q", "-m", "t: unlock", check=False)
    said = refused.stderr.decode()
    assert refused.returncode != 0 and "`unlock` needs a signed approval" in said, said
    assert f"one of {ALICE}" in said and "ftgate approve t --transition unlock" in said

    approved = work.ftgate("approve", "t", "--transition", "unlock", "--key", str(keys["alice"]))
    assert approved.returncode == 0, approved.stderr
    assert f"who may approve here: {ALICE}" in approved.stdout
    work.git("add", "-A")
    accepted = work.git("commit", "-q", "-m", "t: unlock, approved", check=False)
    assert accepted.returncode == 0, accepted.stderr.decode()


def test_approve_takes_gits_ssh_signing_key(tmp_path: Path, git_env: dict[str, str]) -> None:
    _, work, keys = _server(tmp_path, git_env)
    _unlock(work)
    missing = work.ftgate("approve", "t", "--transition", "unlock")
    assert missing.returncode != 0 and "no signing key" in missing.stderr and "--key" in missing.stderr
    work.git("config", "gpg.format", "ssh")
    work.git("config", "user.signingkey", str(keys["alice"]))
    done = work.ftgate("approve", "t", "--transition", "unlock")
    assert done.returncode == 0, done.stderr
    assert (work.path / "tickets/in-progress/t/approvals/unlock.sig").read_text().startswith(
        "-----BEGIN SSH SIGNATURE-----")
    base = work.head()
    work.commit("t: unlock, approved")
    assert push(work, "HEAD:main").returncode == 0
    assert work.ftgate("ci", "--base", base, "--head", "HEAD", "--no-github").returncode == 0


def test_changing_who_may_approve_is_a_policy_change(tmp_path: Path, git_env: dict[str, str]) -> None:
    """Adding your own key to the allowed signers needs a ticket, like
    ftgate.yaml; and a key added in the same push does not approve yet."""
    _, work, keys = _server(tmp_path, git_env)
    base = work.head()
    from ftgate import sshsig

    work.write(SIGNERS, f"mallory@example.com {sshsig.public_key_of(keys['mallory'])}\n")
    work.commit("list my own key")
    pushed = push(work, "HEAD:main")
    assert pushed.returncode != 0 and f"modified {SIGNERS}: source may change only at Stage 4 Unlocked" \
        in pushed.stderr, pushed.stderr

    # Listed in the very commit that uses it: the parent's list judges.
    _unlock(work)
    done = work.ftgate("approve", "t", "--transition", "unlock", "--key", str(keys["mallory"]))
    assert done.returncode == 0, done.stderr
    work.git("reset", "-q", "--soft", base)
    work.commit("t: unlock, with my own key listed")
    pushed = push(work, "HEAD:main")
    assert pushed.returncode != 0 and "not in the allowed signers" in pushed.stderr, pushed.stderr
    judged = work.ftgate("ci", "--base", base, "--head", "HEAD", "--no-github")
    assert judged.returncode == 1 and "not in the allowed signers" in judged.stdout


def test_a_squash_under_verified_evidence_needs_the_evidence(tmp_path: Path, git_env: dict[str, str]) -> None:
    _, work, keys = _server(tmp_path, git_env, stage=None)
    work.write("ftgate.yaml", _config(evidence="verified"))
    work.git("add", "-A")
    work.git("commit", "-q", "--no-verify", "-m", "evidence must verify")
    work.git("push", "-q", "--no-verify", "origin", "HEAD:main", check=False)
    base = work.head()
    _finished(work, "s")
    work.write("src/train.py", "print('the finished work')\n")
    assert work.ftgate("approve", "s", "--transition", "done", "--key", str(keys["alice"])).returncode == 0
    _squash(work, git_env, "Finish s (squashed)")
    judged = work.ftgate("ci", "--base", base, "--head", "HEAD", "--no-github")
    assert judged.returncode == 1, judged.stdout
    assert "the ticket is not finished" in judged.stdout and "Stage 5 gate does not pass" in judged.stdout


def test_the_approvals_block_validates_with_line_and_key() -> None:
    config = parse_config(_config())
    assert config.approvals is not None and config.approvals.separate
    assert config.approvals.transitions == ["unlock", "done"]
    assert parse_config("version: 1\n").approvals is None
    with pytest.raises(FtgateError, match=r"ftgate.yaml:3: `approvals.transitions.0`"):
        parse_config("version: 1\napprovals:\n  transitions: [merge]\n")
    with pytest.raises(FtgateError, match=r"allowed_signers.*relative path"):
        parse_config("approvals:\n  allowed_signers: ../keys\n")
    with pytest.raises(FtgateError, match=r"tickets/"):
        parse_config("approvals:\n  allowed_signers: tickets/keys\n")
    offered = parse_config("version: 1\n" + init_block())
    assert offered.approvals is not None and offered.approvals.allowed_signers == ".ftgate/allowed_signers"


def test_the_squash_author_may_not_approve_it_under_separate(tmp_path: Path, git_env: dict[str, str]) -> None:
    _, work, keys = _server(tmp_path, git_env, stage=None)
    base = work.head()
    _finished(work, "s")
    work.write("src/train.py", "print('the finished work')\n")
    assert work.ftgate("approve", "s", "--transition", "done", "--key", str(keys["alice"])).returncode == 0
    work.git("add", "-A")
    subprocess.run(["git", "commit", "-q", "--no-verify", "-m", "squash"], cwd=work.path,
                   env=_as(git_env, ALICE), check=True)
    pushed = push(work, "HEAD:main")
    assert pushed.returncode != 0 and "`separate: true` asks for someone else" in pushed.stderr, pushed.stderr
    judged = work.ftgate("ci", "--base", base, "--head", "HEAD", "--no-github")
    assert judged.returncode == 1 and "asks for someone else" in judged.stdout
