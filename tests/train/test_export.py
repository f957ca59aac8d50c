"""`ftgate export`: a trained LoRA run folded into a plain model folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import tests.support.trainer as tp
from ftgate import hashing
from ftgate.cli.main import cli

pytestmark = pytest.mark.train

# Merging adds the low-rank product into the base weights in float32; the
# only difference from the unmerged forward pass is rounding order.
LOGIT_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object]:
    original = tp.trained_project(tp.session_base(tmp_path_factory), "sft", tp.sft_config, "sft.yaml")
    root = tp.copy_project(original, tmp_path_factory.mktemp("export") / "project")
    run_dir = tp.ticket_path(root) / "evidence" / "RUN-001"
    out = root.parent / "merged"
    result = CliRunner().invoke(cli, ["export", str(run_dir), "--merge", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return root, out, result


def test_merged_export_loads_and_matches_the_adapter(exported: tuple[Path, Path, object]) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root, out, _ = exported
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    run = json.loads((tp.ticket_path(root) / "evidence" / "RUN-001" / "run.json").read_text())
    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    base_dir = run["config"]["resolved"]["model"]["base"]
    adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir),
                                        str(root / run["output"]["path"])).eval()
    tok = AutoTokenizer.from_pretrained(out)
    text = tok.apply_chat_template([{"role": "user", "content": "red 101"}], tokenize=False,
                                   add_generation_prompt=True)
    ids = tok(text, return_tensors="pt", add_special_tokens=False).input_ids
    with torch.no_grad():
        a, b = merged(ids).logits, adapter(ids).logits
        plain = AutoModelForCausalLM.from_pretrained(base_dir)(ids).logits
    assert torch.allclose(a, b, atol=LOGIT_TOLERANCE), (a - b).abs().max()
    # The adapter changed the model, so matching it is not matching the base.
    assert (a - plain).abs().max() > 100 * LOGIT_TOLERANCE


def test_export_hashes_are_recorded_in_the_evidence(exported: tuple[Path, Path, object]) -> None:
    root, out, _ = exported
    record = json.loads((tp.ticket_path(root) / "evidence" / "RUN-001" / "export.json").read_text())
    entry = record["exports"][-1]
    assert entry["merged"] is True and entry["run_id"] == "RUN-001"
    assert entry["sha256"] == hashing.sha256_tree(out)
    assert entry["files"]["model.safetensors"] == hashing.sha256_file(out / "model.safetensors")
    assert "tokenizer_config.json" in entry["files"]


def test_export_refuses_an_adapter_without_merge_and_changed_weights(
        exported: tuple[Path, Path, object], tmp_path: Path) -> None:
    root, _, _ = exported
    run_dir = tp.ticket_path(root) / "evidence" / "RUN-001"
    result = CliRunner().invoke(cli, ["export", str(run_dir), "--out", str(tmp_path / "a")])
    assert result.exit_code != 0 and "--merge" in str(result.exception)
    run = json.loads((run_dir / "run.json").read_text())
    tampered = root / run["output"]["path"] / "adapter_config.json"
    kept = tampered.read_bytes()
    tampered.write_text("{}\n")
    try:
        result = CliRunner().invoke(cli, ["export", str(run_dir), "--merge", "--out", str(tmp_path / "b")])
    finally:
        tampered.write_bytes(kept)
    assert result.exit_code != 0 and "no longer matches" in str(result.exception)
    assert not (tmp_path / "b").exists()
