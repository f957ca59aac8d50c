"""Step 1a: read a split's files, hashing each, into records with file and line.

A row that cannot be read stays a ``RowProblem`` (check 7 reports it); a file
whose columns do not fit the configured format is refused outright.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ftgate.errors import FtgateError
from ftgate.hashing import sha256_file, sha256_json, sha256_tree
from ftgate.train.config import RunConfig, data_file_kind, split_source
from ftgate.train.data.normalize import NORMALIZERS
from ftgate.train.data.rows import (
    MALFORMED,
    Row,
    RowProblem,
    SourceFile,
    SplitRows,
    first_line,
)


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
        records, labels, file_problems, digest = load_source(config, as_written)
        files.append(SourceFile(as_written, digest, len(records) + len(file_problems)))
        problems.extend(file_problems)
        read += len(records) + len(file_problems)
        _check_columns(records, fmt, as_written)
        normalize = NORMALIZERS[fmt]
        for record, label in zip(records, labels, strict=True):
            result = normalize(record, label)
            if isinstance(result, RowProblem):
                problems.append(result)
            else:
                rows.append(result)
    return SplitRows(name, files, rows, problems, read)


def load_source(config: RunConfig, as_written: str) -> tuple[list[dict[str, Any]], list[str], list[RowProblem], str]:
    """Rows, a label per row, unreadable rows, and the content hash of one ``data.*`` entry."""
    source, split = split_source(as_written)
    kind = config.source_kind(source)
    if kind == "file":
        if split not in (None, "train"):
            raise FtgateError(
                f"data source {as_written!r}: a single file has no split {split!r}",
                hint=f"write the file name alone ({source}), or point at a dataset folder or hub id",
            )
        path = config.path(source)
        records, labels, problems = _load_records(path, as_written)
        return records, labels, problems, sha256_file(path)
    if kind == "folder":
        path = config.path(source)
        records = _load_folder(path, split, as_written)
        # The folder's files, not its rows: a re-saved folder with the same rows
        # but new arrow files still reads as changed, which errs on the safe side.
        digest = sha256_tree(path)
    else:
        records = _load_hub(source, split, as_written)
        # No local file to hash: the rows themselves are the identity.
        digest = sha256_json(records)
    labels = [f"{as_written} row {i + 1}" for i in range(len(records))]
    return records, labels, [], digest


def source_digest(config: RunConfig, as_written: str) -> str | None:
    """The hash ``load_source`` records, computed again; None when the source is gone."""
    source, split = split_source(as_written)
    kind = config.source_kind(source)
    path = config.path(source)
    if kind == "file":
        return sha256_file(path) if path.is_file() else None
    if kind == "folder":
        return sha256_tree(path) if path.is_dir() else None
    try:
        return sha256_json(_load_hub(source, split, as_written))
    except FtgateError:
        return None


def _load_folder(path: Path, split: str | None, as_written: str) -> list[dict[str, Any]]:
    import datasets

    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    if not path.is_dir():
        raise FtgateError(
            f"data folder {as_written!r} does not exist (looked at {path})",
            hint="fix data.train / data.eval in the config; paths are relative to the config file",
        )
    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as exc:  # noqa: BLE001 - datasets raises several types for a folder it cannot read
        raise FtgateError(
            f"{as_written}: not a dataset folder written by `save_to_disk`: {first_line(exc)}",
            hint="save it with Dataset.save_to_disk / DatasetDict.save_to_disk, or name the data files instead",
        ) from None
    return _pick_split(loaded, split, as_written)


def _load_hub(source: str, split: str | None, as_written: str) -> list[dict[str, Any]]:
    import datasets

    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    try:
        loaded = datasets.load_dataset(source, split=split or "train")
    except Exception as exc:  # noqa: BLE001 - network, cache and builder errors all land here
        raise FtgateError(
            f"data source {as_written!r}: not a local file or folder, and the hub dataset {source!r} "
            f"cannot be loaded: {first_line(exc)}",
            hint="check the id and split, or download it once (offline runs read the `datasets` cache); "
            "a local path should start with ./",
        ) from None
    records: list[dict[str, Any]] = loaded.to_list()
    return records


def _pick_split(loaded: Any, split: str | None, as_written: str) -> list[dict[str, Any]]:
    import datasets

    if isinstance(loaded, datasets.DatasetDict):
        name = split or "train"
        if name not in loaded:
            raise FtgateError(
                f"data source {as_written!r} has no split {name!r}; it has {', '.join(sorted(loaded))}",
                hint=f"name the split after a colon, e.g. {split_source(as_written)[0]}:{sorted(loaded)[0]}",
            )
        loaded = loaded[name]
    elif split not in (None, "train"):
        raise FtgateError(
            f"data source {as_written!r} is a single dataset without splits; {split!r} does not exist",
            hint=f"drop the split: {split_source(as_written)[0]}",
        )
    records: list[dict[str, Any]] = loaded.to_list()
    return records


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
                f"{as_written}: cannot be read as {kind}: {first_line(exc)}",
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
    records: list[dict[str, Any]] = ds.to_list()
    return records


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
                problems.append(
                    RowProblem(where, MALFORMED, f"a row must be a JSON object, got {type(value).__name__}")
                )
                continue
            records.append(value)
            labels.append(where)
    return records, labels, problems


def _nonblank_lines(path: Path) -> list[int]:
    with path.open("rb") as fh:
        return [n for n, line in enumerate(fh, start=1) if line.strip()]


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
