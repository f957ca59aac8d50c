"""From the main checkout, `ftgate status` and `ftgate ticket list` see the
tickets of every linked worktree and, with --remote, a teammate's pushed
origin/codex/* ticket: in a repository with history, real worktrees and a
real bare server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.adoption import Repo
from tests.support.tickets import put_ticket


@pytest.fixture
def team(tmp_path: Path, project: Repo) -> Repo:
    server = tmp_path / "server.git"
    project.git("clone", "-q", "--bare", str(project.path), str(server), cwd=tmp_path)
    project.git("remote", "add", "origin", str(server))
    project.git("fetch", "-q", "origin")
    # Two tickets in worktrees of their own; the main checkout moves on without them.
    project.git("rm", "-q", "-r", "tickets")
    project.commit("Archive nothing, just clear the board")
    project.git("push", "-q", "origin", "main")
    for name, stage in (("alpha", 2), ("beta", 4)):
        where = tmp_path / f"wt-{name}"
        project.git("worktree", "add", "-q", "-b", f"codex/{name}", str(where))
        put_ticket(Repo(where, project.env), name, stage)  # type: ignore[arg-type]
        project.commit(f"Ticket {name}", cwd=where)
    # A teammate pushes codex/gamma from a clone of their own.
    mate = Repo(tmp_path / "mate", project.env)
    project.git("clone", "-q", str(server), str(mate.path), cwd=tmp_path)
    mate.git("checkout", "-q", "-b", "codex/gamma")
    put_ticket(mate, "gamma", 1)  # type: ignore[arg-type]
    mate.commit("Ticket gamma")
    mate.git("push", "-q", "origin", "codex/gamma")
    project.git("fetch", "-q", "origin")
    return project


def test_status_from_main_lists_worktree_tickets(team: Repo) -> None:
    shown = team.ftgate("status")
    assert shown.returncode == 0, shown.stderr
    assert "alpha: Stage 2" in shown.stdout and "beta: Stage 4" in shown.stdout, shown.stdout
    assert "gamma" not in shown.stdout
    with_remote = team.ftgate("status", "--remote")
    assert "gamma: Stage 1" in with_remote.stdout and "origin/codex/gamma" in with_remote.stdout, with_remote.stdout


def test_status_of_a_ticket_in_another_worktree(team: Repo) -> None:
    shown = team.ftgate("status", "beta")
    assert shown.returncode == 0, shown.stderr
    assert "stage       4 Implementation" in shown.stdout, shown.stdout
    assert "alpha: Stage 2" in shown.stdout  # the other tickets follow
    remote_only = team.ftgate("status", "gamma", "--remote", "--json")
    assert remote_only.returncode == 0, remote_only.stderr
    found = json.loads(remote_only.stdout)["tickets"][0]
    assert (found["branch"], found["source"], found["stage"]) == ("codex/gamma", "remote", 1)


def test_ticket_list_everywhere(team: Repo) -> None:
    rows = json.loads(team.ftgate("ticket", "list", "--json").stdout)
    assert {r["ticket"]: r["stage"] for r in rows} == {"alpha": 2, "beta": 4}
    rows = json.loads(team.ftgate("ticket", "list", "--json", "--remote").stdout)
    assert {r["ticket"]: (r["stage"], r["source"]) for r in rows} == {
        "alpha": (2, "worktree"), "beta": (4, "worktree"), "gamma": (1, "remote")}
    text = team.ftgate("ticket", "list", cwd=team.path / "data").stdout
    assert "alpha: Stage 2" in text and "codex/alpha" in text
