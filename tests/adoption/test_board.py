"""``ftgate board`` in a real team set-up: a bare server, my clone with two
ticket worktrees, an archived ticket on main, and a teammate's ticket that
exists only as a pushed ``codex/*`` branch."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from ftgate.workflow.model import GateStatus, Permission, Stage
from ftgate.workflow.state import StateEditor, read_state
from tests.support.adoption import Repo

DAY = 86400


def _set_state(path: Path, stage: int, *, unlocked: bool = False) -> None:
    editor = StateEditor(read_state(path.read_text(), str(path)))
    editor.set_stage(Stage(stage))
    for s in range(stage):
        editor.set_gate(Stage(s), GateStatus.PASS)
    if unlocked:
        editor.set_token("codeeditpermission", Permission.UNLOCKED)
    path.write_text(editor.render())


def _archive(repo: Repo, name: str, days_ago: int) -> None:
    repo.ftgate("ticket", "new", name, "--no-worktree", check=True)
    state = repo.path / "tickets" / "in-progress" / name / "workflow-state.md"
    _set_state(state, 8)
    done = repo.path / "tickets" / "done" / name
    done.parent.mkdir(parents=True, exist_ok=True)
    (repo.path / "tickets" / "in-progress" / name).rename(done)
    stamp = f"@{int(time.time()) - days_ago * DAY} +0000"
    repo.git("add", "-A")
    env = {**repo.env, "GIT_COMMITTER_DATE": stamp, "GIT_AUTHOR_DATE": stamp}
    repo.run("git", "commit", "-q", "--no-verify", "-m", f"Archive {name}", env=env)


@pytest.fixture
def team(tmp_path: Path, env: dict[str, str]) -> dict[str, Repo]:
    seed = Repo(tmp_path / "seed", env)
    seed.path.mkdir()
    seed.git("init", "-q", "-b", "main")
    seed.write("train.py", "print('train')\n")
    seed.commit("Add the trainer")
    _archive(seed, "last-week", days_ago=3)
    _archive(seed, "last-quarter", days_ago=90)
    server = Repo(tmp_path / "server.git", env)
    seed.git("clone", "-q", "--bare", str(seed.path), str(server.path), cwd=tmp_path)

    mate = Repo(tmp_path / "mate", env)
    seed.git("clone", "-q", str(server.path), str(mate.path), cwd=tmp_path)
    mate.ftgate("ticket", "new", "gamma", check=True)
    mate.git("push", "-q", "origin", "codex/gamma")

    me = Repo(tmp_path / "me", env)
    seed.git("clone", "-q", str(server.path), str(me.path), cwd=tmp_path)
    me.ftgate("ticket", "new", "alpha", check=True)
    me.ftgate("ticket", "new", "beta", check=True)
    return {"me": me, "mate": mate, "server": server}


def _worktree(repo: Repo, branch: str) -> Path:
    out = repo.out("worktree", "list", "--porcelain")
    for block in out.split("\n\n"):
        lines = dict(line.split(" ", 1) for line in block.splitlines() if " " in line)
        if lines.get("branch") == f"refs/heads/{branch}":
            return Path(lines["worktree"])
    raise AssertionError(f"no worktree for {branch}:\n{out}")


def _board(repo: Repo, *args: str, cwd: Path | None = None) -> dict:
    proc = repo.ftgate("board", "--json", *args, cwd=cwd)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {row["ticket"]: row for row in json.loads(proc.stdout)["tickets"]}


def test_board_sees_every_worktree_and_the_main_checkout(team: dict[str, Repo]) -> None:
    me = team["me"]
    beta = _worktree(me, "codex/beta")
    _set_state(beta / "tickets" / "in-progress" / "beta" / "workflow-state.md", 4, unlocked=True)
    me.commit("Beta reaches Stage 4 and unlocks", cwd=beta)

    rows = _board(me)
    assert set(rows) == {"alpha", "beta", "last-week"}  # last-quarter is too old to show
    assert rows["alpha"]["stage"] == 0 and rows["alpha"]["permission"] == "Locked"
    assert rows["alpha"]["branch"] == "codex/alpha" and rows["alpha"]["source"] == "worktree"
    assert rows["beta"]["stage"] == 4 and rows["beta"]["permission"] == "Unlocked"
    assert Path(rows["beta"]["where"]).resolve() == beta.resolve()
    assert rows["last-week"]["status"] == "done" and rows["last-week"]["branch"] == "main"
    assert rows["last-week"]["source"] == "checkout"
    assert 3 * DAY - 600 <= rows["last-week"]["age_seconds"] <= 3 * DAY + 600
    assert rows["beta"]["age_seconds"] < 600

    # From inside a ticket worktree the board is the same.
    def steady(board: dict) -> dict:
        return {name: {k: v for k, v in row.items() if k != "age_seconds"} for name, row in board.items()}

    assert steady(_board(me, cwd=_worktree(me, "codex/alpha"))) == steady(rows)
    # A longer window brings the old archive back.
    assert "last-quarter" in _board(me, "--done-days", "120")


def test_remote_shows_a_teammates_pushed_ticket_without_checking_it_out(team: dict[str, Repo]) -> None:
    me, mate = team["me"], team["mate"]
    gamma = _worktree(mate, "codex/gamma")
    _set_state(gamma / "tickets" / "in-progress" / "gamma" / "workflow-state.md", 2)
    mate.commit("Gamma at Stage 2", cwd=gamma)
    mate.git("push", "-q", "--no-verify", "origin", "codex/gamma", cwd=gamma)  # set-up, not under test
    me.git("fetch", "-q", "origin")
    assert "codex/gamma" not in me.out("branch", "--list")

    assert "gamma" not in _board(me)
    rows = _board(me, "--remote")
    assert rows["gamma"]["source"] == "remote"
    assert rows["gamma"]["where"] == "origin/codex/gamma"
    assert rows["gamma"]["branch"] == "codex/gamma"
    assert rows["gamma"]["stage"] == 2
    # Local copies still win for my own tickets, which are not pushed anyway.
    assert rows["alpha"]["source"] == "worktree"


def test_text_and_markdown_show_one_line_per_ticket(team: dict[str, Repo]) -> None:
    me = team["me"]
    text = me.ftgate("board", "--remote")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["TICKET", "STAGE", "PERMISSION", "BRANCH", "AGE", "WHERE"]
    by_ticket = {line.split()[0]: line for line in lines[1:]}
    assert set(by_ticket) == {"alpha", "beta", "gamma", "last-week"}
    assert "0 Bootstrap" in by_ticket["gamma"] and "origin/codex/gamma" in by_ticket["gamma"]
    assert "(done)" in by_ticket["last-week"] and "3d" in by_ticket["last-week"]
    assert " . " not in by_ticket["alpha"] and "codex/alpha" in by_ticket["alpha"]

    md = me.ftgate("board", "--remote", "--markdown")
    assert md.returncode == 0, md.stderr
    table = [line for line in md.stdout.splitlines() if line.startswith("|")]
    assert table[0] == "| Ticket | Stage | Permission | Branch | Age | Where |"
    assert table[1] == "|---|---|---|---|---|---|"
    assert len(table) == 2 + 4
    assert any(row.startswith("| `gamma` | 0 Bootstrap | Locked | `codex/gamma` |") for row in table)


def test_an_unreadable_state_is_named_and_fails_the_board(team: dict[str, Repo]) -> None:
    me = team["me"]
    state = _worktree(me, "codex/alpha") / "tickets" / "in-progress" / "alpha" / "workflow-state.md"
    state.write_text(state.read_text().replace("Current Stage", "Current Stagger"))
    proc = me.ftgate("board")
    assert proc.returncode == 1
    assert "alpha" in proc.stdout and "Current Stage" in proc.stdout
    assert str(state) in proc.stdout


def test_outside_a_repository_is_one_clear_line(tmp_path: Path, env: dict[str, str]) -> None:
    outside = tmp_path / "plain"
    outside.mkdir()
    repo = Repo(outside, {**env, "GIT_CEILING_DIRECTORIES": str(tmp_path)})
    proc = repo.ftgate("board")
    assert proc.returncode == 2
    assert "not inside a git repository" in proc.stderr and "Traceback" not in proc.stderr
    as_json = repo.ftgate("board", "--json")
    assert as_json.returncode == 2
    assert "not inside a git repository" in json.loads(as_json.stdout)["error"]
    assert os.listdir(outside) == []


def test_without_git_on_path_is_one_clear_line(team: dict[str, Repo], tmp_path: Path) -> None:
    me = team["me"]
    empty = tmp_path / "no-git-here"
    empty.mkdir()
    for flags, stream in (((), "stderr"), (("--json",), "stdout")):
        proc = me.run(sys.executable, "-m", "ftgate", "board", *flags, check=False, env={**me.env, "PATH": str(empty)})
        assert proc.returncode == 2
        text = getattr(proc, stream)
        assert "git is not on PATH" in text and "Traceback" not in proc.stderr + proc.stdout
