"""decide() without git: the rule table, tested fast."""

from __future__ import annotations

import pytest

from ftgate.policy import decide as d
from ftgate.policy.compiled import Policy
from ftgate.policy.config import Config
from ftgate.workflow.model import ReentryClass, Stage
from ftgate.workflow.state import StateEditor, read_state
from tests.support.tickets import INVESTIGATION_CURRENT, PLAN_CURRENT, state_text

POLICY = Policy(Config().matcher)
ALLOW = Policy(Config(untracked_source="allow").matcher, untracked_source="allow")
F = "tickets/in-progress/t"


def summary(stage: int | None, unlocked: bool = False, error: str | None = None) -> d.StateSummary:
    return d.StateSummary(stage, unlocked, error)


def same(stage: int, unlocked: bool = False) -> d.TicketInput:
    side = d.TicketSide(F, "b1", summary(stage, unlocked))
    return d.TicketInput("t", side, d.TicketSide(F, "b1", summary(stage, unlocked)))


def change(*paths: d.PathChange, tickets_: dict | None = None, branch: str | None = "codex/t", **kw) -> d.Change:
    return d.Change(list(paths), tickets_ or {"t": same(2)}, branch=branch, **kw)


def M(path: str) -> d.PathChange:
    return d.PathChange("M", path)


@pytest.mark.parametrize(("paths", "stage", "unlocked", "allowed", "rule"), [
    ([M("train.py")], 2, False, False, "source-locked"),
    ([M("train.py")], 4, False, False, "source-locked"),
    ([M("train.py")], 4, True, True, None),
    ([M("train.py")], 5, False, False, "source-locked"),
    ([d.PathChange("D", "train.py")], 2, False, False, "source-locked"),
    ([d.PathChange("R", "docs/old.py", "src/new.py")], 2, False, False, "source-locked"),
    # Renaming a source file into docs/ still removes source.
    ([d.PathChange("R", "docs/x.py", "src/x.py")], 2, False, False, "source-locked"),
    ([d.PathChange("T", "link.py")], 2, False, False, "source-locked"),
    ([M("README.md"), M("docs/guide.txt")], 2, False, True, None),
    ([M(f"{F}/requirements.md")], 2, False, True, None),
    ([], 2, False, True, None),
    ([M("ftgate.yaml")], 2, False, False, "source-locked"),
])
def test_source_rule(paths, stage, unlocked, allowed, rule) -> None:
    verdict = d.decide(change(*paths, tickets_={"t": same(stage, unlocked)}), POLICY)
    assert verdict.allowed is allowed
    if rule:
        assert {r.rule for r in verdict.reasons} == {rule}
        assert all(r.fix for r in verdict.reasons)


def test_every_source_path_gets_a_reason() -> None:
    verdict = d.decide(change(M("a.py"), M("b.py"), M("notes.md")), POLICY)
    assert [r.path for r in verdict.reasons] == ["a.py", "b.py"]
    assert "Stage 2" in verdict.reasons[0].message and "ftgate advance t" in verdict.reasons[0].fix


def test_governing_ticket_order() -> None:
    touched = d.PathChange("M", "tickets/in-progress/other/notes.md")
    base = d.Change([M("a.py"), touched], {}, branch="codex/t")
    assert d.governing_ticket(base, POLICY).ticket == "t"
    base.branch = "main"
    assert d.governing_ticket(base, POLICY).ticket == "other"
    base.explicit_ticket = "x"
    assert d.governing_ticket(base, POLICY).ticket == "x"
    none = d.Change([M("a.py")], {}, branch="main", in_progress=["only"])
    assert d.governing_ticket(none, POLICY).ticket == "only"
    cfg = Policy(Config(ticket="cfg").matcher, ticket="cfg")
    assert d.governing_ticket(none, cfg).ticket == "cfg"
    many = d.Change([M("a.py")], {}, branch="main", in_progress=["a", "b"])
    assert d.governing_ticket(many, POLICY).problem


def test_untracked_source_blocks_by_default_and_says_how_to_start() -> None:
    verdict = d.decide(d.Change([M("a.py")], {}, branch="main", in_progress=[]), POLICY)
    assert not verdict.allowed
    assert verdict.reasons[0].rule == "no-ticket" and "ftgate ticket new" in verdict.reasons[0].fix
    assert d.decide(d.Change([M("a.py")], {}, branch="main", in_progress=[]), ALLOW).allowed


def test_ambiguous_ticket_blocks_even_when_untracked_is_allowed() -> None:
    verdict = d.decide(d.Change([M("a.py")], {}, branch="main", in_progress=["a", "b"]), ALLOW)
    assert not verdict.allowed and "several tickets" in verdict.reasons[0].message


def test_unreadable_or_missing_state_blocks() -> None:
    bad = d.TicketInput("t", d.TicketSide(F, "b", summary(4, True)),
                        d.TicketSide(F, "b", summary(None, error="workflow-state.md:3,9: Code Edit Permission is written twice")))
    verdict = d.decide(change(M("a.py"), tickets_={"t": bad}), POLICY)
    assert verdict.reasons[0].rule == "state-unreadable"
    assert verdict.reasons[0].message.startswith(f"{F}/workflow-state.md:3,9:")
    gone = d.TicketInput("t", d.TicketSide(F, "b", summary(4, True)), d.TicketSide(None))
    assert d.decide(change(M("a.py"), tickets_={"t": gone}), POLICY).reasons[0].rule == "state-missing"


def test_invalid_new_config_is_refused() -> None:
    verdict = d.decide(change(M("README.md"), config_error="ftgate.yaml:3: unknown key `sourc`"), POLICY)
    assert not verdict.allowed and verdict.reasons[0].rule == "config-invalid"


def test_removing_the_policy_is_refused_even_when_the_ticket_allows_source() -> None:
    deleted = d.PathChange("D", "ftgate.yaml")
    assert d.decide(change(deleted, tickets_={"t": same(4, True)}), POLICY).allowed
    verdict = d.decide(change(deleted, tickets_={"t": same(4, True)}, config_removed="deleted by this change"),
                       POLICY)
    assert not verdict.allowed and [r.rule for r in verdict.reasons] == ["config-removed"]
    assert "ftgate.yaml is deleted by this change; a policy cannot be removed" in verdict.reasons[0].message


def test_show_path_escapes_control_and_undecodable_bytes() -> None:
    assert d.show_path("a b.py") == "a b.py"
    assert d.show_path("a\nb.py") == '"a\\nb.py"'
    assert d.show_path(b"caf\xe9.py".decode("utf-8", "surrogateescape")) == '"caf\\xe9.py"'


# ------------------------------------------------------------- transitions


def side(text: str | None, files: dict[str, str] | None = None, folder: str = F) -> d.TicketSide:
    if text is None:
        return d.TicketSide(None)
    state = read_state(text, "workflow-state.md").state
    return d.TicketSide(folder, str(hash(text)), summary(int(state.current_stage),
                        state.permission.value == "Unlocked"), text=text, files=files or {})


def edited(text: str, change_) -> str:
    editor = StateEditor(read_state(text, "workflow-state.md"))
    change_(editor)
    return editor.render()


STATE_PATH = d.PathChange("M", f"{F}/workflow-state.md")


def judge_step(before: str | None, after: str | None, files: dict[str, str] | None = None,
               extra: tuple[d.PathChange, ...] = ()) -> d.Verdict:
    ticket = d.TicketInput("t", side(before), side(after, files))
    return d.decide(d.Change([STATE_PATH, *extra], {"t": ticket}, branch="codex/t"), POLICY)


FILES = {"investigation-notes.md": INVESTIGATION_CURRENT, "implementation-plan.md": PLAN_CURRENT}


def test_hand_edit_from_1_to_4_unlocked_is_refused() -> None:
    verdict = judge_step(state_text("t", 1), state_text("t", 4, unlocked=True), FILES, (M("train.py"),))
    assert not verdict.allowed
    assert "illegal-transition" in {r.rule for r in verdict.reasons}


def test_forward_one_stage_needs_the_gate_on_the_new_files() -> None:
    assert judge_step(state_text("t", 1), state_text("t", 2), FILES).allowed
    refused = judge_step(state_text("t", 1), state_text("t", 2), {})
    assert [r.rule for r in refused.reasons] == ["gate-not-met"]
    assert "investigation-notes.md" in refused.reasons[0].message


def test_unlock_only_at_stage_4_with_plan_passing() -> None:
    assert judge_step(state_text("t", 4), state_text("t", 4, unlocked=True), FILES).allowed
    assert not judge_step(state_text("t", 4), state_text("t", 4, unlocked=True), {}).allowed
    assert not judge_step(state_text("t", 2), state_text("t", 2, unlocked=True), FILES).allowed
    # advancing 3 -> 4 and unlocking in the same change is one legal step
    assert judge_step(state_text("t", 3), state_text("t", 4, unlocked=True), FILES).allowed


def test_lock_and_same_stage_edits_are_legal() -> None:
    assert judge_step(state_text("t", 4, unlocked=True), state_text("t", 4), FILES).allowed
    before = state_text("t", 2)
    assert judge_step(before, before.replace("Last Updated: `2024-01-01`", "Last Updated: `2024-02-02`")).allowed


def test_going_back_without_reentry_is_refused_and_reentry_from_matrix_is_legal() -> None:
    assert not judge_step(state_text("t", 5), state_text("t", 3)).allowed

    def reenter(editor: StateEditor) -> None:
        editor.set_token("activereentry", __import__("ftgate.workflow.model", fromlist=["YesNo"]).YesNo.YES)
        editor.set_token("reentryclassification", ReentryClass.PLAN_IMPACT)
        editor.set_reentry({"triggerstage": "5", "classification": "Plan Impact",
                            "requiredreturnpath": "1 -> 3 -> 4 -> 5"})
        editor.set_stage(Stage.INVESTIGATION)

    after = edited(state_text("t", 5), reenter)
    assert judge_step(state_text("t", 5), after).allowed
    # Validation Gap is not a re-entry from Stage 5
    wrong = after.replace("Plan Impact", "Validation Gap")
    verdict = judge_step(state_text("t", 5), wrong)
    assert not verdict.allowed and "not a re-entry from Stage 5" in verdict.reasons[0].message


def test_new_ticket_starts_at_stage_0_and_deletion_is_refused() -> None:
    assert judge_step(None, state_text("t", 0)).allowed
    assert not judge_step(None, state_text("t", 3)).allowed
    # Deleting a state file used to be a note; it is a transition now, and
    # only an archive (a move to tickets/done/) may take a state away.
    verdict = judge_step(state_text("t", 2), None)
    assert not verdict.allowed and [r.rule for r in verdict.reasons] == ["state-deleted"]


def test_unreadable_new_state_blocks_even_without_source() -> None:
    text = state_text("t", 2) + "\n- Code Edit Permission: `Unlocked`\n"
    ticket = d.TicketInput("t", side(state_text("t", 2)),
                           d.TicketSide(F, "x", summary(None, error="twice"), text=text, files={}))
    verdict = d.decide(d.Change([STATE_PATH], {"t": ticket}, branch="codex/t"), POLICY)
    assert not verdict.allowed and verdict.reasons[0].rule == "state-unreadable"
