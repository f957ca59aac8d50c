"""Forged Stage 5 evidence is refused, each forgery with its reason, by
`ftgate evidence verify`, by `ftgate ci` and by the Stage 5 check the
server hook runs on a commit that leaves Stage 5.

One real tiny TRL run, signed by a trainer key listed in ftgate.yaml's
`evidence_signers`, is trained once for the session (the ``signed_run``
fixture, shared with test_tamper_push.py); every case forges a private copy
of it with a forgery from tests.support.tamper.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest
import yaml

import tests.support.trainer as tp
from ftgate.cli.main import run_cli
from ftgate.errors import FtgateError
from ftgate.evidence.verify import CONSISTENCY_ONLY, render, verify_ticket
from tests.support import tamper

pytestmark = pytest.mark.train

RUN = tamper.RUN


@pytest.fixture
def project(signed_run: Path, tmp_path: Path) -> Path:
    return tp.copy_project(signed_run, tmp_path / "project")


_run_path = tamper.run_path


def _at_stage_6(root: Path, message: str) -> str:
    from dataclasses import asdict

    from ftgate.workflow.tickets import BootstrapValues, render_template

    text = render_template("workflow-state.md", ticket=tp.TICKET, date="2026-01-01", **asdict(BootstrapValues()))
    text = re.sub(r"Current Stage: `\d`[^\n]*", "Current Stage: `6`", text)
    (tp.ticket_path(root) / "workflow-state.md").write_text(text)
    tp.git(root, "add", "-A")
    tp.git(root, "commit", "-q", "-m", message)
    return tp.git(root, "rev-parse", "HEAD").strip()


def refused(root: Path, reason: str, *, ticket: str = tp.TICKET) -> None:
    """The forgery is refused, naming ``reason``, by verify (library and CLI),
    by ftgate ci and by the server hook's Stage 5 check on the commit."""
    from ftgate.git import ci
    from ftgate.git.evidence_tree import evidence_findings

    folder = root / "tickets" / "in-progress" / ticket
    result = verify_ticket(folder)
    messages = [f.render() for f in result.findings]
    assert not result.ok and any(reason in m for m in messages), messages
    assert run_cli(["evidence", "verify", str(folder)]) == 1

    head = _at_stage_6(root, "forged evidence")
    at_ci = ci.evidence_at_head(head, cwd=str(root))
    assert any(reason in line for line in at_ci.get(f"tickets/in-progress/{ticket}", [])), at_ci
    at_server = evidence_findings(head, f"tickets/in-progress/{ticket}", cwd=str(root))
    assert any(reason in line for line in at_server), at_server


# ------------------------------------------------------------------ the honest run


def test_honest_run_is_bound_signed_and_verifies(project: Path) -> None:
    run_path = _run_path(project)
    run = json.loads((run_path / "run.json").read_text())
    assert run["ticket"] == tp.TICKET and run["run_id"] == RUN
    assert run["run_path"] == f"tickets/in-progress/{tp.TICKET}/evidence/{RUN}"
    assert run["base_model"]["path"] == "models/tiny" and len(run["base_model"]["weights_sha256"]) == 64
    assert run["git"]["commit"] and run["source"]["hash"] and run["config"]["resolved_sha256"]
    assert run["data_manifest_sha256"] and run["tokenizer"]["template_sha256"] and run["seed"] == 7
    assert run["environment"]["versions"]["trl"]
    assert run["baseline_state"]["sha256"]

    rows = [json.loads(line) for line in (run_path / "generations.jsonl").read_text().splitlines()]
    assert len(rows) == 30 and all(r["reference"] and "text" in r["tuned"] for r in rows)

    statement = json.loads((run_path / "statement.json").read_text())
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"].startswith("https://ftgate.dev/")
    assert {s["name"] for s in statement["subject"]} >= {"run.json", "metrics.json", "generations.jsonl",
                                                         "log_history.json", "samples.jsonl", "loss.png"}
    assert statement["predicate"]["run_path"] == run["run_path"]

    t0 = time.perf_counter()
    result = verify_ticket(tp.ticket_path(project))
    seconds = time.perf_counter() - t0
    assert result.ok, [f.render() for f in result.findings]
    assert result.signed and any("signed by trainer@ci" in n for n in result.notes)
    assert CONSISTENCY_ONLY not in render(result)
    print(f"verify with recompute and signature check: {seconds:.2f}s")

    head = _at_stage_6(project, "honest evidence")
    from ftgate.git import ci
    from ftgate.git.evidence_tree import evidence_findings

    assert ci.evidence_at_head(head, cwd=str(project)) == {}
    assert evidence_findings(head, f"tickets/in-progress/{tp.TICKET}", cwd=str(project)) == []


def test_without_signers_verify_says_it_proves_consistency_only(tmp_path_factory: pytest.TempPathFactory,
                                                               tmp_path: Path) -> None:
    # ftgate.yaml and the signers file are source: dropping the signers from
    # the signed project would make its evidence stale, so use an unsigned one.
    original = tp.trained_project(tp.session_base(tmp_path_factory), "sft", tp.sft_config, "sft.yaml")
    unsigned = tp.copy_project(original, tmp_path / "unsigned")
    result = verify_ticket(tp.ticket_path(unsigned))
    assert result.ok and not result.signed, [f.render() for f in result.findings]
    assert render(result).count(CONSISTENCY_ONLY) == 1
    assert not (_run_path(unsigned) / "statement.json.sig").exists()


# ------------------------------------------------------------------ forgeries


def test_waiver_flip_with_ftgates_own_words_is_refused(project: Path) -> None:
    refused(project, tamper.waiver_flip(project))


def test_waiver_flip_without_a_reason_is_refused(project: Path) -> None:
    refused(project, tamper.waiver_without_reason(project))


def test_rehashed_forged_numbers_are_recomputed_from_raw_outputs(project: Path) -> None:
    refused(project, tamper.rehashed_numbers(project))


def test_forged_loss_is_checked_against_the_trainers_log(project: Path) -> None:
    refused(project, tamper.forged_loss(project))


def test_copy_into_another_ticket_is_refused(project: Path) -> None:
    reason = tamper.copy_into_ticket(project, "other-ticket")
    other = project / "tickets" / "in-progress" / "other-ticket"
    result = verify_ticket(other)
    assert any(reason in f.message for f in result.findings), [f.render() for f in result.findings]
    assert run_cli(["evidence", "verify", str(other)]) == 1
    from dataclasses import asdict

    from ftgate.git import ci
    from ftgate.git.evidence_tree import evidence_findings
    from ftgate.workflow.tickets import BootstrapValues, render_template

    text = render_template("workflow-state.md", ticket="other-ticket", date="2026-01-01", **asdict(BootstrapValues()))
    (other / "workflow-state.md").write_text(re.sub(r"Current Stage: `\d`[^\n]*", "Current Stage: `6`", text))
    tp.git(project, "add", "-A")
    tp.git(project, "commit", "-q", "-m", "borrowed evidence")
    head = tp.git(project, "rev-parse", "HEAD").strip()
    folder = "tickets/in-progress/other-ticket"
    assert any(reason in line for line in ci.evidence_at_head(head, cwd=str(project))[folder])
    assert any(reason in line for line in evidence_findings(head, folder, cwd=str(project)))


def test_copy_into_another_run_folder_is_refused(project: Path) -> None:
    refused(project, tamper.copy_into_run_folder(project))


def test_weaker_criterion_under_an_existing_sc_id_is_refused(project: Path) -> None:
    refused(project, tamper.weaker_criterion(project))


def test_weaker_criterion_in_a_config_is_refused_before_a_run_id_is_claimed(project: Path) -> None:
    from ftgate.train.run import run_training

    config_path = project / "train" / "sft.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["success_criteria"][0]["threshold"] = 0.5
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    with pytest.raises(FtgateError) as err:
        run_training(config_path, resume=False)
    assert "SC-001 in requirements.md line 11 states exact_match >= 0.8" in err.value.message
    assert "Stage 2" in (err.value.hint or "")
    assert not _run_path(project, run="RUN-002").exists()


def test_swapped_base_weights_are_refused_where_present(project: Path) -> None:
    reason = tamper.swapped_weights(project)
    result = verify_ticket(tp.ticket_path(project))
    assert any(reason in f.message for f in result.findings)
    assert run_cli(["evidence", "verify", str(tp.ticket_path(project))]) == 1
    # The weights are not in git: where they are absent, a note says they were not checked.
    shutil.rmtree(project / "models")
    result = verify_ticket(tp.ticket_path(project))
    assert any(tamper.WEIGHTS_NOT_CHECKED in n for n in result.notes)


def test_consistent_forgery_of_every_file_is_caught_only_by_the_signature(project: Path, keys: dict[str, Path]
                                                                           ) -> None:
    reason = tamper.every_file_consistently(project, keys)
    # Consistency alone cannot tell: the signature is the only thing wrong.
    findings = verify_ticket(tp.ticket_path(project)).findings
    assert findings and all("signature refused" in f.message or "does not verify" in f.message
                            for f in findings), [f.render() for f in findings]
    refused(project, reason)


def test_unsigned_evidence_is_refused_when_signers_are_configured(project: Path) -> None:
    refused(project, tamper.unsigned(project))


def test_signature_by_an_unlisted_key_is_refused(project: Path, keys: dict[str, Path]) -> None:
    refused(project, tamper.unlisted_key(project, keys))


def test_data_reprepared_between_kill_and_resume_is_refused(project: Path) -> None:
    from ftgate.train.run import run_training

    reason = tamper.killed_and_reprepared(project)
    with pytest.raises(FtgateError) as err:
        run_training(project / "train" / "sft.yaml", resume=True)
    assert "the inputs changed since RUN-001 started" in err.value.message
    assert "data train/data/eval.jsonl" in err.value.message
    refused(project, reason)


def test_swapped_baseline_file_on_resume_is_refused(project: Path) -> None:
    from ftgate.train.run import STATE_FILE, run_training

    run_path = _run_path(project)
    data = json.loads((run_path / "run.json").read_text())
    data["status"] = "Running"
    (run_path / "run.json").write_text(json.dumps(data, indent=2))
    state_path = project / "outputs" / tp.TICKET / RUN / STATE_FILE
    state = json.loads(state_path.read_text())
    state["baseline_eval"]["eval_loss"] = 99.0
    state_path.write_text(json.dumps(state))
    with pytest.raises(FtgateError) as err:
        run_training(project / "train" / "sft.yaml", resume=True)
    assert "is not the baseline RUN-001 recorded" in err.value.message
