"""pre-push through the real pre-commit framework: it tells the hook only
about the first pushed ref, so ftgate refuses on that ref and merely warns
about other local branches, where an unrelated bad WIP branch used to block
every push. ftgate's own pre-push hook still judges every pushed ref."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.support.adoption import BIN, ROOT, Repo

REFUSAL = "source may change only at Stage 4"


def _framework(tmp_path: Path, project: Repo) -> None:
    pre_commit = shutil.which("pre-commit", path=str(BIN)) or shutil.which("pre-commit")
    assert pre_commit, "pre-commit is part of the dev extra (pip install -e '.[dev]')"
    hooks = Repo(tmp_path / "ftgate-hooks", project.env)
    hooks.path.mkdir()
    hooks.git("init", "-q", "-b", "main")
    shutil.copy(ROOT / ".pre-commit-hooks.yaml", hooks.path / ".pre-commit-hooks.yaml")
    hooks.commit("ftgate's hook manifest")
    hooks.git("tag", "-a", "v0.2.0", "-m", "release")
    config = {"repos": [{"repo": str(hooks.path), "rev": "v0.2.0",
                         "hooks": [{"id": "ftgate-check-system"}, {"id": "ftgate-pre-push-system"}]}]}
    (project.path / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    project.commit("Adopt the pre-commit framework", ".pre-commit-config.yaml")
    project.run(pre_commit, "install", "-t", "pre-commit", "-t", "pre-push")
    assert "pre-commit" in (project.path / ".git" / "hooks" / "pre-push").read_text()


@pytest.fixture
def pushed_project(tmp_path: Path, project: Repo) -> tuple[Repo, Path]:
    _framework(tmp_path, project)
    server = tmp_path / "server.git"
    project.git("clone", "-q", "--bare", str(project.path), str(server), cwd=tmp_path)
    project.git("remote", "add", "origin", str(server))
    project.git("fetch", "-q", "origin")
    # An unrelated WIP branch with a source change at Stage 0, never pushed.
    project.git("checkout", "-q", "-b", "wip/experiment")
    project.write("train.py", "print('half-done idea')\n")
    project.commit("WIP: try an idea")
    project.git("checkout", "-q", "main")
    return project, server


@pytest.mark.slow
def test_unrelated_bad_branch_only_warns(pushed_project: tuple[Repo, Path]) -> None:
    project, server = pushed_project
    project.write("tickets/in-progress/house-style/notes.md", "Answers are too terse.\n")
    project.git("add", "tickets")
    project.git("commit", "-q", "-m", "Notes for house-style")
    pushed = project.git("push", "origin", "main", check=False)
    out = pushed.stdout + pushed.stderr
    assert pushed.returncode == 0, out
    assert "warning" in out and "wip/experiment" in out, out
    assert project.out("rev-parse", "main", cwd=server) == project.out("rev-parse", "main")

    # The bad branch itself is refused when it is the one pushed.
    refused = project.git("push", "origin", "wip/experiment", check=False)
    assert refused.returncode != 0 and REFUSAL in refused.stdout + refused.stderr, refused.stdout + refused.stderr


@pytest.mark.slow
def test_the_named_ref_is_still_refused(pushed_project: tuple[Repo, Path]) -> None:
    project, server = pushed_project
    served = project.out("rev-parse", "main", cwd=server)
    project.write("data/prep.py", "print('changed at Stage 0')\n")
    project.commit("Bypass the commit hook")
    refused = project.git("push", "origin", "main", check=False)
    assert refused.returncode != 0 and REFUSAL in refused.stdout + refused.stderr, refused.stdout + refused.stderr
    assert project.out("rev-parse", "main", cwd=server) == served


def test_ftgate_own_pre_push_judges_every_pushed_ref(tmp_path: Path, project: Repo) -> None:
    server = tmp_path / "server.git"
    project.git("clone", "-q", "--bare", str(project.path), str(server), cwd=tmp_path)
    project.git("remote", "add", "origin", str(server))
    project.git("fetch", "-q", "origin")
    assert project.ftgate("install").returncode == 0
    project.git("checkout", "-q", "-b", "wip/experiment")
    project.write("train.py", "print('half-done idea')\n")
    project.commit("WIP: try an idea")
    project.git("checkout", "-q", "main")
    project.write("tickets/in-progress/house-style/notes.md", "Answers are too terse.\n")
    project.commit("Notes for house-style")
    both = project.git("push", "origin", "main", "wip/experiment", check=False)
    assert both.returncode != 0 and REFUSAL in both.stderr, both.stderr
    alone = project.git("push", "origin", "main", check=False)
    assert alone.returncode == 0, alone.stderr
    assert "wip/experiment" not in alone.stderr
