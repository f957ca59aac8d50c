"""The GitHub Actions example's range step, run as written against a real
clone of a real server whose branches were force-pushed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.adoption import ROOT, Repo

WORKFLOW = ROOT / "examples" / "github-actions" / "ftgate.yml"
ZERO = "0" * 40


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _range_step() -> dict:
    steps = _workflow()["jobs"]["ftgate"]["steps"]
    return next(s for s in steps if s.get("id") == "range")


def test_triggers_cover_every_branch_pull_requests_and_merge_queues() -> None:
    # PyYAML reads the bare key `on` as True.
    triggers = _workflow()[True]
    assert set(triggers) == {"pull_request", "merge_group", "push"}
    assert triggers["push"] == {"branches": ["**"]}
    text = WORKFLOW.read_text()
    assert "ftgate-workflow" in text
    assert "fetch-depth: 0" in text  # the clone needs history; the messages must not blame it


def test_the_step_reads_every_input_from_env() -> None:
    step = _range_step()
    assert "${{" not in step["run"], "expressions belong in env:, the script must run as written"
    assert set(step["env"]) == {"EVENT", "PR_BASE", "PR_HEAD", "QUEUE_BASE", "QUEUE_HEAD", "BEFORE", "AFTER",
                                "DEFAULT_BRANCH"}


@pytest.fixture
def hosted(tmp_path: Path, project: Repo) -> tuple[Repo, Repo]:
    """A bare server holding the project, and a full clone as actions/checkout makes it."""
    server = Repo(tmp_path / "server.git", project.env)
    project.git("clone", "-q", "--bare", str(project.path), str(server.path), cwd=tmp_path)
    dev = Repo(tmp_path / "dev", project.env)
    project.git("clone", "-q", str(server.path), str(dev.path), cwd=tmp_path)
    return server, dev


def _checkout(tmp_path: Path, server: Repo, name: str = "runner") -> Repo:
    clone = Repo(tmp_path / name, server.env)
    server.git("clone", "-q", str(server.path), str(clone.path), cwd=tmp_path)
    return clone


def _forget_unreachable(server: Repo) -> None:
    server.git("reflog", "expire", "--expire=now", "--all")
    server.git("gc", "-q", "--prune=now")


def run_range(clone: Repo, tmp_path: Path, **inputs: str) -> tuple[dict[str, str], str]:
    step = _range_step()
    output = tmp_path / "github_output"
    output.write_text("")
    env = {**clone.env, **{k: "" for k in step["env"]}, "DEFAULT_BRANCH": "main", **inputs,
           "GITHUB_OUTPUT": str(output)}
    proc = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=clone.path, env=env, check=False, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    values = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return values, proc.stdout + proc.stderr


def _ci(clone: Repo, base: str, head: str) -> subprocess.CompletedProcess[str]:
    return clone.ftgate("ci", "--base", base, "--head", head, "--no-github", "--branch", "codex/house-style")


def test_force_pushed_ticket_branch_falls_back_to_the_merge_base(tmp_path: Path, hosted: tuple[Repo, Repo]) -> None:
    server, dev = hosted
    dev.git("checkout", "-q", "-b", "codex/house-style")
    dev.write("tickets/in-progress/house-style/notes.md", "first try\n")
    dev.commit("First notes")
    dev.git("push", "-q", "origin", "codex/house-style")
    before = dev.out("rev-parse", "HEAD")
    # Rewrite: drop the first try, add a source change at Stage 0 instead.
    dev.git("reset", "-q", "--hard", "main")
    dev.write("tickets/in-progress/house-style/notes.md", "second try\n")
    good = dev.commit("Second notes")
    dev.write("train.py", "print('changed at Stage 0')\n")
    bad = dev.commit("Change the trainer")
    dev.git("push", "-q", "--force", "origin", "codex/house-style")
    _forget_unreachable(server)

    runner = _checkout(tmp_path, server)
    assert runner.git("cat-file", "-e", f"{before}^{{commit}}", check=False).returncode != 0
    values, log = run_range(runner, tmp_path, EVENT="push", BEFORE=before, AFTER=bad)
    main = runner.out("rev-parse", "origin/main")
    assert values == {"base": main, "head": bad}
    assert "force-push" in log and "fetch-depth" not in log
    assert runner.out("rev-list", f"{values['base']}..{values['head']}").split() == [bad, good]
    judged = _ci(runner, values["base"], values["head"])
    assert judged.returncode == 1, judged.stdout + judged.stderr
    assert "train.py" in judged.stdout + judged.stderr


def test_ordinary_push_judges_from_the_previous_tip(tmp_path: Path, hosted: tuple[Repo, Repo]) -> None:
    server, dev = hosted
    dev.git("checkout", "-q", "-b", "codex/house-style")
    dev.write("tickets/in-progress/house-style/notes.md", "notes\n")
    first = dev.commit("Notes")
    dev.git("push", "-q", "origin", "codex/house-style")
    dev.write("tickets/in-progress/house-style/notes.md", "more notes\n")
    second = dev.commit("More notes")
    dev.git("push", "-q", "origin", "codex/house-style")

    runner = _checkout(tmp_path, server)
    values, log = run_range(runner, tmp_path, EVENT="push", BEFORE=first, AFTER=second)
    assert values == {"base": first, "head": second}
    assert "::" not in log
    judged = _ci(runner, values["base"], values["head"])
    assert judged.returncode == 0, judged.stdout + judged.stderr


def test_new_branch_judges_what_it_adds_to_the_default_branch(tmp_path: Path, hosted: tuple[Repo, Repo]) -> None:
    server, dev = hosted
    dev.git("checkout", "-q", "-b", "codex/house-style")
    dev.write("train.py", "print('changed at Stage 0')\n")
    bad = dev.commit("Change the trainer")
    dev.git("push", "-q", "origin", "codex/house-style")

    runner = _checkout(tmp_path, server)
    values, log = run_range(runner, tmp_path, EVENT="push", BEFORE=ZERO, AFTER=bad)
    assert values == {"base": runner.out("rev-parse", "origin/main"), "head": bad}
    assert "a new branch" in log
    assert _ci(runner, values["base"], values["head"]).returncode == 1


def test_force_pushed_default_branch_judges_the_tip_and_says_so(tmp_path: Path, hosted: tuple[Repo, Repo]) -> None:
    server, dev = hosted
    old = dev.out("rev-parse", "HEAD")
    dev.git("reset", "-q", "--hard", "HEAD~1")
    dev.write("README.md", "# A model, rewritten\n")
    new = dev.commit("Rewrite the readme")
    dev.git("push", "-q", "--force", "origin", "main")
    _forget_unreachable(server)

    runner = _checkout(tmp_path, server)
    values, log = run_range(runner, tmp_path, EVENT="push", BEFORE=old, AFTER=new)
    assert values == {"base": runner.out("rev-parse", f"{new}^"), "head": new}
    assert "::warning::" in log and "only the tip" in log and "fetch-depth" not in log


def test_pull_request_and_merge_group_use_the_event_shas(tmp_path: Path, hosted: tuple[Repo, Repo]) -> None:
    server, dev = hosted
    base = dev.out("rev-parse", "HEAD")
    dev.git("checkout", "-q", "-b", "codex/house-style")
    dev.write("tickets/in-progress/house-style/notes.md", "notes\n")
    head = dev.commit("Notes")
    dev.git("push", "-q", "origin", "codex/house-style")
    runner = _checkout(tmp_path, server)
    values, _ = run_range(runner, tmp_path, EVENT="pull_request", PR_BASE=base, PR_HEAD=head, BEFORE=ZERO)
    assert values == {"base": base, "head": head}
    values, _ = run_range(runner, tmp_path, EVENT="merge_group", QUEUE_BASE=base, QUEUE_HEAD=head)
    assert values == {"base": base, "head": head}


def test_board_step_writes_the_job_summary(tmp_path: Path, hosted: tuple[Repo, Repo]) -> None:
    server, dev = hosted
    dev.git("checkout", "-q", "-b", "codex/house-style")
    dev.write("tickets/in-progress/house-style/notes.md", "notes\n")
    dev.commit("Notes")
    dev.git("push", "-q", "origin", "codex/house-style")
    runner = _checkout(tmp_path, server)
    step = next(s for s in _workflow()["jobs"]["ftgate"]["steps"] if s.get("name") == "Ticket board")
    summary = tmp_path / "summary.md"
    proc = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=runner.path,
                          env={**runner.env, "GITHUB_STEP_SUMMARY": str(summary)}, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in summary.read_text().splitlines() if line.startswith("| `")]
    # The copy on the ticket's own pushed branch wins over main's.
    assert len(rows) == 1
    assert rows[0].startswith("| `house-style` | 0 Bootstrap | Locked | `codex/house-style` | ")
    assert rows[0].endswith(" | origin/codex/house-style |")
