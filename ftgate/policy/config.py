"""``ftgate.yaml``: the repository's enforcement policy, validated with pydantic.

This module is heavy (pydantic, yaml, pathspec) and stays off the commit hot
path: :func:`compile_policy` turns a config into plain data once, and
:mod:`ftgate.policy.compiled` caches that by the file's blob id so the hooks
only read a small JSON file.

Public API (used by the trainer to hash "the source files"):

* :func:`load_config(repo_root) <load_config>` -> :class:`Config`
* :meth:`Config.is_source(path) <Config.is_source>` -> bool
"""

from __future__ import annotations

import difflib
import json
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ftgate.errors import FtgateError
from ftgate.limits import CONFIG_FILE_MAX_BYTES
from ftgate.policy.paths import CONFIG_FILE, CompiledList, SourceMatcher

# ftgate.yaml is three levels deep at most; the loader recurses per level.
MAX_NESTING = 16
# Anchored at the root, and file globs name files: `train/docs/loader.py` is
# source, and so is the content of a folder that happens to be named `x.md`.
DEFAULT_EXCLUDE: tuple[str, ...] = ("*.md", "*.rst", "/docs/")


class SourceRules(BaseModel):
    """Which paths are source code. Patterns are gitignore-style (``*.md``,
    ``/docs/``, ``/build``, ``src/**/gen_*.py``, ``!keep.md``); within a list
    the last matching pattern wins. A path is source when ``include``
    matches it and ``exclude`` does not. One difference from gitignore: a
    pattern whose last part is a glob (``*.md``, ``gen_*.py``) matches files
    only, never the contents of a folder with such a name. Ticket folders
    (``tickets/``) are never source and ``ftgate.yaml`` always is, whatever
    these say."""

    model_config = ConfigDict(extra="forbid")

    include: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Patterns of source paths (default: every path).",
    )
    exclude: list[str] = Field(
        default_factory=lambda: list(DEFAULT_EXCLUDE),
        description="Patterns of paths that are not source although include matches them "
                    "(default: documentation, which Stage 7 edits while source is locked).",
    )


class WorktreeRules(BaseModel):
    """Where ticket worktrees go and how `ftgate worktree new` / `ftgate done
    --finalize` behave."""

    model_config = ConfigDict(extra="forbid")

    base_branch: str | None = Field(
        default=None, min_length=1,
        description="The base branch tickets are cut from (default: the remote's default branch).")
    remote: str = Field(default="origin", min_length=1, description="The remote to refresh and cut from.")
    location: str = Field(
        default="../{repo}-worktrees", min_length=1,
        description="The folder that holds ticket worktrees, relative to the main checkout; "
                    "`{repo}` is the main checkout's folder name.")
    finalize: Literal["merge", "push", "none"] = Field(
        default="merge", description="What `ftgate done --finalize` does with the ticket branch.")

    @field_validator("location")
    @classmethod
    def _only_repo_placeholder(cls, value: str) -> str:
        try:
            value.format(repo="x")
        except (KeyError, IndexError, ValueError):
            raise ValueError("may only use the placeholder `{repo}`") from None
        return value


class Config(BaseModel):
    """The ``ftgate.yaml`` at the repository root."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = Field(default=1, description="Format version of this file.")
    source: SourceRules = Field(default_factory=SourceRules, description="What counts as source code.")
    untracked_source: Literal["block", "allow"] = Field(
        default="block",
        description="What to do with a source change that no ticket governs (no codex/<ticket> branch, "
                    "no ticket folder touched, no default ticket): block it, or allow it.",
    )
    ticket: str | None = Field(
        default=None,
        description="A ticket that governs changes when neither the branch nor the change names one.",
    )
    worktree: WorktreeRules = Field(default_factory=WorktreeRules,
                                    description="Ticket worktrees and finalization.")
    stage5_evidence: Literal["verified", "report"] = Field(
        default="verified",
        description="What the Stage 5 gate trusts. `verified`: the report's claims must be backed by "
                    "training evidence that `ftgate evidence verify` accepts (runs made with `ftgate train`). "
                    "`report`: the hand-written training-validation-report.md alone, for teams whose "
                    "training runs elsewhere.",
    )

    @cached_property
    def matcher(self) -> SourceMatcher:
        return SourceMatcher(compile_patterns(self.source.include, "source.include"),
                             compile_patterns(self.source.exclude, "source.exclude"))

    def is_source(self, path: str) -> bool:
        """Whether a change to ``path`` (repository-relative, ``/``-separated)
        needs the governing ticket at Stage 4 Unlocked."""
        return self.matcher.is_source(path)


# pathspec ends a pattern that may name a folder with this: the name itself,
# or anything below it.
_FOLDER_TAIL = "(?:(?P<ps_d>/)|$)"


def _files_only(pattern: str, regex: str) -> str:
    """A glob in the last part of a pattern names files: `*.md` must not turn
    a folder named `notes.md/` and the code inside it into documentation."""
    last = pattern.rstrip().rsplit("/", 1)[-1]
    if pattern.rstrip().endswith("/") or not any(ch in last for ch in "*?[") or not regex.endswith(_FOLDER_TAIL):
        return regex
    return regex[: -len(_FOLDER_TAIL)] + "$"


def compile_patterns(patterns: list[str], key: str) -> CompiledList:
    from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

    out: list[tuple[str, bool]] = []
    for index, pattern in enumerate(patterns):
        try:
            regex, positive = GitIgnoreSpecPattern.pattern_to_regex(pattern)
        except Exception as exc:  # noqa: BLE001 - pathspec raises several types for bad patterns
            raise FtgateError(f"{CONFIG_FILE}: {key}[{index}] {pattern!r} is not a valid pattern ({exc})",
                              hint="use gitignore syntax, e.g. `*.md`, `docs/`, `/build`") from None
        if regex is not None:
            out.append((_files_only(pattern, regex), bool(positive)))
    return tuple(out)


# ------------------------------------------------------------------ loading


def _key_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """Where each key sits in the YAML (1-based lines), so errors can point."""
    import yaml

    lines: dict[tuple[str | int, ...], int] = {}

    def walk(node: Any, prefix: tuple[str | int, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                path = prefix + (str(key.value),)
                lines[path] = key.start_mark.line + 1
                walk(value, path)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines[prefix + (index,)] = item.start_mark.line + 1
                walk(item, prefix + (index,))

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, ())
    return lines


_FIELDS: dict[tuple[str | int, ...], tuple[str, ...]] = {
    (): tuple(Config.model_fields),
    ("source",): tuple(SourceRules.model_fields),
    ("worktree",): tuple(WorktreeRules.model_fields),
}


def _refuse_aliases(text: str, label: str) -> None:
    """Refuse anchors and aliases before anything is built from the text.

    ``ftgate.yaml`` is read inside the server hook from a pusher's commit: a
    self-referencing alias made the loader recurse until it crashed, and a
    few hundred bytes of nested aliases expand to gigabytes. The policy never
    needs them, so the token stream (linear, nothing constructed) is checked
    first, together with a size cap."""
    import yaml

    if len(text) > CONFIG_FILE_MAX_BYTES:
        raise FtgateError(f"{label}: the file is {len(text)} characters long, more than ftgate reads "
                          f"({CONFIG_FILE_MAX_BYTES})", hint="a policy file is a few lines; remove what is not policy")
    depth = 0
    opening = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken,
               yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken)
    closing = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        if isinstance(token, opening):
            depth += 1
            if depth > MAX_NESTING:
                # The loader recurses once per level: deep nesting is a crash, not a policy.
                raise FtgateError(f"{label}:{token.start_mark.line + 1}: nested more than {MAX_NESTING} levels deep",
                                  hint="a policy file is a few flat keys; `ftgate config schema` shows them")
        elif isinstance(token, closing):
            depth -= 1
        elif isinstance(token, (yaml.AnchorToken, yaml.AliasToken)):
            kind = "an anchor" if isinstance(token, yaml.AnchorToken) else "an alias"
            raise FtgateError(f"{label}:{token.start_mark.line + 1}: YAML anchors and aliases (`&name`, `*name`) "
                              f"are not accepted here; found {kind} `{token.value}`",
                              hint="write the value out in full where it is used")


def parse_config(text: str, label: str = CONFIG_FILE) -> Config:
    """Validate the text of an ``ftgate.yaml``. Raises :class:`FtgateError`
    naming the key and line, with a suggestion for a misspelt key."""
    import yaml

    try:
        _refuse_aliases(text, label)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{label}:{mark.line + 1}" if mark is not None else label
        problem = getattr(exc, "problem", None) or str(exc)
        raise FtgateError(f"{where}: not valid YAML ({problem})",
                          hint="fix the syntax; `ftgate config schema` prints what the file may hold") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FtgateError(f"{label}:1: the file must be a mapping of keys ("
                          f"{', '.join(Config.model_fields)}), not a {type(data).__name__}")
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        lines = _key_lines(text)
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        line = lines.get(loc) or lines.get(loc[:-1])
        where = f"{label}:{line}" if line else label
        key = ".".join(str(p) for p in loc) or "(top level)"
        if error["type"] == "extra_forbidden":
            known = _FIELDS.get(loc[:-1], ())
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            hint = f"did you mean `{close[0]}`?" if close else f"known keys here: {', '.join(known)}"
            raise FtgateError(f"{where}: unknown key `{key}`", hint=hint) from None
        raise FtgateError(f"{where}: `{key}`: {error['msg']}",
                          hint="`ftgate config schema` prints what each key accepts") from None
    # Compile now so a bad pattern is reported when the file is read.
    _ = config.matcher
    return config


def load_config(repo_root: Path) -> Config:
    """The config of a checkout (its ``ftgate.yaml`` on disk), or the
    defaults when there is none."""
    path = Path(repo_root) / CONFIG_FILE
    if not path.is_file():
        return Config()
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FtgateError(f"{CONFIG_FILE}: not UTF-8 text (byte {exc.start})") from None
    return parse_config(text, CONFIG_FILE)


def json_schema() -> str:
    return json.dumps(Config.model_json_schema(), indent=2)


def compile_policy(data: bytes | None, label: str = CONFIG_FILE) -> dict[str, Any]:
    """The plain data the hooks need from a config (or its error), for the
    cache. ``data`` None means no ``ftgate.yaml``: the defaults."""
    try:
        if data is None:
            config = Config()
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FtgateError(f"{label}: not UTF-8 text (byte {exc.start})") from None
            config = parse_config(text, label)
    except FtgateError as err:
        return {"ok": False, "error": err.message, "hint": err.hint}
    return {"ok": True, "matcher": config.matcher.to_json(), "untracked_source": config.untracked_source,
            "ticket": config.ticket, "stage5_evidence": config.stage5_evidence}
