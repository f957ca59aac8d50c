"""`ftgate agent install/uninstall/context` on real settings files, and the
installed hook command run exactly as an agent runs it."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.support.agents import answer, build_repo, claude, codex

CLAUDE_EXISTING = {
    "permissions": {"allow": ["Bash(pytest:*)"], "deny": ["Read(./.env)"]},
    "hooks": {
        "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "scripts/audit.sh"}]}],
        "PostToolUse": [{"matcher": "Write", "hooks": [{"type": "command", "command": "ruff format"}]}],
    },
    "model": "opus",
}

CODEX_EXISTING = """# team settings: keep these comments
model = "gpt-5-codex"
approval_policy = "on-request"

[features]
codex_hooks = true  # older builds need the flag

[[hooks.PreToolUse]]
matcher = "Bash"
[[hooks.PreToolUse.hooks]]
type = "command"
command = "scripts/audit.sh"
"""


@pytest.fixture()
def repo(tmp_path: Path):
    return build_repo(tmp_path, 2)


def _commands(settings: dict, event: str) -> list[str]:
    return [h["command"] for g in settings.get("hooks", {}).get(event, []) for h in g["hooks"]]


def test_claude_install_merges_and_is_idempotent(repo) -> None:
    path = repo.write(".claude/settings.json", json.dumps(CLAUDE_EXISTING, indent=2) + "\n")
    proc = repo.ftgate("agent", "install", "--claude")
    assert proc.returncode == 0, proc.stderr
    assert "added hooks.PreToolUse: ftgate agent hook --for claude" in proc.stdout
    settings = json.loads(path.read_text())
    assert settings["permissions"] == CLAUDE_EXISTING["permissions"] and settings["model"] == "opus"
    assert _commands(settings, "PreToolUse") == ["scripts/audit.sh", "ftgate agent hook --for claude"]
    assert _commands(settings, "PostToolUse") == ["ruff format"]
    assert _commands(settings, "SessionStart") == ["ftgate agent context --for claude --event SessionStart"]
    assert _commands(settings, "UserPromptSubmit") == [
        "ftgate agent context --for claude --event UserPromptSubmit"]
    # The tracked settings name no machine path: `ftgate` comes from PATH.
    assert str(repo.path) not in path.read_text() and "/bin/" not in path.read_text()

    before = path.read_bytes()
    again = repo.ftgate("agent", "install", "--claude")
    assert again.returncode == 0 and "already installed" in again.stdout
    assert path.read_bytes() == before

    gone = repo.ftgate("agent", "uninstall", "--claude")
    assert gone.returncode == 0 and "removed hooks.PreToolUse" in gone.stdout
    assert json.loads(path.read_text()) == CLAUDE_EXISTING


def test_claude_install_creates_the_file(repo) -> None:
    assert repo.ftgate("agent", "install", "--claude").returncode == 0
    settings = json.loads((repo.path / ".claude/settings.json").read_text())
    assert settings["hooks"]["PreToolUse"][0]["matcher"] == "Write|Edit|MultiEdit|NotebookEdit|Bash"
    assert repo.ftgate("agent", "uninstall").returncode == 0
    assert json.loads((repo.path / ".claude/settings.json").read_text()) == {}


def test_claude_install_refuses_broken_json_and_changes_nothing(repo) -> None:
    path = repo.write(".claude/settings.json", '{\n  "hooks": {\n    "PreToolUse": [,]\n  }\n}\n')
    before = path.read_bytes()
    proc = repo.ftgate("agent", "install", "--claude")
    assert proc.returncode == 2
    assert ".claude/settings.json: line 3, column" in proc.stderr and "nothing was changed" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert path.read_bytes() == before


def test_claude_install_refuses_hooks_of_the_wrong_shape(repo) -> None:
    path = repo.write(".claude/settings.json", '{"hooks": ["x"]}\n')
    proc = repo.ftgate("agent", "install", "--claude")
    assert proc.returncode == 2 and "key `hooks` is not an object" in proc.stderr
    assert path.read_text() == '{"hooks": ["x"]}\n'


def test_codex_install_appends_one_block_and_uninstall_restores_the_text(repo) -> None:
    path = repo.write(".codex/config.toml", CODEX_EXISTING)
    proc = repo.ftgate("agent", "install", "--codex")
    assert proc.returncode == 0, proc.stderr
    text = path.read_text()
    assert text.startswith(CODEX_EXISTING)  # comments and order kept
    config = tomllib.loads(text)
    assert config["model"] == "gpt-5-codex" and config["features"]["codex_hooks"] is True
    assert _commands(config, "PreToolUse") == ["scripts/audit.sh", "ftgate agent hook --for codex"]
    assert _commands(config, "SessionStart") == ["ftgate agent context --for codex --event SessionStart"]
    assert "apply_patch" in config["hooks"]["PreToolUse"][1]["matcher"]

    assert repo.ftgate("agent", "install", "--codex").returncode == 0
    assert path.read_text() == text  # idempotent

    assert repo.ftgate("agent", "uninstall", "--codex").returncode == 0
    assert path.read_text() == CODEX_EXISTING


def test_codex_install_refuses_a_file_the_block_would_clash_with(repo) -> None:
    original = 'model = "o3"\n\n[hooks]\nPreToolUse = []\n'
    path = repo.write(".codex/config.toml", original)
    proc = repo.ftgate("agent", "install", "--codex")
    assert proc.returncode == 2 and "would not fit" in proc.stderr and "[[hooks.PreToolUse]]" in proc.stderr
    assert path.read_text() == original


def test_codex_install_refuses_invalid_toml(repo) -> None:
    path = repo.write(".codex/config.toml", "model = \n")
    proc = repo.ftgate("agent", "install", "--codex")
    assert proc.returncode == 2 and ".codex/config.toml: not valid TOML" in proc.stderr
    assert path.read_text() == "model = \n"


def test_install_needs_a_target(repo) -> None:
    proc = repo.ftgate("agent", "install")
    assert proc.returncode == 2 and "--claude, --codex" in proc.stderr


# ------------------------------------------------------------------ as the agent runs it


def _run_installed(repo, command: str, payload: dict) -> subprocess.CompletedProcess[str]:
    # Agents run the configured string through a shell, in the project
    # folder, with the payload on stdin and their own PATH.
    return subprocess.run(["sh", "-c", command], cwd=repo.path, env=repo.env, input=json.dumps(payload),
                          capture_output=True, text=True, check=False)


def test_installed_claude_hook_runs_as_the_agent_runs_it(repo) -> None:
    assert repo.ftgate("agent", "install", "--claude").returncode == 0
    settings = json.loads((repo.path / ".claude/settings.json").read_text())
    group = next(g for g in settings["hooks"]["PreToolUse"] if g["hooks"][0]["command"].startswith("ftgate"))
    command = group["hooks"][0]["command"]
    assert "Write" in group["matcher"].split("|") and "Bash" in group["matcher"].split("|")
    denied = _run_installed(repo, command, claude(repo, "Write", {"file_path": str(repo.path / "train.py")}))
    decision, reason = answer(denied)
    assert decision == "deny" and "Stage 2: finish requirements.md, then `ftgate advance t`" in reason
    fine = _run_installed(repo, command, claude(repo, "Bash", {"command": "python train.py"}))
    assert answer(fine) == ("none", "")

    start = settings["hooks"]["SessionStart"][0]["hooks"][0]["command"]
    ctx = _run_installed(repo, start, {"hook_event_name": "SessionStart", "source": "startup"})
    assert ctx.returncode == 0, ctx.stderr
    out = json.loads(ctx.stdout)["hookSpecificOutput"]
    assert out["hookEventName"] == "SessionStart" and "Stage 2" in out["additionalContext"]


def test_installed_codex_hook_runs_as_the_agent_runs_it(repo) -> None:
    assert repo.ftgate("agent", "install", "--codex").returncode == 0
    config = tomllib.loads((repo.path / ".codex/config.toml").read_text())
    command = config["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
    patch = "*** Begin Patch\n*** Update File: src/model.py\n@@\n-x = 1\n+x = 2\n*** End Patch\n"
    denied = _run_installed(repo, command, codex(repo, "apply_patch", {"command": patch}))
    assert denied.returncode == 2 and "ticket 't'" in denied.stderr and "Stage 2" in denied.stderr


# ------------------------------------------------------------------ context


def test_context_names_stage_permission_and_what_is_missing(repo) -> None:
    proc = repo.ftgate("agent", "context")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("ftgate: ticket t (tickets/in-progress/t) is at Stage 2")
    assert "code edits Locked" in lines[0]
    assert "To leave Stage 2:" in proc.stdout and "requirements.md" in proc.stdout
    assert lines[-1].startswith("Next: Stage 2: finish requirements.md, then `ftgate advance t`")
    assert len(lines) <= 9


def test_context_json_for_user_prompt_submit(tmp_path: Path) -> None:
    repo = build_repo(tmp_path, 4, unlocked=True)
    proc = repo.ftgate("agent", "context", "--for", "codex", "--event", "UserPromptSubmit")
    out = json.loads(proc.stdout)["hookSpecificOutput"]
    assert out["hookEventName"] == "UserPromptSubmit"
    assert "code edits Unlocked (source may change)" in out["additionalContext"]


def test_context_without_a_ticket_says_what_to_do(tmp_path: Path) -> None:
    repo = build_repo(tmp_path, 2, branch="feature")
    import shutil

    shutil.rmtree(repo.path / "tickets")
    proc = repo.ftgate("agent", "context")
    assert proc.returncode == 0 and "no ticket in progress" in proc.stdout and "ftgate ticket new" in proc.stdout
