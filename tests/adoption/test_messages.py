"""The unlock loop, broken: `ftgate unlock` ends with the commit to make,
and a commit refused because the unlock is not staged says so and shows the
`git add` to run. In a repository with history and ftgate's real hooks."""

from __future__ import annotations

import shlex

from tests.support.adoption import Repo
from tests.support.tickets import put_ticket


def _repo_at_stage_4(project: Repo) -> str:
    folder = put_ticket(project, "speedup", 4)  # type: ignore[arg-type]  # same write() as the shared Repo
    project.commit("Ticket speedup at Stage 4, locked")
    installed = project.ftgate("install")
    assert installed.returncode == 0, installed.stderr
    return folder


def test_refusal_names_the_unstaged_state_and_the_git_add(project: Repo) -> None:
    folder = _repo_at_stage_4(project)
    unlocked = project.ftgate("unlock", "speedup")
    assert unlocked.returncode == 0, unlocked.stderr
    state = f"{folder}/workflow-state.md"
    assert f"next: git add {state} && git commit -m" in unlocked.stdout, unlocked.stdout

    # The loop of the issue: only the source file is staged.
    project.write("train.py", "print('faster')\n")
    project.git("add", "train.py")
    refused = project.git("commit", "-q", "-m", "Speed up", check=False)
    assert refused.returncode == 1
    assert "differs from the staged one" in refused.stderr, refused.stderr
    assert f"fix: git add {state}" in refused.stderr, refused.stderr

    # `ftgate unlock` again no longer just says "already unlocked".
    again = project.ftgate("unlock", "speedup")
    assert "already unlocked" in again.stdout and f"git add {state}" in again.stdout, again.stdout

    # Doing what the hint says works (through the hook). The unlock is
    # committed on its own (issue 11: never in the same commit as source),
    # then the source in the next commit.
    hint = unlocked.stdout.split("next: ", 1)[1].strip()
    project.git("reset", "-q", "train.py")
    project.run("sh", "-c", hint)
    assert "unlock" in project.out("log", "-1", "--format=%s")
    project.git("add", "train.py")
    assert project.git("commit", "-q", "-m", "Speed up", check=False).returncode == 0
    assert project.out("status", "--porcelain") == ""


def test_a_refusal_without_a_state_difference_says_nothing_about_it(project: Repo) -> None:
    _repo_at_stage_4(project)
    project.write("train.py", "print('faster')\n")
    project.git("add", "train.py")
    refused = project.git("commit", "-q", "-m", "Speed up while locked", check=False)
    assert refused.returncode == 1
    assert "differs from the staged one" not in refused.stderr


def test_advance_ends_with_the_commit_to_make(project: Repo) -> None:
    put_ticket(project, "tidy", 1)  # type: ignore[arg-type]
    project.commit("Ticket tidy at Stage 1")
    sub = project.path / "data"
    advanced = project.ftgate("advance", "tidy", cwd=sub)
    assert advanced.returncode == 0, advanced.stdout + advanced.stderr
    line = next(x for x in advanced.stdout.splitlines() if "next: git add" in x)
    command = line.split("next: ", 1)[1]
    assert "../tickets/in-progress/tidy/workflow-state.md" in shlex.split(command)
    project.run("sh", "-c", command, cwd=sub)
    assert project.out("status", "--porcelain", "--", "tickets") == ""
