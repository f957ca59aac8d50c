"""Step 2: rows rendered with the chat template and tokenized, as flat numpy arrays.

One batched render (which also reports the character spans of
``{% generation %}`` blocks) and one batched tokenizer call per split; per
row, Python only touches a handful of span boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import Any, cast

import numpy as np

from ftgate.train.data.rows import WRONG_ROLE, Row, RowProblem, SplitRows, first_line
from ftgate.train.data.tokenizer import TokenizerInfo, has_generation_markers


@dataclass(slots=True)
class EncodedSplit:
    """Token-level view of one split, as flat numpy arrays.

    A *sequence* is what the model sees in one forward pass: one per SFT
    row, two per preference row (prompt + chosen, prompt + rejected).
    Sequence ``i`` occupies ``flat[offsets[i]:offsets[i+1]]``.
    """

    name: str
    rows: list[Row]
    seq_row: np.ndarray  # row index of each sequence
    seq_target: np.ndarray  # 0 (completion / chosen) or 1 (rejected)
    offsets: np.ndarray  # n_seq + 1
    ids: np.ndarray  # flat token ids
    trained: np.ndarray  # flat bool: carries loss
    # Message contents mapped to token ranges, to verify the mask against the data.
    range_seq: np.ndarray
    range_start: np.ndarray
    range_end: np.ndarray
    range_is_target: np.ndarray
    unlocated: int  # contents the template rendered differently (not verifiable)
    # The evaluation prompt (add_generation_prompt=True) against the training sequence.
    prompt_len: np.ndarray  # tokens in the evaluation prompt
    prompt_prefix_len: np.ndarray  # tokens it shares with the training sequence
    target_start: np.ndarray  # index of the first trained token of the final target, -1 if none
    prompt_ids: list[list[int]]  # per row
    eos_appended: int = 0

    @property
    def n_seq(self) -> int:
        return len(self.seq_row)

    def seq_ids(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i] : self.offsets[i + 1]]

    def seq_trained(self, i: int) -> np.ndarray:
        return self.trained[self.offsets[i] : self.offsets[i + 1]]

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


def _render(
    tok: TokenizerInfo, conversations: list[list[dict[str, Any]]], *, generation_prompt: bool, spans: bool
) -> tuple[list[str], list[list[tuple[int, int]]]]:
    from transformers.utils.chat_template_utils import render_jinja_template

    if not conversations:
        return [], []
    if spans and not has_generation_markers(tok.template):
        return _render_with_prefix_spans(tok, conversations, generation_prompt=generation_prompt)
    rendered: list[str]
    indices: list[list[tuple[int, int]]]
    rendered, indices = render_jinja_template(  # type: ignore[assignment, str-unpack]
        conversations=conversations,
        chat_template=tok.template,
        return_assistant_tokens_mask=spans,
        add_generation_prompt=generation_prompt,
        **tok.tokenizer.special_tokens_map,
    )
    return rendered, (indices if spans else [[] for _ in rendered])


def _render_with_prefix_spans(
    tok: TokenizerInfo, conversations: list[list[dict[str, Any]]], *, generation_prompt: bool
) -> tuple[list[str], list[list[tuple[int, int]]]]:
    """Assistant spans for a template without ``{% generation %}`` markers, found by rendering prefixes.

    Assistant turn ``i`` is the text between the conversation up to it with
    the generation prompt and the conversation up to and including it. That
    holds only when each rendering is a prefix of the next (the template does
    not rewrite earlier turns once later ones follow); where it fails the turn
    gets no span, and the mask check reports the row with a hint.
    """
    full, _ = _render(tok, conversations, generation_prompt=generation_prompt, spans=False)
    prefixes: list[list[dict[str, Any]]] = []
    uptos: list[list[dict[str, Any]]] = []
    where: list[int] = []
    for n, conv in enumerate(conversations):
        for i, message in enumerate(conv):
            if message["role"] == "assistant":
                prefixes.append(conv[:i])
                uptos.append(conv[: i + 1])
                where.append(n)
    before, _ = _render(tok, prefixes, generation_prompt=True, spans=False) if prefixes else ([], [])
    through, _ = _render(tok, uptos, generation_prompt=False, spans=False) if uptos else ([], [])
    spans: list[list[tuple[int, int]]] = [[] for _ in conversations]
    for n, head, turn in zip(where, before, through, strict=True):
        # The whitespace between turns is the template's layout, not the answer:
        # generation stops at the end-of-turn token before it.
        end = len(turn.rstrip())
        if turn.startswith(head) and full[n].startswith(turn) and end > len(head):
            spans[n].append((len(head), end))
    return full, spans


def _encode(tok: TokenizerInfo, texts: list[str], *, special: bool) -> list[Any]:
    # The backend's batch encoder runs in parallel and skips the conversion of
    # every id to a Python list that the tokenizer's __call__ would do.
    encodings: list[Any] = tok.tokenizer.backend_tokenizer.encode_batch(texts, add_special_tokens=special)
    return encodings


def _token_range(enc: Any, start: int, end: int) -> tuple[int, int] | None:
    """Tokens covering characters [start, end) of the encoded text."""
    if end <= start:
        return None
    first = enc.char_to_token(start)
    last = enc.char_to_token(end - 1)
    if first is None or last is None:
        return None
    return first, last + 1


def _locate(text: str, messages: list[dict[str, Any]], enc: Any) -> list[tuple[int, int] | None]:
    """Character range of each message's content in the rendered text, in order.

    A match must begin a token (or follow whitespace the token starts with),
    so an answer like "end" is not found inside a ``<|end|>`` marker.
    """
    found: list[tuple[int, int] | None] = []
    cursor = 0
    for message in messages:
        content = message["content"]
        if content.strip() and text.find(content, cursor) < 0:
            content = content.strip()  # templates often trim
        at = text.find(content, cursor) if content else -1
        while at >= 0 and not _starts_token(text, enc, at):
            at = text.find(content, at + 1)
        if at < 0:
            found.append(None)
            continue
        found.append((at, at + len(content)))
        cursor = at + len(content)
    return found


def _place_tool_calls(located: list[tuple[int, int] | None], messages: list[dict[str, Any]],
                      spans: list[tuple[int, int]]) -> None:
    """An assistant turn that calls a tool has no content to find: its answer
    is the call the template rendered, which is that turn's generation block.
    Blocks pair with assistant turns in order; when they do not (a template
    that marks some turns only), nothing is placed and the mask check judges
    the row as it is."""
    assistant = [j for j, m in enumerate(messages) if m["role"] == "assistant"]
    if len(assistant) != len(spans):
        return
    for j, span in zip(assistant, spans, strict=True):
        if messages[j].get("tool_calls") and not messages[j]["content"].strip():
            located[j] = span


def _starts_token(text: str, enc: Any, at: int) -> bool:
    token = enc.char_to_token(at)
    if token is None:
        return False
    start = enc.token_to_chars(token)[0]
    return start == at or (start == at - 1 and text[at - 1].isspace())


def encode_split(split: SplitRows, tok: TokenizerInfo, fmt: str) -> EncodedSplit:
    """Render and tokenize every row of ``split``; masks and checks inputs as arrays.

    Rows the chat template refuses (many templates raise on roles that do
    not alternate) move from ``split.rows`` to ``split.problems``.
    """
    _drop_unrendered_tool_calls(split, tok)
    try:
        return _encode_rows(split.name, split.rows, tok, fmt)
    except Exception:  # noqa: BLE001 - a template may raise anything; find the rows it refuses
        return _encode_without_refused_rows(split, tok, fmt)


def _drop_unrendered_tool_calls(split: SplitRows, tok: TokenizerInfo) -> None:
    """Rows whose tool calls the chat template leaves out of the text move to
    ``split.problems``: training on them would teach answers to calls the
    model never sees."""
    from ftgate.train.data.normalize import tool_call_names

    calling = [row for row in split.rows
               if isinstance(row.messages, list) and any(tool_call_names(m) for m in row.messages)]
    if not calling:
        return
    try:
        texts, _ = _render(tok, [row.messages or [] for row in calling], generation_prompt=False, spans=False)
    except Exception:  # noqa: BLE001 - the per-row retry below names the rows the template refuses
        return
    dropped: set[int] = set()
    for row, text in zip(calling, texts, strict=True):
        missing = [name for m in row.messages or () for name in tool_call_names(m) if name not in text]
        if missing:
            dropped.add(id(row))
            split.problems.append(RowProblem(
                row.source, WRONG_ROLE,
                f"the chat template does not render this row's tool calls (`{missing[0]}` is not in the rendered "
                "text); use a template that renders `tool_calls`, or write the call as the assistant's text "
                "(data.format: prompt_completion)"))
    if dropped:
        split.rows = [row for row in split.rows if id(row) not in dropped]


def _encode_without_refused_rows(split: SplitRows, tok: TokenizerInfo, fmt: str) -> EncodedSplit:
    good: list[Row] = []
    for row in split.rows:
        try:
            _encode_rows(split.name, [row], tok, fmt)
        except Exception as exc:  # noqa: BLE001
            split.problems.append(
                RowProblem(row.source, WRONG_ROLE, f"the chat template refused this row: {first_line(exc)}")
            )
        else:
            good.append(row)
    split.rows = good
    return _encode_rows(split.name, good, tok, fmt)


def _encode_rows(name: str, rows: list[Row], tok: TokenizerInfo, fmt: str) -> EncodedSplit:
    conversational = bool(rows) and not isinstance(rows[0].prompt, str)
    if fmt == "messages":
        return _encode_messages(name, rows, tok)
    if conversational:
        return _encode_conversational_pairs(name, rows, tok)
    return _encode_text_pairs(name, rows, tok)


class _Builder:
    """Accumulates sequences and content ranges, then freezes them into arrays."""

    def __init__(self) -> None:
        self.seq_row: list[int] = []
        self.seq_target: list[int] = []
        self.encodings: list[Any] = []
        self.trained_ranges: list[tuple[int, int, int]] = []  # (seq, start, end)
        self.ranges: list[tuple[int, int, int, bool]] = []
        self.unlocated = 0
        self.prompt_len: list[int] = []
        self.prompt_prefix_len: list[int] = []
        self.target_start: list[int] = []

    def add_sequence(self, row: int, target: int, enc: Any, *, shared: int, prompt_len: int) -> int:
        """One tokenized prompt+target; trained from where it stops agreeing
        with the prompt alone (``shared``). Returns its sequence index."""
        seq = len(self.seq_row)
        self.seq_row.append(row)
        self.seq_target.append(target)
        self.encodings.append(enc)
        self.trained_ranges.append((seq, shared, len(enc)))
        self.target_start.append(shared if shared < len(enc) else -1)
        self.prompt_len.append(prompt_len)
        self.prompt_prefix_len.append(shared)
        return seq

    def add_ranges(self, seq: int, enc: Any, located: list[tuple[int, int] | None], is_target: list[bool]) -> None:
        for span, target in zip(located, is_target, strict=True):
            if span is None:
                self.unlocated += 1
                continue
            tokens = _token_range(enc, *span)
            if tokens is None:
                self.unlocated += 1
                continue
            self.ranges.append((seq, tokens[0], tokens[1], target))

    def freeze(self, name: str, rows: list[Row], prompt_ids: list[list[int]], eos_appended: int) -> EncodedSplit:
        lengths = np.fromiter((len(e) for e in self.encodings), dtype=np.int64, count=len(self.encodings))
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        total = int(offsets[-1])
        ids = np.fromiter(chain.from_iterable(e.ids for e in self.encodings), dtype=np.int64, count=total)
        # Difference array: +1 where a trained range opens, -1 where it closes.
        delta = np.zeros(total + 1, dtype=np.int64)
        if self.trained_ranges:
            tr = np.asarray(self.trained_ranges, dtype=np.int64)
            base = offsets[tr[:, 0]]
            np.add.at(delta, base + tr[:, 1], 1)
            np.add.at(delta, base + tr[:, 2], -1)
        trained = np.cumsum(delta[:-1]) > 0
        rr = np.asarray(self.ranges, dtype=np.int64).reshape(-1, 4)
        return EncodedSplit(
            name=name,
            rows=rows,
            seq_row=np.asarray(self.seq_row, dtype=np.int64),
            seq_target=np.asarray(self.seq_target, dtype=np.int64),
            offsets=offsets,
            ids=ids,
            trained=trained,
            range_seq=rr[:, 0],
            range_start=rr[:, 1],
            range_end=rr[:, 2],
            range_is_target=rr[:, 3].astype(bool),
            unlocated=self.unlocated,
            prompt_len=np.asarray(self.prompt_len, dtype=np.int64),
            prompt_prefix_len=np.asarray(self.prompt_prefix_len, dtype=np.int64),
            target_start=np.asarray(self.target_start, dtype=np.int64),
            prompt_ids=prompt_ids,
            eos_appended=eos_appended,
        )


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    for i in range(n):  # only reached when they differ; usually early
        if a[i] != b[i]:
            return i
    return n


def _encode_messages(name: str, rows: list[Row], tok: TokenizerInfo) -> EncodedSplit:
    conversations = [r.messages for r in rows]
    full_text, spans = _render(tok, conversations, generation_prompt=False, spans=True)  # type: ignore[arg-type]
    prompt_text, _ = _render(tok, [r.prompt for r in rows], generation_prompt=True, spans=False)  # type: ignore[misc]
    full = _encode(tok, full_text, special=False)
    prompts = _encode(tok, prompt_text, special=False)
    b = _Builder()
    prompt_ids: list[list[int]] = []
    for i, row in enumerate(rows):
        enc = full[i]
        b.seq_row.append(i)
        b.seq_target.append(0)
        b.encodings.append(enc)
        last_start = -1
        for start, end in spans[i]:
            tokens = _token_range(enc, start, end)
            if tokens is not None:
                b.trained_ranges.append((i, tokens[0], tokens[1]))
                last_start = tokens[0]
        b.target_start.append(last_start)
        located = _locate(full_text[i], row.messages, enc)  # type: ignore[arg-type]
        _place_tool_calls(located, row.messages or [], spans[i])
        b.add_ranges(i, enc, located, [m["role"] == "assistant" for m in row.messages])  # type: ignore[union-attr]
        p_ids = prompts[i].ids
        f_ids = enc.ids
        prompt_ids.append(p_ids)
        b.prompt_len.append(len(p_ids))
        b.prompt_prefix_len.append(_common_prefix(p_ids, f_ids))
    return b.freeze(name, rows, prompt_ids, 0)


def _messages(value: list[dict[str, Any]] | str) -> list[dict[str, Any]]:
    """A prompt or target of a conversational row (the format guarantees a list, not text)."""
    return cast(list[dict[str, Any]], value)


def _encode_conversational_pairs(name: str, rows: list[Row], tok: TokenizerInfo) -> EncodedSplit:
    """prompt + completion (SFT) or prompt + chosen / rejected (DPO), as lists of messages."""
    n_targets = len(rows[0].targets) if rows else 1
    prompt_text, _ = _render(tok, [_messages(r.prompt) for r in rows], generation_prompt=True, spans=False)
    prompts = _encode(tok, prompt_text, special=False)
    fulls = []
    texts = []
    for t in range(n_targets):
        conversations = [_messages(r.prompt) + _messages(r.targets[t]) for r in rows]
        text, _ = _render(tok, conversations, generation_prompt=False, spans=False)
        texts.append(text)
        fulls.append(_encode(tok, text, special=False))
    b = _Builder()
    prompt_ids: list[list[int]] = []
    for i, row in enumerate(rows):
        p_ids = prompts[i].ids
        prompt_ids.append(p_ids)
        # TRL's rule: the completion starts where the prompt alone and the
        # prompt with its answer stop agreeing (the shortest over targets).
        shared = min(_common_prefix(p_ids, fulls[t][i].ids) for t in range(n_targets))
        for t in range(n_targets):
            enc = fulls[t][i]
            seq = b.add_sequence(i, t, enc, shared=shared, prompt_len=len(p_ids))
            messages = _messages(row.prompt) + _messages(row.targets[t])
            located = _locate(texts[t][i], messages, enc)
            b.add_ranges(seq, enc, located, [k >= len(row.prompt) for k in range(len(messages))])
    return b.freeze(name, rows, prompt_ids, 0)


def _encode_text_pairs(name: str, rows: list[Row], tok: TokenizerInfo) -> EncodedSplit:
    """Pre-rendered text: tokenized as TRL does, with special tokens and EOS appended to targets."""
    eos = tok.tokenizer.eos_token or ""
    n_targets = len(rows[0].targets) if rows else 1
    prompt_texts = [r.prompt for r in rows]
    prompts = _encode(tok, prompt_texts, special=True)  # type: ignore[arg-type]
    appended = 0
    target_texts: list[list[str]] = []
    for t in range(n_targets):
        col = []
        for r in rows:
            target = r.targets[t]
            assert isinstance(target, str)
            if eos and not target.endswith(eos):
                target += eos
                appended += 1
            col.append(target)
        target_texts.append(col)
    fulls = [
        _encode(tok, [p + c for p, c in zip(prompt_texts, col, strict=True)], special=True)  # type: ignore[operator]
        for col in target_texts
    ]
    b = _Builder()
    prompt_ids: list[list[int]] = []
    for i in range(len(rows)):
        p_ids = prompts[i].ids
        prompt_ids.append(p_ids)
        shared = min(_common_prefix(p_ids, fulls[t][i].ids) for t in range(n_targets))
        p_len_chars = len(prompt_texts[i])
        for t in range(n_targets):
            enc = fulls[t][i]
            seq = b.add_sequence(i, t, enc, shared=shared, prompt_len=len(p_ids))
            target = rows[i].targets[t]
            assert isinstance(target, str)
            b.add_ranges(seq, enc, [(0, p_len_chars), (p_len_chars, p_len_chars + len(target))], [False, True])
    return b.freeze(name, rows, prompt_ids, appended)


def sequence_stats(enc: EncodedSplit, max_length: int) -> dict[str, np.ndarray]:
    """Per sequence: length, first/last trained index (-1 if none), trained count."""
    lengths = enc.lengths()
    n = enc.n_seq
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return {"length": empty, "first": empty, "last": empty, "trained": empty, "trained_kept": empty}
    seq_of_token = np.repeat(np.arange(n), lengths)
    pos = np.arange(len(enc.ids)) - enc.offsets[seq_of_token]
    trained_pos = pos[enc.trained]
    trained_seq = seq_of_token[enc.trained]
    first = np.full(n, -1, dtype=np.int64)
    last = np.full(n, -1, dtype=np.int64)
    # Reversed assignment leaves the smallest position per sequence in place.
    first[trained_seq[::-1]] = trained_pos[::-1]
    last[trained_seq] = trained_pos
    trained = np.bincount(trained_seq, minlength=n)
    kept_tokens = enc.trained & (pos < max_length)
    trained_kept = np.bincount(seq_of_token[kept_tokens], minlength=n)
    return {"length": lengths, "first": first, "last": last, "trained": trained, "trained_kept": trained_kept}
