"""The seven Stage 4 data checks.

Each catches a mistake that lets training run and the loss look fine while
the model learns the wrong thing: held-out prompts seen in training, loss on
the prompt, a model never taught to stop, a doubled BOS, answers silently
cut, a template that differs between training and inference, and rows that
are not what they claim to be.

They run on the flat arrays of ``ftgate.train.data.encode.EncodedSplit`` (untruncated, so a
template fault is not hidden by a short ``max_length``); work per token is
numpy, and Python touches only the sequences that fail, to describe them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ftgate.train.config import RunConfig
from ftgate.train.data.encode import EncodedSplit, sequence_stats
from ftgate.train.data.rows import Row, SplitRows
from ftgate.train.data.tokenizer import TokenizerInfo, has_generation_markers

PASS = "pass"
FAIL = "fail"
MAX_EXAMPLES = 5


@dataclass(slots=True)
class CheckResult:
    name: str
    title: str
    verdict: str
    summary: str
    counts: dict[str, int | float] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    threshold: dict[str, int | float] | None = None
    hint: str | None = None

    @property
    def passed(self) -> bool:
        return self.verdict == PASS

    def summary_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "verdict": self.verdict,
            "counts": dict(sorted(self.counts.items())),
            "threshold": self.threshold,
        }


CHECK_NAMES = (
    "leakage",
    "assistant_mask",
    "stop_token",
    "double_bos",
    "truncation",
    "prompt_prefix",
    "rows",
)


def run_checks(
    config: RunConfig, tok: TokenizerInfo, splits: dict[str, SplitRows], encoded: dict[str, EncodedSplit]
) -> list[CheckResult]:
    return [
        check_leakage(config, splits),
        check_assistant_mask(config, tok, encoded),
        check_stop_token(tok, encoded),
        check_double_bos(tok, encoded),
        check_truncation(config, encoded),
        check_prompt_prefix(tok, encoded),
        check_rows(config, splits),
    ]


# -- helpers -------------------------------------------------------------------


def _source(enc: EncodedSplit, seq: int) -> str:
    row = enc.rows[int(enc.seq_row[seq])]
    if enc.seq_target.size and int(enc.seq_target[seq]) == 1:
        return f"{row.source} (rejected)"
    return row.source


def _tokens(tok: TokenizerInfo, ids: Sequence[int] | np.ndarray) -> str:
    pieces = tok.tokenizer.convert_ids_to_tokens([int(i) for i in ids])
    return " ".join(repr(p) for p in pieces)


def _text(tok: TokenizerInfo, ids: Sequence[int] | np.ndarray) -> str:
    return repr(tok.tokenizer.decode([int(i) for i in ids], skip_special_tokens=False))


def _runs(trained: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) flat indices of every contiguous trained run, never crossing sequences."""
    n = len(trained)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    seq_start = np.zeros(n, dtype=bool)
    seq_start[offsets[:-1][offsets[:-1] < n]] = True
    prev = np.concatenate(([False], trained[:-1])) & ~seq_start
    starts = np.flatnonzero(trained & ~prev)
    seq_end = np.zeros(n, dtype=bool)
    ends_at = offsets[1:] - 1
    seq_end[ends_at[ends_at >= 0]] = True
    nxt = np.concatenate((trained[1:], [False])) & ~seq_end
    ends = np.flatnonzero(trained & ~nxt) + 1
    return starts, ends


def _seq_of(offsets: np.ndarray, flat_index: np.ndarray) -> np.ndarray:
    return np.searchsorted(offsets, flat_index, side="right") - 1


# -- 1. leakage ----------------------------------------------------------------


def _prompt_keys(row: Row) -> tuple[str, str]:
    prompt = row.prompt
    if isinstance(prompt, str):
        exact = prompt
        text = prompt
    else:
        exact = "\x1e".join(f"{m['role']}\x1f{m['content']}" for m in prompt)
        text = "\n".join(f"{m['role']}: {m['content']}" for m in prompt)
    return exact, " ".join(text.lower().split())


def check_leakage(config: RunConfig, splits: dict[str, SplitRows]) -> CheckResult:
    t = config.checks.leakage
    exact_train: dict[str, str] = {}
    norm_train: dict[str, str] = {}
    for row in splits["train"].rows:
        exact, norm = _prompt_keys(row)
        exact_train.setdefault(exact, row.source)
        norm_train.setdefault(norm, row.source)
    exact_hits: list[str] = []
    norm_hits: list[str] = []
    for row in splits["eval"].rows:
        exact, norm = _prompt_keys(row)
        if exact in exact_train:
            exact_hits.append(f"{row.source} repeats {exact_train[exact]} exactly")
        elif norm in norm_train:
            norm_hits.append(f"{row.source} repeats {norm_train[norm]} up to case/whitespace")
    n_exact, n_norm = len(exact_hits), len(exact_hits) + len(norm_hits)
    ok = n_exact <= t.max_exact and n_norm <= t.max_normalized
    return CheckResult(
        name="leakage",
        title="held-out prompts do not appear in training",
        verdict=PASS if ok else FAIL,
        summary=(
            f"{n_exact} held-out prompt(s) repeat a training prompt exactly, {n_norm} after folding case and whitespace"
        ),
        counts={"eval_rows": len(splits["eval"].rows), "exact": n_exact, "normalized": n_norm},
        examples=(exact_hits + norm_hits)[:MAX_EXAMPLES],
        threshold={"max_exact": t.max_exact, "max_normalized": t.max_normalized},
        hint=None if ok else "remove the repeated prompts from the held-out file (or from training)",
    )


# -- 2. assistant mask ---------------------------------------------------------


def check_assistant_mask(config: RunConfig, tok: TokenizerInfo, encoded: dict[str, EncodedSplit]) -> CheckResult:
    counts: Counter[str] = Counter()
    examples: list[str] = []
    for enc in encoded.values():
        counts["sequences"] += enc.n_seq
        counts["unverifiable_contents"] += enc.unlocated
        if enc.n_seq == 0:
            continue
        cum = np.concatenate(([0], np.cumsum(enc.trained, dtype=np.int64)))
        lo = enc.offsets[enc.range_seq] + enc.range_start
        hi = enc.offsets[enc.range_seq] + enc.range_end
        trained_in = cum[hi] - cum[lo]
        size = hi - lo
        target = enc.range_is_target
        masked_target = target & (trained_in < size)
        trained_prompt = ~target & (trained_in > 0)
        counts["answer_tokens_masked"] += int((size - trained_in)[masked_target].sum())
        counts["prompt_tokens_trained"] += int(trained_in[trained_prompt].sum())

        per_seq_trained = cum[enc.offsets[1:]] - cum[enc.offsets[:-1]]
        nothing = np.flatnonzero(per_seq_trained == 0)
        counts["sequences_without_trained_tokens"] += len(nothing)

        # A trained run must contain some answer content; a run that holds
        # none is loss on template text (headers, system prompt, padding).
        depth = np.zeros(len(enc.ids) + 1, dtype=np.int64)
        np.add.at(depth, lo[target], 1)
        np.add.at(depth, hi[target], -1)
        in_target = np.cumsum(depth[:-1]) > 0
        starts, ends = _runs(enc.trained, enc.offsets)
        stray = np.zeros(0, dtype=np.int64)
        if len(starts):
            cum_t = np.concatenate(([0], np.cumsum(in_target, dtype=np.int64)))
            has_target = (cum_t[ends] - cum_t[starts]) > 0
            stray = np.flatnonzero(~has_target)
            counts["trained_runs_outside_answers"] += len(stray)

        for idx in np.flatnonzero(trained_prompt)[:MAX_EXAMPLES]:
            seq = int(enc.range_seq[idx])
            ids = enc.ids[lo[idx] : hi[idx]][enc.trained[lo[idx] : hi[idx]]]
            examples.append(f"{_source(enc, seq)}: prompt tokens carry loss: {_text(tok, ids[:12])}")
        for idx in np.flatnonzero(masked_target)[:MAX_EXAMPLES]:
            seq = int(enc.range_seq[idx])
            ids = enc.ids[lo[idx] : hi[idx]][~enc.trained[lo[idx] : hi[idx]]]
            examples.append(f"{_source(enc, seq)}: answer tokens are masked: {_text(tok, ids[:12])}")
        for run in stray[:MAX_EXAMPLES]:
            seq = int(_seq_of(enc.offsets, np.asarray([starts[run]]))[0])
            ids = enc.ids[starts[run] : min(ends[run], starts[run] + 12)]
            examples.append(f"{_source(enc, seq)}: loss on text outside any answer: {_text(tok, ids)}")
        for seq in nothing[:MAX_EXAMPLES]:
            examples.append(f"{_source(enc, int(seq))}: no token carries loss")
    bad = (
        counts["answer_tokens_masked"]
        + counts["prompt_tokens_trained"]
        + counts["sequences_without_trained_tokens"]
        + counts["trained_runs_outside_answers"]
    )
    hint = None
    if (
        counts["sequences_without_trained_tokens"]
        and config.data.format == "messages"
        and not has_generation_markers(tok.template)
    ):
        hint = (
            "the chat template has no {% generation %} block, and rendering each conversation's prefixes did not "
            "isolate the assistant's turns (the template renders earlier turns differently once later ones "
            "follow); wrap each assistant message (and its end-of-turn token) in {% generation %} ... "
            "{% endgeneration %}, or use `data.format: prompt_completion`, which masks the prompt by rendering "
            "it alone"
        )
    elif bad:
        hint = "the template's {% generation %} blocks must cover exactly the assistant's words and end-of-turn token"
    return CheckResult(
        name="assistant_mask",
        title="loss falls only on answers, and on all of them",
        verdict=PASS if bad == 0 else FAIL,
        summary=(
            f"{counts['prompt_tokens_trained']} prompt token(s) trained, {counts['answer_tokens_masked']} answer "
            f"token(s) masked, {counts['sequences_without_trained_tokens']} sequence(s) with nothing trained, "
            f"{counts['trained_runs_outside_answers']} trained span(s) outside any answer"
        ),
        counts=dict(counts),
        examples=examples[: MAX_EXAMPLES * 2],
        hint=hint,
    )


# -- 3. stop token ---------------------------------------------------------------


def _whitespace_ids(tok: TokenizerInfo, ids: np.ndarray) -> set[int]:
    unique = np.unique(ids).tolist()
    special = set(tok.tokenizer.all_special_ids)
    out = set()
    for token_id in unique:
        if token_id in special:
            continue
        if not tok.tokenizer.decode([token_id]).strip():
            out.add(token_id)
    return out


def check_stop_token(tok: TokenizerInfo, encoded: dict[str, EncodedSplit]) -> CheckResult:
    stop = set(tok.generation_eos_ids)
    counts: Counter[str] = Counter()
    examples: list[str] = []
    for enc in encoded.values():
        starts, ends = _runs(enc.trained, enc.offsets)
        counts["targets"] += len(starts)
        if not len(starts):
            continue
        last = ends - 1
        last_ids = enc.ids[last]
        # A trailing newline after the stop token is harmless: generation has
        # already stopped. Step back over whitespace-only tokens (rare).
        ws = _whitespace_ids(tok, last_ids)
        if ws:
            for k in np.flatnonzero(np.isin(last_ids, list(ws))):
                j = int(last[k])
                while j > starts[k] and int(enc.ids[j]) in ws:
                    j -= 1
                last[k] = j
            last_ids = enc.ids[last]
        ok = np.isin(last_ids, list(stop)) if stop else np.zeros(len(last_ids), dtype=bool)
        bad = np.flatnonzero(~ok)
        counts["targets_without_trained_stop"] += len(bad)
        for k in bad[:MAX_EXAMPLES]:
            seq = int(_seq_of(enc.offsets, np.asarray([starts[k]]))[0])
            seq_end = int(enc.offsets[seq + 1])
            tail = enc.ids[max(starts[k], last[k] - 3) : last[k] + 1]
            what = f"{_source(enc, seq)}: trained target ends with {_tokens(tok, tail)}"
            nxt = int(ends[k])
            if int(enc.ids[last[k]]) == tok.eos_id and tok.eos_id not in stop:
                what += f"; that is EOS, but generation stops only at ids {sorted(stop)}"
            elif nxt < seq_end and int(enc.ids[nxt]) in stop | {tok.eos_id}:
                what += f"; the stop token {_tokens(tok, [enc.ids[nxt]])} follows but is masked"
            examples.append(what)
    n_bad = counts["targets_without_trained_stop"]
    nothing = counts["targets"] == 0
    if nothing:
        summary = "no trained target to check: nothing carries loss (see assistant_mask)"
    else:
        summary = f"{n_bad} of {counts['targets']} trained target(s) do not end with a trained stop token"
    return CheckResult(
        name="stop_token",
        title="every target ends with a trained token that stops generation",
        verdict=PASS if n_bad == 0 and not nothing else FAIL,
        summary=summary,
        counts={**dict(counts), "generation_eos_ids": len(stop)},
        examples=examples,
        hint=None
        if n_bad == 0 and not nothing
        else (
            "put the end-of-turn token inside {% generation %}, and list it in generation_config.json's "
            f"eos_token_id (now {sorted(stop)})"
        ),
    )


# -- 4. double BOS ---------------------------------------------------------------


def check_double_bos(tok: TokenizerInfo, encoded: dict[str, EncodedSplit]) -> CheckResult:
    bos = tok.bos_id
    if bos is None:
        return CheckResult("double_bos", "no doubled BOS at the start", PASS, "the tokenizer has no BOS token")
    counts: Counter[str] = Counter()
    examples: list[str] = []
    for enc in encoded.values():
        starts = enc.offsets[:-1]
        long_enough = enc.lengths() >= 2
        s = starts[long_enough]
        doubled = np.flatnonzero(long_enough)[(enc.ids[s] == bos) & (enc.ids[s + 1] == bos)]
        counts["sequences"] += enc.n_seq
        counts["doubled"] += len(doubled)
        for seq in doubled[:MAX_EXAMPLES]:
            examples.append(f"{_source(enc, int(seq))}: starts with {_tokens(tok, enc.seq_ids(int(seq))[:4])}")
        prompt_doubled = sum(1 for p in enc.prompt_ids if len(p) >= 2 and p[0] == bos and p[1] == bos)
        counts["eval_prompts_doubled"] += prompt_doubled
    n = counts["doubled"] + counts["eval_prompts_doubled"]
    return CheckResult(
        name="double_bos",
        title="no doubled BOS at the start",
        verdict=PASS if n == 0 else FAIL,
        summary=(
            f"{counts['doubled']} sequence(s) and {counts['eval_prompts_doubled']} evaluation prompt(s) "
            "start with two BOS tokens"
        ),
        counts=dict(counts),
        examples=examples,
        hint=None
        if n == 0
        else "the text already contains the BOS token and the tokenizer adds another; strip it from the data",
    )


# -- 5. truncation ---------------------------------------------------------------


def check_truncation(config: RunConfig, encoded: dict[str, EncodedSplit]) -> CheckResult:

    t = config.checks.truncation
    max_length = config.max_length
    counts: Counter[str] = Counter()
    examples: list[str] = []
    for enc in encoded.values():
        stats = sequence_stats(enc, max_length)
        has_target = stats["first"] >= 0
        removed = has_target & (stats["first"] >= max_length)
        cut = has_target & ~removed & (stats["last"] >= max_length)
        n_rows = len(enc.rows)
        counts["rows"] += n_rows
        counts["rows_cut"] += len(np.unique(enc.seq_row[cut]))
        counts["rows_removed"] += len(np.unique(enc.seq_row[removed]))
        counts["sequences_over_max_length"] += int((stats["length"] > max_length).sum())
        for seq in np.flatnonzero(removed)[:MAX_EXAMPLES]:
            examples.append(
                f"{_source(enc, int(seq))}: the whole target lies past max_length {max_length} "
                f"(starts at token {int(stats['first'][seq])}); TRL would drop this row silently"
            )
        for seq in np.flatnonzero(cut)[:MAX_EXAMPLES]:
            examples.append(
                f"{_source(enc, int(seq))}: target cut at max_length {max_length} "
                f"({int(stats['length'][seq])} tokens, {int(stats['trained'][seq] - stats['trained_kept'][seq])} "
                "target tokens lost, including the stop token)"
            )
    rows = max(counts["rows"], 1)
    cut_fraction = counts["rows_cut"] / rows
    removed_fraction = counts["rows_removed"] / rows
    ok = cut_fraction <= t.max_cut_fraction and removed_fraction <= t.max_removed_fraction
    return CheckResult(
        name="truncation",
        title="max_length does not cut or remove answers",
        verdict=PASS if ok else FAIL,
        summary=(
            f"{counts['rows_cut']} row(s) have their target cut and {counts['rows_removed']} lose it entirely "
            f"at max_length {max_length}"
        ),
        counts={**dict(counts), "cut_fraction": round(cut_fraction, 6), "removed_fraction": round(removed_fraction, 6)},
        examples=examples[: MAX_EXAMPLES * 2],
        threshold={"max_cut_fraction": t.max_cut_fraction, "max_removed_fraction": t.max_removed_fraction},
        hint=None
        if ok
        else "raise max_length, shorten or drop the long rows, or set a tolerance under checks.truncation",
    )


# -- 6. prompt prefix ------------------------------------------------------------


def check_prompt_prefix(tok: TokenizerInfo, encoded: dict[str, EncodedSplit]) -> CheckResult:
    counts: Counter[str] = Counter()
    examples: list[str] = []
    for enc in encoded.values():
        counts["sequences"] += enc.n_seq
        not_prefix = enc.prompt_prefix_len < enc.prompt_len
        gap = (~not_prefix) & (enc.target_start > enc.prompt_len)
        counts["not_a_prefix"] += int(not_prefix.sum())
        counts["prompt_stops_before_target"] += int(gap.sum())
        for seq in np.flatnonzero(not_prefix)[:MAX_EXAMPLES]:
            row = int(enc.seq_row[seq])
            at = int(enc.prompt_prefix_len[seq])
            prompt_tail = enc.prompt_ids[row][at : at + 6]
            train_tail = enc.seq_ids(int(seq))[at : at + 6]
            examples.append(
                f"{_source(enc, int(seq))}: at token {at} the evaluation prompt has {_text(tok, prompt_tail)} "
                f"but training has {_text(tok, train_tail)}"
            )
        for seq in np.flatnonzero(gap)[:MAX_EXAMPLES]:
            p_len, t_start = int(enc.prompt_len[seq]), int(enc.target_start[seq])
            missing = enc.seq_ids(int(seq))[p_len:t_start]
            examples.append(
                f"{_source(enc, int(seq))}: the evaluation prompt stops before {_text(tok, missing)}, "
                "which training puts ahead of the answer; inference would have to produce it"
            )
    n = counts["not_a_prefix"] + counts["prompt_stops_before_target"]
    return CheckResult(
        name="prompt_prefix",
        title="the evaluation prompt (add_generation_prompt=True) is a prefix of the training example",
        verdict=PASS if n == 0 else FAIL,
        summary=(
            f"{counts['not_a_prefix']} sequence(s) where the evaluation prompt is not a prefix, "
            f"{counts['prompt_stops_before_target']} where it stops short of the answer"
        ),
        counts=dict(counts),
        examples=examples[: MAX_EXAMPLES * 2],
        hint=None
        if n == 0
        else "make the template's add_generation_prompt branch emit exactly the assistant header that training renders",
    )


# -- 7. rows -----------------------------------------------------------------------


def check_rows(config: RunConfig, splits: dict[str, SplitRows]) -> CheckResult:
    limit = config.checks.rows.max_bad_rows
    problems = [p for split in splits.values() for p in split.problems]
    by_kind = Counter(p.kind for p in problems)
    read = sum(split.read for split in splits.values())
    ok = len(problems) <= limit
    return CheckResult(
        name="rows",
        title="no malformed rows, wrong roles or empty targets",
        verdict=PASS if ok else FAIL,
        summary=f"{len(problems)} of {read} row(s) unusable: "
        + (", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(by_kind.items())) or "none"),
        counts={
            "rows": read,
            "bad": len(problems),
            **{k: by_kind.get(k, 0) for k in ("malformed", "wrong_role", "empty_target")},
        },
        examples=[f"{p.source}: {p.message}" for p in problems[: MAX_EXAMPLES * 2]],
        threshold={"max_bad_rows": limit},
        hint=None if ok else "fix or remove the rows listed (file:line); they are dropped from the prepared data",
    )


# -- reports -----------------------------------------------------------------------


def render_text(results: list[CheckResult], *, color: bool = False) -> str:
    lines = []
    for r in results:
        mark = "PASS" if r.passed else "FAIL"
        if color:
            mark = f"\x1b[32m{mark}\x1b[0m" if r.passed else f"\x1b[31m{mark}\x1b[0m"
        lines.append(f"{mark}  {r.name}: {r.summary}")
        if r.threshold:
            lines.append("      threshold: " + ", ".join(f"{k}={v}" for k, v in r.threshold.items()))
        for ex in r.examples:
            lines.append(f"      - {ex}")
        if r.hint and not r.passed:
            lines.append(f"      fix: {r.hint}")
    return "\n".join(lines)


def render_markdown(results: list[CheckResult], manifest: dict[str, Any]) -> str:
    """A report a ticket can cite in implementation.md's readiness checks."""
    passed = all(r.passed for r in results)
    out = [
        f"# Data preparation report: {manifest['run_id']}",
        "",
        f"- Ticket: `{manifest['ticket']}`",
        f"- Objective: `{manifest['objective']}`, format `{manifest['format']}`",
        f"- Config sha256: `{manifest['config']['sha256']}`",
        f"- Tokenizer files sha256: `{manifest['tokenizer']['files_sha256']}`",
        f"- Chat template sha256: `{manifest['template']['sha256']}` (source: `{manifest['template']['source']}`)",
        f"- Max length: `{manifest['max_length']}` (truncation keeps the start), packing `{manifest['packing']}`",
        f"- Prepared data: `{manifest['prepared']['dir']}`",
        f"- Overall: `{'Pass' if passed else 'Fail'}`",
        "",
        "## Sources",
        "",
        "| Split | File | Rows | sha256 |",
        "|---|---|---|---|",
    ]
    for split, files in manifest["sources"].items():
        for f in files:
            out.append(f"| {split} | `{f['path']}` | {f['rows']} | `{f['sha256']}` |")
    out += [
        "",
        "## Rows and tokens",
        "",
        "| Split | Read | Kept | Dropped | Truncated | Tokens | Trained tokens |",
        "|---|---|---|---|---|---|---|",
    ]
    for split, rows in manifest["rows"].items():
        dropped = ", ".join(f"{k}: {v}" for k, v in rows["dropped"].items()) or "0"
        tokens = manifest["tokens"][split]
        out.append(
            f"| {split} | {rows['read']} | {rows['kept']} | {dropped} | {rows['truncated']} "
            f"| {tokens['total']} | {tokens['trained']} |"
        )
    t = manifest["tokenizer"]
    out += [
        "",
        "## Special tokens",
        "",
        (
            f"- BOS `{t['bos']['token']}` ({t['bos']['id']}), EOS `{t['eos']['token']}` ({t['eos']['id']}), "
            f"PAD `{t['pad']['token']}` ({t['pad']['id']}), padding side `{t['padding_side']}`"
        ),
        f"- Generation stops at ids {t['generation_eos_ids']}",
        "",
        "## Checks",
        "",
        "| Check | Verdict | Result |",
        "|---|---|---|",
    ]
    for r in results:
        out.append(f"| {r.name} | `{'Pass' if r.passed else 'Fail'}` | {r.summary} |")
    for r in results:
        if r.examples or (r.hint and not r.passed):
            out += ["", f"### {r.name}", ""]
            out += [f"- {ex}" for ex in r.examples]
            if r.hint and not r.passed:
                out.append(f"- Fix: {r.hint}")
    return "\n".join(out) + "\n"
