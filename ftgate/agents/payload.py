"""Read one ``PreToolUse`` payload: which agent sent it and what it would write.

Recorded shapes (both clients send one JSON object on stdin, snake_case):

* Claude Code: ``session_id``, ``transcript_path``, ``cwd``,
  ``permission_mode``, ``hook_event_name`` ("PreToolUse"), ``tool_name``,
  ``tool_input``, ``tool_use_id``. ``Write``/``Edit``/``MultiEdit`` carry
  ``tool_input.file_path`` (absolute), ``NotebookEdit`` carries
  ``tool_input.notebook_path``, ``Bash`` carries ``tool_input.command``.
* Codex CLI: the same common fields plus ``turn_id`` and ``model``;
  ``tool_name`` is ``Bash`` (older builds: ``shell``, ``local_shell``,
  ``exec_command``, whose ``command`` may be an argv list such as
  ``["bash", "-lc", "..."]``) or ``apply_patch``, whose patch envelope is in
  ``tool_input.command``.

stdlib only: this runs on every tool call.
"""

from __future__ import annotations

import json
import os

from ftgate.records import field, record

TYPE_CHECKING = False  # typing costs milliseconds on this path
if TYPE_CHECKING:
    from ftgate.agents.patch import PatchedFile
    from ftgate.agents.shell import ShellAnalysis, Tamper

CLAUDE = "claude"
CODEX = "codex"
DIALECTS = (CLAUDE, CODEX)

_FILE_TOOLS = {"Write": "file_path", "Edit": "file_path", "MultiEdit": "file_path", "NotebookEdit": "notebook_path"}
_SHELL_TOOLS = {"Bash", "shell", "local_shell", "exec_command", "shell_command", "container.exec", "unified_exec"}
_PATCH_TOOLS = {"apply_patch", "applypatch"}
_CODEX_ONLY_TOOLS = _PATCH_TOOLS | (_SHELL_TOOLS - {"Bash"})


class PayloadError(Exception):
    """The payload can not be judged: the message says what is wrong with it."""


@record(slots=True)
class TextEdit:
    """What a ``Write``, ``Edit`` or ``MultiEdit`` call will make of its file:
    the whole new content, or (old, new, replace_all) replacements applied to
    the file as it is. Kept so that a ticket file whose content matters to a
    rule (requirements.md's success criteria) can be judged before the write."""

    content: str | None = None
    edits: list[tuple[str, str, bool]] = field(default_factory=list)

    def apply(self, current: str | None) -> str | None:
        """The file's text after the call; None when it cannot be told."""
        if self.content is not None:
            return self.content
        if current is None:
            return None
        text = current
        for old, new, every in self.edits:
            if not old or old not in text:
                return current  # the tool refuses an edit it cannot place, and writes nothing
            text = text.replace(old, new) if every else text.replace(old, new, 1)
        return text


def _text_edit(tool: str, tool_input: dict[str, object]) -> TextEdit | None:
    if tool == "Write":
        content = tool_input.get("content")
        return TextEdit(content) if isinstance(content, str) else None
    raw = tool_input.get("edits") if tool == "MultiEdit" else [tool_input]
    if not isinstance(raw, list):
        return None
    edits = []
    for one in raw:
        if not isinstance(one, dict):
            return None
        old, new, every = one.get("old_string"), one.get("new_string"), one.get("replace_all", False)
        if not isinstance(old, str) or not isinstance(new, str) or not isinstance(every, bool):
            return None
        edits.append((old, new, every))
    return TextEdit(None, edits)


@record(slots=True)
class ToolCall:
    dialect: str
    tool: str
    cwd: str
    event: str = "PreToolUse"
    writes: list[PatchedFile] = field(default_factory=list)
    shell: ShellAnalysis | None = None
    # Write/Edit/MultiEdit: what the one file it writes will hold.
    text: TextEdit | None = None

    @property
    def tamper(self) -> list[Tamper]:
        return self.shell.tamper if self.shell else []


def detect_dialect(data: dict[str, object]) -> str:
    """Codex sends ``turn_id`` and names its own tools; Claude Code does
    neither."""
    if "turn_id" in data or str(data.get("tool_name", "")) in _CODEX_ONLY_TOOLS:
        return CODEX
    return CLAUDE


def parse(text: str, dialect: str | None = None) -> ToolCall:
    try:
        data = json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        col = getattr(exc, "colno", None)
        where = f" (line {line}, column {col})" if line else ""
        raise PayloadError(f"the hook payload on stdin is not valid JSON{where}: "
                           f"{getattr(exc, 'msg', exc)}") from None
    if not isinstance(data, dict):
        raise PayloadError("the hook payload on stdin is not a JSON object")
    dialect = dialect or detect_dialect(data)
    tool = data.get("tool_name")
    if not isinstance(tool, str) or not tool:
        raise PayloadError("the hook payload has no `tool_name` string")
    tool_input = data.get("tool_input")
    if tool_input is None:
        tool_input = {}
    if not isinstance(tool_input, dict):
        raise PayloadError(f"`tool_input` of the {tool} call is not a JSON object")
    cwd = data.get("cwd")
    if cwd is not None and not isinstance(cwd, str):
        raise PayloadError("`cwd` in the hook payload is not a string")
    event = data.get("hook_event_name")
    call = ToolCall(dialect, tool, cwd or os.getcwd(), event if isinstance(event, str) else "PreToolUse")

    if tool in _FILE_TOOLS:
        key = _FILE_TOOLS[tool]
        path = tool_input.get(key) or tool_input.get("file_path")
        if not isinstance(path, str) or not path:
            raise PayloadError(f"the {tool} call has no `tool_input.{key}`, so what it writes is unknown")
        from ftgate.agents.patch import PatchedFile

        call.writes.append(PatchedFile("M", path))
        if tool != "NotebookEdit":
            call.text = _text_edit(tool, tool_input)
    elif tool in _PATCH_TOOLS:
        from ftgate.agents.patch import looks_like_patch, patched_files

        body = _text_of(tool_input, ("command", "input", "patch"))
        if body is None or not looks_like_patch(body):
            raise PayloadError(f"the {tool} call carries no `*** Begin Patch` envelope, so what it writes is unknown")
        call.writes += patched_files(body)
    elif tool in _SHELL_TOOLS:
        from ftgate.agents.shell import analyse

        command = tool_input.get("command", tool_input.get("cmd"))
        if isinstance(command, list) and all(isinstance(w, str) for w in command):
            call.shell = analyse(list(command))
        elif isinstance(command, str):
            call.shell = analyse(command)
        else:
            raise PayloadError(f"the {tool} call has no `tool_input.command` string or list")
        call.writes += call.shell.writes
    return call


def _text_of(tool_input: dict[str, object], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = tool_input.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return "\n".join(value)  # ["apply_patch", "*** Begin Patch ..."]
    return None
