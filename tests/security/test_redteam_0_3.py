"""Attacks on what 0.3.0 added, each made as a real push to a bare server
with ftgate's hook (and through ``ftgate ci`` where it applies): the
streamed judging of large pushes (past the shown verdicts, across the
batch boundary, under the time budget) and the success-criteria rule after
Stage 2 (a moved ticket folder, a merge that takes another branch's
criteria). Each attack must be refused with the rule named; the last test
is the honest merge the fix must still accept."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ftgate import sshsig
from ftgate.workflow.model import Stage
from tests.approvals.test_approvals import ALICE, SIGNERS, _config, _key
from tests.enforce.test_criteria_after_stage2 import LOWERED, REQ, REQUIREMENTS, seeded
from tests.support import fastimport
from tests.support.gitrepo import Repo
from tests.support.server import bare_and_clone, install_server_hook, make_server, push, seed_ticket
from tests.support.tickets import fill, state_text

STATE = "tickets/in-progress/t/workflow-state.md"


def _git_children_in(folder: Path) -> list[str]:
    """Processes still running with ``folder`` as their working folder."""
    left = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{pid}/cwd") == str(folder):
                left.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return left


# ------------------------------------------------------------------ streaming


def test_more_refusals_than_are_shown_still_refuse_the_push(tmp_path: Path, env: dict[str, str]) -> None:
    """1,050 refused commits: past the 1,000 verdicts shown, the rest are
    counted and the push is still refused."""
    bare, work = make_server(tmp_path, env, stage=4, unlocked=False)
    base = work.head()
    lines: list[str] = []
    for i in range(1050):
        fastimport.commit(lines, 10 + i, parent=base if i == 0 else None, files={"src/train.py": f"x = {i}\n"})
    fastimport.run(work, lines)
    pushed = push(work, "main")
    assert pushed.returncode != 0, pushed.stderr[-2000:]
    assert "and 50 more verdict(s)" in pushed.stderr and "1050 of 1050 change(s) refused" in pushed.stderr, \
        pushed.stderr[-2000:]
    assert bare.out("rev-parse", "main") == base


def test_an_evil_merge_of_a_branch_from_an_earlier_batch_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    """The side branch forks while the ticket is unlocked; 2,100 commits later
    (another batch) main, now locked, merges it with an edit of its own."""
    bare, work = make_server(tmp_path, env, hook="pre-receive", stage=4, unlocked=True)
    base = work.head()
    lines: list[str] = []
    fastimport.commit(lines, 10, ref="refs/heads/side", parent=base, files={"src/side.py": "z = 1\n"})
    fastimport.commit(lines, 11, parent=base, files={STATE: state_text("t", 4)})
    for i in range(2100):
        fastimport.commit(lines, 100 + i, files={f"docs/n{i % 5}.md": f"{i}\n"})
    fastimport.commit(lines, 5000, merge=":10", files={"src/evil.py": "y = 1\n"})
    fastimport.run(work, lines)
    pushed = push(work, "main")
    assert pushed.returncode != 0, pushed.stderr[-2000:]
    assert "1 of 2103 change(s) refused" in pushed.stderr, pushed.stderr[-2000:]
    assert "src/evil.py" in pushed.stderr and "src/side.py" not in pushed.stderr, pushed.stderr[-2000:]
    assert bare.out("rev-parse", "main") == base


def test_the_time_budget_stops_a_streaming_run_and_leaves_no_git_behind(tmp_path: Path,
                                                                        env: dict[str, str]) -> None:
    bare, work = make_server(tmp_path, env, hook="pre-receive", stage=4, unlocked=True)
    base = work.head()
    lines: list[str] = []
    for i in range(20000):
        fastimport.commit(lines, 10 + i, parent=base if i == 0 else None,
                files={f"src/m{i % 9}.py": f"x = {i}\n", f"tickets/in-progress/t/n{i % 7}.md": f"{i}\n"})
    fastimport.run(work, lines)
    started = time.monotonic()
    pushed = push(work, "main", env={**work.env, "FTGATE_HOOK_BUDGET": "0.5"})
    assert time.monotonic() - started < 20
    assert pushed.returncode != 0, pushed.stderr[-2000:]
    assert "time budget of 0.5 s ran out" in pushed.stderr, pushed.stderr[-2000:]
    assert bare.out("rev-parse", "main") == base
    assert _git_children_in(bare.path) == []


def test_odd_path_names_in_one_stream_are_each_judged(tmp_path: Path, env: dict[str, str]) -> None:
    """Names that a line protocol could split or shift (a newline, spaces,
    a 3,000-character path, a ticket folder named with a newline) in one
    push, whose lookups share the run's cat-file processes: every commit is
    refused for what it is, none slips through on a shifted answer."""
    bare, work = make_server(tmp_path, env, stage=4, unlocked=False)
    base = work.head()
    odd = [{"src/" + "d" * 3000 + ".py": "x\n"}, {"src/a\nb.py": "x\n"}, {"src/x y.py": "x\n"},
           {"tickets/in-progress/x\ny/workflow-state.md": state_text("x", 4, unlocked=True), "src/q.py": "x\n"},
           {"src/after.py": "x\n"}]
    lines: list[str] = []
    for i, files in enumerate(odd):
        fastimport.commit(lines, 10 + i, parent=base if i == 0 else None)
        for path, body in files.items():
            quoted = '"' + path.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"') + '"'
            lines += [f"M 100644 inline {quoted}", f"data {len(body.encode())}", body]
    fastimport.run(work, lines)
    pushed = push(work, "main")
    assert pushed.returncode != 0 and "5 of 5 change(s) refused" in pushed.stderr, pushed.stderr[-3000:]
    for word in ('added "src/a\\nb.py"', "added src/x y.py", "the ticket folder name 'x\\ny'", "added src/after.py"):
        assert word in pushed.stderr, pushed.stderr[-3000:]
    assert bare.out("rev-parse", "main") == base


# ------------------------------------------------------------------ criteria after Stage 2


def test_moving_the_ticket_folder_while_changing_a_criterion_is_refused(tmp_path: Path,
                                                                        env: dict[str, str]) -> None:
    bare, work = make_server(tmp_path, env, setup=seeded)
    base = work.head()
    work.git("mv", "tickets/in-progress/t", "tickets/in-progress/u")
    work.write("tickets/in-progress/u/requirements.md", LOWERED)
    work.commit("a new name and an easier bar")
    pushed = push(work, "main")
    assert pushed.returncode != 0, pushed.stderr
    for word in ("[criteria-changed]", "SC-001 was removed", "[illegal-transition]", "[state-deleted]"):
        assert word in pushed.stderr, pushed.stderr
    assert bare.out("rev-parse", "main") == base


def test_archiving_the_ticket_while_changing_a_criterion_is_refused(tmp_path: Path,
                                                                     env: dict[str, str]) -> None:
    """A move to tickets/done/ may take the state out of in-progress; it may
    not take the criteria along changed."""
    bare, work = make_server(tmp_path, env, setup=seeded)
    base = work.head()
    (work.path / "tickets/done").mkdir()
    work.git("mv", "tickets/in-progress/t", "tickets/done/t")
    work.write("tickets/done/t/requirements.md", LOWERED)
    work.commit("archive with an easier bar")
    pushed = push(work, "main")
    assert pushed.returncode != 0 and "[criteria-changed]" in pushed.stderr, pushed.stderr
    assert "SC-001 changed from exact_match >= 0.8 to exact_match >= 0.5" in pushed.stderr, pushed.stderr
    assert bare.out("rev-parse", "main") == base


def test_a_merge_cannot_carry_new_criteria_past_the_stage_2_gate(tmp_path: Path, env: dict[str, str]) -> None:
    """A side branch re-enters (Requirement Gap) and lowers the bar, both
    accepted on their own; the merge into main keeps main's Stage 5 state
    and takes the side's criteria, so main would hold new criteria whose
    Stage 2 gate was never walked again."""
    bare, work = make_server(tmp_path, env, setup=seeded)
    base = work.head()
    work.git("checkout", "-q", "-b", "side")
    assert work.ftgate("reenter", "t", "--class", "Requirement Gap", "--reason", "wrong bar").returncode == 0
    work.write(REQ, LOWERED)
    work.commit("re-enter and lower the bar")
    work.git("checkout", "-q", "main")
    work.write("docs/x.md", "x\n")
    work.commit("something else on main")
    work.git("merge", "-q", "--no-ff", "--no-commit", "side", check=False)
    work.git("checkout", "main", "--", STATE)
    work.git("commit", "-q", "--no-verify", "-m", "merge side, keep main's state")
    assert (work.path / REQ).read_text() == LOWERED
    pushed = push(work, "main")
    assert pushed.returncode != 0 and "[criteria-changed]" in pushed.stderr, pushed.stderr
    assert bare.out("rev-parse", "main") == base
    assert "SC-001 changed from exact_match >= 0.8 to exact_match >= 0.5" in pushed.stderr, pushed.stderr
    ci = work.ftgate("ci", "--base", base, "--head", "HEAD", "--no-github")
    assert ci.returncode == 1 and "[criteria-changed]" in ci.stdout + ci.stderr, ci.stdout + ci.stderr


def _reentry_branch_merging_main(work: Repo, text: str) -> str:
    """On a branch from main's parent: re-enter, lower the bar; then merge
    main (first parent: the branch) keeping main's Stage 5 state and ``text``
    as requirements.md. Returns main's commit."""
    work.write("docs/x.md", "x\n")
    work.commit("something on main")
    work.git("push", "-q", "origin", "main")
    main = work.head()
    work.git("checkout", "-q", "-b", "side", "HEAD~1")
    assert work.ftgate("reenter", "t", "--class", "Requirement Gap", "--reason", "wrong bar").returncode == 0
    work.write(REQ, LOWERED)
    work.commit("re-enter and lower the bar")
    work.git("merge", "-q", "--no-ff", "--no-commit", "main", check=False)
    work.git("checkout", "main", "--", STATE)
    work.write(REQ, text)
    work.git("add", "-A")
    work.git("commit", "-q", "--no-verify", "-m", "merge main, take its state")
    return main


@pytest.mark.parametrize("text", [LOWERED, LOWERED.replace(">= 0.5", ">= 0.4")], ids=["taken", "new"])
def test_a_merge_from_the_reentry_side_cannot_take_back_the_stage_5_state(tmp_path: Path, env: dict[str, str],
                                                                          text: str) -> None:
    """The mirror image: the first parent is the re-entry branch (open), the
    merge takes main's Stage 5 state from the second, so judged against the
    first parent the lowered criteria would pass. Also with criteria that
    differ from both parents (the combined diff shows the file)."""
    bare, work = make_server(tmp_path, env, setup=seeded)
    main = _reentry_branch_merging_main(work, text)
    pushed = push(work, "HEAD:main")
    assert pushed.returncode != 0 and "[criteria-changed]" in pushed.stderr, pushed.stderr
    assert "SC-001 changed from exact_match >= 0.8 to exact_match >= 0." in pushed.stderr, pushed.stderr
    assert bare.out("rev-parse", "main") == main


def test_a_merge_into_a_branch_without_the_ticket_cannot_edit_its_criteria(tmp_path: Path,
                                                                           env: dict[str, str]) -> None:
    """A branch cut before the ticket existed merges main, keeps the
    ticket's Stage 5 state and edits its criteria in the merge: to the first
    parent the ticket is new, but the state it came with is past Stage 2."""

    def branch_then_ticket(work: Repo) -> None:
        work.git("branch", "old")
        seeded(work)

    bare, work = make_server(tmp_path, env, setup=branch_then_ticket)
    main = work.head()
    work.git("checkout", "-q", "old")
    work.write("docs/old.md", "older work\n")
    work.commit("work from before the ticket")
    work.git("merge", "-q", "--no-ff", "--no-commit", "main", check=False)
    work.write(REQ, LOWERED)
    work.git("add", "-A")
    work.git("commit", "-q", "--no-verify", "-m", "merge main, easier bar")
    pushed = push(work, "HEAD:main")
    assert pushed.returncode != 0 and "[criteria-changed]" in pushed.stderr, pushed.stderr
    assert bare.out("rev-parse", "main") == main


def test_a_merge_of_reworded_requirements_and_another_branch_state_is_accepted(tmp_path: Path,
                                                                              env: dict[str, str]) -> None:
    """Wording stays free across a merge: main rewords requirements.md, the
    merge keeps that and a state from the other parent."""
    bare, work = make_server(tmp_path, env, setup=seeded)
    work.git("checkout", "-q", "-b", "side")
    work.write("tickets/in-progress/t/notes.md", "a note\n")
    work.write(STATE, (work.path / STATE).read_text().replace("Stage", "Stage", 1) + "\n")
    work.commit("side touches the state")
    work.git("checkout", "-q", "main")
    work.write(REQ, REQUIREMENTS.replace("on the held-out split", "on the held-out split, reworded"))
    work.commit("reword the criteria")
    work.git("merge", "-q", "--no-ff", "-m", "merge side", "side")
    pushed = push(work, "main")
    assert pushed.returncode == 0, pushed.stderr


def test_merging_a_branch_that_walked_stage_2_again_is_accepted(tmp_path: Path, env: dict[str, str]) -> None:
    """The honest form of the merge above: the merge takes the side's state
    and criteria together, and each was judged on the side."""
    bare, work = make_server(tmp_path, env, setup=seeded)
    work.git("checkout", "-q", "-b", "side")
    assert work.ftgate("reenter", "t", "--class", "Requirement Gap", "--reason", "wrong bar").returncode == 0
    work.write(REQ, LOWERED)
    work.commit("re-enter and lower the bar")
    adv = work.ftgate("advance", "t")
    assert adv.returncode == 0, adv.stdout + adv.stderr
    work.commit("Stage 2 gate again")
    work.git("checkout", "-q", "main")
    work.write("docs/x.md", "x\n")
    work.commit("something else on main")
    work.git("merge", "-q", "--no-ff", "-m", "merge side", "side")
    pushed = push(work, "main")
    assert pushed.returncode == 0, pushed.stderr
    assert bare.out("rev-parse", "main") == work.head()


# ------------------------------------------------------------------ signed transitions


def test_an_approval_of_another_transition_renamed_is_not_one(tmp_path: Path, env: dict[str, str]) -> None:
    """The approver signed `unlock` over the archived ticket; renamed to
    approvals/done.*, the record still says `unlock`, and the signature
    covers that word, so it does not approve the archive."""
    keys = {"alice": _key(tmp_path, "alice")}
    bare, work = bare_and_clone(tmp_path, env)
    work.write("ftgate.yaml", _config(transitions="done"))
    work.write(SIGNERS, f"{ALICE} {sshsig.public_key_of(keys['alice'])}\n")
    folder = "tickets/in-progress/s"
    work.write(f"{folder}/workflow-state.md", state_text("s", 8))
    for one in Stage:
        fill(work.path / folder, one, "s")
    work.commit("initial")
    work.git("push", "-q", "origin", "main")
    install_server_hook(bare, work)
    base = work.head()
    done = work.ftgate("done", "s", "--verified-by", "Alice Approver", "--unsigned")
    assert done.returncode == 0, done.stdout + done.stderr
    signed = work.ftgate("approve", "s", "--transition", "unlock", "--key", str(keys["alice"]))
    assert signed.returncode == 0, signed.stdout + signed.stderr
    approvals = work.path / "tickets/done/s/approvals"
    (approvals / "unlock.json").rename(approvals / "done.json")
    (approvals / "unlock.sig").rename(approvals / "done.sig")
    work.git("add", "-A")
    work.git("commit", "-q", "--no-verify", "-m", "s: done, with the unlock approval renamed")
    pushed = push(work, "HEAD:main")
    assert pushed.returncode != 0, pushed.stderr
    assert "approves 'unlock' of ticket 's', not 'done' of 's'" in pushed.stderr, pushed.stderr
    assert bare.out("rev-parse", "main") == base
    ci = work.ftgate("ci", "--base", base, "--head", "HEAD", "--branch", "main", "--no-github")
    assert ci.returncode == 1 and "approves 'unlock'" in ci.stdout, ci.stdout + ci.stderr


def test_one_commit_pushed_to_two_refs_is_judged_for_each_branch(tmp_path: Path, env: dict[str, str]) -> None:
    """The pre-receive hook judges a commit once per target policy and
    branch: on codex/t it belongs to `t`, on main (two tickets unlocked) to
    nobody, so pushing both refs at once must not let main inherit the
    branch's verdict."""

    def two_unlocked(work: Repo) -> None:
        seed_ticket(work, 4, unlocked=True, name="t")
        seed_ticket(work, 4, unlocked=True, name="u")

    bare, work = make_server(tmp_path, env, hook="pre-receive", setup=two_unlocked)
    base = work.head()
    work.write("src/train.py", "print('whose is this?')\n")
    work.commit("source, no ticket named")
    pushed = push(work, "HEAD:refs/heads/codex/t", "HEAD:main")
    assert pushed.returncode != 0, pushed.stderr
    assert "on refs/heads/main: refused" in pushed.stderr and "several tickets are at Stage 4 Unlocked" \
        in pushed.stderr, pushed.stderr
    assert "on refs/heads/codex/t: refused" not in pushed.stderr, pushed.stderr
    assert bare.out("rev-parse", "main") == base
    alone = push(work, "HEAD:refs/heads/codex/t")
    assert alone.returncode == 0, alone.stderr
