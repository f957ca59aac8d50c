"""Which repository paths are source: a compiled matcher, stdlib only.

The pre-commit hook classifies every staged path, so this module must not
import pathspec or pydantic. ``ftgate.policy.config`` turns the patterns of
``ftgate.yaml`` into regular expressions once (with pathspec, gitignore
semantics) and the matcher here only runs them.
"""

from __future__ import annotations

import re

from ftgate.constants import CONFIG_FILE
from ftgate.constants import TICKETS_SLASH as TICKETS_PREFIX
from ftgate.records import record

__all__ = ["CONFIG_FILE", "TICKETS_PREFIX"]

# Pattern lists compile to (regex, positive) pairs; the last pattern that
# matches a path decides, as in .gitignore.
CompiledList = tuple[tuple[str, bool], ...]


def _combine(entries: CompiledList) -> re.Pattern[str] | list[tuple[re.Pattern[str], bool]]:
    """One alternation when the list has no negation (the usual case: one
    regex call per path), else the ordered list."""
    if all(positive for _, positive in entries):
        if not entries:
            return re.compile(r"(?!)")
        # Named groups from pathspec would clash inside one alternation.
        parts = [re.sub(r"\(\?P<[^>]+>", "(?:", rx) for rx, _ in entries]
        return re.compile("|".join(f"(?:{p})" for p in parts), re.DOTALL)
    return [(re.compile(rx, re.DOTALL), positive) for rx, positive in entries]


def _matches(compiled: re.Pattern[str] | list[tuple[re.Pattern[str], bool]], path: str) -> bool:
    if isinstance(compiled, re.Pattern):
        return compiled.match(path) is not None
    hit = False
    for rx, positive in compiled:
        if rx.match(path) is not None:
            hit = positive
    return hit


@record
class SourceMatcher:
    """``is_source(path)``: True for a path whose change needs Stage 4
    Unlocked. Ticket folders are never source; ``ftgate.yaml`` always is, so
    loosening the policy itself needs an unlocked ticket."""

    include: CompiledList
    exclude: CompiledList

    def __post_init__(self) -> None:
        self._inc = _combine(self.include)
        self._exc = _combine(self.exclude)

    def is_source(self, path: str) -> bool:
        if path.startswith(TICKETS_PREFIX):
            return False
        if path == CONFIG_FILE:
            return True
        return _matches(self._inc, path) and not _matches(self._exc, path)

    def to_json(self) -> dict[str, list[list[object]]]:
        return {"include": [list(e) for e in self.include], "exclude": [list(e) for e in self.exclude]}

    @classmethod
    def from_json(cls, data: dict[str, list[list[object]]]) -> SourceMatcher:
        return cls(tuple((str(rx), bool(pos)) for rx, pos in data["include"]),
                   tuple((str(rx), bool(pos)) for rx, pos in data["exclude"]))

