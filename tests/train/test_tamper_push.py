"""The tamper suite through the doors nobody can skip: each forgery of the
signed run, committed with the ticket advanced out of Stage 5, is refused by
a real `git push` to a bare server with ftgate's `update` hook, naming its
reason, and by `ftgate ci` over the same range in a fresh CI checkout, run
as examples/github-actions/ftgate.yml runs it. The honest walk passes both.
One forgery and the honest walk also go through the `pre-receive` variant.

Set-up, once for the module: a copy of the session's signed run
(``signed_run``, trained once with test_tamper.py), its ticket (and a second
one, for the copied-evidence forgery) walked to Stage 5 and pushed before the
hook exists, then the run's evidence committed at Stage 5 and pushed through
the hook, and `ftgate advance` run once honestly to learn the Stage 6 state
an honest user commits. Each test then forges a private copy of that clone.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import tests.support.trainer as tp
from tests.support import tamper
from tests.support.gitrepo import Repo, git_env
from tests.support.server import install_server_hook, push
from tests.support.tickets import IMPLEMENTATION_READY, INVESTIGATION_CURRENT, PLAN_CURRENT, state_text

pytestmark = pytest.mark.train

OTHER = "other-ticket"


def _folder(ticket: str = tp.TICKET) -> str:
    return f"tickets/in-progress/{ticket}"


@dataclass
class Door:
    clone: Path  # at the honest Stage 5 commit, with the base weights beside it (untracked)
    bare: Repo
    env: dict[str, str]
    stage5: str
    stage6: dict[str, str]  # what the honest `ftgate advance` wrote, by path


def _seed_ticket(work: Repo, name: str) -> list[str]:
    """The files of ``name`` walked to Stage 5 (not its report or evidence)."""
    files = {"workflow-state.md": state_text(name, 5), "requirements.md": tamper.STATED,
             "investigation-notes.md": INVESTIGATION_CURRENT, "implementation-plan.md": PLAN_CURRENT,
             "implementation.md": IMPLEMENTATION_READY}
    for file, text in files.items():
        work.write(f"{_folder(name)}/{file}", text)
    return [f"{_folder(name)}/{file}" for file in files]


def _fill_gate(root: Path, ticket: str = tp.TICKET) -> None:
    """What the person closing Stage 5 writes in the report: the document is
    current and the decision is Pass (ftgate only proposes it)."""
    report = root / _folder(ticket) / "training-validation-report.md"
    text = report.read_text()
    filled = text.replace("- Current Status: `In Progress`", "- Current Status: `Current`")
    filled = re.sub(r"- Stage 5 Decision: `\w+`", "- Stage 5 Decision: `Pass`", filled)
    assert filled != text
    report.write_text(filled)


@pytest.fixture(scope="module")
def door(signed_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Door:
    tmp = tmp_path_factory.mktemp("door")
    env = git_env(tmp / "home")
    work = Repo(tp.copy_project(signed_run, tmp / "clone"), env)
    bare = Repo(tmp / "server.git", env)
    bare.path.mkdir()
    bare.git("init", "-q", "--bare", "-b", "main")
    work.git("remote", "add", "origin", str(bare.path))
    # Set-up, not steps the server judges (as tests.support.server.make_server):
    # both tickets walked to Stage 5 before the hook is installed.
    work.commit("tickets walked to Stage 5", *_seed_ticket(work, tp.TICKET), *_seed_ticket(work, OTHER))
    work.git("push", "-q", "origin", "main")
    install_server_hook(bare, work)

    # The run's evidence and the report ftgate train wrote, committed at Stage 5.
    work.commit(f"{tamper.RUN}: evidence and report")
    pushed = push(work, "main")
    assert pushed.returncode == 0, pushed.stderr
    stage5 = work.head()

    _fill_gate(work.path)
    advanced = work.ftgate("advance", tp.TICKET)
    assert advanced.returncode == 0, advanced.stdout + advanced.stderr
    status = work.git("status", "--porcelain", "-z", "-uall").stdout.decode()
    changed = [entry[3:] for entry in status.split("\0") if entry]
    report = f"{_folder()}/training-validation-report.md"
    stage6 = {path: (work.path / path).read_text() for path in changed if path != report}
    assert f"{_folder()}/workflow-state.md" in stage6, changed
    work.git("reset", "-q", "--hard", stage5)
    work.git("clean", "-q", "-fd")
    # The weights stay beside the clone but out of git, as usual: the server
    # and a CI checkout do not have them.
    assert (work.path / tamper.MODELS).is_dir()
    assert work.git("ls-files", "--error-unmatch", tamper.MODELS, check=False).returncode != 0
    return Door(work.path, bare, env, stage5, stage6)


@pytest.fixture
def clone(door: Door, tmp_path: Path) -> Repo:
    return Repo(tp.copy_project(door.clone, tmp_path / "clone"), door.env)


def _leave_stage_5(repo: Repo, door: Door, ticket: str = tp.TICKET, message: str = "Stage 5 passed") -> str:
    """The commit an honest user makes after `ftgate advance`: the report's
    gate lines filled, the state and files advance wrote, and whatever else
    the working tree holds (a forgery, here)."""
    _fill_gate(repo.path, ticket)
    for path, text in door.stage6.items():
        repo.write(path.replace(tp.TICKET, ticket), text.replace(tp.TICKET, ticket))
    repo.commit(message)
    return repo.head()


def _ci(door: Door, repo: Repo, base: str, head: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`ftgate ci` as the GitHub workflow runs it: a fresh full checkout of
    the pushed head (no weights, prepared data or checkpoints: they are not
    in git), the range from the target's tip to that head."""
    checkout = Repo(tmp_path / f"ci-{head[:10]}", door.env)
    Repo(tmp_path, door.env).git("clone", "-q", str(door.bare.path), str(checkout.path))
    checkout.git("fetch", "-q", str(repo.path), "HEAD")
    checkout.git("checkout", "-q", "--detach", head)
    summary = tmp_path / "summary.md"
    env = dict(door.env, GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary))
    return checkout.ftgate("ci", "--base", base, "--head", head, env=env)


def _accepted(door: Door, repo: Repo, head: str, tmp_path: Path, *, base: str | None = None) -> tuple[str, str]:
    """Both doors accept ``head``; returns what the push and the CI job printed."""
    base = base or door.stage5
    pushed = push(repo, "HEAD:main")
    assert pushed.returncode == 0, pushed.stderr
    assert door.bare.out("rev-parse", "main") == head
    judged = _ci(door, repo, base, head, tmp_path)
    assert judged.returncode == 0, judged.stdout + judged.stderr
    # The next push starts from ``base`` again.
    door.bare.git("update-ref", "refs/heads/main", base)
    return pushed.stderr, judged.stdout


def _refused(door: Door, repo: Repo, head: str, reason: str, tmp_path: Path, *, base: str | None = None) -> None:
    """Both doors refuse ``head``, naming ``reason``."""
    base = base or door.stage5
    pushed = push(repo, "HEAD:main")
    assert pushed.returncode != 0, pushed.stderr
    assert reason in pushed.stderr, pushed.stderr
    assert "Stage 5 gate does not pass" in pushed.stderr, pushed.stderr
    assert door.bare.out("rev-parse", "main") == base
    judged = _ci(door, repo, base, head, tmp_path)
    assert judged.returncode == 1, judged.stdout + judged.stderr
    assert reason in judged.stdout, judged.stdout
    assert "::error" in judged.stdout


# ------------------------------------------------------------------ the honest walk


def test_the_honest_walk_is_accepted_by_the_server_and_by_ci(door: Door, clone: Repo, tmp_path: Path) -> None:
    head = _leave_stage_5(clone, door)
    verify = clone.ftgate("evidence", "verify", _folder())
    assert verify.returncode == 0, verify.stdout + verify.stderr
    server, ci = _accepted(door, clone, head, tmp_path)
    # Neither a pass nor a silent skip: both doors say what they could not check.
    assert tamper.WEIGHTS_NOT_CHECKED in server, server
    assert tamper.WEIGHTS_NOT_CHECKED in ci, ci


# ------------------------------------------------------------------ forgeries

Forgery = Callable[[Path, dict[str, Path]], str]

FORGERIES: dict[str, Forgery] = {
    "waiver flip with ftgate's own words": lambda root, keys: tamper.waiver_flip(root),
    "waiver without a reason": lambda root, keys: tamper.waiver_without_reason(root),
    "re-hashed forged numbers": lambda root, keys: tamper.rehashed_numbers(root),
    "re-hashed forged loss": lambda root, keys: tamper.forged_loss(root),
    "copy into another run folder": lambda root, keys: tamper.copy_into_run_folder(root),
    "weaker criterion under an existing SC id": lambda root, keys: tamper.weaker_criterion(root),
    "consistent forgery of every file": tamper.every_file_consistently,
    "unsigned evidence": lambda root, keys: tamper.unsigned(root),
    "signature by an unlisted key": tamper.unlisted_key,
    "data re-prepared between kill and resume": lambda root, keys: tamper.killed_and_reprepared(root),
}


@pytest.mark.parametrize("name", list(FORGERIES))
def test_forgery_is_refused_by_the_server_and_by_ci(name: str, door: Door, clone: Repo, keys: dict[str, Path],
                                                    tmp_path: Path) -> None:
    reason = FORGERIES[name](clone.path, keys)
    head = _leave_stage_5(clone, door, message=f"forged: {name}")
    _refused(door, clone, head, reason, tmp_path)


def test_evidence_copied_into_another_ticket_is_refused(door: Door, clone: Repo, tmp_path: Path) -> None:
    reason = tamper.copy_into_ticket(clone.path, OTHER)
    head = _leave_stage_5(clone, door, ticket=OTHER, message="borrowed evidence")
    _refused(door, clone, head, reason, tmp_path)


def test_swapped_base_weights_are_refused_where_the_server_has_them(door: Door, clone: Repo, tmp_path: Path
                                                                    ) -> None:
    # A repository that keeps its base weights in git (they are not source
    # here, so committing them at Stage 5 is allowed and stales nothing).
    clone.git("add", "-f", tamper.MODELS)
    clone.commit("keep the base weights in git")
    committed = clone.head()
    pushed = push(clone, "HEAD:main")
    assert pushed.returncode == 0, pushed.stderr
    try:
        # With the true weights in the tree both doors check them, and pass.
        honest = _leave_stage_5(clone, door)
        server, ci = _accepted(door, clone, honest, tmp_path, base=committed)
        assert tamper.WEIGHTS_NOT_CHECKED not in server + ci
        clone.git("reset", "-q", "--hard", committed)

        reason = tamper.swapped_weights(clone.path)
        clone.git("add", "-f", tamper.MODELS)
        forged = _leave_stage_5(clone, door, message="swapped weights")
        _refused(door, clone, forged, reason, tmp_path, base=committed)
    finally:
        door.bare.git("update-ref", "refs/heads/main", door.stage5)


def test_swapped_base_weights_outside_git_are_reported_not_checked(door: Door, clone: Repo, tmp_path: Path
                                                                   ) -> None:
    """The usual case: the weights are not in git, so neither door can see
    them. What docs/training-evidence.md promises is that both say so."""
    reason = tamper.swapped_weights(clone.path)
    verify = clone.ftgate("evidence", "verify", _folder())
    assert verify.returncode == 1 and reason in verify.stdout + verify.stderr
    head = _leave_stage_5(clone, door)
    server, ci = _accepted(door, clone, head, tmp_path)
    assert tamper.WEIGHTS_NOT_CHECKED in server, server
    assert tamper.WEIGHTS_NOT_CHECKED in ci, ci
    assert reason not in server + ci



def test_the_pre_receive_hook_judges_the_same(door: Door, clone: Repo, keys: dict[str, Path], tmp_path: Path
                                              ) -> None:
    """The whole-push variant (GitLab's): a copy of the server at Stage 5
    with `pre-receive` instead of `update`."""
    bare = Repo(tmp_path / "pre-receive.git", door.env)
    Repo(tmp_path, door.env).git("clone", "-q", "--bare", str(door.bare.path), str(bare.path))
    install_server_hook(bare, clone, hook="pre-receive")
    clone.git("remote", "set-url", "origin", str(bare.path))
    honest = _leave_stage_5(clone, door)
    pushed = push(clone, "HEAD:main")
    assert pushed.returncode == 0 and tamper.WEIGHTS_NOT_CHECKED in pushed.stderr, pushed.stderr
    assert bare.out("rev-parse", "main") == honest
    bare.git("update-ref", "refs/heads/main", door.stage5)
    clone.git("reset", "-q", "--hard", door.stage5)
    reason = tamper.unlisted_key(clone.path, keys)
    _leave_stage_5(clone, door, message="signed by an unlisted key")
    pushed = push(clone, "HEAD:main")
    assert pushed.returncode != 0 and reason in pushed.stderr, pushed.stderr
    assert bare.out("rev-parse", "main") == door.stage5
