"""The one canonical JSON and the file hashes every layer shares."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest

from ftgate.hashing import CanonicalJsonError, canonical_json, sha256_json, sha256_path, sha256_tree


def test_canonical_json_is_one_text_per_value() -> None:
    assert canonical_json({"b": [1, 2.5, None], "a": {"y": True, "x": "é"}}) == (
        '{"a":{"x":"é","y":true},"b":[1,2.5,null]}'
    )
    assert sha256_json({"b": 1, "a": 2}) == sha256_json({"a": 2, "b": 1})
    assert sha256_json({"k": (1, 2)}) == sha256_json({"k": [1, 2]})
    expected = hashlib.sha256('{"a":"é"}'.encode()).hexdigest()
    assert sha256_json({"a": "é"}) == expected


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"loss": math.nan}, "$.loss"),
        ({"runs": [1.0, math.inf]}, "$.runs[1]"),
        ({"x": [{"y": -math.inf}]}, "$.x[0].y"),
        ({"when": object()}, "$.when"),
        ({"files": {Path("a"): "1"}}, "$.files"),
        ({1: "one"}, "$"),
    ],
)
def test_values_without_a_canonical_form_are_refused_by_place(value: object, where: str) -> None:
    with pytest.raises(CanonicalJsonError) as err:
        sha256_json(value)
    assert err.value.message.startswith(f"{where} ")
    assert err.value.hint


def test_tree_hash_covers_names_and_content_but_not_derived_caches(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_text("one")
    (tmp_path / "d" / "sub" / "b.txt").write_text("two")
    first = sha256_tree(tmp_path / "d")
    (tmp_path / "d" / "cache-0123abcd.arrow").write_bytes(b"derived")
    assert sha256_tree(tmp_path / "d") == first
    (tmp_path / "d" / "sub" / "b.txt").rename(tmp_path / "d" / "sub" / "c.txt")
    renamed = sha256_tree(tmp_path / "d")
    assert renamed != first
    (tmp_path / "d" / "sub" / "c.txt").write_text("three")
    assert sha256_tree(tmp_path / "d") != renamed
    assert sha256_path(tmp_path / "d" / "a.txt") == hashlib.sha256(b"one").hexdigest()
