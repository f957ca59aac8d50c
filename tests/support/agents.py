"""Real repositories and recorded payload shapes for the agent-hook tests.

The payloads are the shapes the clients send on stdin (see
``ftgate.agents.payload``): Claude Code's common fields plus ``tool_name``
and ``tool_input``; Codex's the same plus ``turn_id`` and ``model``, with
``apply_patch`` carrying its envelope in ``tool_input.command`` and the
shell tool carrying a string or an argv list.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.gitrepo import PYTHON, Repo, git_env, init_repo
from tests.support.tickets import put_ticket

__all__ = ["PYTHON", "Repo", "build_repo", "claude", "codex", "run_hook"]


def build_repo(tmp: Path, stage: int, *, unlocked: bool = False, branch: str = "codex/t") -> Repo:
    env = git_env(tmp / "home")
    repo = init_repo(tmp / "repo", env)
    repo.write("train.py", "print('train')\n")
    repo.write("src/model.py", "x = 1\n")
    repo.write("notebooks/explore.ipynb", "{}\n")
    repo.write("docs/guide.md", "# Guide\n")
    repo.write(".gitignore", "outputs/\n*.log\n")
    put_ticket(repo, "t", stage, unlocked=unlocked)
    repo.commit("project and ticket")
    repo.git("checkout", "-q", "-b", branch)
    return repo


def claude(repo: Repo, tool: str, tool_input: dict[str, object]) -> dict[str, object]:
    return {"session_id": "3f1c2a", "transcript_path": str(repo.path.parent / "transcript.jsonl"),
            "cwd": str(repo.path), "permission_mode": "default", "hook_event_name": "PreToolUse",
            "tool_name": tool, "tool_input": tool_input, "tool_use_id": "toolu_01"}


def codex(repo: Repo, tool: str, tool_input: dict[str, object]) -> dict[str, object]:
    return {"session_id": "0198-aa", "turn_id": "turn-7", "transcript_path": None, "cwd": str(repo.path),
            "hook_event_name": "PreToolUse", "model": "gpt-5-codex", "permission_mode": "default",
            "tool_name": tool, "tool_input": tool_input, "tool_use_id": "call_1"}


def run_hook(repo: Repo, payload: object, *args: str) -> subprocess.CompletedProcess[str]:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return subprocess.run([PYTHON, "-m", "ftgate", "agent", "hook", *args], cwd=repo.path, env=repo.env,
                          input=data, capture_output=True, text=True, check=False)


def answer(proc: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    """("deny", reason) or ("none", "") from either answer form; anything
    else (an ``allow``, a traceback, an unknown exit code) fails the test."""
    assert "Traceback" not in proc.stderr, proc.stderr
    if proc.returncode == 2:
        assert proc.stdout == "", proc.stdout
        assert proc.stderr.strip(), "exit 2 without a reason"
        return "deny", proc.stderr
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    if not proc.stdout.strip():
        return "none", ""
    out = json.loads(proc.stdout)
    specific = out["hookSpecificOutput"]
    assert specific["hookEventName"] == "PreToolUse"
    assert specific["permissionDecision"] == "deny", out
    return "deny", specific["permissionDecisionReason"]
