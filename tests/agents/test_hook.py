"""`ftgate agent hook` through the real CLI, in real git repositories with a
real ticket: each row is one recorded payload shape and the answer it must
get (deny with words its reason must hold, or no decision)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ftgate.workflow.model import Permission
from tests.support.agents import answer, build_repo, claude, codex, run_hook

NEXT_STAGE2 = "Stage 2: finish requirements.md, then `ftgate advance t`"
LOCKED = ["ticket 't'", "Stage 2", "Locked", NEXT_STAGE2]


def patch(*lines: str) -> str:
    return "\n".join(["*** Begin Patch", *lines, "*** End Patch"]) + "\n"


# (id, dialect, tool, tool_input (paths relative; "{root}" is the repository),
#  expected decision, words the reason must hold)
LOCKED_CASES = [
    # Claude Code file tools
    ("write-source", "claude", "Write", {"file_path": "{root}/train.py", "content": "x"}, "deny",
     [*LOCKED, "modified train.py"]),
    ("write-new-source", "claude", "Write", {"file_path": "{root}/src/new.py", "content": "x"}, "deny",
     ["added src/new.py"]),
    ("edit-source", "claude", "Edit", {"file_path": "{root}/src/model.py", "old_string": "1", "new_string": "2"},
     "deny", LOCKED),
    ("multiedit-source", "claude", "MultiEdit",
     {"file_path": "{root}/src/model.py", "edits": [{"old_string": "1", "new_string": "2"}]}, "deny", LOCKED),
    ("notebook-source", "claude", "NotebookEdit",
     {"notebook_path": "{root}/notebooks/explore.ipynb", "new_source": "1", "edit_mode": "replace"}, "deny",
     ["notebooks/explore.ipynb"]),
    ("write-ticket-file", "claude", "Write",
     {"file_path": "{root}/tickets/in-progress/t/requirements.md", "content": "x"}, "none", []),
    ("edit-state-file", "claude", "Edit",
     {"file_path": "{root}/tickets/in-progress/t/workflow-state.md", "old_string": "a", "new_string": "b"},
     "none", []),
    ("write-docs", "claude", "Write", {"file_path": "{root}/docs/guide.md", "content": "x"}, "none", []),
    ("read-source", "claude", "Read", {"file_path": "{root}/train.py"}, "none", []),
    ("write-outside", "claude", "Write", {"file_path": "/tmp/ftgate-agent-scratch.txt", "content": "x"},
     "none", []),
    ("write-config", "claude", "Write", {"file_path": "{root}/ftgate.yaml", "content": "x"}, "deny",
     ["ftgate.yaml", "policy"]),
    ("write-claude-settings", "claude", "Edit",
     {"file_path": "{root}/.claude/settings.json", "old_string": "a", "new_string": "b"}, "deny",
     [".claude/settings.json", "hook settings"]),
    ("write-git-hook", "claude", "Write", {"file_path": "{root}/.git/hooks/pre-commit", "content": "exit 0"},
     "deny", ["hooks folder"]),
    # Codex apply_patch envelopes
    ("patch-multi-file", "codex", "apply_patch",
     {"command": patch("*** Add File: tickets/in-progress/t/notes.md", "+notes",
                       "*** Update File: train.py", "@@", "-print('train')", "+print('x')")},
     "deny", [*LOCKED, "Refused: modified train.py."]),
    ("patch-ticket-only", "codex", "apply_patch",
     {"command": patch("*** Add File: tickets/in-progress/t/notes.md", "+notes",
                       "*** Update File: tickets/in-progress/t/requirements.md", "@@", "-a", "+b")}, "none", []),
    ("patch-rename-into-source", "codex", "apply_patch",
     {"command": patch("*** Update File: tickets/in-progress/t/requirements.md",
                       "*** Move to: src/requirements.py", "@@", "-a", "+b")}, "deny",
     ["renamed tickets/in-progress/t/requirements.md -> src/requirements.py"]),
    ("patch-rename-out-of-source", "codex", "apply_patch",
     {"command": patch("*** Update File: src/model.py", "*** Move to: tickets/in-progress/t/model.md",
                       "@@", "-x", "+y")}, "deny", ["renamed src/model.py -> tickets/in-progress/t/model.md"]),
    ("patch-delete-source", "codex", "apply_patch", {"command": patch("*** Delete File: train.py")}, "deny",
     ["deleted train.py"]),
    ("patch-indented-headers", "codex", "apply_patch",
     {"command": "  *** Begin Patch\n    *** Update File: src/model.py\n    @@\n    -x\n    +y\n  *** End Patch\n"},
     "deny", ["modified src/model.py"]),
    ("patch-protected", "codex", "apply_patch",
     {"command": patch("*** Update File: .codex/config.toml", "@@", "-a", "+b")}, "deny", [".codex/config.toml"]),
    # Shell: writes of a source path while locked
    ("sh-redirect", "claude", "Bash", {"command": "echo x > train.py"}, "deny", [*LOCKED, "train.py"]),
    ("sh-append", "claude", "Bash", {"command": "printf 'y\\n' >> src/model.py"}, "deny", ["src/model.py"]),
    ("sh-tee", "claude", "Bash", {"command": "cat /etc/hostname | tee -a src/model.py"}, "deny", ["src/model.py"]),
    ("sh-sed-i", "claude", "Bash", {"command": "sed -i 's/1/2/' src/model.py"}, "deny", ["src/model.py"]),
    ("sh-perl-i", "claude", "Bash", {"command": "perl -pi -e 's/1/2/' src/model.py"}, "deny", ["src/model.py"]),
    ("sh-cp", "claude", "Bash", {"command": "cp /etc/hostname train.py"}, "deny", ["train.py"]),
    ("sh-cp-into-folder", "claude", "Bash", {"command": "cp /etc/hostname src"}, "deny", ["added src/hostname"]),
    ("sh-mv", "claude", "Bash", {"command": "mv train.py tickets/in-progress/t/"}, "deny",
     ["renamed train.py -> tickets/in-progress/t/train.py"]),
    ("sh-rm", "claude", "Bash", {"command": "rm -f train.py"}, "deny", ["deleted train.py"]),
    ("sh-git-rm", "claude", "Bash", {"command": "git rm -q train.py"}, "deny", ["deleted train.py"]),
    ("sh-git-mv", "claude", "Bash", {"command": "git mv train.py src/train.py"}, "deny",
     ["renamed train.py -> src/train.py"]),
    ("sh-git-checkout", "claude", "Bash", {"command": "git checkout main -- src/model.py"}, "deny",
     ["src/model.py"]),
    ("sh-git-restore", "claude", "Bash", {"command": "git restore src/model.py"}, "deny", ["src/model.py"]),
    ("sh-apply-patch-heredoc", "codex", "Bash",
     {"command": "apply_patch <<'EOF'\n*** Begin Patch\n*** Update File: src/model.py\n@@\n-x = 1\n+x = 2\n"
                 "*** End Patch\nEOF\n"}, "deny", ["modified src/model.py"]),
    ("sh-argv-list", "codex", "shell", {"command": ["bash", "-lc", "echo x > train.py"]}, "deny", ["train.py"]),
    ("sh-nested-shell", "claude", "Bash", {"command": "cd . && bash -c 'rm src/model.py'"}, "deny",
     ["deleted src/model.py"]),
    ("sh-chain", "claude", "Bash", {"command": "ls; echo ok && touch src/model.py"}, "deny", ["src/model.py"]),
    # Shell: reading or running source, and writes elsewhere
    ("sh-run-python", "claude", "Bash", {"command": "python train.py --epochs 1"}, "none", []),
    ("sh-run-ftgate-train", "claude", "Bash", {"command": "ftgate train configs/x.yaml"}, "none", []),
    ("sh-read-into-tmp", "claude", "Bash", {"command": "cat train.py > /tmp/ftgate-copy.txt 2>&1"}, "none", []),
    ("sh-write-ticket", "claude", "Bash", {"command": "ls src > tickets/in-progress/t/notes.md"}, "none", []),
    ("sh-stderr-null", "claude", "Bash", {"command": "grep -n x src/model.py 2>/dev/null | head"}, "none", []),
    ("sh-output-to-ignored", "claude", "Bash", {"command": "python train.py > outputs/run.txt 2> train.log"},
     "none", []),
    ("sh-ignored-and-source", "claude", "Bash", {"command": "python train.py | tee train.log src/model.py"},
     "deny", ["modified src/model.py"]),
    ("sh-variable-target", "claude", "Bash", {"command": "echo x > \"$TMPDIR/out.txt\""}, "none", []),
    ("sh-commit-heredoc-message", "claude", "Bash",
     {"command": "git commit -m \"$(cat <<'EOF'\nFix -n handling\n\nrm train.py > src/model.py\nEOF\n)\""},
     "none", []),
    ("sh-git-restore-staged", "claude", "Bash", {"command": "git restore --staged src/model.py"}, "none", []),
    ("sh-git-rm-cached", "claude", "Bash", {"command": "git rm --cached src/model.py"}, "none", []),
    ("sh-sed-print", "claude", "Bash", {"command": "sed -n '1,5p' src/model.py"}, "none", []),
    ("sh-commit-message-n", "claude", "Bash", {"command": "git commit -m n"}, "none", []),
    ("sh-heredoc-body-ignored", "claude", "Bash",
     {"command": "cat > tickets/in-progress/t/notes.md <<'EOF'\nrm train.py > src/model.py\nEOF"}, "none", []),
    # Shell: switching enforcement off is refused at any stage
    ("sh-no-verify", "claude", "Bash", {"command": "git commit --no-verify -m wip"}, "deny",
     ["--no-verify", "every stage"]),
    ("sh-commit-n", "claude", "Bash", {"command": "git commit -anm wip"}, "deny", ["--no-verify"]),
    ("sh-push-no-verify", "claude", "Bash", {"command": "git push --no-verify origin HEAD"}, "deny",
     ["--no-verify"]),
    ("sh-hookspath-c", "claude", "Bash", {"command": "git -c core.hooksPath=/dev/null commit -m x"}, "deny",
     ["core.hooksPath"]),
    ("sh-hookspath-config", "claude", "Bash", {"command": "git config core.hooksPath .nohooks"}, "deny",
     ["core.hooksPath"]),
    ("sh-hookspath-read", "claude", "Bash", {"command": "git config --get core.hooksPath"}, "none", []),
    ("sh-rm-hook", "claude", "Bash", {"command": "rm .git/hooks/pre-commit"}, "deny", ["hooks folder"]),
    ("sh-chmod-hook", "claude", "Bash", {"command": "chmod -x .git/hooks/pre-commit"}, "deny", ["hooks folder"]),
    ("sh-chmod-hook-644", "claude", "Bash", {"command": "chmod 644 .git/hooks/pre-push"}, "deny",
     ["hooks folder"]),
    ("sh-chmod-plus-x", "claude", "Bash", {"command": "chmod +x .git/hooks/pre-commit"}, "none", []),
    ("sh-edit-config", "claude", "Bash", {"command": "echo 'untracked_source: allow' >> ftgate.yaml"}, "deny",
     ["ftgate.yaml"]),
    ("sh-edit-agent-settings", "codex", "Bash", {"command": "sed -i 's/ftgate//' .codex/config.toml"}, "deny",
     [".codex/config.toml"]),
    # Shell that shlex cannot split: refused only with a write construct AND a source path
    ("sh-unparsed-write-source", "claude", "Bash", {"command": "echo \"oops > train.py"}, "deny", ["train.py"]),
    ("sh-unparsed-no-write", "claude", "Bash", {"command": "echo \"oops train.py"}, "none", []),
    ("sh-unparsed-no-source", "claude", "Bash", {"command": "echo 'oops > /tmp/ftgate-x.txt"}, "none", []),
]

UNLOCKED_CASES = [
    ("write-source", "claude", "Write", {"file_path": "{root}/train.py", "content": "x"}, "none", []),
    ("patch-multi-file", "codex", "apply_patch",
     {"command": patch("*** Add File: src/new.py", "+x", "*** Update File: train.py", "@@", "-a", "+b",
                       "*** Delete File: src/model.py")}, "none", []),
    ("patch-rename", "codex", "apply_patch",
     {"command": patch("*** Update File: src/model.py", "*** Move to: src/core.py", "@@", "-x", "+y")},
     "none", []),
    ("sh-redirect", "claude", "Bash", {"command": "echo x > train.py"}, "none", []),
    ("sh-sed-i", "codex", "Bash", {"command": "sed -i 's/1/2/' src/model.py"}, "none", []),
    ("sh-unparsed-write-source", "claude", "Bash", {"command": "echo \"oops > train.py"}, "none", []),
    ("sh-no-verify", "claude", "Bash", {"command": "git commit -n -m wip"}, "deny", ["--no-verify"]),
    ("sh-hookspath-c", "codex", "Bash", {"command": "git -c core.hookspath= commit -m x"}, "deny",
     ["core.hooksPath"]),
    ("write-config", "claude", "Write", {"file_path": "{root}/ftgate.yaml", "content": "x"}, "deny",
     ["ftgate.yaml"]),
    ("sh-rm-hook", "codex", "Bash", {"command": "rm -f .git/hooks/pre-push"}, "deny", ["hooks folder"]),
]


def _fill(value: object, root: Path) -> object:
    if isinstance(value, str):
        return value.replace("{root}", str(root))
    if isinstance(value, list):
        return [_fill(v, root) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, root) for k, v in value.items()}
    return value


def _check(repo, case) -> None:
    _, dialect, tool, tool_input, expected, words = case
    make = claude if dialect == "claude" else codex
    proc = run_hook(repo, make(repo, tool, _fill(tool_input, repo.path)))
    decision, reason = answer(proc)
    assert decision == expected, (case[0], proc.stdout, proc.stderr)
    for word in words:
        assert word in reason, (case[0], word, reason)
    # Claude Code is answered in JSON, Codex with exit 2 and stderr.
    if expected == "deny":
        assert proc.returncode == (0 if dialect == "claude" else 2), case[0]


@pytest.fixture(scope="module")
def locked_repo(tmp_path_factory: pytest.TempPathFactory):
    return build_repo(tmp_path_factory.mktemp("locked"), 2)


@pytest.fixture(scope="module")
def unlocked_repo(tmp_path_factory: pytest.TempPathFactory):
    return build_repo(tmp_path_factory.mktemp("unlocked"), 4, unlocked=True)


@pytest.mark.parametrize("case", LOCKED_CASES, ids=[c[0] for c in LOCKED_CASES])
def test_locked_ticket(locked_repo, case) -> None:
    _check(locked_repo, case)


@pytest.mark.parametrize("case", UNLOCKED_CASES, ids=[c[0] for c in UNLOCKED_CASES])
def test_unlocked_ticket(unlocked_repo, case) -> None:
    _check(unlocked_repo, case)


def test_nothing_was_written_by_the_hook(locked_repo) -> None:
    """The hook judges; it never runs the call: the repository is as built."""
    status = locked_repo.out("status", "--porcelain", "--untracked-files=all")
    assert status == "", status


def test_unlock_only_in_working_tree_is_not_enough(tmp_path: Path) -> None:
    repo = build_repo(tmp_path, 4)
    from tests.support.tickets import edit_state

    edit_state(repo, "tickets/in-progress/t", lambda e: e.set_token("codeeditpermission", Permission.UNLOCKED))
    decision, reason = answer(run_hook(repo, claude(repo, "Write", {"file_path": str(repo.path / "train.py")})))
    assert decision == "deny"
    assert "HEAD (the last commit)" in reason and "Stage 4" in reason
    assert "commit the state first" in reason
    # Committed, the same call is no longer refused.
    repo.commit("unlock")
    assert answer(run_hook(repo, claude(repo, "Write", {"file_path": str(repo.path / "train.py")})))[0] == "none"


def test_relocked_in_working_tree_is_refused(tmp_path: Path) -> None:
    """HEAD unlocked, but the working tree already left Stage 4 (an
    uncommitted `ftgate advance`): the agent's own view refuses."""
    repo = build_repo(tmp_path, 4, unlocked=True)
    from ftgate.workflow.model import Stage
    from tests.support.tickets import edit_state

    def leave(editor) -> None:
        editor.set_stage(Stage(5))
        editor.set_token("codeeditpermission", Permission.LOCKED)

    edit_state(repo, "tickets/in-progress/t", leave)
    decision, reason = answer(run_hook(repo, codex(repo, "apply_patch", {"command": patch(
        "*** Update File: train.py", "@@", "-a", "+b")})))
    assert decision == "deny"
    assert "Stage 5" in reason and "in the working tree" in reason and "ftgate reenter t" in reason


def test_no_ticket_branch_names_the_fix(tmp_path: Path) -> None:
    repo = build_repo(tmp_path, 2, branch="feature")
    shutil.rmtree(repo.path / "tickets")
    repo.commit("drop ticket")
    decision, reason = answer(run_hook(repo, claude(repo, "Write", {"file_path": str(repo.path / "train.py")})))
    assert decision == "deny" and "no ticket governs it" in reason and "ftgate ticket new" in reason


# ------------------------------------------------------------------ failing closed


@pytest.mark.parametrize("payload, args, words", [
    ("{not json", (), ["not valid JSON", "line 1, column 2"]),
    ("[1, 2]", (), ["not a JSON object"]),
    ("", (), ["not valid JSON"]),
    (json.dumps({"cwd": "/", "tool_input": {}}), (), ["no `tool_name`"]),
    (json.dumps({"tool_name": "Write", "tool_input": {"content": "x"}}), (), ["no `tool_input.file_path`"]),
    (json.dumps({"tool_name": "apply_patch", "turn_id": "1", "tool_input": {"command": "hello"}}), (),
     ["no `*** Begin Patch` envelope"]),
    (json.dumps({"tool_name": "Bash", "tool_input": {"command": 3}}), (), ["no `tool_input.command`"]),
], ids=["broken", "array", "empty", "no-tool", "write-no-path", "patch-no-envelope", "bash-no-command"])
def test_malformed_payload_is_refused(locked_repo, payload: str, args: tuple[str, ...], words: list[str]) -> None:
    proc = run_hook(locked_repo, payload, *args)
    decision, reason = answer(proc)
    assert decision == "deny"
    for word in words:
        assert word in reason, reason


def test_malformed_json_answered_in_the_named_protocol(locked_repo) -> None:
    proc = run_hook(locked_repo, "{not json", "--for", "claude")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
    proc = run_hook(locked_repo, "{not json", "--for", "codex")
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr


def test_answer_form_can_be_forced(locked_repo) -> None:
    payload = claude(locked_repo, "Write", {"file_path": str(locked_repo.path / "train.py")})
    proc = run_hook(locked_repo, payload, "--answer", "exit-code")
    assert proc.returncode == 2 and NEXT_STAGE2 in proc.stderr and proc.stdout == ""
    proc = run_hook(locked_repo, codex(locked_repo, "Bash", {"command": "rm train.py"}), "--answer", "json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"


def test_unreadable_state_refuses_source_but_not_ticket_files(tmp_path: Path) -> None:
    repo = build_repo(tmp_path, 4, unlocked=True)
    repo.write("tickets/in-progress/t/workflow-state.md", "# Workflow State\n\nnothing to read here\n")
    repo.commit("break the state")
    decision, reason = answer(run_hook(repo, claude(repo, "Write", {"file_path": str(repo.path / "train.py")})))
    assert decision == "deny" and "tickets/in-progress/t/workflow-state.md" in reason and "unreadable" in reason
    ticket_file = str(repo.path / "tickets/in-progress/t/workflow-state.md")
    assert answer(run_hook(repo, claude(repo, "Write", {"file_path": ticket_file})))[0] == "none"


def test_state_that_cannot_be_read_from_disk_is_refused(tmp_path: Path) -> None:
    repo = build_repo(tmp_path, 4, unlocked=True)
    state = repo.path / "tickets/in-progress/t/workflow-state.md"
    state.unlink()
    state.mkdir()  # a folder where the file should be: reading it fails
    decision, reason = answer(run_hook(repo, claude(repo, "Write", {"file_path": str(repo.path / "train.py")})))
    assert decision == "deny" and "cannot be read" in reason


def test_git_failure_fails_closed_without_traceback(tmp_path: Path) -> None:
    repo = build_repo(tmp_path, 4, unlocked=True)
    (repo.path / ".git" / "HEAD").write_text("garbage\n")
    proc = run_hook(repo, claude(repo, "Write", {"file_path": str(repo.path / "train.py")}))
    decision, reason = answer(proc)
    assert decision == "deny" and "could not judge it" in reason and "ftgate doctor" in reason


def test_every_decision_is_logged_in_the_git_dir(tmp_path: Path) -> None:
    repo = build_repo(tmp_path, 2)
    run_hook(repo, claude(repo, "Write", {"file_path": str(repo.path / "train.py")}))
    run_hook(repo, claude(repo, "Read", {"file_path": str(repo.path / "train.py")}))
    run_hook(repo, "{broken")
    lines = [json.loads(line) for line in (repo.path / ".git" / "ftgate-agent.log").read_text().splitlines()]
    assert [e["decision"] for e in lines] == ["deny", "none", "deny"]
    assert lines[0]["tool"] == "Write" and lines[0]["paths"] == ["train.py"] and "source-locked" in lines[0]["rules"]
    assert lines[2]["rules"] == ["bad-payload"]


def test_cwd_in_a_subfolder_resolves_relative_paths(locked_repo) -> None:
    payload = claude(locked_repo, "Bash", {"command": "echo x > model.py"})
    payload["cwd"] = str(locked_repo.path / "src")
    decision, reason = answer(run_hook(locked_repo, payload))
    assert decision == "deny" and "src/model.py" in reason


def test_never_answers_allow(unlocked_repo) -> None:
    """A call ftgate has no objection to gets no decision at all, so the
    agent's own permission prompts still apply."""
    proc = run_hook(unlocked_repo, claude(unlocked_repo, "Write", {"file_path": str(unlocked_repo.path / "train.py")}))
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == ""


def test_hook_path_imports_nothing_heavy(unlocked_repo) -> None:
    """Agents call the hook on every tool use: it goes through the same
    click-free entry as `ftgate check` and, with warm caches, loads neither
    click, pydantic, yaml nor the workflow's tables."""
    import subprocess

    from tests.support.agents import PYTHON

    payload = json.dumps(claude(unlocked_repo, "Write", {"file_path": str(unlocked_repo.path / "train.py")}))
    run_hook(unlocked_repo, payload)  # warm the config and state caches
    proc = subprocess.run([PYTHON, "-X", "importtime", "-m", "ftgate", "agent", "hook"], cwd=unlocked_repo.path,
                          env=unlocked_repo.env, input=payload, capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "ftgate.agents.gate" in proc.stderr, proc.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    for heavy in ("click", "pydantic", "yaml", "pathspec", "git", "dataclasses", "ftgate.workflow.state",
                  "ftgate.cli.main"):
        assert heavy not in imported, heavy


def test_paths_through_a_symlink_are_judged(locked_repo, tmp_path: Path) -> None:
    link = tmp_path / "linked-checkout"
    link.symlink_to(locked_repo.path)
    payload = claude(locked_repo, "Edit", {"file_path": str(link / "src" / "model.py")})
    payload["cwd"] = str(link)
    decision, reason = answer(run_hook(locked_repo, payload))
    assert decision == "deny" and "src/model.py" in reason
