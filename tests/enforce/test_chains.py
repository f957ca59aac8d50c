"""Several workflow steps in one commit (``ftgate advance`` run two or three
times, then one commit): legal when every gate left on the way passes on the
commit's own files and is recorded Pass; refused, naming the failing gate's
findings, otherwise. Judged by decide() directly and through real hooks."""

from __future__ import annotations

from pathlib import Path

from ftgate.policy import decide as d
from ftgate.policy.compiled import Policy
from ftgate.policy.config import Config
from ftgate.workflow.model import GateStatus, Stage
from ftgate.workflow.state import StateEditor, read_state
from tests.support.gitrepo import Repo
from tests.support.server import make_server, push
from tests.support.tickets import (
    FILES_UP_TO_4,
    IMPLEMENTATION_READY,
    PLAN_CURRENT,
    REPORT_READY,
    fill_ticket,
    state_text,
)

POLICY = Policy(Config().matcher)
F = "tickets/in-progress/t"
STATE = d.PathChange("M", f"{F}/workflow-state.md")
SOURCE = d.PathChange("M", "src/train.py")
NO_READY_LINE = PLAN_CURRENT.replace("- Ready to unlock code edits: `Yes`\n", "")


def side(text: str, files: dict[str, str] | None = None) -> d.TicketSide:
    state = read_state(text, "workflow-state.md").state
    return d.TicketSide(F, str(hash(text)), d.StateSummary(int(state.current_stage),
                        state.permission.value == "Unlocked"), text=text, files=files or {})


def judge(before: str, after: str, files: dict[str, str], *, evidence: list[str] | None = None,
          mode: str = "verified", source: bool = True) -> d.Verdict:
    ticket = d.TicketInput("t", side(before), side(after, files), stage5_evidence=mode,
                           evidence_findings=evidence)
    paths = [STATE, SOURCE] if source else [STATE]
    return d.decide(d.Change(paths, {"t": ticket}, branch="codex/t"), POLICY)


def test_chain_1_to_4_unlocked_with_every_file_filled_is_legal() -> None:
    verdict = judge(state_text("t", 1), state_text("t", 4, unlocked=True), FILES_UP_TO_4, source=False)
    assert verdict.allowed, verdict.reasons
    # The unlock must be committed before any source change: not in the same commit.
    verdict = judge(state_text("t", 1), state_text("t", 4, unlocked=True), FILES_UP_TO_4)
    assert not verdict.allowed
    assert [r.rule for r in verdict.reasons] == ["unlock-not-committed"]


def test_chain_names_the_failing_gate_and_its_line() -> None:
    files = dict(FILES_UP_TO_4, **{"implementation-plan.md": NO_READY_LINE})
    verdict = judge(state_text("t", 1), state_text("t", 4, unlocked=True), files)
    assert not verdict.allowed
    messages = " | ".join(r.message for r in verdict.reasons)
    assert "Stage 3 gate does not pass" in messages and "Ready to unlock code edits" in messages
    assert "Stage 1 gate does not pass" not in messages and "Stage 2 gate does not pass" not in messages


def test_chain_needs_each_gate_recorded_pass() -> None:
    text = state_text("t", 4)
    editor = StateEditor(read_state(text, "workflow-state.md"))
    editor.set_gate(Stage.REQUIREMENTS, GateStatus.IN_PROGRESS)
    verdict = judge(state_text("t", 1), editor.render(), FILES_UP_TO_4)
    assert not verdict.allowed
    assert any("Stage 2 gate is recorded `In Progress`" in r.message for r in verdict.reasons)


def test_chain_past_stage_5_needs_verified_evidence_unless_report_mode() -> None:
    files = dict(FILES_UP_TO_4, **{"implementation.md": IMPLEMENTATION_READY,
                                   "training-validation-report.md": REPORT_READY})
    before, after = state_text("t", 4), state_text("t", 6)
    # Nobody ran the evidence check: refused (fail closed).
    assert not judge(before, after, files, source=False).allowed
    refused = judge(before, after, files, evidence=["evidence: no completed training run has evidence"],
                    source=False)
    assert not refused.allowed
    assert any("Stage 5 gate does not pass" in r.message and "no completed training run" in r.message
               for r in refused.reasons)
    assert judge(before, after, files, evidence=[], source=False).allowed
    assert judge(before, after, files, mode="report", source=False).allowed


def test_a_jump_backwards_or_off_the_path_is_still_refused() -> None:
    assert not judge(state_text("t", 5), state_text("t", 3), FILES_UP_TO_4).allowed
    # Leaving Stage 4 unlocked is refused even when the gates pass.
    files = dict(FILES_UP_TO_4, **{"implementation.md": IMPLEMENTATION_READY})
    verdict = judge(state_text("t", 3), state_text("t", 5, unlocked=True), files, source=False)
    assert not verdict.allowed and "source unlocks only at Stage 4" in verdict.reasons[-1].message


# ------------------------------------------------------------ real repositories


def chain_commit(work: Repo, *, plan: str = PLAN_CURRENT, source: bool = False) -> None:
    folder = "tickets/in-progress/t"
    fill_ticket(work, folder, 4)
    work.write(f"{folder}/implementation-plan.md", plan)
    work.write(f"{folder}/workflow-state.md", state_text("t", 4, unlocked=True))
    if source:
        work.write("src/train.py", "print('tuned')\n")
    work.git("add", "-A")


def test_chain_1_to_4_through_ftgate_check_and_the_server(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = make_server(tmp_path, env, hook="pre-receive", stage=1)
    chain_commit(work, plan=NO_READY_LINE)
    proc = work.ftgate("check")
    assert proc.returncode == 1
    assert "Ready to unlock code edits" in proc.stderr and "Stage 3 gate" in proc.stderr

    # The chain with a source edit in the same commit: the unlock comes first.
    chain_commit(work, source=True)
    proc = work.ftgate("check")
    assert proc.returncode == 1 and "the unlock must be committed on its own" in proc.stderr
    work.git("reset", "-q")
    work.git("checkout", "-q", "--", "src/train.py")

    chain_commit(work)
    proc = work.ftgate("check")
    assert proc.returncode == 0, proc.stderr
    work.git("commit", "-q", "--no-verify", "-m", "advance 1 -> 4, unlock")
    work.write("src/train.py", "print('tuned')\n")
    work.commit("first source edit")
    proc = push(work, "main")
    assert proc.returncode == 0, proc.stderr
    assert bare.out("rev-parse", "main") == work.head()


def test_chain_over_stage_5_without_training_evidence(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = make_server(tmp_path, env, hook="pre-receive", stage=4)
    folder = "tickets/in-progress/t"
    fill_ticket(work, folder, 6)
    work.write(f"{folder}/workflow-state.md", state_text("t", 6))
    work.git("add", "-A")
    proc = work.ftgate("check")
    assert proc.returncode == 1
    assert "Stage 5 gate does not pass" in proc.stderr and "no completed training run" in proc.stderr
    work.git("commit", "-q", "--no-verify", "-m", "4 -> 6 without evidence")
    proc = push(work, "main")
    assert proc.returncode != 0 and "no completed training run" in proc.stderr

    # A team that trains elsewhere says so in ftgate.yaml. The parent's
    # policy judges, so the config lands first; it is set-up here, pushed
    # past the hook.
    work.git("reset", "-q", "--hard", "origin/main")
    work.write("ftgate.yaml", "stage5_evidence: report\n")
    work.commit("report-only evidence")
    hook = bare.path / "hooks" / "pre-receive"
    hook.rename(hook.with_suffix(".off"))
    assert push(work, "main").returncode == 0
    hook.with_suffix(".off").rename(hook)
    fill_ticket(work, folder, 6)
    work.write(f"{folder}/workflow-state.md", state_text("t", 6))
    work.git("add", "-A")
    proc = work.ftgate("check")
    assert proc.returncode == 0, proc.stderr
    work.git("commit", "-q", "--no-verify", "-m", "4 -> 6, report only")
    proc = push(work, "main")
    assert proc.returncode == 0, proc.stderr


def test_repair_of_an_unreadable_state_must_be_justified_by_its_files() -> None:
    broken = state_text("t", 1) + "\n- Current Stage: `3`\n"  # two stages: unreadable
    before = d.TicketSide(F, "broken", None, text=broken, files={})
    plan_missing = {k: v for k, v in FILES_UP_TO_4.items() if k != "implementation-plan.md"}

    def repair(stage: int, files: dict[str, str]) -> d.Verdict:
        ticket = d.TicketInput("t", before, side(state_text("t", stage), files))
        return d.decide(d.Change([STATE], {"t": ticket}, branch="codex/t"), POLICY)

    refused = repair(4, plan_missing)
    assert not refused.allowed
    messages = " | ".join(r.message for r in refused.reasons)
    assert "was unreadable" in messages and "Stage 3 gate does not pass" in messages
    assert repair(4, FILES_UP_TO_4).allowed  # every earlier gate passes on the files
    assert repair(1, plan_missing).allowed   # a modest claim needs only gate 0
