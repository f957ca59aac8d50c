"""`ftgate ci` re-verifies the Stage 5 evidence of tickets past Stage 5 at
the head of the range: a ticket-file edit (allowed at any stage) that
changes a reported number is caught there."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

import tests.support.trainer as tp
from ftgate.git import ci  # noqa: E402

pytestmark = pytest.mark.train


def _at_stage_6(project: Path) -> str:
    """Commit the evidence with the ticket moved to Stage 6; returns the commit."""
    from dataclasses import asdict

    from ftgate.workflow.tickets import BootstrapValues, render_template

    text = render_template("workflow-state.md", ticket=tp.TICKET, date="2026-01-01", **asdict(BootstrapValues()))
    text = re.sub(r"Current Stage: `\d`[^\n]*", "Current Stage: `6`", text)
    (tp.ticket_path(project) / "workflow-state.md").write_text(text)
    tp.git(project, "add", "-A")
    tp.git(project, "commit", "-q", "-m", "evidence and Stage 6")
    return tp.git(project, "rev-parse", "HEAD").strip()


def test_ci_flags_evidence_made_stale_after_stage_5(tmp_path_factory, tmp_path: Path) -> None:
    original = tp.trained_project(tp.session_base(tmp_path_factory), "sft", tp.sft_config, "sft.yaml")
    project = tp.copy_project(original, tmp_path / "project")
    base = _at_stage_6(project)
    assert ci.evidence_at_head(base, cwd=str(project)) == {}

    report = tp.ticket_path(project) / "training-validation-report.md"
    text = report.read_text()
    edited = re.sub(r"(\| exact_match \| )1\.0000", r"\g<1>0.9500", text, count=1)
    assert edited != text
    report.write_text(edited)
    tp.git(project, "commit", "-q", "-am", "tidy the report")

    out = io.StringIO()
    code = ci.run(base, "HEAD", branch="codex/color-map", github=True, out=out, cwd=str(project))
    printed = out.getvalue()
    assert code == 1, printed
    assert "0 refused" in printed  # the commit itself is a legal ticket-file edit ...
    assert "training evidence does not verify" in printed  # ... but the evidence no longer matches
    assert "::error file=tickets/in-progress/color-map/training-validation-report.md" in printed
    assert "0.9500" in printed

    (project / "ftgate.yaml").write_text("stage5_evidence: report\n")
    tp.git(project, "add", "ftgate.yaml")
    tp.git(project, "commit", "-q", "-m", "trust the report")
    assert ci.evidence_at_head(tp.git(project, "rev-parse", "HEAD").strip(), cwd=str(project)) == {}
