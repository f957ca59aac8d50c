"""Tickets filled in from the workflow's own templates pass their gates.

The fixtures under ``fixtures/upstream/`` are those templates as a person
fills them in, with the templates' own headings, labels, check rows and
vocabularies. A ticket built from them walks every stage through the CLI in
a real git repository; the same files with one thing wrong are refused,
naming the file and the line.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from ftgate.workflow import artifacts as art
from ftgate.workflow import expectations as ex
from ftgate.workflow import markdown as md
from ftgate.workflow.model import DocStatus, ImplementationStatus, Stage
from ftgate.workflow.stages import RULES
from ftgate.workflow.state import read_state
from tests.support.cli import Run, ftgate

NAME = "intent-router-sft"
FIXTURES = Path(__file__).parent / "fixtures" / "upstream"
REPORT_ONLY = "stage5_evidence: report\n"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"git {' '.join(args)}:\n{proc.stdout}{proc.stderr}"
    return proc.stdout.strip()


def _stage(folder: Path) -> Stage:
    return read_state((folder / "workflow-state.md").read_text(), "workflow-state.md").state.current_stage


def _advance(capsys: pytest.CaptureFixture[str], where: Path) -> Run:
    run = ftgate(capsys, where, "advance")
    assert run.code == 0, run
    return run


def _commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


# ------------------------------------------------------- the walk, in git


def test_upstream_ticket_walks_every_stage_in_git(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    git(tmp_path, "init", "-q", "seed")
    (seed / "router").mkdir()
    (seed / "router" / "rules.py").write_text("def route(text):\n    return 'general'\n")
    (seed / "ftgate.yaml").write_text(REPORT_ONLY)
    _commit(seed, "A keyword router, and ftgate judging hand-written Stage 5 reports")
    git(tmp_path, "clone", "-q", "--bare", str(seed), "server.git")
    git(tmp_path, "clone", "-q", str(tmp_path / "server.git"), "clone")
    clone = tmp_path / "clone"

    run = ftgate(capsys, clone, "ticket", "new", NAME)
    assert run.code == 0, run
    work = tmp_path / "clone-worktrees" / NAME
    folder = work / "tickets" / "in-progress" / NAME
    assert git(work, "branch", "--show-current") == f"codex/{NAME}"
    _advance(capsys, work)
    _commit(work, "Stage 0 done")

    for stage in (Stage.INVESTIGATION, Stage.REQUIREMENTS, Stage.PLAN, Stage.IMPLEMENTATION,
                  Stage.TRAINING, Stage.CODE_REVIEW):
        artifact = RULES[stage].artifact
        (folder / artifact).write_text(fixture(artifact))
        assert ftgate(capsys, work, "validate").code == 0
        if stage == Stage.IMPLEMENTATION:
            assert ftgate(capsys, work, "unlock").code == 0
            # The unlock lands in a commit of its own, before any source change.
            _commit(work, "Unlock source edits")
            (work / "router" / "rules.py").write_text("def route(text):\n    return model_route(text)\n")
            # The hooks ftgate installed let source in only now, at Stage 4 unlocked.
            _commit(work, "The router asks the tuned model")
        _advance(capsys, work)
        assert _stage(folder) == stage + 1
        _commit(work, f"Stage {int(stage)} gate passed")

    # Stage 7 finds the README example calls the router wrongly: a bounded
    # defect, so a Local Fix back through Stages 4, 5 and 6.
    failing = fixture("docs-sync.md").replace("Stage 7 Decision: `Pass`", "Stage 7 Decision: `Fail`").replace(
        "if not `Pass`: `N/A`", "if not `Pass`: `Local Fix`")
    (folder / "docs-sync.md").write_text(failing)
    assert ftgate(capsys, work, "validate").code == 0
    refused = ftgate(capsys, work, "advance")
    assert refused.code == 1 and f"{NAME}/docs-sync.md:" in refused.err and "Stage 7 Decision is `Fail`" in refused.err
    run = ftgate(capsys, work, "reenter", "--class", "Local Fix", "--reason", "README calls route() with a dict")
    assert run.code == 0, run
    assert _stage(folder) == Stage.IMPLEMENTATION
    _commit(work, "Re-enter at Stage 4: Local Fix")
    assert ftgate(capsys, work, "unlock").code == 0
    _commit(work, "Unlock source edits for the local fix")
    (work / "router" / "rules.py").write_text("def route(text: str):\n    return model_route(text)\n")
    _commit(work, "Local fix: route() takes the message text")
    for expected in (Stage.TRAINING, Stage.CODE_REVIEW, Stage.DOCS_SYNC):
        _advance(capsys, work)
        assert _stage(folder) == expected
    (folder / "docs-sync.md").write_text(fixture("docs-sync.md"))
    _advance(capsys, work)
    assert _stage(folder) == Stage.HANDOFF
    _commit(work, "Stage 7 gate passed after the local fix")

    (folder / "handoff-summary.md").write_text(fixture("handoff-summary.md"))
    assert ftgate(capsys, work, "validate").code == 0
    _commit(work, "Handoff summary")
    run = ftgate(capsys, work, "done", "--verified-by", "Dana", "--finalize")
    assert run.code == 0, run
    archived = work / "tickets" / "done" / NAME
    summary = (archived / "handoff-summary.md").read_text()
    assert "- User verification received: `Yes`" in summary
    assert "- Ticket moved to `tickets/done/<ticket-name>/`: `Yes`" in summary
    assert "- Repository finalization complete when applicable: `Yes`" in summary
    assert "Verified By: Dana" in summary
    assert not folder.exists()
    # Finalized: the ticket's branch, archive included, is on main.
    assert git(clone, "show", f"main:tickets/done/{NAME}/handoff-summary.md") == summary.strip()
    state = read_state((archived / "workflow-state.md").read_text(), "x").state
    assert state.transitions[-1].to_stage == "done"
    assert any(t.classification == "Local Fix" for t in state.transitions)


# ------------------------------------------------ refusals, file and line


def _walk_to(capsys: pytest.CaptureFixture[str], root: Path, target: Stage) -> Path:
    (root / "ftgate.yaml").write_text(REPORT_ONLY)
    assert ftgate(capsys, root, "ticket", "new", NAME).code == 0
    folder = root / "tickets" / "in-progress" / NAME
    for stage in Stage:
        if stage != Stage.BOOTSTRAP:
            (folder / RULES[stage].artifact).write_text(fixture(RULES[stage].artifact))
        if stage == target:
            return folder
        if stage == Stage.IMPLEMENTATION:
            assert ftgate(capsys, root, "unlock").code == 0
        _advance(capsys, root)
    return folder


def _drop(text: str) -> tuple[str, str]:
    """Delete the line holding ``text``."""
    return text, ""


# stage -> mutation -> (text to find, its replacement, a fragment of the line the refusal names, what it says)
MUTATIONS: dict[Stage, dict[str, tuple[str, str, str, str]]] = {
    Stage.INVESTIGATION: {
        "section emptied": (("The plan needs a month-based split, a per-queue breakdown next to the overall\n"
                            "score, and the rule's score on the same held-out month as the comparison.\n"), "",
                            "## Planning Implications", "is empty"),
        "placeholder": ("- Why: one new training config", "- Why: <why this size>", "<why this size>",
                        "template slot"),
        "token misspelt": ("`Medium`", "`Meduim`", "- Classification:", "Meduim"),
        "check row deleted": (("| Metrics / Judge / Logging | exact match on the queue name; no judge | eval script "
                              "| none |\n"), "", "| Area | Findings |", "Metrics / Judge / Logging"),
        "N/A without reason": ("| N/A | plain SFT on the assistant turn; no reward or preference data |",
                               "| N/A |  |", "| Objective / Loss / Reward / Preference Flow |", "without a reason"),
    },
    Stage.REQUIREMENTS: {
        "section emptied": (("The keyword rule in `router/rules.py`, scored with `scripts/eval_router.py`\n"
                            "on the September tickets (exact match 0.64).\n"), "", "## Baseline / Comparison Target",
                            "no baseline"),
        "placeholder": ("- Current Status: `Plan-ready`", "- Current Status: `Draft` / `Plan-ready` / `Refined`",
                        "- Current Status:", "list of choices"),
        "token misspelt": ("`Plan-ready`", "`Plan-redy`", "- Current Status:", "Plan-redy"),
        "check row deleted": (", and is inconclusive if\nfewer than 1,000 held-out tickets can be scored.", ".",
                              "## Pass, Fail, And Inconclusive Conditions", "Inconclusive Condition"),
        "N/A without reason": ("- SC-002 (R-002): billing recall on the same set >= 0.85 (rule: 0.61).",
                               "- SC-002 (R-002): N/A", "- SC-002 (R-002): N/A", "neither measurable"),
    },
    Stage.PLAN: {
        "section emptied": (("TRL SFT trainer, LoRA rank 16 on attention projections, lr 2e-4, 2 epochs,\n"
                            "batch 32, cosine schedule, seed 17.\n"), "", "## Training Recipe", "is empty"),
        "placeholder": ("| W-002 | `configs/router-sft.yaml` |", "| W-002 | <config path> |", "<config path>",
                        "template slot"),
        "token misspelt": ("`Supervised Fine-Tuning`", "`Supervised Finetuning`", "- Objective Type:",
                           "Supervised Finetuning"),
        "check row deleted": _drop("- Ready to unlock code edits: `Yes`\n") + ("## Stage 4 Entry Checklist",
                                                                               "Ready to unlock code edits"),
        "N/A without reason": ("- Parameter-Update Strategy: `Adapter-Based`", "- Parameter-Update Strategy: `N/A`",
                               "## Training Mode", "parameter-update strategy is not stated"),
    },
    Stage.IMPLEMENTATION: {
        "section emptied": (("| C-001 | `scripts/prepare_router_data.py` | Create | cleaning and the month split "
                            "(W-001) | Done |\n| C-002 | `configs/router-sft.yaml` | Create | the run config (W-002) "
                            "| Done |\n"), "", "## Change Inventory", "no change ids"),
        "placeholder": ("| Training entrypoint resolves | Pass |", "| Training entrypoint resolves | Pass / Fail / N/A |",
                        "| Training entrypoint resolves |", "template's choices"),
        "token misspelt": ("| Critical config loads correctly | Pass |", "| Critical config loads correctly | Passs |",
                           "| Critical config loads correctly |", "Passs"),
        "check row deleted": (("| Evaluation generation settings resolve as planned | Pass | greedy, 4 new tokens in the "
                              "config |\n"), "", "| Check | Result", "Evaluation generation settings resolve as planned"),
        "N/A without reason": ("| N/A | the first epoch of RUN-001 is itself short enough to serve as the smoke test |",
                               "| N/A | |", "| Smoke test or dry run passes |", "without a reason"),
    },
    Stage.TRAINING: {
        "section emptied": (("- RUN-001: commit 3f2a9c1, `configs/router-sft.yaml`, seed 17, manifest 8d41e0,\n"
                            "  torch 2.4 / transformers 4.46 / trl 0.12, adapter at "
                            "`runs/router-sft/RUN-001/adapter`.\n"), "", "## Reproducibility Record", "is empty"),
        "placeholder": ("| 402 billing tickets |", "| <how many billing tickets> |", "<how many billing tickets>",
                        "template slot"),
        "token misspelt": ("Stage 5 Decision: `Pass`", "Stage 5 Decision: `Pas`", "- Stage 5 Decision:", "Pas"),
        "check row deleted": ("| SC-002 | R-002 | billing recall >= 0.85 | RUN-001 | 0.88 | Passed | |\n", "",
                              "## Success Criteria Closure", "SC-002 is not closed"),
        "N/A without reason": ("| 0.88 | Passed | |", "| 0.88 | Waived | |", "| SC-002 |", "Waived without a reason"),
    },
    Stage.CODE_REVIEW: {
        "section emptied": (("`scripts/prepare_router_data.py`, `configs/router-sft.yaml`, the data\n"
                            "manifest and the Stage 5 report, reviewed on the ticket branch with source\n"
                            "edits locked.\n"), "", "## Review Scope", "is empty"),
        "placeholder": ("| Config traceability | Pass | config committed at 3f2a9c1 |",
                        "| Config traceability | Pass | <commit hash> |", "| Config traceability |", "template slot"),
        "token misspelt": ("| Metric correctness | Pass |", "| Metric correctness | Pas |", "| Metric correctness |",
                           "Pas"),
        "check row deleted": ("| Numerical stability risk | Pass | loss curve smooth, no NaN |\n", "",
                              "| Check | Result", "Numerical stability risk"),
        "N/A without reason": ("| N/A | SFT: there is no reward or preference data |", "| N/A | |",
                               "| Preference / reward / trajectory wiring if applicable |", "without a reason"),
    },
    Stage.DOCS_SYNC: {
        "section emptied": (("| `router/README.md` | how the tuned router is evaluated and its score | readers compare "
                            "it with the rule |\n"), "", "## Updated Documents", "no updated documents"),
        "placeholder": ("| `router/README.md` |", "| <doc path> |", "| <doc path> |", "template slot"),
        "token misspelt": ("Docs impacted: `Yes`", "Docs impacted: `Yess`", "- Docs impacted:", "Yess"),
        "check row deleted": _drop("- Stage 7 Decision: `Pass`\n") + ("## Decision", "no `Stage 7 Decision` line"),
        "N/A without reason": ("Docs impacted: `Yes`", "Docs impacted: `No`", "## No-Impact Rationale",
                               "no rationale"),  # its rationale says only `N/A`
    },
    Stage.HANDOFF: {
        "section emptied": (("The tuned router names the right queue for 86% of September tickets, against\n"
                            "64% for the keyword rule, and billing recall rose from 0.61 to 0.88.\n"), "",
                            "## Outcome Summary", "is empty"),
        "placeholder": ("Shadow the model next to the rule for two weeks", "<next step>", "<next step>",
                        "template slot"),
        "token misspelt": ("when applicable: `No`", "when applicable: `Nope`",
                           "- Repository finalization complete when applicable:", "Nope"),
        "check row deleted": _drop("## Outcome Summary\n") + ("# Handoff Summary", "no `Outcome Summary`"),
        # The move and the finalization may honestly be `No` or `N/A` at the gate (they
        # happen in `done`); a summary that is only `N/A` says nothing.
        "N/A without reason": (("The tuned router names the right queue for 86% of September tickets, against\n"
                               "64% for the keyword rule, and billing recall rose from 0.61 to 0.88.\n"), "N/A\n",
                               "## Outcome Summary", "is empty"),
    },
}


def _line_of(text: str, fragment: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if fragment in line:
            return number
    raise AssertionError(f"{fragment!r} is not in the mutated file")


@pytest.mark.parametrize("stage", list(MUTATIONS), ids=lambda s: s.name.lower())
def test_each_gate_refuses_with_file_and_line(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                              stage: Stage) -> None:
    folder = _walk_to(capsys, tmp_path, stage)
    artifact = folder / RULES[stage].artifact
    good = artifact.read_text()
    state_before = (folder / "workflow-state.md").read_bytes()
    if stage == Stage.IMPLEMENTATION:
        assert ftgate(capsys, tmp_path, "unlock").code == 0
        state_before = (folder / "workflow-state.md").read_bytes()
    for what, (find, replace, line_fragment, says) in MUTATIONS[stage].items():
        assert find in good, (what, find)
        bad = good.replace(find, replace, 1)
        artifact.write_text(bad)
        if stage == Stage.HANDOFF:
            run = ftgate(capsys, tmp_path, "done", "--verified-by", "Dana")
        else:
            run = ftgate(capsys, tmp_path, "advance")
        assert run.code == 1, (what, run)
        expected_line = _line_of(bad, line_fragment)
        where = f"{NAME}/{artifact.name}:{expected_line}:"
        assert where in run.err, (what, where, run.err)
        assert says in run.err, (what, says, run.err)
        assert (folder / "workflow-state.md").read_bytes() == state_before, f"{what}: a refusal writes nothing"
        assert artifact.read_text() == bad, f"{what}: a refusal leaves the file as it was"
    artifact.write_text(good)
    if stage == Stage.HANDOFF:
        assert ftgate(capsys, tmp_path, "done", "--verified-by", "Dana").code == 0
    else:
        _advance(capsys, tmp_path)


def test_stage5_refusal_names_the_opt_out(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _walk_to(capsys, tmp_path, Stage.TRAINING)
    (tmp_path / "ftgate.yaml").unlink()  # back to the default: verified evidence
    run = ftgate(capsys, tmp_path, "advance")
    assert run.code == 1, run
    assert "stage5_evidence: report" in run.err and "ftgate.yaml:1:" in run.err


# ---------------------------------------------------- mixed names, readers


MIXED = {
    "investigation-notes.md": [("## Current Code And Pipeline Findings", "## Code & Pipeline Findings"),
                               ("## Constraints And Risks", "## Constraints and risks"),
                               ("- Current Status: `Current`", "- Status: Current")],
    "implementation-plan.md": [("## Prompt, Chat Template, And Tokenization Plan",
                                "## Chat Template\n\nThe base model's own template.\n\n## Tokenization and Masking"),
                               ("## Implementation Handoff", "## Work Items"),
                               ("## Evaluation And Validation Plan", "## Evaluation Plan")],
    "implementation.md": [("| Dataset manifest or materialization resolves |", "| Dataset manifest resolves |"),
                          ("| Critical config loads correctly |", "| Critical config loads |"),
                          ("| Check | Result (`Pass` / `Fail` / `N/A`) | Evidence |", "| Check | Result | Evidence |")],
    "code-review.md": [("| Preference / reward / trajectory wiring if applicable |",
                        "| Preference / reward / trajectory wiring (if applicable) |"),
                       ("## Review Scope", "## Scope Reviewed")],
    "handoff-summary.md": [("## Outcome Summary", "## Summary")],
}


def test_a_ticket_mixing_upstream_and_ftgate_names_passes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "ftgate.yaml").write_text(REPORT_ONLY)
    assert ftgate(capsys, tmp_path, "ticket", "new", NAME).code == 0
    folder = tmp_path / "tickets" / "in-progress" / NAME
    for stage in Stage:
        if stage != Stage.BOOTSTRAP:
            artifact = RULES[stage].artifact
            text = fixture(artifact)
            for find, replace in MIXED.get(artifact, []):
                assert find in text
                text = text.replace(find, replace)
            (folder / artifact).write_text(text)
            assert ftgate(capsys, tmp_path, "validate").code == 0
        if stage == Stage.HANDOFF:
            break
        if stage == Stage.IMPLEMENTATION:
            assert ftgate(capsys, tmp_path, "unlock").code == 0
        _advance(capsys, tmp_path)
    run = ftgate(capsys, tmp_path, "done", "--verified-by", "Dana")
    assert run.code == 0, run


def test_status_under_a_document_status_heading() -> None:
    text = "# Implementation\n\n## Document Status\n\n- Current Status: `Ready For Training`\n- Requirements: `x`\n"
    doc = md.parse(text, "implementation.md")
    assert art.read_status(doc, ImplementationStatus) == (ImplementationStatus.READY_FOR_TRAINING, 5)
    # A status heading followed by the bare value still reads as before.
    assert art.read_status(md.parse("## Status\n\n`Current`\n", "n.md"), DocStatus) == (DocStatus.CURRENT, 3)
    twice = text + "\n## Notes\n\n- Status: `Draft`\n"
    with pytest.raises(Exception, match="more than once with different values") as err:
        art.read_status(md.parse(twice, "implementation.md"), ImplementationStatus)
    assert "line 5" in str(err.value) and "line 10" in str(err.value)
    same = text + "\n- Status: Ready For Training\n"
    assert art.read_status(md.parse(same, "i.md"), ImplementationStatus) is not None


def test_template_slots_are_not_special_tokens() -> None:
    assert art.slots_in("- Why: <why this size>") == ["<why this size>"]
    assert art.slots_in("| RUN-001 | <run-id> |") == ["<run-id>"]
    for text in ("tuned output: apple<unk> <s>", "`<what goes here>` in code", "ends with <|im_end|>",
                 "- Ticket moved to `tickets/done/<ticket-name>/`: `No`", "moved to tickets/done/<ticket-name>/"):
        assert art.slots_in(text) == [], text


def test_names_match_ignoring_case_and_punctuation_and_if_applicable() -> None:
    same = ["Constraints And Risks", "constraints & risks", "Constraints and Risks:", "**Constraints, Risks**"]
    assert len({ex.name_id(n) for n in same}) == 1
    optional = ["Preference / reward / trajectory wiring if applicable",
                "Preference / reward / trajectory wiring (if applicable)", "preference/reward/trajectory wiring"]
    assert len({ex.name_id(n) for n in optional}) == 1
    assert ex.name_id("Training entrypoint resolves") != ex.name_id("Validation or evaluation entrypoint resolves")
    # The template's label with the ticket's name filled in is the same label.
    assert ex.HANDOFF_MOVED.matches(f"Ticket moved to `tickets/done/{NAME}/`")


def test_done_records_the_move_under_a_filled_in_label(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = _walk_to(capsys, tmp_path, Stage.HANDOFF)
    summary = folder / "handoff-summary.md"
    summary.write_text(summary.read_text().replace("tickets/done/<ticket-name>/", f"tickets/done/{NAME}/"))
    run = ftgate(capsys, tmp_path, "done", "--verified-by", "Dana")
    assert run.code == 0, run
    archived = (tmp_path / "tickets" / "done" / NAME / "handoff-summary.md").read_text()
    assert f"- Ticket moved to `tickets/done/{NAME}/`: `Yes`" in archived
    assert "- User verification received: `Yes`" in archived
    assert "- Repository finalization complete when applicable: `No`" in archived, "no --finalize, no claim"


@pytest.mark.parametrize("conditions", [
    "- Pass Condition: SC-001 met.\n- Fail Condition: SC-001 missed.\n- Inconclusive Condition: under 1,000 scored.\n",
    ("| Outcome | Condition |\n|---|---|\n| Pass | SC-001 met |\n| Fail | SC-001 missed |\n"
    "| Inconclusive | under 1,000 scored |\n"),
    "The ticket passes when SC-001 is met, fails when it is missed, and is inconclusive under 1,000 scored.\n",
], ids=["lines", "table", "sentence"])
def test_conditions_in_every_form(capsys: pytest.CaptureFixture[str], tmp_path: Path, conditions: str) -> None:
    folder = _walk_to(capsys, tmp_path, Stage.REQUIREMENTS)
    text = fixture("requirements.md")
    head = text.index("## Pass, Fail, And Inconclusive Conditions")
    base = text[:head] + "## Pass, Fail, And Inconclusive Conditions\n\n"
    (folder / "requirements.md").write_text(base + conditions)
    assert ftgate(capsys, tmp_path, "advance", "--dry-run").code == 0
    without = re.sub(r"(?im)^.*inconclusive.*$", "",
                     conditions.replace(", and is inconclusive under 1,000 scored", ""))
    (folder / "requirements.md").write_text(base + without)
    run = ftgate(capsys, tmp_path, "advance")
    assert run.code == 1 and "`Inconclusive Condition` is not stated" in run.err, run
    assert f"requirements.md:{_line_of(base, '## Pass, Fail')}:" in run.err


def test_a_ticket_in_ftgate_older_wording_still_walks(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """ftgate's templates before they took the upstream structure: `- Status:`
    lines, `## Chat Template` and `## Work Items`, `Not Run` results."""
    older = Path(__file__).parent / "fixtures" / "ftgate-wording"
    (tmp_path / "ftgate.yaml").write_text(REPORT_ONLY)
    assert ftgate(capsys, tmp_path, "ticket", "new", "color-map").code == 0
    folder = tmp_path / "tickets" / "in-progress" / "color-map"
    for stage in Stage:
        if stage != Stage.BOOTSTRAP:
            artifact = RULES[stage].artifact
            (folder / artifact).write_text((older / artifact).read_text().replace("$ticket", "color-map"))
            assert ftgate(capsys, tmp_path, "validate").code == 0
        if stage == Stage.HANDOFF:
            break
        if stage == Stage.IMPLEMENTATION:
            assert ftgate(capsys, tmp_path, "unlock").code == 0
        _advance(capsys, tmp_path)
    run = ftgate(capsys, tmp_path, "done", "--verified-by", "Dana")
    assert run.code == 0, run
    summary = (tmp_path / "tickets" / "done" / "color-map" / "handoff-summary.md").read_text()
    assert "Verified By: Dana" in summary and "User verification received" not in summary, "its form is kept"


def _handoff_findings(text: str) -> list[str]:
    from ftgate.workflow.gates import GateContext, MappingFiles, run_gate
    from ftgate.workflow.tickets import BootstrapValues, render_template

    bootstrap = BootstrapValues()
    values = {k: getattr(bootstrap, k) for k in bootstrap.__slots__}
    state_text = render_template("workflow-state.md", ticket=NAME, date="2026-01-01", **values)
    state = read_state(state_text, "workflow-state.md").state
    files = MappingFiles({"handoff-summary.md": text, "workflow-state.md": state_text}, f"tickets/in-progress/{NAME}")
    return [f.render() for f in run_gate(Stage.HANDOFF, GateContext(files=files, state=state, ticket=NAME))]


def test_stage8_gate_needs_the_user_verification_but_not_the_move() -> None:
    text = fixture("handoff-summary.md")
    verified = text.replace("User verification received: `No`", "User verification received: `Yes`")
    # `No` for the move and the finalization: they happen in and after `done`.
    assert _handoff_findings(verified) == []
    assert _handoff_findings(verified.replace("when applicable: `No`", "when applicable: `N/A`")) == []
    refused = _handoff_findings(text)
    line = _line_of(text, "User verification received")
    assert any(f"handoff-summary.md:{line}: `User verification received` is `No`" in f for f in refused), refused
