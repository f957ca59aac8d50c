"""The tamper suite's shared pieces: one honest run signed by a trusted
trainer key, and the forgeries a person could commit instead of it.

Both tests/train/test_tamper.py (verify, ``ftgate ci`` and the server's
Stage 5 check called as functions) and tests/train/test_tamper_push.py
(a real ``git push`` to a hooked bare server, and ``ftgate ci`` in a CI
checkout) forge private copies of the same run, so each forgery is written
once, here. A forgery edits a project in place and returns the words its
refusal must contain.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import tests.support.trainer as tp
from ftgate import hashing

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
MODELS = "models/tiny"
# The weights are kept out of git (the usual case) but are not source either,
# so a repository may also commit them without making the run's source stale;
# that is how the server gets to see them.
CONFIG = f"evidence_signers: {SIGNERS}\nsource:\n  exclude: ['*.md', '*.rst', '/docs/', '/models/']\n"


def keygen(path: Path) -> list[str]:
    """An ed25519 key pair at ``path``; returns the public key's type and body."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)], check=True)
    return path.with_name(path.name + ".pub").read_text().split()[:2]


def signers_line(principal: str, pub: list[str]) -> str:
    return f'{principal} namespaces="ftgate-evidence" {pub[0]} {pub[1]}\n'


def make_keys(folder: Path) -> dict[str, Path]:
    """The trusted trainer's key and an intruder's, by name."""
    out = {}
    for name in ("trainer", "intruder"):
        keygen(folder / name)
        out[name] = folder / name
    return out


def signed_project(root: Path, base: Path, keys: dict[str, Path]) -> Path:
    """A project whose requirements state measurable criteria, with its own
    copy of the base model, the trainer key listed in ``evidence_signers``,
    and one honest run signed by that key (left uncommitted, as the trainer
    leaves it)."""
    from ftgate.train.run import SIGNING_KEY_ENV, run_training

    model = tp.tiny_model(base)
    config_path = tp.make_project(root, root / MODELS, config=tp.sft_config(Path("../models/tiny")), name="sft.yaml")
    shutil.copytree(model, root / MODELS)
    (root / ".gitignore").write_text("outputs/\nprepared/\nmodels/\n")
    (tp.ticket_path(root) / "requirements.md").write_text(STATED)
    pub = keys["trainer"].with_name("trainer.pub").read_text().split()
    (root / ".ftgate").mkdir()
    (root / SIGNERS).write_text(signers_line("trainer@ci", pub))
    (root / "ftgate.yaml").write_text(CONFIG)
    tp.git(root, "add", "-A")
    tp.git(root, "commit", "-q", "-m", "stated criteria and trusted signers")
    tp.prepare(config_path)
    import pytest

    mp = pytest.MonkeyPatch()
    mp.setenv(SIGNING_KEY_ENV, str(keys["trainer"]))
    try:
        assert run_training(config_path, resume=False) == 0
    finally:
        mp.undo()
    return root


def run_path(root: Path, ticket: str = tp.TICKET, run: str = RUN) -> Path:
    return root / "tickets" / "in-progress" / ticket / "evidence" / run


def rehash(run_folder: Path, *names: str) -> None:
    """What a forger does after editing: record the new hashes in run.json."""
    data = json.loads((run_folder / "run.json").read_text())
    for name in names:
        data["artifacts"][name] = hashing.sha256_file(run_folder / name)
    (run_folder / "run.json").write_text(json.dumps(data, indent=2) + "\n")


def restate(run_folder: Path, key: Path | None) -> None:
    """A forger's consistent statement, signed with whatever key they hold."""
    from ftgate.evidence.statement import SIGNATURE_FILE, write_statement

    (run_folder / SIGNATURE_FILE).unlink(missing_ok=True)
    write_statement(run_folder, json.loads((run_folder / "run.json").read_text()), key=key)


def _report(root: Path, ticket: str = tp.TICKET) -> Path:
    return root / "tickets" / "in-progress" / ticket / "training-validation-report.md"


# ------------------------------------------------------------------ forgeries


def waiver_flip(root: Path) -> str:
    """SC-001 turned to Waived, with the Observed Result (ftgate's own
    measurement) pasted as the reason."""
    report = _report(root)
    text = report.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| SC-001"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # The Notes cell is empty: ftgate no longer writes its own reason there.
    assert cells[-1] == "" and cells[-2] == "Passed", cells
    cells[-2], cells[-1] = "Waived", cells[4]
    report.write_text(text.replace(row, "| " + " | ".join(cells) + " |"))
    return "not a reason a person wrote"


def waiver_without_reason(root: Path) -> str:
    report = _report(root)
    text = report.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| SC-002"))
    report.write_text(text.replace(row, row.replace("| Passed |", "| Waived |")))
    return "SC-002 is Waived without a reason"


def rehashed_numbers(root: Path) -> str:
    """A baseline number raised in metrics.json, its hash recorded again."""
    folder = run_path(root)
    metrics = json.loads((folder / "metrics.json").read_text())
    true_value = metrics["baseline"]["exact_match"]["value"]
    metrics["baseline"]["exact_match"]["value"] = 0.9
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    rehash(folder, "metrics.json")
    return f"metrics.json records baseline.exact_match.value = 0.9, but the raw outputs give {true_value:g}"


def forged_loss(root: Path) -> str:
    folder = run_path(root)
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["result"]["eval_loss"]["value"] = 0.01
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    rehash(folder, "metrics.json")
    return "records result.eval_loss = 0.01"


def copy_into_ticket(root: Path, other: str) -> str:
    """The run folder, its requirements and report copied into ``other``."""
    target = root / "tickets" / "in-progress" / other
    (target / "evidence").mkdir(parents=True, exist_ok=True)
    shutil.copytree(run_path(root), target / "evidence" / RUN)
    for name in ("requirements.md", "training-validation-report.md"):
        shutil.copy(tp.ticket_path(root) / name, target / name)
    return f"belongs to ticket '{tp.TICKET}', but it sits in ticket '{other}'"


def copy_into_run_folder(root: Path) -> str:
    shutil.copytree(run_path(root), run_path(root, run="RUN-002"))
    data = json.loads((run_path(root, run="RUN-002") / "run.json").read_text())
    data["run_id"] = "RUN-002"
    (run_path(root, run="RUN-002") / "run.json").write_text(json.dumps(data, indent=2))
    return f"was written for tickets/in-progress/{tp.TICKET}/evidence/{RUN}, but it sits in"


def weaker_criterion(root: Path) -> str:
    """SC-001's threshold lowered in the run's record, hashes recomputed."""
    folder = run_path(root)
    metrics = json.loads((folder / "metrics.json").read_text())
    for criterion in metrics["criteria_config"]:
        if criterion["id"] == "SC-001":
            criterion["threshold"] = 0.5
    for decision in metrics["criteria"]:
        if decision["id"] == "SC-001":
            decision["expected"] = "exact_match >= 0.5"
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    rehash(folder, "metrics.json")
    return "SC-001 in requirements.md line 11 states exact_match >= 0.8"


def swapped_weights(root: Path) -> str:
    """One byte of the base model's weights changed after the run."""
    weights = next((root / MODELS).glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    return f"base model's weights at {MODELS} differ"


WEIGHTS_NOT_CHECKED = f"base weights at {MODELS} not checked (not present here)"


def every_file_consistently(root: Path, keys: dict[str, Path]) -> str:
    """Every held-out prompt rewritten, every hash and the statement made
    again: consistent, so only the signature (the intruder's) can tell."""
    folder = run_path(root)
    forged = []
    for line in (folder / "generations.jsonl").read_text().splitlines():
        row = json.loads(line)
        row["prompt"] = row["prompt"] + " (forged)"
        forged.append(json.dumps(row))
    (folder / "generations.jsonl").write_text("\n".join(forged) + "\n")
    rehash(folder, "generations.jsonl")
    restate(folder, keys["intruder"])
    return "evidence signature refused"


def unsigned(root: Path) -> str:
    (run_path(root) / "statement.json.sig").unlink()
    return "is unsigned (statement.json.sig is missing)"


def unlisted_key(root: Path, keys: dict[str, Path]) -> str:
    restate(run_path(root), keys["intruder"])
    return "not in the allowed signers list"


def killed_and_reprepared(root: Path) -> str:
    """The state a kill leaves (run.json still Running), then the held-out
    data edited and prepared again before anyone resumes."""
    folder = run_path(root)
    data = json.loads((folder / "run.json").read_text())
    data["status"] = "Running"
    (folder / "run.json").write_text(json.dumps(data, indent=2))
    eval_file = root / "train" / "data" / "eval.jsonl"
    eval_file.write_text(eval_file.read_text().replace('"apple"', '"pear"'))
    tp.prepare(root / "train" / "sft.yaml")
    return f"{RUN} is still Running"
