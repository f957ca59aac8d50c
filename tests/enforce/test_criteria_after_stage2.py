"""Issue 12 item 6: after Stage 2, a change to the success criteria in
requirements.md is a requirement change. Every door (the pre-commit hook, a
real push to a bare server with the update hook, ``ftgate ci``) refuses it
unless a re-entry that walks Stage 2 again is under way; wording stays free,
and the honest path (Requirement Gap, new criteria, Stage 2 gate again) is
accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftgate.workflow.model import GateStatus, Stage
from tests.support.gitrepo import Repo
from tests.support.server import make_server, push
from tests.support.tickets import REQUIREMENTS_READY, edit_state, put_ticket

T = "tickets/in-progress/t"
REQ = f"{T}/requirements.md"
RULE = "[criteria-changed]"

REQUIREMENTS = REQUIREMENTS_READY.replace(
    "- SC-001 (R-001): rubric score >= 0.70 on the held-out split.",
    "- SC-001 (R-001): `exact_match >= 0.8` on the held-out split.\n"
    "- SC-002 (R-001): `exact_match` improves on the base model by at least 0.3")
LOWERED = REQUIREMENTS.replace("`exact_match >= 0.8`", "`exact_match >= 0.5`")


def seeded(work: Repo, stage: int = 5) -> None:
    put_ticket(work, "t", stage)
    work.write(REQ, REQUIREMENTS)
    work.commit(f"ticket t at Stage {stage}")


def server(tmp_path: Path, env: dict[str, str], stage: int = 5) -> tuple[Repo, Repo]:
    return make_server(tmp_path, env, setup=lambda w: seeded(w, stage))


def ci(work: Repo, base: str) -> tuple[int, str]:
    proc = work.ftgate("ci", "--base", base, "--head", "HEAD", "--no-github")
    return proc.returncode, proc.stdout + proc.stderr


def test_a_lowered_threshold_is_refused_by_the_server_and_ci(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = server(tmp_path, env)
    base = work.head()
    work.write(REQ, LOWERED)
    work.commit("make SC-001 easier")
    pushed = push(work, "main")
    assert pushed.returncode != 0
    assert RULE in pushed.stderr, pushed.stderr
    line = next(x for x in pushed.stderr.splitlines() if RULE in x)
    assert "ticket 't' is at Stage 5" in line and "SC-001 changed from exact_match >= 0.8 to exact_match >= 0.5" \
        in line, line
    assert 'ftgate reenter t --class "Requirement Gap"' in pushed.stderr
    code, out = ci(work, base)
    assert code == 1 and RULE in out and "SC-001 changed" in out, out
    assert bare.out("rev-parse", "main") == base


def test_added_and_removed_criteria_are_named(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = server(tmp_path, env)
    base = work.head()
    text = REQUIREMENTS.replace("- SC-002 (R-001): `exact_match` improves on the base model by at least 0.3",
                                "- SC-003 (R-001): `eval_loss < 1.5` on the held-out split")
    work.write(REQ, text)
    work.commit("swap a criterion")
    pushed = push(work, "main")
    assert pushed.returncode != 0 and "SC-002 was removed" in pushed.stderr \
        and "SC-003 was added (eval_loss < 1.5)" in pushed.stderr, pushed.stderr
    assert ci(work, base)[0] == 1


def test_wording_and_order_stay_free(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = server(tmp_path, env)
    base = work.head()
    sc1 = "- SC-001 (R-001): `exact_match >= 0.8` on the held-out split."
    sc2 = "- SC-002 (R-001): `exact_match` improves on the base model by at least 0.3"
    text = REQUIREMENTS.replace(f"{sc1}\n{sc2}", f"{sc2}\n\n{sc1.replace('held-out split', 'held-out prompts')}")
    text = text.replace("Answers follow the house style", "Answers keep to the house style")
    assert text != REQUIREMENTS
    work.write(REQ, text)
    work.commit("reword and reorder")
    pushed = push(work, "main")
    assert pushed.returncode == 0, pushed.stderr
    assert ci(work, base)[0] == 0


def test_the_pre_commit_hook_refuses_it(repo: Repo) -> None:
    seeded(repo)
    before = repo.head()
    repo.write(REQ, LOWERED)
    repo.git("add", "-A")
    proc = repo.git("commit", "-q", "-m", "lower the bar", check=False)
    err = proc.stderr.decode()
    assert proc.returncode != 0 and RULE in err and "SC-001 changed" in err, err
    assert repo.head() == before
    # Before Stage 2 is left the criteria are still being written.
    repo.git("reset", "-q", "--hard")


def test_before_stage_2_is_left_the_criteria_are_free(repo: Repo) -> None:
    seeded(repo, stage=2)
    repo.write(REQ, LOWERED)
    repo.git("add", "-A")
    proc = repo.git("commit", "-q", "-m", "still drafting", check=False)
    assert proc.returncode == 0, proc.stderr.decode()


@pytest.mark.parametrize(("klass", "lands", "opens"), [
    ("Plan Impact", 1, False),        # 1 -> 3: skips Stage 2
    ("Local Fix", 4, False),
    ("Investigation Gap", 1, True),   # 1 -> 2 -> ...
    ("Unclear", 0, True),             # 0 -> 1 -> 2 -> ...
])
def test_only_a_reentry_that_walks_stage_2_again_opens_the_criteria(repo: Repo, klass: str, lands: int,
                                                                    opens: bool) -> None:
    seeded(repo, stage=5)
    assert repo.ftgate("reenter", "t", "--class", klass, "--reason", "found at Stage 5").returncode == 0
    repo.git("add", "-A")
    assert repo.git("commit", "-q", "-m", f"re-enter: {klass}", check=False).returncode == 0
    repo.write(REQ, LOWERED)
    repo.git("add", "-A")
    proc = repo.git("commit", "-q", "-m", "change the bar during the re-entry", check=False)
    err = proc.stderr.decode()
    assert (proc.returncode == 0) is opens, err
    if not opens:
        assert RULE in err and f"Stage {lands}" in err, err


def test_the_honest_path_is_accepted_everywhere(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = server(tmp_path, env)
    base = work.head()
    run = work.ftgate("reenter", "t", "--class", "Requirement Gap", "--reason", "0.8 is out of reach for this model")
    assert run.returncode == 0, run.stderr
    work.commit("re-enter: Requirement Gap")
    work.write(REQ, LOWERED)
    work.commit("SC-001: the bar the model can meet")
    adv = work.ftgate("advance", "t")
    assert adv.returncode == 0, adv.stdout + adv.stderr
    work.commit("Stage 2 gate again")
    pushed = push(work, "main")
    assert pushed.returncode == 0, pushed.stderr
    code, out = ci(work, base)
    assert code == 0, out
    # Once Stage 2 is left again, the new criteria are fixed in turn.
    work.write(REQ, REQUIREMENTS)
    work.commit("raise it back without a re-entry")
    again = push(work, "main")
    assert again.returncode != 0 and RULE in again.stderr and "Stage 3" in again.stderr, again.stderr


def test_reentry_and_new_criteria_in_one_commit_are_accepted(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = server(tmp_path, env)
    assert work.ftgate("reenter", "t", "--class", "Requirement Gap", "--reason", "wrong bar").returncode == 0
    work.write(REQ, LOWERED)
    work.commit("re-enter and fix the criteria")
    pushed = push(work, "main")
    assert pushed.returncode == 0, pushed.stderr


def test_an_unreadable_requirements_file_fails_closed(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = server(tmp_path, env)
    base = work.head()
    work.write(REQ, REQUIREMENTS.encode() + b"\n- SC-009 (R-001): \xff\xfe `exact_match >= 0.1`\n")
    work.commit("a requirements.md that is not UTF-8")
    pushed = push(work, "main")
    assert pushed.returncode != 0 and RULE in pushed.stderr, pushed.stderr
    assert f"{REQ}: it is not UTF-8 text" in pushed.stderr
    assert ci(work, base)[0] == 1


def test_a_deleted_requirements_file_removes_every_criterion(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = server(tmp_path, env)
    work.git("rm", "-q", REQ)
    work.commit("drop the requirements")
    pushed = push(work, "main")
    assert pushed.returncode != 0 and "SC-001 was removed" in pushed.stderr and "SC-002 was removed" \
        in pushed.stderr, pushed.stderr


def _reads(work: Repo, monkeypatch: pytest.MonkeyPatch) -> tuple[bool, list[str]]:
    """Judge what is staged, recording every object git is asked for."""
    from ftgate.git import plumbing as pl
    from ftgate.git.judge import Judge
    from ftgate.git.precommit import staged_unit

    asked: list[str] = []
    check, read = pl.batch_check, pl.read_objects

    def batch_check(names, **kw):  # type: ignore[no-untyped-def]
        asked.extend(names)
        return check(names, **kw)

    def read_objects(oids, **kw):  # type: ignore[no-untyped-def]
        asked.extend(oids)
        return read(oids, **kw)

    monkeypatch.setattr(pl, "batch_check", batch_check)
    monkeypatch.setattr(pl, "read_objects", read_objects)
    judged = Judge(cwd=str(work.path)).judge([staged_unit(str(work.path))])[0]
    monkeypatch.undo()
    return judged.verdict.allowed, asked


@pytest.mark.parametrize("stage", [1, 2, 5])
def test_requirements_are_read_only_when_the_rule_needs_them(repo: Repo, monkeypatch: pytest.MonkeyPatch,
                                                             stage: int) -> None:
    seeded(repo, stage)
    old_blob = repo.out("rev-parse", f"HEAD:{REQ}")
    state_blob = repo.out("rev-parse", f"HEAD:{T}/workflow-state.md")
    # A commit that does not touch requirements.md asks for neither.
    repo.write(f"{T}/notes.md", "notes\n")
    repo.git("add", "-A")
    allowed, asked = _reads(repo, monkeypatch)
    assert allowed
    assert not [a for a in asked if a.endswith("requirements.md") or a == old_blob], asked
    repo.commit("notes")
    # One that does: at Stage 2 nothing more is read (the criteria are open
    # whatever the state says), at Stage 1 the state's text (a Plan Impact
    # re-entry there skips Stage 2), past Stage 2 both versions of the file.
    repo.write(REQ, LOWERED)
    repo.git("add", "-A")
    allowed, asked = _reads(repo, monkeypatch)
    assert allowed == (stage < 3)
    # (the judge reads the state once for its stage; the rule again only at Stage 1)
    assert asked.count(state_blob) == (2 if stage == 1 else 1), asked
    assert (f"HEAD:{REQ}" in asked) == (stage == 5), asked


def test_gate_status_untouched_by_a_same_stage_requirement_edit(tmp_path: Path, env: dict[str, str]) -> None:
    """A criteria change cannot hide behind a state edit in the same commit
    that stays past Stage 2 (a gate recorded again, a note)."""
    bare, work = server(tmp_path, env)
    edit_state(work, T, lambda e: e.set_gate(Stage.TRAINING, GateStatus.IN_PROGRESS))
    work.write(REQ, LOWERED)
    work.commit("touch the state and lower the bar")
    pushed = push(work, "main")
    assert pushed.returncode != 0 and RULE in pushed.stderr, pushed.stderr


def test_pre_push_and_pre_receive_refuse_it_too(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = make_server(tmp_path, env, hook="pre-receive", setup=lambda w: seeded(w, 5))
    assert work.ftgate("install").returncode == 0  # the client hooks, pre-push among them
    base = work.head()
    work.write(REQ, LOWERED)
    work.commit("make SC-001 easier")
    local = push(work, "main", extra=())
    assert local.returncode != 0 and RULE in local.stderr and "remote:" not in local.stderr, local.stderr
    server = push(work, "main")
    assert server.returncode != 0 and RULE in server.stderr and "remote:" in server.stderr, server.stderr
    assert bare.out("rev-parse", "main") == base
