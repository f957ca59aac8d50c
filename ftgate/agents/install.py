"""Write ftgate's hook entries into an agent's project settings, and take
them out again, leaving everything else as it was.

* Claude Code: ``.claude/settings.json``, ``hooks.<Event>`` is a list of
  ``{"matcher": ..., "hooks": [{"type": "command", "command": ...}]}``.
  The JSON is read, merged and written back with its other keys in order.
* Codex: ``.codex/config.toml``, the same shape as TOML arrays of tables
  (``[[hooks.PreToolUse]]`` with ``[[hooks.PreToolUse.hooks]]``). The
  standard library reads TOML but does not write it, and rewriting a file a
  person keeps comments in would lose them, so ftgate appends one marked
  block of its own and removes exactly that block; the result is parsed
  again before it is written, and a file where the block would not fit is
  left alone with a message that shows the block to add by hand.

The hook commands carry no absolute path (``ftgate agent hook --for
claude``): the settings are tracked and shared, so ``ftgate`` is found on
the agent's PATH.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ftgate.errors import FtgateError

CLAUDE_SETTINGS = ".claude/settings.json"
CODEX_CONFIG = ".codex/config.toml"
#: Every command ftgate installs starts with this; uninstall removes only those.
OURS = "ftgate agent "
CLAUDE_EDIT_MATCHER = "Write|Edit|MultiEdit|NotebookEdit|Bash"
CODEX_EDIT_MATCHER = "Bash|apply_patch|shell|local_shell|exec_command|shell_command"
BLOCK_BEGIN = "# >>> ftgate agent hooks (managed by `ftgate agent install --codex`; " \
              "`ftgate agent uninstall --codex` removes them)"
BLOCK_END = "# <<< ftgate agent hooks"


def claude_entries() -> dict[str, list[dict[str, object]]]:
    return {
        "PreToolUse": [{"matcher": CLAUDE_EDIT_MATCHER,
                        "hooks": [{"type": "command", "command": "ftgate agent hook --for claude"}]}],
        "SessionStart": [{"hooks": [{"type": "command",
                                     "command": "ftgate agent context --for claude --event SessionStart"}]}],
        "UserPromptSubmit": [{"hooks": [{"type": "command",
                                         "command": "ftgate agent context --for claude --event UserPromptSubmit"}]}],
    }


def codex_block() -> str:
    return "\n".join([
        BLOCK_BEGIN,
        "[[hooks.PreToolUse]]",
        f'matcher = "{CODEX_EDIT_MATCHER}"',
        "[[hooks.PreToolUse.hooks]]",
        'type = "command"',
        'command = "ftgate agent hook --for codex"',
        "timeout = 30",
        "",
        "[[hooks.SessionStart]]",
        "[[hooks.SessionStart.hooks]]",
        'type = "command"',
        'command = "ftgate agent context --for codex --event SessionStart"',
        "",
        "[[hooks.UserPromptSubmit]]",
        "[[hooks.UserPromptSubmit.hooks]]",
        'type = "command"',
        'command = "ftgate agent context --for codex --event UserPromptSubmit"',
        BLOCK_END,
    ]) + "\n"


def _is_ours(handler: object) -> bool:
    return isinstance(handler, dict) and str(handler.get("command", "")).startswith(OURS)


# ------------------------------------------------------------------ Claude


def _read_json(path: Path, shown: str) -> dict[str, object]:
    if not path.exists():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FtgateError(f"{shown}: cannot be read ({exc})") from None
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FtgateError(f"{shown}: line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg}); "
                          "nothing was changed", hint="fix the file, then run the command again") from None
    if not isinstance(data, dict):
        raise FtgateError(f"{shown}: the top level is not a JSON object; nothing was changed")
    return data


def _hooks_table(data: dict[str, object], shown: str) -> dict[str, object]:
    hooks = data.get("hooks", {})
    if not isinstance(hooks, dict):
        raise FtgateError(f"{shown}: key `hooks` is not an object; nothing was changed",
                          hint="make `hooks` an object of event names, as Claude Code documents it")
    return hooks


def install_claude(root: Path) -> list[str]:
    """Merge ftgate's entries into ``.claude/settings.json``; returns what
    was added (empty when everything was already there)."""
    path = root / CLAUDE_SETTINGS
    data = _read_json(path, CLAUDE_SETTINGS)
    hooks = _hooks_table(data, CLAUDE_SETTINGS)
    added: list[str] = []
    for event, groups in claude_entries().items():
        existing = hooks.get(event, [])
        if not isinstance(existing, list):
            raise FtgateError(f"{CLAUDE_SETTINGS}: key `hooks.{event}` is not a list; nothing was changed")
        present = {h.get("command") for g in existing if isinstance(g, dict)
                   for h in (g.get("hooks") or []) if isinstance(h, dict)}
        for group in groups:
            command = group["hooks"][0]["command"]  # type: ignore[index]
            if command not in present:
                existing.append(group)
                added.append(f"hooks.{event}: {command}")
        hooks[event] = existing
    if added:
        data["hooks"] = hooks
        _write(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return added


def uninstall_claude(root: Path) -> list[str]:
    path = root / CLAUDE_SETTINGS
    if not path.exists():
        return []
    data = _read_json(path, CLAUDE_SETTINGS)
    hooks = _hooks_table(data, CLAUDE_SETTINGS)
    removed: list[str] = []
    for event in list(hooks):
        groups = hooks[event]
        if not isinstance(groups, list):
            continue
        kept_groups = []
        for group in groups:
            handlers = group.get("hooks") if isinstance(group, dict) else None
            if not isinstance(handlers, list):
                kept_groups.append(group)
                continue
            kept = [h for h in handlers if not _is_ours(h)]
            removed += [f"hooks.{event}: {h['command']}" for h in handlers if _is_ours(h)]
            if kept:
                group["hooks"] = kept
                kept_groups.append(group)
            elif not handlers:
                kept_groups.append(group)
        if kept_groups:
            hooks[event] = kept_groups
        else:
            del hooks[event]
    if removed:
        if hooks:
            data["hooks"] = hooks
        else:
            data.pop("hooks", None)
        _write(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return removed


# ------------------------------------------------------------------ Codex


def _parse_toml(text: str, shown: str) -> dict[str, object]:
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FtgateError(f"{shown}: not valid TOML ({exc}); nothing was changed",
                          hint="fix the file, then run the command again") from None


def _codex_has_ours(data: dict[str, object]) -> bool:
    hooks = data.get("hooks")
    if not isinstance(hooks, dict):
        return False
    for groups in hooks.values():
        for group in groups if isinstance(groups, list) else []:
            for handler in (group.get("hooks") or []) if isinstance(group, dict) else []:
                if _is_ours(handler):
                    return True
    return False


def install_codex(root: Path) -> list[str]:
    path = root / CODEX_CONFIG
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise FtgateError(f"{CODEX_CONFIG}: cannot be read ({exc})") from None
    data = _parse_toml(text, CODEX_CONFIG)
    if BLOCK_BEGIN in text or _codex_has_ours(data):
        return []
    separator = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
    new_text = text + separator + codex_block()
    try:
        _parse_toml(new_text, CODEX_CONFIG)
    except FtgateError:
        raise FtgateError(f"{CODEX_CONFIG}: ftgate's hook tables would not fit this file (it defines `hooks` "
                          "in a way an appended [[hooks.PreToolUse]] table would clash with); nothing was changed",
                          hint="add these lines by hand where your hooks are declared:\n" + codex_block()) from None
    _write(path, new_text)
    return [f"{CODEX_CONFIG}: hooks.PreToolUse, hooks.SessionStart, hooks.UserPromptSubmit"]


def uninstall_codex(root: Path) -> list[str]:
    path = root / CODEX_CONFIG
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    start = text.find(BLOCK_BEGIN)
    if start == -1:
        return []
    end = text.find(BLOCK_END, start)
    if end == -1:
        raise FtgateError(f"{CODEX_CONFIG}: ftgate's block starts but its end marker `{BLOCK_END}` is gone; "
                          "nothing was changed", hint="remove ftgate's hook tables by hand")
    stop = end + len(BLOCK_END)
    if text[stop:stop + 1] == "\n":
        stop += 1
    before = text[:start]
    if before.endswith("\n\n"):
        before = before[:-1]
    new_text = before + text[stop:]
    _parse_toml(new_text, CODEX_CONFIG)
    _write(path, new_text)
    return [f"{CODEX_CONFIG}: ftgate's hook block"]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
