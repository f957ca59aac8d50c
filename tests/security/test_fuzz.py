"""Fuzzing what a pusher controls: the state reader, the config loader and
the evidence loaders (issue 11). For any input: no traceback, no run past
the time budget, and no "allow" when the input cannot be read.

Examples are bounded so the file runs in well under 30 seconds.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftgate.evidence.verify import verify_run
from ftgate.git.judge import summarize_state
from ftgate.limits import time_budget
from ftgate.policy.compiled import PolicyError, policy_from_data
from ftgate.policy.config import Config, compile_policy
from ftgate.policy.decide import Change, PathChange, TicketInput, TicketSide, decide

# Each example must finish well inside this; the budget raises inside the call.
BUDGET_S = 2.0
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_MARKDOWN = st.text(alphabet="# \t\n|-:*_`=<!>[]xX01234589\u0664\uff14StageCurrentUnlockdLcke()/.", max_size=400)
_STATE_LINES = st.lists(st.sampled_from([
    "# Workflow State\n", "## Current Snapshot\n", "- Current Stage: `4`\n", "- Current Stage: 4\n",
    "- Code Edit Permission: `Unlocked`\n", "- Code Edit Permission: Locked\n", "| Stage | Gate Status |\n",
    "|---|---|\n", "| 4 | Pass |\n", "\n", "<!--\n", "-->\n", "```\n", "## Stage Gates\n", "#" * 7 + " x\n",
    "- Current Stage: \u0664\n", "  \t  \n",
]), max_size=30).map("".join)


def _governed_verdict(summary_stage: int | None, unlocked: bool, error: str | None) -> bool:
    from ftgate.policy.types import StateSummary

    folder = "tickets/in-progress/t"
    side = TicketSide(folder, "b", StateSummary(summary_stage, unlocked, error))
    change = Change([PathChange("M", "src/train.py")], {"t": TicketInput("t", side, side)}, branch="codex/t")
    return decide(change, Config()).allowed


@FUZZ
@given(st.one_of(_MARKDOWN, _STATE_LINES, st.binary(max_size=300)))
def test_state_reader(data: str | bytes) -> None:
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    with time_budget(BUDGET_S, "state reader"):
        summary = summarize_state(raw, "workflow-state.md")
    if summary.error is not None:
        assert summary.stage is None and not summary.source_edits_allowed
    allowed = _governed_verdict(summary.stage, summary.unlocked, summary.error)
    assert allowed == (summary.error is None and summary.stage == 4 and summary.unlocked)


_YAML = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_ :-\n\t[]{},&*!|>'\"#%@`0123456789.", max_size=300)
_YAML_SHAPES = st.lists(st.sampled_from([
    "version: 1\n", "source:\n", "  include: ['*']\n", "  exclude: [\"*.md\"]\n", "untracked_source: allow\n",
    "untracked_source: block\n", "ticket: t\n", "a: &a [1]\n", "b: *a\n", "- x\n", "stage5_evidence: report\n",
    "worktree:\n  finalize: push\n", "[[[[\n", "source: &s\n  exclude: *s\n", "  - '!x'\n", "? a\n",
]), max_size=20).map("".join)


@FUZZ
@given(st.one_of(_YAML, _YAML_SHAPES, st.binary(max_size=200)))
def test_config_loader(data: str | bytes) -> None:
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    with time_budget(BUDGET_S, "config loader"):
        compiled = compile_policy(raw)
    policy = policy_from_data(json.loads(json.dumps(compiled)))  # what the cache round-trips
    if not compiled["ok"]:
        assert isinstance(policy, PolicyError) and policy.message
        # An unreadable new ftgate.yaml refuses the change that brings it.
        change = Change([PathChange("M", "ftgate.yaml")], config_error=policy.message)
        assert not decide(change, Config()).allowed
    else:
        assert not isinstance(policy, PolicyError)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["run_id", "status", "inputs", "artifacts", "source", "output", "path", "sha256",
                         "role", "tracked", "files", "hash", "metrics.json", "../x", "/etc/passwd"]),
        inner, max_size=6),
    max_leaves=20,
)
_RUN = st.fixed_dictionaries(
    {"run_id": st.just("RUN-001"), "status": st.just("Completed")},
    optional={"inputs": _JSON, "artifacts": _JSON, "source": _JSON, "output": _JSON},
)


@FUZZ
@given(st.one_of(_RUN, _JSON), st.booleans(), st.binary(max_size=100))
def test_evidence_loaders(run: object, write_metrics: bool, metrics: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "tickets" / "in-progress" / "t" / "evidence" / "RUN-001"
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps(run), encoding="utf-8")
        if write_metrics:
            (folder / "metrics.json").write_bytes(metrics)
        with time_budget(BUDGET_S, "evidence loader"):
            check = verify_run(folder, root=root, current_sources={})
    # Random run.json files never verify: without a recorded metrics.json
    # hash a run is not evidence.
    assert not check.verified
