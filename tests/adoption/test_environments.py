"""Bad environments get one clear line and exit 2, never a traceback, and
nothing is written: no git on PATH, a bare repository, outside any
repository, a server path that does not exist. Plus doctor from a subfolder
and its exit status, a closed pipe, JSON errors and `config show`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tests.support.adoption import PYTHON, Repo


def _ftgate(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "ftgate", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, check=False)


def _clean_failure(done: subprocess.CompletedProcess[str], *, needle: str) -> None:
    text = done.stdout + done.stderr
    assert done.returncode == 2, text
    assert "Traceback" not in text and "internal error" not in text, text
    assert needle in text, text


def _snapshot(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime for p in root.rglob("*")}


COMMANDS_NEEDING_GIT = [
    ("check",), ("hook", "pre-commit"), ("hook", "pre-push", "origin", "url"), ("hook", "update", "refs/heads/main",
                                                                             "0" * 40, "1" * 40),
    ("doctor",), ("install",), ("ci", "--base", "HEAD~1"), ("init",), ("uninstall",), ("board",),
    ("worktree", "list"),
]


@pytest.mark.parametrize("args", COMMANDS_NEEDING_GIT, ids=lambda a: " ".join(a[:2]))
def test_without_git_on_path(project: Repo, tmp_path: Path, args: tuple[str, ...]) -> None:
    empty = tmp_path / "no-git-here"
    empty.mkdir()
    env = {**project.env, "PATH": str(empty)}
    before = _snapshot(project.path)
    done = _ftgate(project.path, env, *args)
    _clean_failure(done, needle="git is not")
    assert _snapshot(project.path) == before


@pytest.fixture
def bare(project: Repo, tmp_path: Path) -> Path:
    server = tmp_path / "server.git"
    project.git("clone", "-q", "--bare", str(project.path), str(server), cwd=tmp_path)
    return server


def test_bare_repository_gets_no_client_hooks_nor_tickets(project: Repo, bare: Path) -> None:
    before = _snapshot(bare)
    _clean_failure(_ftgate(bare, project.env, "install"), needle="ftgate install --server")
    _clean_failure(_ftgate(bare, project.env, "ticket", "new", "x"), needle="bare repository")
    _clean_failure(_ftgate(bare, project.env, "ticket", "new", "x", "--no-worktree"), needle="bare repository")
    _clean_failure(_ftgate(bare, project.env, "init"), needle="bare repository")
    assert _snapshot(bare) == before
    assert not (bare / "tickets").exists() and not (bare / "hooks" / "pre-commit").exists()


def test_doctor_reports_server_hooks_in_a_bare_repository(project: Repo, bare: Path) -> None:
    unprotected = _ftgate(bare, project.env, "doctor")
    assert unprotected.returncode == 1 and "update: missing" in unprotected.stdout, unprotected.stdout
    assert _ftgate(project.path, project.env, "install", "--server", str(bare)).returncode == 0
    protected = _ftgate(bare, project.env, "doctor")
    assert protected.returncode == 0, protected.stdout
    assert "update: ftgate" in protected.stdout and "protected: yes" in protected.stdout
    assert _ftgate(project.path, project.env, "install", "--server", str(bare), "--hook", "pre-receive"
                   ).returncode == 0
    twice = _ftgate(bare, project.env, "doctor")
    assert "judged twice" in twice.stdout, twice.stdout


@pytest.mark.parametrize("args", [("install",), ("doctor",), ("init",), ("uninstall",), ("check",),
                                  ("ci", "--base", "HEAD")], ids=lambda a: a[0])
def test_outside_a_repository(project: Repo, tmp_path: Path, args: tuple[str, ...]) -> None:
    outside = tmp_path / "plain"
    outside.mkdir()
    done = _ftgate(outside, project.env, *args)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len([line for line in done.stderr.splitlines() if not line.startswith("  fix:")]) == 1, done.stderr
    assert list(outside.iterdir()) == []


def test_server_path_that_does_not_exist_is_not_created(project: Repo, tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "server.git"
    done = _ftgate(project.path, project.env, "install", "--server", str(missing))
    _clean_failure(done, needle="no such folder")
    assert not missing.exists() and not missing.parent.exists()


def test_doctor_from_a_subfolder_finds_the_config_and_fails_on_a_bad_one(project: Repo) -> None:
    assert _ftgate(project.path, project.env, "install").returncode == 0
    project.write("ftgate.yaml", "version: 1\nuntracked_source: allow\n")
    sub = project.path / "data"
    good = _ftgate(sub, project.env, "doctor")
    assert good.returncode == 0 and "ftgate.yaml: valid" in good.stdout, good.stdout
    project.write("ftgate.yaml", "version: 1\nuntraked_source: allow\n")
    bad = _ftgate(sub, project.env, "doctor")
    assert bad.returncode == 1 and "ftgate.yaml: INVALID" in bad.stdout and "untraked_source" in bad.stdout


def test_a_closed_pipe_is_not_an_error(project: Repo) -> None:
    reader = subprocess.Popen([PYTHON, "-m", "ftgate", "status", "house-style"], cwd=project.path, env=project.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert reader.stdout is not None and reader.stderr is not None
    reader.stdout.close()
    assert reader.wait(timeout=60) == 0
    assert reader.stderr.read() == b""


def test_json_errors_are_json(project: Repo) -> None:
    for args in (("status", "nope", "--json"), ("ticket", "list", "--json", "--bogus")):
        done = _ftgate(project.path, project.env, *args)
        assert done.returncode == 2
        payload = json.loads(done.stdout)
        assert payload["exit_code"] == 2 and payload["error"]


def test_config_show_lists_every_section(project: Repo) -> None:
    project.write("ftgate.yaml", "version: 1\nstage5_evidence: report\nworktree:\n  finalize: push\n")
    shown = _ftgate(project.path / "data", project.env, "config", "show").stdout
    for line in ("stage5_evidence: report", "worktree.finalize: push", "worktree.remote: origin",
                 "source.include: *", "untracked_source: block"):
        assert line in shown, shown


@click.command("color-probe")
def color_probe() -> None:
    click.secho("styled", fg="red")


@pytest.mark.parametrize("no_color", [False, True])
def test_no_color_strips_styling(monkeypatch: pytest.MonkeyPatch, no_color: bool) -> None:
    import ftgate.cli.main as cli_main

    monkeypatch.setitem(cli_main.COMMANDS, "color-probe", f"{__name__}:color_probe")
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    # A terminal that takes colour, as click's own test isolation fakes one.
    with CliRunner().isolation(color=True) as (out, _err, _):
        assert cli_main.run_cli(["color-probe"]) == 0
    assert b"styled" in out.getvalue()
    assert (b"\x1b[" in out.getvalue()) is not no_color
