"""The one YAML-to-model loader: lines and did-you-mean for both of its users."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from ftgate.yamlmodel import YamlSyntaxError, parse_yaml, validate


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include: list[str] = []
    exclude: list[str] = []


class Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    source: Inner = Inner()
    items: list[Inner] = []


TEXT = """\
name: demo
source:
  include: [a]
  exclud: [b]
items:
  - include: [c]
  - includ: [d]
"""


def test_unknown_keys_get_their_line_and_the_nearest_known_key() -> None:
    parsed = validate(Outer, parse_yaml(TEXT, "x.yaml"), TEXT)
    assert parsed.model is None
    found = {(i.key, i.line, i.suggestion) for i in parsed.issues}
    assert found == {("source.exclud", 4, "exclude"), ("items.1.includ", 7, "include")}
    assert all(i.kind == "extra_forbidden" and i.known == ("include", "exclude") for i in parsed.issues)


def test_a_wrong_value_points_at_its_key_and_a_missing_top_key_has_no_line() -> None:
    text = "source:\n  include: 3\n"
    parsed = validate(Outer, parse_yaml(text, "x.yaml"), text)
    by_key = {i.key: i for i in parsed.issues}
    assert by_key["source.include"].line == 2 and by_key["source.include"].kind == "list_type"
    assert by_key["name"].kind == "missing" and by_key["name"].line is None


def test_valid_text_gives_the_model() -> None:
    parsed = validate(Outer, parse_yaml("name: ok\n", "x.yaml"), "name: ok\n")
    assert parsed.model == Outer(name="ok") and parsed.issues == []


def test_text_that_is_not_yaml_names_its_line() -> None:
    with pytest.raises(YamlSyntaxError) as err:
        parse_yaml("name: [\n", "x.yaml")
    assert err.value.line == 2 and err.value.message.startswith("x.yaml:2: not valid YAML")
