"""lefthook and prek, installed from the package index as real binaries,
driving ftgate in a repository with history: a source change at Stage 0 is
refused at commit and at push, an honest ticket-file commit goes through."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.support.adoption import BIN, ROOT, Repo

EXAMPLES = ROOT / "examples" / "hook-managers"
REFUSAL = "source may change only at Stage 4"


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is not installed; it is part of the dev extra (pip install -e '.[dev]')"
    return found


def _walk(project: Repo, tmp_path: Path) -> None:
    """The same story through whichever manager is installed."""
    # The server already holds the history so far (adopting ftgate is
    # another story); only what comes next is judged there.
    server = tmp_path / "server.git"
    project.git("clone", "-q", "--bare", str(project.path), str(server), cwd=tmp_path)
    project.git("remote", "add", "origin", str(server))
    project.git("fetch", "-q", "origin")
    project.write("train.py", "print('changed at Stage 0')\n")
    project.git("add", "train.py")
    refused = project.git("commit", "-m", "Change the trainer at Stage 0", check=False)
    assert refused.returncode != 0
    assert REFUSAL in refused.stdout + refused.stderr, refused.stdout + refused.stderr
    before = project.out("rev-parse", "HEAD")

    project.git("reset", "-q", "--hard")
    project.write("tickets/in-progress/house-style/notes.md", "The base model answers too tersely.\n")
    project.git("add", "tickets")
    accepted = project.git("commit", "-m", "Investigation notes for house-style", check=False)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert project.out("rev-parse", "HEAD~1") == before

    # A bypassed commit is stopped by the same manager's pre-push hook.
    served = project.out("rev-parse", "main", cwd=server)
    project.write("train.py", "print('changed at Stage 0, hooks skipped')\n")
    project.commit("Bypass the commit hook")
    pushed = project.git("push", "origin", "main", check=False)
    assert pushed.returncode != 0
    assert REFUSAL in pushed.stdout + pushed.stderr, pushed.stdout + pushed.stderr
    assert project.out("rev-parse", "main", cwd=server) == served

    project.git("reset", "-q", "--hard", "HEAD~1")
    pushed = project.git("push", "origin", "main", check=False)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert project.out("rev-parse", "main", cwd=server) == project.out("rev-parse", "HEAD")


@pytest.mark.slow
def test_lefthook_drives_ftgate(tmp_path: Path, project: Repo) -> None:
    lefthook = _tool("lefthook")
    shutil.copy(EXAMPLES / "lefthook.yml", project.path / "lefthook.yml")
    project.commit("Adopt lefthook", "lefthook.yml")
    installed = project.run(lefthook, "install")
    assert "pre-commit" in installed.stdout + installed.stderr
    for hook in ("pre-commit", "pre-push"):
        assert "lefthook" in (project.path / ".git" / "hooks" / hook).read_text()
    _walk(project, tmp_path)


def _hook_repository(tmp_path: Path, project: Repo) -> Path:
    """ftgate's hook manifest in a git repository tagged as a release, which
    is what `repo:` and `rev:` point at."""
    repo = Repo(tmp_path / "ftgate-hooks", project.env)
    repo.path.mkdir()
    repo.git("init", "-q", "-b", "main")
    shutil.copy(ROOT / ".pre-commit-hooks.yaml", repo.path / ".pre-commit-hooks.yaml")
    repo.commit("ftgate's hook manifest")
    repo.git("tag", "-a", "v0.2.0", "-m", "ftgate 0.2.0")
    return repo.path


@pytest.mark.slow
def test_prek_reads_the_pre_commit_config_and_drives_ftgate(tmp_path: Path, project: Repo) -> None:
    prek = _tool("prek")
    config = yaml.safe_load((EXAMPLES / "pre-commit-config.yaml").read_text())
    entry = config["repos"][0]
    assert entry["rev"] == "v0.2.0"
    assert [h["id"] for h in entry["hooks"]] == ["ftgate-check", "ftgate-pre-push"]
    # The -system variants run the ftgate under test instead of installing a
    # published one into prek's own environment.
    entry["repo"] = str(_hook_repository(tmp_path, project))
    entry["hooks"] = [{"id": h["id"] + "-system"} for h in entry["hooks"]]
    (project.path / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    project.commit("Adopt prek", ".pre-commit-config.yaml")
    project.run(prek, "install", "-t", "pre-commit", "-t", "pre-push")
    for hook in ("pre-commit", "pre-push"):
        assert "prek" in (project.path / ".git" / "hooks" / hook).read_text()
    _walk(project, tmp_path)


def test_husky_hooks_name_no_machine_path() -> None:
    """Husky's folder is tracked: the hooks call ftgate by name only."""
    pre_commit = (EXAMPLES / ".husky" / "pre-commit").read_text()
    pre_push = (EXAMPLES / ".husky" / "pre-push").read_text()
    commands = [line for text in (pre_commit, pre_push) for line in text.splitlines()
                if line.strip() and not line.startswith("#")]
    assert commands == ["ftgate check", 'ftgate hook pre-push "$@"']
