"""`ftgate install` next to hook managers, in a repository with history: it
never replaces a hook the pre-commit framework, lefthook or Husky wrote (not
even with --force) and says what to add to their config instead; a hooks
folder inside the work tree gets hooks that name no path of this machine."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.support.adoption import BIN, Repo


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is part of the dev extra (pip install -e '.[dev]')"
    return found


@pytest.mark.parametrize("manager", ["pre-commit", "lefthook"])
def test_a_manager_hook_is_never_replaced(project: Repo, manager: str) -> None:
    if manager == "pre-commit":
        project.write(".pre-commit-config.yaml", "repos: []\n")
    else:
        project.write("lefthook.yml", "pre-commit:\n  commands: {}\n")
    project.commit(f"Adopt {manager}")
    project.run(_tool(manager), "install")
    hook = project.path / ".git" / "hooks" / "pre-commit"
    before = hook.read_text()
    for args in (("install",), ("install", "--force")):
        done = project.ftgate(*args)
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"{manager} manages" in done.stdout, done.stdout
        assert hook.read_text() == before
    assert not (hook.parent / "pre-commit.ftgate-backup").exists()


def test_husky_hooks_path_is_refused_with_advice(project: Repo) -> None:
    project.write(".husky/pre-commit", "npm test\n")
    project.commit("Adopt husky")
    (project.path / ".husky" / "_").mkdir()
    project.git("config", "core.hooksPath", ".husky/_")
    for args in (("install",), ("install", "--force")):
        done = project.ftgate(*args)
        assert done.returncode == 2 and "Husky" in done.stderr and ".husky/pre-commit" in done.stderr, done.stderr
    assert list((project.path / ".husky" / "_").iterdir()) == []
    assert (project.path / ".husky" / "pre-commit").read_text() == "npm test\n"


def test_a_hooks_folder_in_the_work_tree_names_no_machine_path(project: Repo, tmp_path: Path) -> None:
    project.git("config", "core.hooksPath", "githooks")
    done = project.ftgate("install")
    assert done.returncode == 0, done.stderr
    for name in ("pre-commit", "pre-push"):
        text = (project.path / "githooks" / name).read_text()
        assert sys.executable not in text and str(tmp_path) not in text and "/" + "work" not in text
    # It still works, finding ftgate on PATH.
    project.write("train.py", "print('changed at Stage 0')\n")
    project.git("add", "train.py")
    refused = project.git("commit", "-q", "-m", "Change at Stage 0", check=False)
    assert refused.returncode == 1 and "Stage 4" in refused.stderr, refused.stderr


def test_the_git_dir_hooks_keep_the_interpreter(project: Repo) -> None:
    assert project.ftgate("install").returncode == 0
    assert sys.executable in (project.path / ".git" / "hooks" / "pre-commit").read_text()
