"""Issue 12 item 6: when ftgate.yaml lists `waive` under approvals, a ticket
leaves Stage 5 with a criterion decided Waived only under a signed approval
by a listed key. Real ssh keys made here, a real bare server with the update
hook, `ftgate ci`, and `ftgate evidence verify` in the checkout."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ftgate import sshsig
from tests.approvals.test_approvals import ALICE, SIGNERS, _approve, _ci, _config, _key
from tests.support.gitrepo import Repo
from tests.support.server import bare_and_clone, push
from tests.support.tickets import REPORT_READY, fill_ticket, put_ticket

pytestmark = pytest.mark.skipif(subprocess.run(["which", "ssh-keygen"], capture_output=True).returncode != 0,
                                reason="ssh-keygen is needed to make and check signatures")

T = "tickets/in-progress/t"
WAIVED = REPORT_READY.replace("| 0.78 | Passed | |",
                              "| 0.62 | Waived | the rubric changed; agreed with the product owner |")
ROW = "SC-001 (training-validation-report.md line 21)"


def _server(tmp_path: Path, env: dict[str, str], *, transitions: str = "waive", approvals: bool = True,
            evidence: str = "report") -> tuple[Repo, Repo, dict[str, Path]]:
    """A server whose ticket `t` is at Stage 5 with its report closing SC-001
    as Waived (a reason a person wrote), set up before the hook is installed."""
    keys = {name: _key(tmp_path, name) for name in ("alice", "mallory")}
    bare, work = bare_and_clone(tmp_path, env)
    work.write("ftgate.yaml", _config(approvals=approvals, transitions=transitions, evidence=evidence))
    work.write(SIGNERS, f"{ALICE} {sshsig.public_key_of(keys['alice'])}\n")
    put_ticket(work, "t", 5)
    fill_ticket(work, T, 6)
    work.write(f"{T}/training-validation-report.md", WAIVED)
    work.commit("ticket t at Stage 5, SC-001 waived")
    work.git("push", "-q", "origin", "main")
    done = work.ftgate("install", "--server", str(bare.path), "--hook", "update")
    assert done.returncode == 0, done.stderr
    return bare, work, keys


def _advance(work: Repo) -> None:
    done = work.ftgate("advance", "t")
    assert done.returncode == 0, done.stdout + done.stderr


def test_leaving_stage_5_with_an_unsigned_waiver_is_refused(tmp_path: Path, git_env: dict[str, str]) -> None:
    bare, work, _ = _server(tmp_path, git_env)
    base = work.head()
    assert WAIVED.splitlines()[20].startswith("| SC-001 |")  # the row ROW names
    _advance(work)
    work.commit("t: Stage 5 passed, SC-001 waived")
    pushed = push(work, "HEAD:main")
    assert pushed.returncode != 0
    line = next(x for x in pushed.stderr.splitlines() if "[approval-missing]" in x)
    assert f"`waive` ({ROW} decided Waived) needs a signed approval by one of {ALICE}" in line, line
    assert "ftgate approve t --transition waive" in pushed.stderr
    judged = _ci(work, base)
    assert judged.returncode == 1 and "`waive` (SC-001" in judged.stdout, judged.stdout
    assert bare.out("rev-parse", "main") == base


def test_a_waiver_signed_by_an_unlisted_key_is_refused(tmp_path: Path, git_env: dict[str, str]) -> None:
    _, work, keys = _server(tmp_path, git_env)
    base = work.head()
    _advance(work)
    _approve(work, keys["mallory"], "waive")
    work.commit("t: Stage 5 passed, waiver approved by mallory")
    pushed = push(work, "HEAD:main")
    assert pushed.returncode != 0 and "not in the allowed signers" in pushed.stderr, pushed.stderr
    assert _ci(work, base).returncode == 1


def test_a_waiver_approved_before_the_advance_is_accepted(tmp_path: Path, git_env: dict[str, str]) -> None:
    """The approval signs the report and evidence, not the state file, so
    the order a person works in (approve, then advance) holds."""
    bare, work, keys = _server(tmp_path, git_env)
    base = work.head()
    _approve(work, keys["alice"], "waive")
    record = json.loads((work.path / T / "approvals/waive.json").read_text())
    assert "workflow-state.md" not in record["files"] and "training-validation-report.md" in record["files"]
    _advance(work)
    work.commit("t: Stage 5 passed, waiver approved by alice")
    judged = _ci(work, base)
    assert judged.returncode == 0, judged.stdout + judged.stderr
    pushed = push(work, "HEAD:main")
    assert pushed.returncode == 0, pushed.stderr
    assert bare.out("rev-parse", "main") == work.head()


def test_a_report_edited_after_the_approval_is_refused(tmp_path: Path, git_env: dict[str, str]) -> None:
    _, work, keys = _server(tmp_path, git_env)
    _approve(work, keys["alice"], "waive")
    report = work.path / T / "training-validation-report.md"
    report.write_text(WAIVED.replace("agreed with the product owner", "nobody minds"))
    _advance(work)
    work.commit("t: Stage 5 passed, reason changed after the approval")
    pushed = push(work, "HEAD:main")
    assert pushed.returncode != 0 and "signs the ticket's files as they were" in pushed.stderr \
        and "training-validation-report.md" in pushed.stderr, pushed.stderr


def test_without_waive_in_approvals_nothing_changes(tmp_path: Path, git_env: dict[str, str]) -> None:
    for i, (approvals, transitions) in enumerate(((False, "unlock"), (True, "unlock, done"))):
        (tmp_path / str(i)).mkdir()
        bare, work, _ = _server(tmp_path / str(i), git_env, approvals=approvals, transitions=transitions)
        _advance(work)
        work.commit("t: Stage 5 passed, SC-001 waived")
        pushed = push(work, "HEAD:main")
        assert pushed.returncode == 0, pushed.stderr
        verified = work.ftgate("evidence", "verify", "t")
        assert "Waived needs a signed" not in verified.stdout, verified.stdout


def test_evidence_verify_names_the_row_who_may_approve_and_the_command(tmp_path: Path,
                                                                      git_env: dict[str, str]) -> None:
    _, work, keys = _server(tmp_path, git_env, evidence="verified")
    verified = work.ftgate("evidence", "verify", "t", "--json")
    assert verified.returncode == 1
    found = [f for f in json.loads(verified.stdout)["findings"] if "Waived needs" in f["message"]]
    assert len(found) == 1, verified.stdout
    assert found[0]["path"] == f"{T}/training-validation-report.md" and found[0]["line"] == 21
    message = found[0]["message"]
    assert message.startswith("SC-001: Waived needs a signed `waive` approval by one of " + ALICE), message
    assert "there is no approvals/waive.sig" in message and "ftgate approve t --transition waive" in message

    _approve(work, keys["mallory"], "waive")
    verified = work.ftgate("evidence", "verify", "t")
    assert "SC-001: Waived needs" in verified.stdout and "not in the allowed signers" in verified.stdout

    _approve(work, keys["alice"], "waive")
    verified = work.ftgate("evidence", "verify", "t")
    assert "Waived needs" not in verified.stdout, verified.stdout
    # The approval signs what it saw: a later edit of the report voids it.
    report = work.path / T / "training-validation-report.md"
    report.write_text(report.read_text().replace("product owner", "team"))
    verified = work.ftgate("evidence", "verify", "t")
    assert "signs the ticket's files as they were" in verified.stdout, verified.stdout


def test_the_local_stage_5_gate_says_so_before_the_push(tmp_path: Path, git_env: dict[str, str]) -> None:
    _, work, keys = _server(tmp_path, git_env, evidence="verified")
    refused = work.ftgate("advance", "t")
    assert refused.returncode != 0
    assert "SC-001: Waived needs a signed `waive` approval" in refused.stdout + refused.stderr
