"""Data sources beyond single files: `save_to_disk` folders and hub ids read from the `datasets` cache."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ftgate.errors import FtgateError

pytestmark = pytest.mark.train


def _prepare(config_path: Path) -> Any:
    from ftgate.train.config import load_config
    from ftgate.train.data.prepare import prepare

    return prepare(load_config(config_path))


def _save_dict(folder: Path, splits: dict[str, list[dict[str, Any]]]) -> Path:
    import datasets

    datasets.DatasetDict({k: datasets.Dataset.from_list(v) for k, v in splits.items()}).save_to_disk(str(folder))
    return folder


def test_a_save_to_disk_folder_with_splits_is_read_hashed_and_verified(
        write_run: Callable[..., Path], rows: Any) -> None:
    from ftgate.train.config import load_config
    from ftgate.train.data.manifest import verify_manifest

    config_path = write_run(overrides={"data": {"train": "./colors", "eval": "./colors:test"}})
    _save_dict(config_path.parent / "colors", {"train": rows.conversations(30), "test": rows.conversations(6, 500)})
    result = _prepare(config_path)
    assert result.passed
    assert result.manifest["rows"]["train"]["kept"] == 30 and result.manifest["rows"]["eval"]["kept"] == 6
    assert verify_manifest(load_config(config_path)) == []
    # Same folder, one row changed: the prepared data is stale.
    shutil.rmtree(config_path.parent / "colors")
    changed = rows.conversations(30)
    changed[0]["messages"][1]["content"] = "something else"
    _save_dict(config_path.parent / "colors", {"train": changed, "test": rows.conversations(6, 500)})
    assert verify_manifest(load_config(config_path)) == ["data.train: ./colors changed since preparation",
                                                         "data.eval: ./colors:test changed since preparation"]


def test_a_single_dataset_folder_and_a_wrong_split_are_told_apart(
        write_run: Callable[..., Path], rows: Any) -> None:
    import datasets

    config_path = write_run(overrides={"data": {"train": "./plain", "eval": "./colors:validation"}})
    datasets.Dataset.from_list(rows.conversations(20)).save_to_disk(str(config_path.parent / "plain"))
    _save_dict(config_path.parent / "colors", {"train": rows.conversations(5), "test": rows.conversations(5, 500)})
    with pytest.raises(FtgateError, match=r"no split 'validation'; it has test, train") as err:
        _prepare(config_path)
    assert "./colors:test" in (err.value.hint or "")


def _hub_cache(cache: Path, repo: str, splits: dict[str, list[dict[str, Any]]]) -> None:
    """A `datasets` cache holding ``repo`` exactly as a download leaves it (built offline from parquet)."""
    import datasets
    from datasets.packaged_modules.parquet.parquet import Parquet

    src = cache.parent / "hub-src"
    src.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, split_rows in splits.items():
        datasets.Dataset.from_list(split_rows).to_parquet(str(src / f"{name}.parquet"))
        files[name] = [str(src / f"{name}.parquet")]
    namespace, name = repo.split("/")
    builder = Parquet(cache_dir=str(cache.parent / "build"), dataset_name=name,
                      data_files=datasets.data_files.DataFilesDict.from_patterns(files))
    builder.download_and_prepare()
    # The cache lays a hub dataset out as NAMESPACE___NAME/CONFIG/VERSION/COMMIT.
    target = cache / f"{namespace}___{name}" / "default" / "0.0.0" / ("0" * 40)
    shutil.copytree(builder.cache_dir, target, ignore=shutil.ignore_patterns("*.lock"))


def test_a_hub_dataset_id_is_read_from_the_offline_cache(
        write_run: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    cache = tmp_path / "datasets-cache"
    train = [{"prompt": f"What is {i} plus one?", "completion": f"{i + 1}"} for i in range(24)]
    test = [{"prompt": f"What is {i} plus one?", "completion": f"{i + 1}"} for i in range(100, 106)]
    _hub_cache(cache, "acme/sums", {"train": train, "test": test})
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    config_path = write_run(overrides={"data": {"train": "acme/sums", "eval": "acme/sums:test",
                                                "format": "prompt_completion"}})
    result = _prepare(config_path)
    assert result.passed
    assert result.manifest["rows"]["train"]["kept"] == 24 and result.manifest["rows"]["eval"]["kept"] == 6
    sources = {s["path"]: s for s in result.manifest["sources"]["train"]}
    assert sources["acme/sums"]["rows"] == 24

    missing = write_run(overrides={"data": {"train": "acme/nothing-here", "eval": "eval.jsonl"}})
    with pytest.raises(FtgateError, match=r"hub dataset 'acme/nothing-here' cannot be loaded") as err:
        _prepare(missing)
    assert "./" in (err.value.hint or "")


def test_a_file_type_we_do_not_read_is_refused_in_the_config(write_run: Callable[..., Path]) -> None:
    from ftgate.train.config import load_config

    with pytest.raises(FtgateError, match=r"notes\.txt.*unsupported file type"):
        load_config(write_run(overrides={"data": {"train": "notes.txt"}}))
