"""ftgate.records behaves like the dataclasses it replaces on the hook path."""

from __future__ import annotations

import pytest

from ftgate.records import FrozenInstanceError, field, record, replace


@record(frozen=True, slots=True)
class Point:
    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)


@record(slots=True)
class Counter:
    name: str
    seen: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.name = self.name.strip()


def test_init_defaults_and_factories() -> None:
    a, b = Point(1), Point(1)
    assert (a.x, a.y, a.tags) == (1, 0, [])
    assert a.tags is not b.tags
    assert Point(2, y=3).y == 3
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]


def test_eq_repr_hash_and_frozen() -> None:
    assert Point(1, 2) == Point(1, 2) and Point(1, 2) != Point(2, 1)
    assert repr(Point(1, 2)) == "Point(x=1, y=2, tags=[])"
    assert len({Point(1, 2, ()), Point(1, 2, ())}) == 1  # type: ignore[arg-type]
    with pytest.raises(FrozenInstanceError):
        Point(1).x = 5  # type: ignore[misc]


def test_slots_post_init_mutability_and_replace() -> None:
    c = Counter("  hits ")
    assert c.name == "hits" and not hasattr(c, "__dict__")
    c.seen["a"] = 1
    with pytest.raises(TypeError):
        hash(c)
    changed = replace(Point(1, 2), y=9)
    assert changed == Point(1, 9)
    assert Point.__match_args__ == ("x", "y", "tags")
