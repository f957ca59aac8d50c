"""`ftgate evidence verify`: trusted evidence passes; stale or edited evidence fails with the reason."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tests.support.trainer as tp
from ftgate.cli.main import run_cli  # noqa: E402
from ftgate.evidence.verify import verify_ticket  # noqa: E402

pytestmark = pytest.mark.train


@pytest.fixture
def project(tmp_path_factory, tmp_path) -> Path:
    original = tp.trained_project(tp.session_base(tmp_path_factory), "sft", tp.sft_config, "sft.yaml")
    return tp.copy_project(original, tmp_path / "project")


def _messages(root: Path) -> list[str]:
    result = verify_ticket(tp.ticket_path(root))
    assert not result.ok
    return [f.message for f in result.findings]


def test_fresh_evidence_verifies(project: Path) -> None:
    result = verify_ticket(tp.ticket_path(project))
    assert result.ok, [f.render() for f in result.findings]
    assert result.closure == {"SC-001": ("Passed", "RUN-001"), "SC-002": ("Passed", "RUN-001")}


def test_source_edit_after_the_run_makes_evidence_stale(project: Path) -> None:
    (project / "src" / "pipeline.py").write_text("LABEL = 'changed after training'\n")
    messages = _messages(project)
    stale = [m for m in messages if "source changed after the run" in m]
    assert stale and "changed: src/pipeline.py" in stale[0]
    # Markdown and ticket files are not source: editing them changes nothing.
    (project / "README.md").write_text("notes\n")


def test_new_tracked_source_file_is_named(project: Path) -> None:
    (project / "src" / "extra.py").write_text("X = 1\n")
    tp.git(project, "add", "src/extra.py")
    assert any("added: src/extra.py" in m for m in _messages(project))


def test_docs_and_ticket_edits_do_not_make_evidence_stale(project: Path) -> None:
    (project / "docs").mkdir()
    (project / "docs" / "guide.md").write_text("how to\n")
    (project / "NOTES.md").write_text("a note\n")
    tp.git(project, "add", "docs/guide.md", "NOTES.md")
    assert verify_ticket(tp.ticket_path(project)).ok


def test_changed_data_file_fails_verify(project: Path) -> None:
    data = project / "train" / "data" / "eval.jsonl"
    data.write_text(data.read_text().replace('"apple"', '"pear"'))
    messages = _messages(project)
    assert any("data train/data/eval.jsonl changed since the run" in m for m in messages)


def test_hand_edited_report_number_fails_verify(project: Path) -> None:
    report = tp.ticket_path(project) / "training-validation-report.md"
    text = report.read_text()
    edited = re.sub(r"(\| exact_match \| )1\.0000", r"\g<1>0.9500", text, count=1)
    assert edited != text
    report.write_text(edited)
    messages = _messages(project)
    assert any("Metric Summary result for RUN-001 exact_match reads '0.9500" in m and "1.0000" in m
               for m in messages)


def test_hand_edited_closure_decision_fails_verify(project: Path) -> None:
    report = tp.ticket_path(project) / "training-validation-report.md"
    # The reason now sits in Observed Result: Notes are left to a person.
    report.write_text(report.read_text().replace(": meets exact_match >= 0.8 | Passed |",
                                                 ": meets exact_match >= 0.8 | Failed |"))
    assert any("Success Criteria Closure says SC-001 is 'Failed'" in m for m in _messages(project))


def test_edited_metrics_json_fails_verify(project: Path) -> None:
    path = tp.ticket_path(project) / "evidence" / "RUN-001" / "metrics.json"
    data = json.loads(path.read_text())
    data["baseline"]["exact_match"]["value"] = 0.5
    path.write_text(json.dumps(data, indent=2))
    assert any("metrics.json was changed after the run" in m for m in _messages(project))


def test_evidence_files_of_the_wrong_shape_are_findings_naming_file_and_key(
    project: Path, monkeypatch, capsys
) -> None:
    run_dir = tp.ticket_path(project) / "evidence" / "RUN-001"
    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics["result"]["exact_match"]["n"] = "many"
    metrics_path.write_text(json.dumps(metrics, indent=2))
    findings = verify_ticket(tp.ticket_path(project)).findings
    shape = [f for f in findings if "does not have the expected shape" in f.message]
    assert shape and shape[0].path.endswith("RUN-001/metrics.json")
    assert "`result.exact_match.n`" in shape[0].message

    run_path = run_dir / "run.json"
    run = json.loads(run_path.read_text())
    run["inputs"] = "every file"
    run_path.write_text(json.dumps(run, indent=2))
    monkeypatch.chdir(project)
    assert run_cli(["evidence", "verify", tp.TICKET]) == 1
    out = capsys.readouterr().out
    assert "RUN-001/run.json" in out and "`inputs`" in out and "Traceback" not in out


def test_open_and_waived_criteria(project: Path) -> None:
    ticket = tp.ticket_path(project)
    requirements = ticket / "requirements.md"
    requirements.write_text(requirements.read_text() + "- SC-003 (R-001): a reviewer likes the tone\n")
    assert any("SC-003 is still open" in m for m in _messages(project))

    report = ticket / "training-validation-report.md"
    base = report.read_text()
    row = "| SC-003 | R-001 | tone | | | Waived | {} |\n"
    anchor = "| SC-002 |"
    head, tail = base.split(anchor, 1)
    line_end = tail.index("\n") + 1
    report.write_text(head + anchor + tail[:line_end] + row.format("") + tail[line_end:])
    assert any("SC-003 is Waived without a reason" in m for m in _messages(project))
    report.write_text(head + anchor + tail[:line_end] + row.format("rubric judged by the user; no metric")
                      + tail[line_end:])
    result = verify_ticket(ticket)
    assert result.ok, [f.render() for f in result.findings]
    assert result.closure["SC-003"] == ("Waived", None)


def test_cli_exit_codes(project: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(project)
    assert run_cli(["evidence", "verify", tp.TICKET]) == 0
    assert "evidence: OK" in capsys.readouterr().out
    assert run_cli(["evidence", "verify"]) == 0  # the only ticket in progress
    capsys.readouterr()
    (project / "src" / "pipeline.py").write_text("LABEL = 'x'\n")
    assert run_cli(["evidence", "verify", tp.TICKET, "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False and any("src/pipeline.py" in f["message"] for f in out["findings"])
    assert run_cli(["evidence", "verify", "no-such-ticket"]) == 2


def test_verify_needs_no_ml_stack(project: Path) -> None:
    """The gate and `ftgate ci` run verify where torch is not installed."""
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'torch', 'transformers', 'trl', 'peft', 'datasets', 'accelerate',"
        " 'numpy', 'matplotlib'}:\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from ftgate.cli.main import run_cli\n"
        f"sys.exit(run_cli(['evidence', 'verify', {tp.TICKET!r}]))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", blocker], cwd=project, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "evidence: OK" in proc.stdout


def test_stage5_gate_runs_the_verifier(project: Path) -> None:
    """`ftgate advance` from 5 judges the evidence, not only the report's words."""
    from ftgate.evidence.stage5 import RepoEvidence
    from ftgate.workflow.gates import DirFiles, GateContext, gate_training

    ticket = tp.ticket_path(project)
    report = ticket / "training-validation-report.md"
    report.write_text(report.read_text().replace("- Current Status: `In Progress`", "- Current Status: `Current`")
                      .replace("- Stage 5 Decision: `Fail`", "- Stage 5 Decision: `Pass`"))

    def findings() -> list[str]:
        ctx = GateContext(files=DirFiles(ticket, "ticket"), state=None, ticket=tp.TICKET,  # type: ignore[arg-type]
                          folder=ticket, repo_root=project, evidence=RepoEvidence(project))
        return [f.message for f in gate_training(ctx)]

    assert findings() == []
    (project / "src" / "pipeline.py").write_text("LABEL = 'edited after the run'\n")
    assert any("source changed after the run" in m for m in findings())


def test_source_files_follow_the_enforcement_rule(tmp_path: Path) -> None:
    """Staleness uses the same source rule as the hooks (ftgate.yaml)."""
    from ftgate.evidence.record import source_files

    root = tmp_path / "repo"
    root.mkdir()
    tp.git(root, "init", "-q")
    for rel in ("src/a.py", "notebooks/n.ipynb", "README.md", "docs/x.txt", "tickets/in-progress/t/r.json"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x\n")
    (root / "untracked.py").write_text("x\n")
    (root / "ftgate.yaml").write_text("version: 1\nsource:\n  exclude: ['*.md', 'docs/', 'notebooks/']\n")
    tp.git(root, "add", "src", "notebooks", "README.md", "docs", "tickets", "ftgate.yaml")
    assert source_files(root) == ["ftgate.yaml", "src/a.py"]


def test_a_waiver_needs_a_signed_approval_when_approvals_list_waive(project: Path, tmp_path: Path) -> None:
    """An honest run plus a waived rubric criterion: with `waive` under
    approvals the waiver is a finding on its row until a listed key signs
    it, then the evidence verifies. Keys are made here with ssh-keygen."""
    from ftgate import sshsig
    from ftgate.evidence.approval_files import waiver_check

    ticket = tp.ticket_path(project)
    requirements = ticket / "requirements.md"
    requirements.write_text(requirements.read_text() + "- SC-003 (R-001): a reviewer likes the tone\n")
    report = ticket / "training-validation-report.md"
    head, tail = report.read_text().split("| SC-002 |", 1)
    end = tail.index("\n") + 1
    report.write_text(head + "| SC-002 |" + tail[:end]
                      + "| SC-003 | R-001 | tone | | | Waived | no reviewer this quarter; the lead agreed |\n"
                      + tail[end:])
    keys = {}
    for name in ("alice", "mallory"):
        keys[name] = tmp_path / name
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(keys[name])],
                       check=True)
    # Untracked, so the run's source hashes still hold.
    (project / "ftgate.yaml").write_text("version: 1\napprovals:\n  transitions: [waive]\n"
                                         "  allowed_signers: .ftgate/allowed_signers\n  separate: false\n")
    (project / ".ftgate").mkdir()
    (project / ".ftgate" / "allowed_signers").write_text(
        f"alice@example.com {sshsig.public_key_of(keys['alice'])}\n")

    def waiver_findings() -> list[str]:
        result = verify_ticket(ticket, waiver_approval=waiver_check(ticket, project))
        return [f"{f.path}:{f.line}: {f.message}" for f in result.findings]

    found = waiver_findings()
    assert len(found) == 1 and "SC-003: Waived needs a signed `waive` approval by one of alice@example.com" \
        in found[0] and "training-validation-report.md:" in found[0], found
    for name, expected in (("mallory", ["not in the allowed signers"]), ("alice", [])):
        signed = subprocess.run([sys.executable, "-m", "ftgate", "approve", tp.TICKET, "--transition", "waive",
                                 "--key", str(keys[name])], cwd=project, capture_output=True, text=True,
                                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        assert signed.returncode == 0, signed.stderr
        found = waiver_findings()
        assert all(any(e in f for f in found) for e in expected) and len(found) == len(expected), found
    result = verify_ticket(ticket, waiver_approval=waiver_check(ticket, project))
    assert result.ok and result.closure["SC-003"] == ("Waived", None)
