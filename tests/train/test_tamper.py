"""Forged Stage 5 evidence is refused, each forgery with its reason, by
`ftgate evidence verify`, by `ftgate ci` and by the Stage 5 check the
server hook runs on a commit that leaves Stage 5.

One real tiny TRL run, signed by a trainer key listed in ftgate.yaml's
`evidence_signers`, is trained once for the module; every case forges a
private copy of it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import tests.support.trainer as tp
from ftgate import hashing
from ftgate.cli.main import run_cli
from ftgate.errors import FtgateError
from ftgate.evidence.verify import CONSISTENCY_ONLY, render, verify_ticket

pytestmark = pytest.mark.train

STATED = """\
# Requirements: color-map

- Status: `Plan-ready`

## Requirements

- R-001: the model names the thing that goes with a colour.

## Success Criteria

- SC-001 (R-001): `exact_match >= 0.80` on the held-out prompts
- SC-002 (R-001): `exact_match` improves on the base model by at least 0.50
"""
SIGNERS = ".ftgate/evidence_signers"
RUN = "RUN-001"


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)], check=True)
    return path.with_name(path.name + ".pub").read_text().split()[:2]  # type: ignore[return-value]


def _signers_line(principal: str, pub: list[str]) -> str:
    return f'{principal} namespaces="ftgate-evidence" {pub[0]} {pub[1]}\n'


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    out = {}
    for name in ("trainer", "intruder"):
        _keygen(folder / name)
        out[name] = folder / name
    return out


@pytest.fixture(scope="module")
def signed_run(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, Path]) -> Iterator[Path]:
    """A project whose requirements state measurable criteria, with its own
    copy of the base model and one honest run signed by the trainer key."""
    from ftgate.train.run import SIGNING_KEY_ENV, run_training

    base = tp.session_base(tmp_path_factory)
    root = tmp_path_factory.mktemp("tamper") / "project"
    model = tp.tiny_model(base)
    config_path = tp.make_project(root, root / "models" / "tiny", config=tp.sft_config(Path("../models/tiny")),
                                  name="sft.yaml")
    shutil.copytree(model, root / "models" / "tiny")
    (root / ".gitignore").write_text("outputs/\nprepared/\nmodels/\n")
    (tp.ticket_path(root) / "requirements.md").write_text(STATED)
    pub = keys["trainer"].with_name("trainer.pub").read_text().split()
    (root / ".ftgate").mkdir()
    (root / SIGNERS).write_text(_signers_line("trainer@ci", pub))
    (root / "ftgate.yaml").write_text(f"evidence_signers: {SIGNERS}\n")
    tp.git(root, "add", "-A")
    tp.git(root, "commit", "-q", "-m", "stated criteria and trusted signers")
    tp.prepare(config_path)
    mp = pytest.MonkeyPatch()
    mp.setenv(SIGNING_KEY_ENV, str(keys["trainer"]))
    try:
        assert run_training(config_path, resume=False) == 0
    finally:
        mp.undo()
    yield root


@pytest.fixture
def project(signed_run: Path, tmp_path: Path) -> Path:
    return tp.copy_project(signed_run, tmp_path / "project")


def _run_path(root: Path, ticket: str = tp.TICKET, run: str = RUN) -> Path:
    return root / "tickets" / "in-progress" / ticket / "evidence" / run


def _rehash(run_path: Path, *names: str) -> None:
    """What a forger does after editing: record the new hashes in run.json."""
    data = json.loads((run_path / "run.json").read_text())
    for name in names:
        data["artifacts"][name] = hashing.sha256_file(run_path / name)
    (run_path / "run.json").write_text(json.dumps(data, indent=2) + "\n")


def _restate(run_path: Path, key: Path | None) -> None:
    """A forger's consistent statement, signed with whatever key they hold."""
    from ftgate.evidence.statement import SIGNATURE_FILE, write_statement

    (run_path / SIGNATURE_FILE).unlink(missing_ok=True)
    write_statement(run_path, json.loads((run_path / "run.json").read_text()), key=key)


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
    report = tp.ticket_path(project) / "training-validation-report.md"
    text = report.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| SC-001"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    observed = cells[4]
    # The Notes cell is empty: ftgate no longer writes its own reason there.
    assert cells[-1] == "" and cells[-2] == "Passed"
    cells[-2], cells[-1] = "Waived", observed
    report.write_text(text.replace(row, "| " + " | ".join(cells) + " |"))
    refused(project, "not a reason a person wrote")


def test_waiver_flip_without_a_reason_is_refused(project: Path) -> None:
    report = tp.ticket_path(project) / "training-validation-report.md"
    text = report.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| SC-002"))
    report.write_text(text.replace(row, row.replace("| Passed |", "| Waived |")))
    refused(project, "SC-002 is Waived without a reason")


def test_rehashed_forged_numbers_are_recomputed_from_raw_outputs(project: Path) -> None:
    run_path = _run_path(project)
    metrics = json.loads((run_path / "metrics.json").read_text())
    true_value = metrics["baseline"]["exact_match"]["value"]
    metrics["baseline"]["exact_match"]["value"] = 0.9
    (run_path / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    _rehash(run_path, "metrics.json")
    refused(project, f"metrics.json records baseline.exact_match.value = 0.9, but the raw outputs give {true_value:g}")


def test_forged_loss_is_checked_against_the_trainers_log(project: Path) -> None:
    run_path = _run_path(project)
    metrics = json.loads((run_path / "metrics.json").read_text())
    metrics["result"]["eval_loss"]["value"] = 0.01
    (run_path / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    _rehash(run_path, "metrics.json")
    refused(project, "records result.eval_loss = 0.01")


def test_copy_into_another_ticket_is_refused(project: Path) -> None:
    other = project / "tickets" / "in-progress" / "other-ticket"
    (other / "evidence").mkdir(parents=True)
    shutil.copytree(_run_path(project), other / "evidence" / RUN)
    for name in ("requirements.md", "training-validation-report.md"):
        shutil.copy(tp.ticket_path(project) / name, other / name)
    result = verify_ticket(other)
    assert any("belongs to ticket 'color-map', but it sits in ticket 'other-ticket'" in f.message
               for f in result.findings), [f.render() for f in result.findings]
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
    assert any("sits in ticket 'other-ticket'" in line for line in ci.evidence_at_head(head, cwd=str(project))[folder])
    assert any("sits in ticket 'other-ticket'" in line for line in evidence_findings(head, folder, cwd=str(project)))


def test_copy_into_another_run_folder_is_refused(project: Path) -> None:
    shutil.copytree(_run_path(project), _run_path(project, run="RUN-002"))
    data = json.loads((_run_path(project, run="RUN-002") / "run.json").read_text())
    data["run_id"] = "RUN-002"
    (_run_path(project, run="RUN-002") / "run.json").write_text(json.dumps(data, indent=2))
    refused(project, "was written for tickets/in-progress/color-map/evidence/RUN-001, but it sits in")


def test_weaker_criterion_under_an_existing_sc_id_is_refused(project: Path) -> None:
    run_path = _run_path(project)
    metrics = json.loads((run_path / "metrics.json").read_text())
    for criterion in metrics["criteria_config"]:
        if criterion["id"] == "SC-001":
            criterion["threshold"] = 0.5
    for decision in metrics["criteria"]:
        if decision["id"] == "SC-001":
            decision["expected"] = "exact_match >= 0.5"
    (run_path / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    _rehash(run_path, "metrics.json")
    refused(project, "SC-001 in requirements.md line 11 states exact_match >= 0.8")


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
    weights = next((project / "models" / "tiny").glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    result = verify_ticket(tp.ticket_path(project))
    assert any("base model's weights at models/tiny differ" in f.message for f in result.findings)
    assert run_cli(["evidence", "verify", str(tp.ticket_path(project))]) == 1
    # The weights are not in git: where they are absent, a note says they were not checked.
    shutil.rmtree(project / "models")
    result = verify_ticket(tp.ticket_path(project))
    assert any("base weights at models/tiny not checked (not present here)" in n for n in result.notes)


def test_consistent_forgery_of_every_file_is_caught_only_by_the_signature(project: Path, keys: dict[str, Path]
                                                                           ) -> None:
    run_path = _run_path(project)
    forged = []
    for line in (run_path / "generations.jsonl").read_text().splitlines():
        row = json.loads(line)
        row["prompt"] = row["prompt"] + " (forged)"
        forged.append(json.dumps(row))
    (run_path / "generations.jsonl").write_text("\n".join(forged) + "\n")
    _rehash(run_path, "generations.jsonl")
    _restate(run_path, keys["intruder"])
    # Consistency alone cannot tell: the signature is the only thing wrong.
    findings = verify_ticket(tp.ticket_path(project)).findings
    assert findings and all("signature refused" in f.message or "does not verify" in f.message
                            for f in findings), [f.render() for f in findings]
    refused(project, "evidence signature refused")


def test_unsigned_evidence_is_refused_when_signers_are_configured(project: Path) -> None:
    (_run_path(project) / "statement.json.sig").unlink()
    refused(project, "is unsigned (statement.json.sig is missing)")


def test_signature_by_an_unlisted_key_is_refused(project: Path, keys: dict[str, Path]) -> None:
    _restate(_run_path(project), keys["intruder"])
    refused(project, "not in the allowed signers list")


def test_data_reprepared_between_kill_and_resume_is_refused(project: Path) -> None:
    from ftgate.train.run import run_training

    run_path = _run_path(project)
    data = json.loads((run_path / "run.json").read_text())
    # The state a kill leaves: run.json still Running, the checkpoints beside it.
    data["status"] = "Running"
    (run_path / "run.json").write_text(json.dumps(data, indent=2))
    eval_file = project / "train" / "data" / "eval.jsonl"
    eval_file.write_text(eval_file.read_text().replace('"apple"', '"pear"'))
    config_path = project / "train" / "sft.yaml"
    tp.prepare(config_path)
    with pytest.raises(FtgateError) as err:
        run_training(config_path, resume=True)
    assert "the inputs changed since RUN-001 started" in err.value.message
    assert "data train/data/eval.jsonl" in err.value.message
    refused(project, "RUN-001 is still Running")


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
