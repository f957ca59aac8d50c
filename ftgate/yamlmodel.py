"""YAML text to a pydantic model, with every problem placed on its line.

The one loader behind ``ftgate.yaml`` (policy) and the trainer's run
configs: it parses once, keeps the node tree for line numbers, validates,
and turns pydantic's errors into :class:`FieldIssue` records that say which
key, on which line, and for a misspelt key the nearest known name. How an
issue is worded stays with the caller, whose users know its file.

A leaf: pyyaml, pydantic and the standard library only.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ftgate.errors import FtgateError

Model = TypeVar("Model", bound=BaseModel)
Loc = tuple[str | int, ...]


class YamlSyntaxError(FtgateError):
    """The text is not YAML at all; ``line`` is 1-based when the parser knows it."""

    def __init__(self, label: str, line: int | None, problem: str) -> None:
        self.label, self.line, self.problem = label, line, problem
        where = f"{label}:{line}" if line is not None else label
        super().__init__(f"{where}: not valid YAML ({problem})")


@dataclass(frozen=True)
class FieldIssue:
    """One validation error, placed in the file."""

    loc: Loc
    key: str  # dotted path, "(top level)" for the document itself
    line: int | None
    kind: str  # pydantic's error type: "extra_forbidden", "missing", ...
    message: str  # pydantic's message without its "Value error, " prefix
    suggestion: str | None  # the nearest known key, for an unknown one
    known: tuple[str, ...]  # the keys the enclosing section accepts


@dataclass(frozen=True)
class Parsed(Generic[Model]):
    model: Model | None
    issues: list[FieldIssue]


class YamlRefused(YamlSyntaxError):
    """YAML that ftgate will not load: anchors or aliases, deep nesting, or
    more text than the caller reads."""

    def __init__(self, label: str, line: int | None, problem: str, hint: str) -> None:
        self.label, self.line, self.problem = label, line, problem
        where = f"{label}:{line}" if line is not None else label
        FtgateError.__init__(self, f"{where}: {problem}", hint=hint)


#: Levels of nesting accepted; ftgate.yaml and run configs use three or four.
MAX_NESTING = 16
_OPENING = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken,
            yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken)
_CLOSING = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


def refuse_hostile(text: str, label: str, *, max_chars: int | None = None) -> None:
    """Refuse what could crash or exhaust the loader, before anything is built.

    ``ftgate.yaml`` is read inside the server hook from a pusher's commit: a
    self-referencing alias made the loader recurse until it crashed, a few
    hundred bytes of nested aliases expand to gigabytes, and every level of
    nesting is a level of recursion. No ftgate file needs anchors, aliases
    or deep nesting, so the token stream (linear, nothing constructed) is
    checked first; ``max_chars`` caps the text."""
    if max_chars is not None and len(text) > max_chars:
        raise YamlRefused(label, None, f"the file is {len(text)} characters long, more than ftgate reads "
                          f"({max_chars})", "keep the file to its settings; remove what is not configuration")
    depth = 0
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        if isinstance(token, _OPENING):
            depth += 1
            if depth > MAX_NESTING:
                raise YamlRefused(label, token.start_mark.line + 1, f"nested more than {MAX_NESTING} levels deep",
                                  "write the settings flat, as `ftgate config schema` shows them")
        elif isinstance(token, _CLOSING):
            depth -= 1
        elif isinstance(token, (yaml.AnchorToken, yaml.AliasToken)):
            kind = "an anchor" if isinstance(token, yaml.AnchorToken) else "an alias"
            raise YamlRefused(label, token.start_mark.line + 1,
                              f"YAML anchors and aliases (`&name`, `*name`) are not accepted; found {kind} "
                              f"`{token.value}`", "write the value out in full where it is used")


def parse_yaml(text: str, label: str, *, max_chars: int | None = None) -> Any:
    """The data in ``text``; :class:`YamlSyntaxError` if it is not YAML,
    :class:`YamlRefused` (a subclass) for what :func:`refuse_hostile` refuses."""
    try:
        refuse_hostile(text, label, max_chars=max_chars)
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlSyntaxError(label, mark.line + 1 if mark is not None else None, problem) from None


def validate(model: type[Model], data: Any, text: str | None) -> Parsed[Model]:
    """Validate ``data`` (parsed from ``text``) as ``model``; on failure every error as a :class:`FieldIssue`.

    The node tree that gives line numbers is built only when something is
    wrong, so a valid file is parsed once. ``text`` None: data not from a file.
    """
    try:
        return Parsed(model.model_validate(data), [])
    except ValidationError as exc:
        return Parsed(None, issues(model, exc, _compose(text)))


def _compose(text: str | None) -> yaml.Node | None:
    if text is None:
        return None
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None


def issues(model: type[BaseModel], exc: ValidationError, node: yaml.Node | None) -> list[FieldIssue]:
    out: list[FieldIssue] = []
    for err in exc.errors():
        # Union branches add their tag names to the location; only keys and
        # indexes are places in the file.
        loc: Loc = tuple(part for part in err["loc"] if isinstance(part, (str, int)))
        known = _known_keys(model, loc[:-1])
        suggestion = None
        if err["type"] == "extra_forbidden" and loc:
            close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
            suggestion = close[0] if close else None
        out.append(FieldIssue(
            loc=loc,
            key=".".join(str(p) for p in loc) or "(top level)",
            line=line_of(node, loc),
            kind=err["type"],
            message=err["msg"].removeprefix("Value error, "),
            suggestion=suggestion,
            known=known,
        ))
    return out


def line_of(node: yaml.Node | None, loc: Sequence[str | int]) -> int | None:
    """1-based line of the key or item at ``loc``, or of its nearest ancestor in the file.

    ``None`` when not even the first step of ``loc`` is in the file (a
    required top-level key that is missing): the document has no line to blame.
    """
    best: int | None = None
    current = node
    for part in loc:
        nxt = None
        if isinstance(current, yaml.MappingNode) and isinstance(part, str):
            for key_node, value_node in current.value:
                if getattr(key_node, "value", None) == part:
                    best, nxt = key_node.start_mark.line + 1, value_node
                    break
        elif isinstance(current, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(current.value):
            nxt = current.value[part]
            best = nxt.start_mark.line + 1
        if nxt is None:
            break
        current = nxt
    return best


def _known_keys(model: type[BaseModel], section: Loc) -> tuple[str, ...]:
    """The field names of the (nested) model that ``section`` points into."""
    current: type[BaseModel] | None = model
    for part in section:
        if isinstance(part, int) or current is None:
            continue
        field = current.model_fields.get(part)
        current = _model_of(field.annotation) if field is not None else None
    return tuple(current.model_fields) if current is not None else ()


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_of(arg)
        if found is not None:
            return found
    return None
