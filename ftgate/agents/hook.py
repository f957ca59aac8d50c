"""``ftgate agent hook``: answer one ``PreToolUse`` payload.

The answer follows the caller's protocol:

* a refusal as JSON on stdout, exit 0:
  ``{"hookSpecificOutput": {"hookEventName": "PreToolUse",
  "permissionDecision": "deny", "permissionDecisionReason": "..."}}``
  (Claude Code's form, which Codex reads too);
* or, for a client that reads only exit codes, exit 2 with the reason on
  stderr (both clients treat that as a block and hand stderr to the model).

A call ftgate has no objection to gets no output and exit 0: no decision,
so the agent's own permission prompts still apply. ftgate never answers
``allow``, which would skip them.

Everything that goes wrong fails closed: a payload that is not JSON, a git
error, an unreadable state or a bug in ftgate refuses the call with one
line that says why, never a traceback. Each decision is appended to
``ftgate-agent.log`` in the git dir.

stdlib only: agents call this on every tool use.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ftgate.agents.outcome import Outcome
from ftgate.agents.payload import CLAUDE, CODEX, DIALECTS, PayloadError, ToolCall, parse

TYPE_CHECKING = False  # typing costs the hook milliseconds at import
if TYPE_CHECKING:
    from typing import TextIO

JSON = "json"
EXIT_CODE = "exit-code"
ANSWERS = (JSON, EXIT_CODE)
#: How each client is answered unless ``--answer`` says otherwise. Codex
#: builds before JSON decisions existed block on exit 2, and so do the
#: current ones, so exit 2 is the form every Codex understands.
DEFAULT_ANSWER = {CLAUDE: JSON, CODEX: EXIT_CODE}
LOG_NAME = "ftgate-agent.log"
USAGE = "usage: ftgate agent hook [--for claude|codex] [--answer json|exit-code]"


def parse_args(argv: Sequence[str]) -> tuple[str | None, str | None] | str:
    """``(dialect, answer)`` or an error message."""
    dialect = answer = None
    args = list(argv)
    while args:
        arg = args.pop(0)
        key, eq, value = arg.partition("=")
        if key in ("--for", "--answer"):
            if not eq:
                if not args:
                    return f"{key} needs a value"
                value = args.pop(0)
            if key == "--for":
                if value not in DIALECTS:
                    return f"--for must be one of {', '.join(DIALECTS)}, not {value!r}"
                dialect = value
            else:
                if value not in ANSWERS:
                    return f"--answer must be one of {', '.join(ANSWERS)}, not {value!r}"
                answer = value
        else:
            return f"unknown argument {arg!r}"
    return dialect, answer


def main(argv: Sequence[str] = (), *, stdin: TextIO | None = None, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parsed = parse_args(argv)
    if isinstance(parsed, str):
        # A hook entry ftgate can not read is itself a fault: refuse.
        print(f"ftgate agent hook: {parsed}\n{USAGE}", file=stderr)
        return 2
    dialect, answer = parsed
    call: ToolCall | None = None
    checkout = None
    try:
        text = stdin.read()
        call = parse(text, dialect)
        dialect = call.dialect
        shell_risk = call.shell is not None and bool(call.shell.unparsed or call.shell.mode_changes)
        if not call.writes and not call.tamper and not shell_risk:
            outcome = Outcome(False)
        else:
            from ftgate.agents.gate import find_checkout, judge

            checkout = find_checkout(call.cwd)
            if checkout is None:
                # Nothing here is under git, so there is no ticket to protect.
                outcome = Outcome(False, paths=[w.path for w in call.writes])
            else:
                outcome = judge(call, checkout)
    except PayloadError as err:
        outcome = _failed(f"ftgate refused this tool call: {err}. Fix: the agent should send the hook "
                          "payload unchanged; see `ftgate agent hook --help`.", "bad-payload")
    except Exception as exc:
        if os.environ.get("FTGATE_DEBUG"):
            raise
        outcome = _failed(f"ftgate refused this tool call: it could not judge it ({_describe(exc)}). "
                          "Fix: run `ftgate doctor` in the repository, or rerun with FTGATE_DEBUG=1 "
                          "for the traceback and report it.", "internal-error")
    _log(call, checkout, dialect, outcome)
    if not outcome.deny:
        return 0
    form = answer or DEFAULT_ANSWER.get(dialect or "", EXIT_CODE)
    if call is None and answer is None and dialect is None:
        form = EXIT_CODE  # the client is unknown: the one form both understand
    if form == JSON:
        stdout.write(json.dumps({"hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": outcome.reason,
        }}) + "\n")
        return 0
    stderr.write(outcome.reason + "\n")
    return 2


def _failed(reason: str, rule: str) -> Outcome:
    return Outcome(True, reason, rules=[rule])


def _describe(exc: BaseException) -> str:
    from ftgate.git.plumbing import GitError

    if isinstance(exc, GitError):
        return f"git failed: {str(exc).strip().splitlines()[0] if str(exc).strip() else 'no message'}"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    return f"{type(exc).__name__}: {exc}"


def _log(call: ToolCall | None, checkout: object, dialect: str | None, outcome: Outcome) -> None:
    """One JSON line per decision in the git dir; a log that can not be
    written never changes the answer."""
    try:
        from ftgate.gitdir import git_dirs

        common = getattr(checkout, "common_dir", None)
        if common is None:
            common = git_dirs(call.cwd if call else None, use_env=False)[1]
        if common is None:
            return
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "agent": dialect,
            "tool": call.tool if call else None,
            "decision": "deny" if outcome.deny else "none",
            "rules": outcome.rules,
            "paths": outcome.paths,
            "reason": outcome.reason,
        }
        with open(Path(common) / LOG_NAME, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
    except (OSError, ValueError):
        pass
