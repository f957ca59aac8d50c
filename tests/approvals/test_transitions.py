"""Which transitions a state change makes, read from the change's own texts."""

from __future__ import annotations

from ftgate.policy.approvals import transitions_made
from ftgate.policy.types import TicketInput, TicketSide
from tests.support.tickets import REPORT_READY, state_text

ACTIVE, ARCHIVED = "tickets/in-progress/t", "tickets/done/t"


def _ticket(before: tuple[str | None, str | None], after: tuple[str | None, str | None],
            files: dict[str, str] | None = None) -> TicketInput:
    return TicketInput("t", TicketSide(before[0], "a", text=before[1]),
                       TicketSide(after[0], "b", text=after[1], files=files or {}))


def test_unlock_done_and_reopen_are_told_apart() -> None:
    locked, unlocked = state_text("t", 4), state_text("t", 4, unlocked=True)
    assert transitions_made(_ticket((ACTIVE, locked), (ACTIVE, unlocked))) == ["unlock"]
    assert transitions_made(_ticket((ACTIVE, unlocked), (ACTIVE, unlocked))) == []
    final = state_text("t", 8)
    assert transitions_made(_ticket((ACTIVE, final), (ARCHIVED, final))) == ["done"]
    assert transitions_made(_ticket((None, None), (ARCHIVED, final))) == ["done"]
    assert transitions_made(_ticket((ARCHIVED, final), (ACTIVE, final))) == ["reopen"]


def test_leaving_stage_5_with_a_waived_criterion_is_a_waive() -> None:
    waived = REPORT_READY.replace("| 0.78 | Passed | |", "| 0.62 | Waived | the rubric changed |")
    assert waived != REPORT_READY
    before, after = state_text("t", 5), state_text("t", 6)
    assert transitions_made(_ticket((ACTIVE, before), (ACTIVE, after),
                                    {"training-validation-report.md": waived})) == ["waive"]
    assert transitions_made(_ticket((ACTIVE, before), (ACTIVE, after),
                                    {"training-validation-report.md": REPORT_READY})) == []
    # Editing the report later, past Stage 5, is not a new waiver.
    assert transitions_made(_ticket((ACTIVE, after), (ACTIVE, after),
                                    {"training-validation-report.md": waived})) == []
