"""Stage 4 data preparation: load, render, tokenize, mask, check, write.

The pipeline, in the order the work happens:

1. ``read_split``: every source file is hashed and loaded with ``datasets``;
   each row is validated and normalized, and rows that cannot be used are
   kept as problems with their file and line (check 7 reports them).
2. ``encode_split``: rows are rendered with the chat template (one batched
   call into transformers' renderer, which also reports the character spans
   of ``{% generation %}`` blocks) and tokenized in one batched call to the
   fast tokenizer. Per row, Python only touches a handful of span
   boundaries; everything per token is a numpy array.
3. ``ftgate.train.checks`` computes the seven checks on those arrays, on the
   untruncated sequences so template faults are not hidden by truncation.
4. ``prepare`` truncates like TRL (keep the start), drops what TRL would drop
   and says why, writes a ``datasets`` DatasetDict with ``save_to_disk`` and a
   deterministic ``manifest.json``.

The prepared SFT splits have ``input_ids`` and ``labels`` (-100 where no loss
is taken): TRL 1.x's SFTTrainer uses a ``labels`` column as it is, so the mask
the checks verified is the mask that trains. Preference splits keep
``prompt``/``chosen``/``rejected`` (TRL's DPOTrainer always tokenizes them
itself, with the same template and the same prefix rule used here) next to
the ``prompt_ids``/``chosen_ids``/``rejected_ids`` the checks looked at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from ftgate.errors import FtgateError
from ftgate.train.config import TEMPLATE_FROM_TOKENIZER, RunConfig, data_file_kind
from ftgate.train.hashing import sha256_file, sha256_files, sha256_text, write_json

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
ALLOWED_ROLES = frozenset({"system", "user", "assistant", "tool"})
PROMPT_ROLES = frozenset({"system", "user", "tool"})
# Files in a model folder that decide how text becomes tokens and when generation stops.
TOKENIZER_FILE_PATTERNS = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "chat_template.json",
    "tokenizer.model",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "generation_config.json",
)

# Reasons a row is dropped before tokenization (check 7 reports them).
MALFORMED = "malformed"
WRONG_ROLE = "wrong_role"
EMPTY_TARGET = "empty_target"


# -- rows ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RowProblem:
    source: str  # "file:line" or "file row N"
    kind: str  # MALFORMED / WRONG_ROLE / EMPTY_TARGET
    message: str


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: str  # as written in the config
    sha256: str
    rows: int


@dataclass(slots=True)
class Row:
    """One usable example, normalized.

    ``prompt`` is a list of messages, or a string for pre-rendered text;
    ``targets`` holds one completion (SFT) or two (chosen, rejected), each a
    list of assistant messages or a string. For the ``messages`` format the
    whole conversation is ``prompt + targets[0]`` split at the last
    assistant turn, and ``messages`` keeps it whole.
    """

    source: str
    prompt: list[dict[str, Any]] | str
    targets: list[list[dict[str, Any]] | str]
    messages: list[dict[str, Any]] | None = None


@dataclass(slots=True)
class SplitRows:
    name: str
    files: list[SourceFile]
    rows: list[Row]
    problems: list[RowProblem]
    read: int


def read_split(config: RunConfig, name: str) -> SplitRows:
    """Load and validate every file of one split (``train`` or ``eval``)."""
    fmt = config.data.format
    assert fmt is not None
    written = config.data.train if name == "train" else config.data.eval
    files: list[SourceFile] = []
    rows: list[Row] = []
    problems: list[RowProblem] = []
    read = 0
    for as_written in written:
        path = config.path(as_written)
        records, labels, file_problems = _load_records(path, as_written)
        files.append(SourceFile(as_written, sha256_file(path), len(records) + len(file_problems)))
        problems.extend(file_problems)
        read += len(records) + len(file_problems)
        _check_columns(records, fmt, as_written)
        normalize = _NORMALIZERS[fmt]
        for record, label in zip(records, labels, strict=True):
            result = normalize(record, label)
            if isinstance(result, RowProblem):
                problems.append(result)
            else:
                rows.append(result)
    return SplitRows(name, files, rows, problems, read)


def _load_records(path: Path, as_written: str) -> tuple[list[dict[str, Any]], list[str], list[RowProblem]]:
    """Rows of one file as dicts, a label per row, and rows that did not parse."""
    if not path.is_file():
        raise FtgateError(
            f"data file {as_written!r} does not exist (looked at {path})",
            hint="fix data.train / data.eval in the config; paths are relative to the config file",
        )
    kind = data_file_kind(path.name)
    jsonl = path.suffix.lower() == ".jsonl"
    try:
        records = _load_with_datasets(path, kind)
    except Exception as exc:  # noqa: BLE001 - datasets/pyarrow raise many types for bad input
        if not jsonl:
            raise FtgateError(
                f"{as_written}: cannot be read as {kind}: {_first_line(exc)}",
                hint="fix the file, or convert it to JSONL so a bad line is reported by number",
            ) from None
        # A single broken line makes the arrow reader refuse the whole file;
        # reading line by line tells the user which line and keeps the rest.
        return _load_jsonl_lines(path, as_written)
    if jsonl:
        line_numbers = _nonblank_lines(path)
        if len(line_numbers) == len(records):
            return records, [f"{as_written}:{n}" for n in line_numbers], []
    if kind == "csv":
        # Header is line 1; a quoted field with a newline would shift this, so say "row".
        return records, [f"{as_written} row {i + 1}" for i in range(len(records))], []
    return records, [f"{as_written} item {i + 1}" for i in range(len(records))], []


def _load_with_datasets(path: Path, kind: str | None) -> list[dict[str, Any]]:
    import datasets

    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    if kind == "csv":
        # CSV cells are text: "007" must stay "007", not become 7. Message
        # lists, if any, are stored as JSON in the cell.
        import csv

        with path.open(encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh), [])
        features = datasets.Features({name: datasets.Value("string") for name in header})
        ds = datasets.load_dataset(kind, data_files=str(path), split="train", features=features, keep_default_na=False)
        return [{k: _json_cell(v) for k, v in row.items()} for row in ds.to_list()]
    ds = datasets.load_dataset(kind, data_files=str(path), split="train")
    return ds.to_list()


def _json_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _load_jsonl_lines(path: Path, as_written: str) -> tuple[list[dict[str, Any]], list[str], list[RowProblem]]:
    records: list[dict[str, Any]] = []
    labels: list[str] = []
    problems: list[RowProblem] = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{as_written}:{number}"
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(RowProblem(where, MALFORMED, f"not valid JSON ({exc.msg} at column {exc.colno})"))
                continue
            if not isinstance(value, dict):
                problems.append(RowProblem(where, MALFORMED, f"a row must be a JSON object, got {type(value).__name__}"))
                continue
            records.append(value)
            labels.append(where)
    return records, labels, problems


def _nonblank_lines(path: Path) -> list[int]:
    with path.open("rb") as fh:
        return [n for n, line in enumerate(fh, start=1) if line.strip()]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


_FORMAT_COLUMNS = {
    "messages": ("messages",),
    "prompt_completion": ("prompt", "completion"),
    "preference": ("prompt", "chosen", "rejected"),
}


def _check_columns(records: list[dict[str, Any]], fmt: str, as_written: str) -> None:
    if not records:
        return
    present = set(records[0])
    for record in records[1:50]:
        present |= set(record)
    missing = [c for c in _FORMAT_COLUMNS[fmt] if c not in present]
    if missing:
        raise FtgateError(
            f"{as_written}: format `{fmt}` needs column(s) {', '.join(missing)}; "
            f"the file has {', '.join(sorted(present)) or 'none'}",
            hint="set data.format to the format the file is in, or convert the file",
        )


def _clean_message(value: Any) -> dict[str, Any] | str:
    """A message with None-valued keys dropped (arrow fills absent struct fields with None), or an error."""
    if not isinstance(value, dict):
        return f"a message must be an object with role and content, got {type(value).__name__}"
    message = {k: v for k, v in value.items() if v is not None}
    role, content = message.get("role"), message.get("content")
    if not isinstance(role, str):
        return "a message has no `role`"
    if not isinstance(content, str):
        return f"the {role!r} message has no text `content`"
    return message


def _clean_messages(value: Any, what: str) -> list[dict[str, Any]] | str:
    if not isinstance(value, list) or not value:
        return f"`{what}` must be a non-empty list of messages"
    out: list[dict[str, Any]] = []
    for item in value:
        message = _clean_message(item)
        if isinstance(message, str):
            return message
        out.append(message)
    return out


def _bad_roles(messages: list[dict[str, Any]], allowed: frozenset[str]) -> str | None:
    bad = sorted({m["role"] for m in messages if m["role"] not in allowed})
    if bad:
        return f"role(s) {', '.join(map(repr, bad))} not allowed here (expected {', '.join(sorted(allowed))})"
    return None


def _normalize_messages(record: dict[str, Any], source: str) -> Row | RowProblem:
    messages = _clean_messages(record.get("messages"), "messages")
    if isinstance(messages, str):
        return RowProblem(source, MALFORMED, messages)
    if problem := _bad_roles(messages, ALLOWED_ROLES):
        return RowProblem(source, WRONG_ROLE, problem)
    if any(m["role"] == "system" for m in messages[1:]):
        return RowProblem(source, WRONG_ROLE, "a system message may only come first")
    if messages[-1]["role"] != "assistant":
        return RowProblem(
            source, WRONG_ROLE, f"the last message is {messages[-1]['role']!r}; a training example ends with the assistant's answer"
        )
    empty = [i for i, m in enumerate(messages) if m["role"] == "assistant" and not m["content"].strip()]
    if empty:
        return RowProblem(source, EMPTY_TARGET, f"assistant message {empty[0] + 1} is empty or whitespace")
    last = len(messages) - 1
    return Row(source, messages[:last], [messages[last:]], messages)


def _normalize_target(value: Any, what: str, source: str, *, string_prompt: bool) -> list[dict[str, Any]] | str | RowProblem:
    if not isinstance(value, (str, list)):
        return RowProblem(source, MALFORMED, f"`{what}` must be text or a list of messages, got {type(value).__name__}")
    if isinstance(value, str):
        if not string_prompt:
            return RowProblem(source, MALFORMED, f"`{what}` is text but the prompt is a list of messages; use the same form for both")
        if not value.strip():
            return RowProblem(source, EMPTY_TARGET, f"`{what}` is empty or whitespace")
        return value
    if string_prompt:
        return RowProblem(source, MALFORMED, f"`{what}` is a list of messages but the prompt is text; use the same form for both")
    messages = _clean_messages(value, what)
    if isinstance(messages, str):
        return RowProblem(source, MALFORMED, messages)
    if problem := _bad_roles(messages, frozenset({"assistant"})):
        return RowProblem(source, WRONG_ROLE, f"`{what}`: {problem}")
    if any(not m["content"].strip() for m in messages):
        return RowProblem(source, EMPTY_TARGET, f"`{what}` has an empty or whitespace assistant message")
    return messages


def _normalize_prompt(value: Any, source: str) -> list[dict[str, Any]] | str | RowProblem:
    if not isinstance(value, (str, list)):
        return RowProblem(source, MALFORMED, f"`prompt` must be text or a list of messages, got {type(value).__name__}")
    if isinstance(value, str):
        if not value.strip():
            return RowProblem(source, MALFORMED, "`prompt` is empty")
        return value
    messages = _clean_messages(value, "prompt")
    if isinstance(messages, str):
        return RowProblem(source, MALFORMED, messages)
    if problem := _bad_roles(messages, ALLOWED_ROLES):
        return RowProblem(source, WRONG_ROLE, f"`prompt`: {problem}")
    if messages[-1]["role"] == "assistant":
        return RowProblem(source, WRONG_ROLE, "`prompt` ends with an assistant message; the answer belongs in the completion")
    return messages


def _normalize_prompt_completion(record: dict[str, Any], source: str) -> Row | RowProblem:
    prompt = _normalize_prompt(record.get("prompt"), source)
    if isinstance(prompt, RowProblem):
        return prompt
    target = _normalize_target(record.get("completion"), "completion", source, string_prompt=isinstance(prompt, str))
    if isinstance(target, RowProblem):
        return target
    return Row(source, prompt, [target])


def _normalize_preference(record: dict[str, Any], source: str) -> Row | RowProblem:
    prompt = _normalize_prompt(record.get("prompt"), source)
    if isinstance(prompt, RowProblem):
        return prompt
    targets = []
    for what in ("chosen", "rejected"):
        target = _normalize_target(record.get(what), what, source, string_prompt=isinstance(prompt, str))
        if isinstance(target, RowProblem):
            return target
        targets.append(target)
    if targets[0] == targets[1]:
        return RowProblem(source, EMPTY_TARGET, "`chosen` and `rejected` are identical, so the pair carries no preference")
    return Row(source, prompt, targets)


_NORMALIZERS = {
    "messages": _normalize_messages,
    "prompt_completion": _normalize_prompt_completion,
    "preference": _normalize_preference,
}


# -- tokenizer and template ---------------------------------------------------


@dataclass(slots=True)
class TokenizerInfo:
    tokenizer: Any
    template: str
    template_source: str
    bos_id: int | None
    eos_id: int | None
    pad_id: int | None
    generation_eos_ids: list[int]
    files_sha256: str


def load_tokenizer(config: RunConfig) -> Any:
    """The run's tokenizer with the configured chat template installed.

    TRL's DPOTrainer renders with the tokenizer's own template, so training
    code must load the tokenizer through here to see what the checks saw.
    """
    return tokenizer_info(config).tokenizer


def tokenizer_info(config: RunConfig) -> TokenizerInfo:
    from transformers import AutoTokenizer

    where, local = config.base_model()
    if local and not Path(where).is_dir():
        raise FtgateError(
            f"model.base {config.model.base!r} is not a folder (looked at {where})",
            hint="build one offline with `ftgate model tiny --out DIR`, or give a hub id",
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(where)
    except OSError as exc:
        raise FtgateError(
            f"cannot load a tokenizer from {config.model.base!r}: {_first_line(exc)}",
            hint="hub ids need a network (or a filled cache); a local folder needs tokenizer files",
        ) from None
    if not getattr(tokenizer, "is_fast", False):
        raise FtgateError(
            f"the tokenizer of {config.model.base!r} is not a fast tokenizer",
            hint="ftgate needs a tokenizer.json (fast tokenizer) to map characters to tokens",
        )
    template_path = config.template_file()
    if template_path is not None:
        try:
            tokenizer.chat_template = template_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise FtgateError(f"template file {config.template!r} cannot be read: {exc}") from None
    template = tokenizer.chat_template
    if not isinstance(template, str) or not template.strip():
        raise FtgateError(
            f"the tokenizer of {config.model.base!r} has no chat template",
            hint="set `template:` to a .jinja file in the config",
        )
    _compile_template(template, config.template)
    folder = Path(where) if local else _cached_snapshot(where)
    files = [folder / name for name in TOKENIZER_FILE_PATTERNS if (folder / name).is_file()]
    return TokenizerInfo(
        tokenizer=tokenizer,
        template=template,
        template_source=config.template,
        bos_id=tokenizer.bos_token_id,
        eos_id=tokenizer.eos_token_id,
        pad_id=tokenizer.pad_token_id,
        generation_eos_ids=_generation_eos_ids(where, tokenizer),
        files_sha256=sha256_files(files, root=folder),
    )


def _compile_template(template: str, source: str) -> None:
    """Refuse a template that does not parse, before any row is blamed for it."""
    import jinja2
    from transformers.utils.chat_template_utils import _compile_jinja_template

    try:
        _compile_jinja_template(template)
    except jinja2.TemplateSyntaxError as exc:
        where = "the tokenizer's chat template" if source == TEMPLATE_FROM_TOKENIZER else source
        raise FtgateError(
            f"{where}:{exc.lineno}: the chat template does not parse: {exc.message}",
            hint="fix the Jinja syntax (the {% generation %} tag is allowed)",
        ) from None


def _cached_snapshot(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id, local_files_only=True, allow_patterns=list(TOKENIZER_FILE_PATTERNS)))


def _generation_eos_ids(where: str, tokenizer: Any) -> list[int]:
    """Token ids at which ``generate`` stops for this model."""
    from transformers import GenerationConfig

    try:
        value = GenerationConfig.from_pretrained(where).eos_token_id
    except OSError:
        value = None
    if value is None:
        value = tokenizer.eos_token_id
    if value is None:
        return []
    return sorted({int(v) for v in (value if isinstance(value, list) else [value])})


# -- encoding -----------------------------------------------------------------


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


def _render(tok: TokenizerInfo, conversations: list[list[dict[str, Any]]], *, generation_prompt: bool, spans: bool) -> tuple[list[str], list[list[tuple[int, int]]]]:
    from transformers.utils.chat_template_utils import render_jinja_template

    from ftgate.train.checks import has_generation_markers

    if not conversations:
        return [], []
    # Without markers there are no spans to track (the mask check reports it).
    spans = spans and has_generation_markers(tok.template)
    rendered, indices = render_jinja_template(
        conversations=conversations,
        chat_template=tok.template,
        return_assistant_tokens_mask=spans,
        add_generation_prompt=generation_prompt,
        **tok.tokenizer.special_tokens_map,
    )
    return rendered, (indices if spans else [[] for _ in rendered])


def _encode(tok: TokenizerInfo, texts: list[str], *, special: bool) -> list[Any]:
    # The backend's batch encoder runs in parallel and skips the conversion of
    # every id to a Python list that the tokenizer's __call__ would do.
    return tok.tokenizer.backend_tokenizer.encode_batch(texts, add_special_tokens=special)


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
    try:
        return _encode_rows(split.name, split.rows, tok, fmt)
    except Exception:  # noqa: BLE001 - a template may raise anything; find the rows below
        pass
    good: list[Row] = []
    for row in split.rows:
        try:
            _encode_rows(split.name, [row], tok, fmt)
        except Exception as exc:  # noqa: BLE001
            split.problems.append(RowProblem(row.source, WRONG_ROLE, f"the chat template refused this row: {_first_line(exc)}"))
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
        b.add_ranges(i, enc, located, [m["role"] == "assistant" for m in row.messages])  # type: ignore[union-attr]
        p_ids = prompts[i].ids
        f_ids = enc.ids
        prompt_ids.append(p_ids)
        b.prompt_len.append(len(p_ids))
        b.prompt_prefix_len.append(_common_prefix(p_ids, f_ids))
    return b.freeze(name, rows, prompt_ids, 0)


def _encode_conversational_pairs(name: str, rows: list[Row], tok: TokenizerInfo) -> EncodedSplit:
    """prompt + completion (SFT) or prompt + chosen / rejected (DPO), as lists of messages."""
    n_targets = len(rows[0].targets) if rows else 1
    prompt_text, _ = _render(tok, [r.prompt for r in rows], generation_prompt=True, spans=False)  # type: ignore[misc]
    prompts = _encode(tok, prompt_text, special=False)
    fulls = []
    texts = []
    for t in range(n_targets):
        text, _ = _render(tok, [r.prompt + r.targets[t] for r in rows], generation_prompt=False, spans=False)  # type: ignore[operator]
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
            messages = row.prompt + row.targets[t]  # type: ignore[operator]
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
    fulls = [_encode(tok, [p + c for p, c in zip(prompt_texts, col, strict=True)], special=True) for col in target_texts]  # type: ignore[operator]
    b = _Builder()
    prompt_ids: list[list[int]] = []
    for i in range(len(rows)):
        p_ids = prompts[i].ids
        prompt_ids.append(p_ids)
        shared = min(_common_prefix(p_ids, fulls[t][i].ids) for t in range(n_targets))
        p_len_chars = len(prompt_texts[i])  # type: ignore[arg-type]
        for t in range(n_targets):
            enc = fulls[t][i]
            seq = b.add_sequence(i, t, enc, shared=shared, prompt_len=len(p_ids))
            target = rows[i].targets[t]
            assert isinstance(target, str)
            b.add_ranges(seq, enc, [(0, p_len_chars), (p_len_chars, p_len_chars + len(target))], [False, True])
    return b.freeze(name, rows, prompt_ids, appended)


# -- preparation --------------------------------------------------------------


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


@dataclass(slots=True)
class PrepareResult:
    config: RunConfig
    tokenizer: TokenizerInfo
    splits: dict[str, SplitRows]
    encoded: dict[str, EncodedSplit]
    checks: list[Any]  # list[checks.CheckResult]
    outcome: dict[str, SplitOutcome]
    manifest: dict[str, Any]
    written: Path | None

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def prepare(config: RunConfig, *, write: bool = True) -> PrepareResult:
    """Run the whole Stage 4 preparation for ``config``.

    Writes only when ``write`` is true, and writes even when checks fail, so
    the report and debug view describe files that exist; the manifest
    records the verdicts and ``verify_manifest`` refuses a failed one.
    """
    from ftgate.train import checks as checks_mod

    fmt = config.data.format
    assert fmt is not None
    tok = tokenizer_info(config)
    splits = {name: read_split(config, name) for name in ("train", "eval")}
    if not splits["train"].rows:
        raise FtgateError(
            "no usable training rows: " + _problem_summary(splits["train"].problems),
            hint="fix the rows listed, or point data.train at the right file",
        )
    encoded = {name: encode_split(s, tok, fmt) for name, s in splits.items()}
    results = checks_mod.run_checks(config, tok, splits, encoded)
    keep = {name: _keep_mask(enc, config.max_length) for name, enc in encoded.items()}
    datasets_by_split, outcome = _build_outputs(config, tok, splits, encoded, keep)
    manifest = build_manifest(config, tok, splits, outcome, results)
    written = None
    if write:
        written = _write(config, datasets_by_split, manifest)
    return PrepareResult(config, tok, splits, encoded, results, outcome, manifest, written)


def _problem_summary(problems: list[RowProblem]) -> str:
    if not problems:
        return "the files are empty"
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{first.source}: {first.message}{more}"


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


def _keep_mask(enc: EncodedSplit, max_length: int) -> np.ndarray:
    """Rows TRL would keep: every sequence of the row still has a trained token after truncation."""
    stats = sequence_stats(enc, max_length)
    ok_seq = stats["trained_kept"] > 0
    n_rows = len(enc.rows)
    bad_rows = np.bincount(enc.seq_row[~ok_seq], minlength=n_rows) if n_rows else np.zeros(0, dtype=np.int64)
    return bad_rows == 0


def _build_outputs(
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
        truncated_rows = np.unique(enc.seq_row[(lengths > max_length) & seq_keep]) if enc.n_seq else []
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


def _columns(config: RunConfig, tok: TokenizerInfo, enc: EncodedSplit, kept_rows: np.ndarray, max_length: int) -> tuple[dict[str, list[Any]], str]:
    """The columns TRL consumes, plus a hash over exactly those tokens."""
    import hashlib

    digest = hashlib.sha256()
    by_row: dict[int, list[int]] = {}
    for seq, row in enumerate(enc.seq_row.tolist()):
        by_row.setdefault(row, []).append(seq)
    if config.objective == "sft":
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
    columns: dict[str, list[Any]] = {k: [] for k in ("prompt", "chosen", "rejected", "prompt_ids", "chosen_ids", "rejected_ids")}
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
        columns["prompt"].append(json.dumps(row.prompt, ensure_ascii=False) if not isinstance(row.prompt, str) else row.prompt)
        columns["prompt_ids"].append(list(enc.prompt_ids[i]))
        columns["reference"].append(reference)
    return columns


# -- manifest -----------------------------------------------------------------


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for name in ("ftgate", "transformers", "tokenizers", "datasets", "trl"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _token(tokenizer: Any, attr: str) -> dict[str, Any]:
    return {"token": getattr(tokenizer, attr), "id": getattr(tokenizer, f"{attr}_id")}


def build_manifest(
    config: RunConfig,
    tok: TokenizerInfo,
    splits: dict[str, SplitRows],
    outcome: dict[str, SplitOutcome],
    results: list[Any],
) -> dict[str, Any]:
    t = tok.tokenizer
    return {
        "manifest_version": MANIFEST_VERSION,
        "run_id": config.run_id,
        "ticket": config.ticket,
        "objective": config.objective,
        "format": config.data.format,
        "config": {
            "file": config.source.name if config.source else None,
            "sha256": config.config_hash(),
            "preparation_sha256": config.preparation_hash(),
        },
        "sources": {
            name: [{"path": f.path, "sha256": f.sha256, "rows": f.rows} for f in split.files]
            for name, split in splits.items()
        },
        "rows": {
            name: {"read": o.read, "kept": o.kept, "dropped": o.dropped, "truncated": o.truncated}
            for name, o in outcome.items()
        },
        "tokens": {name: {"total": o.tokens_total, "trained": o.tokens_trained} for name, o in outcome.items()},
        "tokenizer": {
            "source": config.model.base,
            "files_sha256": tok.files_sha256,
            "class": type(t).__name__,
            "bos": _token(t, "bos_token"),
            "eos": _token(t, "eos_token"),
            "pad": _token(t, "pad_token"),
            "padding_side": t.padding_side,
            "generation_eos_ids": tok.generation_eos_ids,
            "eos_appended_to_targets": {name: o.eos_appended for name, o in outcome.items()},
        },
        "template": {"source": tok.template_source, "sha256": sha256_text(tok.template), "text": tok.template},
        "max_length": config.max_length,
        "truncation_mode": "keep_start",
        "packing": config.packing,
        "prepared": {
            "dir": config.data.prepared_dir,
            "splits": {name: {"rows": o.kept, "sha256": o.sha256} for name, o in outcome.items()},
        },
        "checks": [r.summary_dict() for r in results],
        "passed": all(r.passed for r in results),
        "versions": _versions(),
    }


def _write(config: RunConfig, datasets_by_split: dict[str, Any], manifest: dict[str, Any]) -> Path:
    import shutil

    import datasets

    target = config.prepared_dir()
    data_dir = target / "dataset"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    target.mkdir(parents=True, exist_ok=True)
    datasets.DatasetDict(datasets_by_split).save_to_disk(str(data_dir))
    write_json(target / MANIFEST_NAME, manifest)
    return target


def read_manifest(config: RunConfig) -> dict[str, Any] | None:
    path = config.prepared_dir() / MANIFEST_NAME
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise FtgateError(f"{path}: cannot read the manifest: {exc}", hint="run `ftgate data prepare` again") from None


def verify_manifest(config: RunConfig) -> list[str]:
    """What changed since ``ftgate data prepare`` wrote the manifest; empty when nothing did.

    Compares data files, the preparation-relevant part of the config, the
    tokenizer files and the chat template, and refuses a preparation whose
    checks failed.
    """
    manifest = read_manifest(config)
    where = config.prepared_dir() / MANIFEST_NAME
    if manifest is None:
        return [f"no manifest at {where}; run `ftgate data prepare` first"]
    changes: list[str] = []
    if manifest.get("manifest_version") != MANIFEST_VERSION:
        return [f"{where} was written by another manifest version; prepare again"]
    if manifest["config"]["preparation_sha256"] != config.preparation_hash():
        changes.append("config: a setting that shapes the prepared data changed (data, template, model, max_length, packing or checks)")
    for name in ("train", "eval"):
        written = config.data.train if name == "train" else config.data.eval
        recorded = {s["path"]: s["sha256"] for s in manifest["sources"].get(name, [])}
        if list(recorded) != list(written):
            changes.append(f"data.{name}: the file list changed ({', '.join(recorded)} -> {', '.join(written)})")
            continue
        for as_written in written:
            path = config.path(as_written)
            if not path.is_file():
                changes.append(f"data.{name}: {as_written} is missing")
            elif sha256_file(path) != recorded[as_written]:
                changes.append(f"data.{name}: {as_written} changed since preparation")
    try:
        tok = tokenizer_info(config)
    except FtgateError as err:
        changes.append(f"tokenizer: {err.message}")
    else:
        if tok.files_sha256 != manifest["tokenizer"]["files_sha256"]:
            changes.append(f"tokenizer: files of {config.model.base} changed")
        if sha256_text(tok.template) != manifest["template"]["sha256"]:
            changes.append(f"template: the chat template ({config.template}) changed")
    if not (config.prepared_dir() / "dataset").is_dir():
        changes.append(f"prepared data: {config.prepared_dir() / 'dataset'} is missing")
    if not manifest.get("passed", False):
        failed = [c["name"] for c in manifest.get("checks", []) if c.get("verdict") != "pass"]
        changes.append(f"checks: the last preparation failed {', '.join(failed)}; fix the data and prepare again")
    return changes


def load_prepared(config: RunConfig) -> Any:
    """The prepared ``DatasetDict`` (``train``, ``eval``, ``eval_generation``) for training code."""
    import datasets

    path = config.prepared_dir() / "dataset"
    if not path.is_dir():
        raise FtgateError(f"no prepared data at {path}", hint=f"run `ftgate data prepare {config.source or 'CONFIG'}`")
    return datasets.load_from_disk(str(path))


__all__ = [
    "EncodedSplit",
    "PrepareResult",
    "Row",
    "RowProblem",
    "SplitRows",
    "encode_split",
    "load_prepared",
    "load_tokenizer",
    "prepare",
    "read_manifest",
    "read_split",
    "sequence_stats",
    "tokenizer_info",
    "verify_manifest",
]
