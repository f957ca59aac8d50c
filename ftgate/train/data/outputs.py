"""Step 4: truncate like TRL, drop what TRL would drop, and build the columns it consumes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from ftgate.train.config import RunConfig
from ftgate.train.data.encode import EncodedSplit, sequence_stats
from ftgate.train.data.rows import SplitRows
from ftgate.train.data.tokenizer import TokenizerInfo


@dataclass(slots=True)
class SplitOutcome:
    read: int
    kept: int
    dropped: dict[str, int]
    truncated: int
    tokens_total: int
    tokens_trained: int
    sha256: str
    eos_appended: int


def keep_mask(enc: EncodedSplit, max_length: int) -> np.ndarray:
    """Rows TRL would keep: every sequence of the row still has a trained token after truncation."""
    stats = sequence_stats(enc, max_length)
    ok_seq = stats["trained_kept"] > 0
    n_rows = len(enc.rows)
    bad_rows = np.bincount(enc.seq_row[~ok_seq], minlength=n_rows) if n_rows else np.zeros(0, dtype=np.int64)
    keep: np.ndarray = bad_rows == 0
    return keep


def build_outputs(
    config: RunConfig,
    tok: TokenizerInfo,
    splits: dict[str, SplitRows],
    encoded: dict[str, EncodedSplit],
    keep: dict[str, np.ndarray],
) -> tuple[dict[str, Any], dict[str, SplitOutcome]]:
    import datasets

    max_length = config.max_length
    out: dict[str, Any] = {}
    outcome: dict[str, SplitOutcome] = {}
    for name, enc in encoded.items():
        split = splits[name]
        stats = sequence_stats(enc, max_length)
        kept_rows = np.flatnonzero(keep[name])
        seq_keep = keep[name][enc.seq_row] if enc.n_seq else np.zeros(0, dtype=bool)
        dropped: dict[str, int] = {}
        for problem in split.problems:
            dropped[problem.kind] = dropped.get(problem.kind, 0) + 1
        row_has_training = np.ones(len(enc.rows), dtype=bool)
        if enc.n_seq:
            no_train_seq = stats["trained"] == 0
            row_has_training[np.unique(enc.seq_row[no_train_seq])] = False
        n_untrained = int((~row_has_training).sum())
        n_removed = int((~keep[name] & row_has_training).sum())
        if n_untrained:
            dropped["no_trained_tokens"] = n_untrained
        if n_removed:
            dropped["target_removed_by_truncation"] = n_removed
        lengths = stats["length"]
        truncated_rows: np.ndarray | list[int] = (
            np.unique(enc.seq_row[(lengths > max_length) & seq_keep]) if enc.n_seq else []
        )
        kept_lengths = np.minimum(lengths, max_length)[seq_keep]
        tokens_total = int(kept_lengths.sum())
        tokens_trained = int(stats["trained_kept"][seq_keep].sum())
        columns, row_digest = _columns(config, tok, enc, kept_rows, max_length)
        out[name] = datasets.Dataset.from_dict(columns)
        outcome[name] = SplitOutcome(
            read=split.read,
            kept=len(kept_rows),
            dropped=dict(sorted(dropped.items())),
            truncated=len(truncated_rows),
            tokens_total=tokens_total,
            tokens_trained=tokens_trained,
            sha256=row_digest,
            eos_appended=enc.eos_appended,
        )
    out["eval_generation"] = datasets.Dataset.from_dict(_generation_columns(encoded["eval"], keep["eval"]))
    return out, outcome


def _columns(
    config: RunConfig, tok: TokenizerInfo, enc: EncodedSplit, kept_rows: np.ndarray, max_length: int
) -> tuple[dict[str, list[Any]], str]:
    """The columns TRL consumes, plus a hash over exactly those tokens."""
    import hashlib

    digest = hashlib.sha256()
    by_row: dict[int, list[int]] = {}
    for seq, row in enumerate(enc.seq_row.tolist()):
        by_row.setdefault(row, []).append(seq)
    # GRPO samples its own completions from the prompts; the teacher-forced
    # columns are kept so the prepared hash covers what the checks measured.
    if config.objective in ("sft", "grpo"):
        input_ids: list[list[int]] = []
        labels: list[list[int]] = []
        for row in kept_rows.tolist():
            seq = by_row[row][0]
            lo, hi = enc.offsets[seq], min(enc.offsets[seq + 1], enc.offsets[seq] + max_length)
            ids = enc.ids[lo:hi]
            lab = np.where(enc.trained[lo:hi], ids, -100)
            digest.update(ids.astype("<i8").tobytes() + b"|" + lab.astype("<i8").tobytes() + b"\n")
            input_ids.append(ids.tolist())
            labels.append(lab.tolist())
        return {"input_ids": input_ids, "labels": labels}, digest.hexdigest()
    columns: dict[str, list[Any]] = {
        k: [] for k in ("prompt", "chosen", "rejected", "prompt_ids", "chosen_ids", "rejected_ids")
    }
    for row in kept_rows.tolist():
        r = enc.rows[row]
        chosen, rejected = by_row[row]
        cut = int(enc.prompt_prefix_len[chosen])
        full_c, full_r = enc.seq_ids(chosen), enc.seq_ids(rejected)
        p_ids, c_ids, r_ids = full_c[:cut], full_c[cut:], full_r[cut:]
        for part in (p_ids, c_ids, r_ids):
            digest.update(part.astype("<i8").tobytes() + b"|")
        digest.update(b"\n")
        columns["prompt"].append(r.prompt)
        columns["chosen"].append(r.targets[0])
        columns["rejected"].append(r.targets[1])
        columns["prompt_ids"].append(p_ids.tolist())
        columns["chosen_ids"].append(c_ids.tolist())
        columns["rejected_ids"].append(r_ids.tolist())
    return columns, digest.hexdigest()


def _generation_columns(enc: EncodedSplit, keep: np.ndarray) -> dict[str, list[Any]]:
    """What evaluation generates from: the prompt as inference sees it, and the expected answer."""
    columns: dict[str, list[Any]] = {"source": [], "prompt": [], "prompt_ids": [], "reference": []}
    for i in np.flatnonzero(keep).tolist():
        row = enc.rows[i]
        target = row.targets[0]
        reference = target if isinstance(target, str) else "".join(m["content"] for m in target)
        columns["source"].append(row.source)
        columns["prompt"].append(
            json.dumps(row.prompt, ensure_ascii=False) if not isinstance(row.prompt, str) else row.prompt
        )
        columns["prompt_ids"].append(list(enc.prompt_ids[i]))
        columns["reference"].append(reference)
    return columns
