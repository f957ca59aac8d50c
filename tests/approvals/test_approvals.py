"""Signed approvals against a real bare server with the `update` hook and
through `ftgate ci`, with ssh keys made here by ssh-keygen and commits
really signed by git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ftgate import sshsig
from ftgate.workflow.model import Permission, Stage
from tests.support.gitrepo import Repo
from tests.support.server import bare_and_clone, push
from tests.support.tickets import edit_state, fill, put_ticket, state_text

pytestmark = pytest.mark.skipif(subprocess.run(["which", "ssh-keygen"], capture_output=True).returncode != 0,
                                reason="ssh-keygen is needed to make and check signatures")

SIGNERS = ".ftgate/allowed_signers"
ALICE = "alice@example.com"
DEV = "dev@example.com"


def _key(tmp: Path, name: str) -> Path:
    path = tmp / "keys" / name
    path.parent.mkdir(exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)], check=True)
    return path


def _config(*, approvals: bool = True, separate: bool = True, evidence: str = "report",
            transitions: str = "unlock, done") -> str:
    text = f"version: 1\nstage5_evidence: {evidence}\n"
    if approvals:
        text += (f"approvals:\n  transitions: [{transitions}]\n  allowed_signers: {SIGNERS}\n"
                 f"  separate: {'true' if separate else 'false'}\n")
    return text


def _server(tmp_path: Path, env: dict[str, str], *, approvals: bool = True, stage: int | None = 4,
            transitions: str = "unlock, done") -> tuple[Repo, Repo, dict[str, Path]]:
    """A bare server with the update hook, and a clone; ftgate.yaml, the
    allowed signers (alice only) and a ticket `t` at ``stage`` are set up
    before the hook judges anything."""
    keys = {name: _key(tmp_path, name) for name in ("alice", "mallory", "dev")}
    bare, work = bare_and_clone(tmp_path, env)
    work.write("ftgate.yaml", _config(approvals=approvals, transitions=transitions))
    work.write(SIGNERS, f"{ALICE} {sshsig.public_key_of(keys['alice'])}\n")
    if stage is not None:
        put_ticket(work, "t", stage)
    work.commit("initial")
    work.git("push", "-q", "origin", "main")
    done = work.ftgate("install", "--server", str(bare.path), "--hook", "update")
    assert done.returncode == 0, done.stderr
    return bare, work, keys


def _as(env: dict[str, str], email: str) -> dict[str, str]:
    return {**env, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_NAME": email.split("@")[0]}


def _unlock(work: Repo) -> None:
    edit_state(work, "tickets/in-progress/t", lambda e: e.set_token("codeeditpermission", Permission.UNLOCKED))


def _ci(work: Repo, base: str) -> subprocess.CompletedProcess[str]:
    return work.ftgate("ci", "--base", base, "--head", "HEAD", "--branch", "main", "--no-github")


def _refused(work: Repo, base: str, *words: str) -> None:
    pushed = push(work, "HEAD:main")
    assert pushed.returncode != 0, pushed.stderr
    judged = _ci(work, base)
    assert judged.returncode == 1, judged.stdout + judged.stderr
    for word in words:
        assert word in pushed.stderr, pushed.stderr
        assert word in judged.stdout + judged.stderr, judged.stdout + judged.stderr


def _accepted(work: Repo, base: str) -> None:
    judged = _ci(work, base)
    assert judged.returncode == 0, judged.stdout + judged.stderr
    pushed = push(work, "HEAD:main")
    assert pushed.returncode == 0, pushed.stderr


def _approve(work: Repo, key: Path, transition: str = "unlock", name: str = "t") -> None:
    done = work.ftgate("approve", name, "--transition", transition, "--key", str(key))
    assert done.returncode == 0, done.stderr
    assert "git add" in done.stdout


def test_unlock_needs_a_listed_signature_and_a_trailer_is_not_one(tmp_path: Path, git_env: dict[str, str]) -> None:
    _, work, keys = _server(tmp_path, git_env)
    base = work.head()

    _unlock(work)
    work.commit("t: unlock")
    _refused(work, base, "`unlock` needs a signed approval", ALICE,
             "ftgate approve t --transition unlock")

    work.git("commit", "--amend", "-q", "--no-verify", "-m", f"t: unlock\n\nSigned-off-by: Alice <{ALICE}>")
    _refused(work, base, "not a signature")

    work.git("reset", "-q", "--hard", base)
    _unlock(work)
    _approve(work, keys["mallory"])
    work.commit("t: unlock, approved by mallory")
    _refused(work, base, "not in the allowed signers")

    work.git("reset", "-q", "--hard", base)
    _unlock(work)
    _approve(work, keys["alice"])
    work.commit("t: unlock, approved")
    _accepted(work, base)


def test_an_approval_of_other_files_does_not_count(tmp_path: Path, git_env: dict[str, str]) -> None:
    _, work, keys = _server(tmp_path, git_env)
    base = work.head()
    _approve(work, keys["alice"])  # signed while the state still says Locked
    _unlock(work)
    work.commit("t: unlock")
    _refused(work, base, "signs the ticket's files as they were", "workflow-state.md")


def test_a_commit_signed_by_a_listed_key_approves(tmp_path: Path, git_env: dict[str, str]) -> None:
    _, work, keys = _server(tmp_path, git_env)
    base = work.head()
    _unlock(work)
    work.git("add", "-A")
    work.git("-c", "gpg.format=ssh", "-c", f"user.signingkey={keys['alice']}", "commit", "-q", "--no-verify",
             "-S", "-m", "t: unlock, signed")
    _accepted(work, base)


def test_a_commit_signed_by_an_unlisted_key_does_not(tmp_path: Path, git_env: dict[str, str]) -> None:
    _, work, keys = _server(tmp_path, git_env)
    base = work.head()
    _unlock(work)
    work.git("add", "-A")
    work.git("-c", "gpg.format=ssh", "-c", f"user.signingkey={keys['mallory']}", "commit", "-q", "--no-verify",
             "-S", "-m", "t: unlock, signed by mallory")
    _refused(work, base, "needs a signed approval")


def test_the_approver_may_not_author_the_source_under_separate(tmp_path: Path, git_env: dict[str, str]) -> None:
    _, work, keys = _server(tmp_path, git_env)
    _unlock(work)
    _approve(work, keys["alice"])
    work.commit("t: unlock, approved")
    assert push(work, "HEAD:main").returncode == 0
    base = work.head()

    work.write("src/train.py", "print('alice trains')\n")
    work.git("add", "-A")
    subprocess.run(["git", "commit", "-q", "--no-verify", "-m", "alice changes the source"],
                   cwd=work.path, env=_as(git_env, ALICE), check=True)
    _refused(work, base, "`separate: true` asks for someone else", f"approved by {ALICE}")

    work.git("reset", "-q", "--hard", base)
    work.write("src/train.py", "print('dev trains')\n")
    work.git("add", "-A")
    subprocess.run(["git", "commit", "-q", "--no-verify", "-m", "dev changes the source"],
                   cwd=work.path, env=_as(git_env, DEV), check=True)
    _accepted(work, base)


# ------------------------------------------------------------------ squash merges


def _finished(work: Repo, name: str, *, stage: int = 8) -> str:
    """A ticket as a squash merge carries it: every artifact written, the
    state at ``stage`` with the gates below it recorded Pass and, at Stage 8,
    archived by ``ftgate done`` itself; short of Stage 8, archived by hand."""
    folder = f"tickets/in-progress/{name}"
    work.write(f"{folder}/workflow-state.md", state_text(name, stage))
    for one in Stage:
        if one <= stage:
            fill(work.path / folder, one, name)
    if stage < 8:
        work.git("add", "-A")
        (work.path / "tickets" / "done").mkdir()
        work.git("mv", folder, f"tickets/done/{name}")
        return f"tickets/done/{name}"
    # Approved afterwards, by `ftgate approve` (the squash tests sign after the source is final).
    done = work.ftgate("done", name, "--verified-by", "Alice Approver", "--unsigned")
    assert done.returncode == 0, done.stdout + done.stderr
    return f"tickets/done/{name}"


def _squash(work: Repo, env: dict[str, str], message: str) -> None:
    work.git("add", "-A")
    subprocess.run(["git", "commit", "-q", "--no-verify", "-m", message], cwd=work.path, env=_as(env, DEV),
                   check=True)


def test_a_squash_of_a_finished_ticket_with_a_done_approval_is_accepted(tmp_path: Path,
                                                                       git_env: dict[str, str]) -> None:
    _, work, keys = _server(tmp_path, git_env, stage=None)
    base = work.head()
    work.git("checkout", "-q", "-b", "squash")
    _finished(work, "s")
    work.write("src/train.py", "print('the finished work')\n")
    _approve(work, keys["alice"], "done", "s")
    _squash(work, git_env, "Finish s (squashed)")
    _accepted(work, base)


def test_a_squash_with_source_the_approval_did_not_sign_is_refused(tmp_path: Path,
                                                                   git_env: dict[str, str]) -> None:
    _, work, keys = _server(tmp_path, git_env, stage=None)
    base = work.head()
    _finished(work, "s")
    work.write("src/train.py", "print('the finished work')\n")
    _approve(work, keys["alice"], "done", "s")
    work.write("src/train.py", "print('changed after the approval')\n")
    _squash(work, git_env, "Finish s (squashed)")
    _refused(work, base, "signs src/train.py as it was")


def test_a_squash_of_an_unfinished_ticket_says_what_is_missing(tmp_path: Path, git_env: dict[str, str]) -> None:
    _, work, keys = _server(tmp_path, git_env, stage=None)
    base = work.head()
    _finished(work, "s", stage=6)
    work.write("src/train.py", "print('half done')\n")
    _approve(work, keys["alice"], "done", "s")
    _squash(work, git_env, "Finish s (squashed)")
    _refused(work, base, "the ticket is not finished", "it is at Stage 6, not finished at Stage 8",
             "the Stage 6 gate is recorded")


def test_a_squash_without_approvals_is_refused(tmp_path: Path, git_env: dict[str, str]) -> None:
    _, work, _ = _server(tmp_path, git_env, approvals=False, stage=None)
    base = work.head()
    _finished(work, "s")
    work.write("src/train.py", "print('the finished work')\n")
    _squash(work, git_env, "Finish s (squashed)")
    _refused(work, base, "accepts a squash only when approvals are on", "turn approvals on", "merge commit")


def test_reopening_an_archived_ticket_needs_its_approval(tmp_path: Path, git_env: dict[str, str]) -> None:
    _, work, keys = _server(tmp_path, git_env, stage=None, transitions="unlock, done, reopen")
    _finished(work, "s")
    work.write("src/train.py", "print('the finished work')\n")
    _approve(work, keys["alice"], "done", "s")
    _squash(work, git_env, "Finish s (squashed)")
    assert push(work, "HEAD:main").returncode == 0
    base = work.head()

    reopened = work.ftgate("reopen", "s", "--stage", "8")
    assert reopened.returncode == 0, reopened.stderr
    work.commit("s: reopen")
    _refused(work, base, "`reopen` needs a signed approval", "ftgate approve s --transition reopen")

    _approve(work, keys["alice"], "reopen", "s")
    work.git("add", "-A")
    work.git("commit", "-q", "--amend", "--no-verify", "-m", "s: reopen, approved")
    _accepted(work, base)
