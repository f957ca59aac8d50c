"""`ftgate evidence attach`: a run made by a plain PyTorch script clears Stage 5, a tampered one does not."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tests.support.trainer as tp
from ftgate import hashing
from ftgate.errors import FtgateError
from ftgate.evidence.verify import verify_ticket
from ftgate.git import ci

pytestmark = pytest.mark.train

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "attach"
_CACHE: dict[str, Path] = {}


def _ftgate(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-m", "ftgate", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120)


def _external_run(base: Path) -> Path:
    """A project with the example copied in and its script run once per session (it imports torch)."""
    if "project" not in _CACHE:
        root = base / "attach-original"
        tp.make_project(root, Path("unused"), config=tp.sft_config(Path("unused")))
        shutil.copytree(EXAMPLE, root / "external")
        tp.git(root, "add", "-A")
        tp.git(root, "commit", "-q", "-m", "the external trainer")
        proc = subprocess.run(
            [sys.executable, "external/train_plain.py", "--config", "external/config.yaml",
             "--data", "external/data", "--out", "outputs/plain"],
            cwd=root, capture_output=True, text=True, timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        _CACHE["project"] = root
    return _CACHE["project"]


@pytest.fixture
def project(tmp_path_factory, tmp_path) -> Path:
    return tp.copy_project(_external_run(tp.session_base(tmp_path_factory)), tmp_path / "project")


ATTACH_ARGS = ("evidence", "attach", tp.TICKET, "--config", "external/config.yaml",
               "--generations", "outputs/plain/generations.jsonl", "--metrics", "outputs/plain/metrics.json",
               "--data", "external/data/train.jsonl", "--data", "external/data/eval.jsonl",
               "--artifact", "outputs/plain/model.pt")


def _attach(project: Path) -> Path:
    proc = _ftgate(project, *ATTACH_ARGS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SC-001: Passed" in proc.stdout and "SC-002: Passed" in proc.stdout
    return tp.ticket_path(project) / "evidence" / "RUN-001"


def _verify(project: Path) -> tuple[int, str]:
    proc = _ftgate(project, "evidence", "verify", tp.TICKET)
    return proc.returncode, proc.stdout + proc.stderr


def _rehash(run_dir: Path, name: str) -> None:
    """What a careful forger does after editing a file: make run.json agree with it."""
    run = json.loads((run_dir / "run.json").read_text())
    run["artifacts"][name] = hashing.sha256_file(run_dir / name)
    (run_dir / "run.json").write_text(json.dumps(run, indent=2))


def test_plain_pytorch_run_attached_clears_stage_5(project: Path) -> None:
    run_dir = _attach(project)
    run = json.loads((run_dir / "run.json").read_text())
    assert run["kind"] == "attached" and run["ticket"] == tp.TICKET and run["status"] == "Completed"
    assert run["git"]["commit"] == tp.git(project, "rev-parse", "HEAD").strip()
    roles = {(i["role"], i["path"]) for i in run["inputs"]}
    assert ("artifact", "outputs/plain/model.pt") in roles and ("data", "external/data/eval.jsonl") in roles
    assert run["attached"]["claimed_only"] == ["train_loss"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["result"]["exact_match"]["n"] == 30

    code, out = _verify(project)
    assert code == 0, out
    assert "RUN-001: verified" in out and "SC-001: Passed (RUN-001)" in out
    report = (tp.ticket_path(project) / "training-validation-report.md").read_text()
    assert "attached with `ftgate evidence attach`" in report

    # Stage 5 as CI sees it: the evidence committed with the ticket past Stage 5.
    head = _at_stage_6(project)
    assert ci.evidence_at_head(head, cwd=str(project)) == {}


def test_a_claim_the_generations_do_not_give_is_refused_at_attach(project: Path) -> None:
    claimed = project / "outputs" / "plain" / "metrics.json"
    data = json.loads(claimed.read_text())
    data["result"]["exact_match"] = 0.95
    claimed.write_text(json.dumps(data))
    proc = _ftgate(project, *ATTACH_ARGS)
    assert proc.returncode != 0
    assert "outputs/plain/metrics.json" in proc.stderr + proc.stdout
    assert "exact_match is claimed as 0.95 but the generations give 1" in proc.stderr + proc.stdout
    assert not (tp.ticket_path(project) / "evidence" / "RUN-001").exists()


def test_an_edited_metric_is_refused_even_when_rehashed(project: Path) -> None:
    run_dir = _attach(project)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["baseline"]["exact_match"]["value"] = 0.1
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    _rehash(run_dir, "metrics.json")
    code, out = _verify(project)
    assert code == 1
    assert "metrics.json baseline exact_match reads 0.1 but the generations give 0.2" in out


def test_generations_changed_after_attach_are_refused(project: Path) -> None:
    run_dir = _attach(project)
    gens = run_dir / "generations.jsonl"
    rows = [json.loads(line) for line in gens.read_text().splitlines()]
    rows[0]["output"] = "wrong"
    gens.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, out = _verify(project)
    assert code == 1 and "generations.jsonl was changed after the run wrote it" in out
    _rehash(run_dir, "generations.jsonl")
    code, out = _verify(project)
    assert code == 1 and "the generations give 0.966667" in out


def test_data_changed_after_attach_is_refused(project: Path) -> None:
    _attach(project)
    data = project / "external" / "data" / "eval.jsonl"
    data.write_text(data.read_text().replace("apple", "pear", 1))
    code, out = _verify(project)
    assert code == 1 and "data external/data/eval.jsonl changed since the run" in out


def test_attached_evidence_copied_into_another_ticket_is_refused(project: Path) -> None:
    run_dir = _attach(project)
    other = project / "tickets" / "in-progress" / "other-ticket"
    shutil.copytree(tp.ticket_path(project), other)
    (other / "requirements.md").write_text((other / "requirements.md").read_text().replace(tp.TICKET, "other-ticket"))
    code, out = _verify(project.joinpath())  # the original still verifies
    assert code == 0, out
    result = verify_ticket(other)
    messages = " ".join(f.message for f in result.findings)
    assert "names ticket 'color-map' but lives in other-ticket's evidence" in messages
    assert run_dir.is_dir()


def test_a_function_metric_cannot_be_attached(project: Path) -> None:
    from ftgate.evidence.attach import load_config

    config = project / "external" / "config.yaml"
    config.write_text(config.read_text().replace("metrics: [exact_match, normalized_exact_match]",
                                                 "metrics: [exact_match, {kind: function, function: 'm:f'}]"))
    with pytest.raises(FtgateError, match="function metric"):
        load_config(config)


def _at_stage_6(project: Path) -> str:
    from dataclasses import asdict

    from ftgate.workflow.tickets import BootstrapValues, render_template

    text = render_template("workflow-state.md", ticket=tp.TICKET, date="2026-01-01", **asdict(BootstrapValues()))
    text = re.sub(r"Current Stage: `\d`[^\n]*", "Current Stage: `6`", text)
    (tp.ticket_path(project) / "workflow-state.md").write_text(text)
    tp.git(project, "add", "-A")
    tp.git(project, "commit", "-q", "-m", "attached evidence and Stage 6")
    return tp.git(project, "rev-parse", "HEAD").strip()


def _trust(project: Path, key: Path) -> None:
    """ftgate.yaml names a signers file that lists only ``key``."""
    pub = key.with_name(key.name + ".pub").read_text().split()
    (project / ".ftgate").mkdir(exist_ok=True)
    (project / ".ftgate" / "evidence_signers").write_text(
        f'ci@example.com namespaces="ftgate-evidence" {pub[0]} {pub[1]}\n')
    (project / "ftgate.yaml").write_text("evidence_signers: .ftgate/evidence_signers\n")
    tp.git(project, "add", "-A")
    tp.git(project, "commit", "-q", "-m", "trust the CI runner's evidence key")


def test_attached_evidence_is_signed_and_checked_like_a_bundled_run(project: Path, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in ("runner", "intruder"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(keys / name)],
                       check=True)
    _trust(project, keys / "runner")

    # Unsigned attached evidence is refused once signers are configured.
    run_dir = _attach(project)
    code, out = _verify(project)
    assert code == 1 and "sign" in out.lower(), out
    shutil.rmtree(run_dir)

    # Signed by a key that is not listed: refused.
    env_key = "FTGATE_EVIDENCE_SIGNING_KEY"
    os.environ[env_key] = str(keys / "intruder")
    try:
        run_dir = _attach(project)
    finally:
        del os.environ[env_key]
    code, out = _verify(project)
    assert code == 1, out
    shutil.rmtree(run_dir)

    # Signed by the runner's key: the statement lists every file and verifies.
    os.environ[env_key] = str(keys / "runner")
    try:
        run_dir = _attach(project)
    finally:
        del os.environ[env_key]
    assert (run_dir / "statement.json").is_file() and (run_dir / "statement.json.sig").is_file()
    code, out = _verify(project)
    assert code == 0, out
