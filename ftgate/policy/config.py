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

import json
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ftgate.errors import FtgateError
from ftgate.limits import CONFIG_FILE_MAX_BYTES
from ftgate.policy.paths import CONFIG_FILE, CompiledList, SourceMatcher

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


Transition = Literal["unlock", "done", "waive", "reopen"]


class ApprovalRules(BaseModel):
    """Transitions that need a person's signed approval (off unless present)."""

    model_config = ConfigDict(extra="forbid")

    transitions: list[Transition] = Field(
        default_factory=lambda: list[Transition](["unlock", "done"]), min_length=1,
        description="The transitions that need an approval: unlock, done, waive, reopen.")
    allowed_signers: str = Field(
        default=".ftgate/allowed_signers", min_length=1,
        description="The committed allowed-signers file (git's ssh format) naming who may approve, "
                    "relative to the repository root. Changing it is a policy change.")
    separate: bool = Field(
        default=False,
        description="The approver must not be the author of the source commits the approval covers.")

    @field_validator("allowed_signers")
    @classmethod
    def _inside_repo(cls, value: str) -> str:
        parts = value.split("/")
        if value.startswith("/") or "\\" in value or any(p in ("", ".", "..") for p in parts):
            raise ValueError("must be a plain relative path inside the repository, e.g. .ftgate/allowed_signers")
        if parts[0] == "tickets":
            raise ValueError("may not live under tickets/ (ticket folders are never policy)")
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
    evidence_signers: str | None = Field(
        default=None,
        description="An allowed_signers file (git's format, repository-relative) of keys trusted to sign "
                    "training evidence. When set, `ftgate evidence verify`, the Stage 5 gate, the server hook "
                    "and `ftgate ci` refuse evidence that is unsigned or signed by a key not listed.",
    )
    evidence_signing_key: str | None = Field(
        default=None,
        description="The SSH key `ftgate train` signs evidence with (a private key file, or its .pub with the "
                    "key in ssh-agent); `~` is expanded. FTGATE_EVIDENCE_SIGNING_KEY overrides it, which is "
                    "how a CI runner supplies its own key.",
    )

    approvals: ApprovalRules | None = Field(
        default=None,
        description="Signed human approvals for chosen transitions (absent: off). "
                    "Squash merges of finished tickets are accepted only with approvals on.")

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


def parse_config(text: str, label: str = CONFIG_FILE) -> Config:
    """Validate the text of an ``ftgate.yaml``. Raises :class:`FtgateError`
    naming the key and line, with a suggestion for a misspelt key."""
    from ftgate.yamlmodel import YamlSyntaxError, parse_yaml, validate

    try:
        data = parse_yaml(text, label, max_chars=CONFIG_FILE_MAX_BYTES)
    except YamlSyntaxError as exc:
        raise FtgateError(exc.message,
                          hint=exc.hint or "fix the syntax; `ftgate config schema` prints what the file may hold"
                          ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FtgateError(f"{label}:1: the file must be a mapping of keys ("
                          f"{', '.join(Config.model_fields)}), not a {type(data).__name__}")
    parsed = validate(Config, data, text)
    if parsed.model is None:
        issue = parsed.issues[0]
        where = f"{label}:{issue.line}" if issue.line else label
        if issue.kind == "extra_forbidden":
            hint = (f"did you mean `{issue.suggestion}`?" if issue.suggestion
                    else f"known keys here: {', '.join(issue.known)}")
            raise FtgateError(f"{where}: unknown key `{issue.key}`", hint=hint) from None
        raise FtgateError(f"{where}: `{issue.key}`: {issue.message}",
                          hint="`ftgate config schema` prints what each key accepts") from None
    config = parsed.model
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
            "ticket": config.ticket, "stage5_evidence": config.stage5_evidence,
            "approvals": config.approvals.model_dump() if config.approvals is not None else None}
