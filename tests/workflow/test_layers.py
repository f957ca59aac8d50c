"""The workflow and policy layers import only downwards, and the Stage 5 gate
gets what it needs from above through its context."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import ftgate
from ftgate.workflow.findings import Finding
from ftgate.workflow.gates import DirFiles, GateContext, gate_training
from ftgate.workflow.model import Stage
from ftgate.workflow.tickets import resolve_ticket
from tests.support.cli import ftgate as run_ftgate
from tests.support.tickets import fill

PACKAGE = Path(ftgate.__file__).parent
ABOVE_POLICY = ("ftgate.evidence", "ftgate.git", "ftgate.agents", "ftgate.train", "ftgate.cli")


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _upward(package: str, forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for path in sorted((PACKAGE / package).rglob("*.py")):
        for name in sorted(_imports(path)):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                out.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    return out


def test_workflow_imports_nothing_above_it() -> None:
    assert _upward("workflow", ("ftgate.policy", *ABOVE_POLICY)) == []


def test_policy_imports_nothing_above_it() -> None:
    assert _upward("policy", ABOVE_POLICY) == []


def test_steps_does_not_import_decide() -> None:
    """decide imports steps (for state edits); the reverse would be a cycle."""
    assert not any(name.startswith("ftgate.policy.decide") for name in _imports(PACKAGE / "policy" / "steps.py"))


class _Evidence:
    """A Stage 5 adapter with a fixed mode and fixed findings, counting calls."""

    def __init__(self, mode: str, findings: list[Finding]) -> None:
        self._mode, self._findings, self.calls = mode, findings, 0

    def mode(self) -> str:
        return self._mode

    def findings(self, folder: Path) -> list[Finding]:
        self.calls += 1
        return list(self._findings)


@pytest.fixture()
def stage5_ticket(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Path:
    assert run_ftgate(capsys, tmp_path, "ticket", "new", "alpha", "--no-worktree").code == 0
    folder = tmp_path / "tickets" / "in-progress" / "alpha"
    fill(folder, Stage.REQUIREMENTS, "alpha")
    fill(folder, Stage.TRAINING, "alpha")
    return folder


def _gate(folder: Path, evidence: _Evidence | None) -> list[Finding]:
    ticket = resolve_ticket("alpha", folder.parents[2])
    ctx = GateContext(files=DirFiles(folder, "alpha"), state=ticket.read_state().state, ticket="alpha",
                      folder=folder, repo_root=folder.parents[2], evidence=evidence)
    return gate_training(ctx)


def test_stage5_gate_uses_the_evidence_it_is_given(stage5_ticket: Path) -> None:
    report_only = _Evidence("report", [Finding("x", None, "never asked")])
    base = _gate(stage5_ticket, report_only)
    assert report_only.calls == 0  # `stage5_evidence: report` trusts the report

    bad = Finding("alpha/runs/RUN-001", None, "config.yaml changed after the run")
    verified = _Evidence("verified", [bad])
    found = _gate(stage5_ticket, verified)
    assert found[:-1] == base + [bad]
    # A refusal from the evidence names the opt-out for hand-written reports.
    assert "stage5_evidence: report" in str(found[-1].hint)
    assert verified.calls == 1


def test_stage5_gate_without_a_verifier_refuses(stage5_ticket: Path) -> None:
    """An adapter that forgets the verifier must not pass unverified evidence."""
    base = _gate(stage5_ticket, _Evidence("report", []))
    found = _gate(stage5_ticket, None)
    assert len(found) == len(base) + 1
    assert "training evidence was not checked" in found[-1].message
