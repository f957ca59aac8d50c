"""The GitLab examples: the server-hook tarball holds exactly one executable
pre-receive hook that really refuses a bad push once, and the merge-request
job's script computes its range and runs ftgate on a real clone."""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

import yaml

from tests.support.adoption import ROOT, Repo

SCRIPT = ROOT / "examples" / "gitlab" / "make-hooks-tarball.sh"
CI_FILE = ROOT / "examples" / "gitlab" / ".gitlab-ci.yml"


def _build(tmp_path: Path, env: dict[str, str], *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(SCRIPT), *args], cwd=tmp_path, env={**env, **extra}, capture_output=True,
                          text=True, check=False)


def test_tarball_holds_one_executable_pre_receive(tmp_path: Path, env: dict[str, str]) -> None:
    made = _build(tmp_path, env, "hooks.tar")
    assert made.returncode == 0, made.stderr
    with tarfile.open(tmp_path / "hooks.tar") as tar:
        members = {m.name.rstrip("/"): m for m in tar.getmembers()}
        assert set(members) == {"custom_hooks", "custom_hooks/pre-receive"}
        hook = members["custom_hooks/pre-receive"]
        assert hook.isfile() and hook.mode & 0o111 == 0o111
        body = tar.extractfile(hook).read().decode()
    assert body.startswith("#!/bin/sh\n")
    assert 'FTGATE="${FTGATE:-ftgate}"' in body
    assert "hook pre-receive" in body
    # Nothing is left behind next to the archive.
    assert sorted(os.listdir(tmp_path)) == ["home", "hooks.tar"]


def test_tarball_bakes_in_the_ftgate_path_and_refuses_odd_ones(tmp_path: Path, env: dict[str, str]) -> None:
    assert _build(tmp_path, env, FTGATE="/opt/ftgate/bin/ftgate").returncode == 0
    with tarfile.open(tmp_path / "custom_hooks.tar") as tar:
        body = tar.extractfile("custom_hooks/pre-receive").read().decode()
    assert 'FTGATE="${FTGATE:-/opt/ftgate/bin/ftgate}"' in body
    bad = _build(tmp_path, env, "x.tar", FTGATE="/opt/$(rm -rf ~)/ftgate")
    assert bad.returncode == 2 and "FTGATE must be a plain path" in bad.stderr
    assert not (tmp_path / "x.tar").exists()


def test_the_hook_from_the_tarball_judges_a_push_once(tmp_path: Path, project: Repo) -> None:
    """Unpack as Gitaly does (custom_hooks/ in the repository) and wire it the
    way git runs hooks, then push a Stage 0 source change and an honest one."""
    assert _build(tmp_path, project.env, "hooks.tar").returncode == 0
    server = tmp_path / "server.git"
    project.git("clone", "-q", "--bare", str(project.path), str(server), cwd=tmp_path)
    with tarfile.open(tmp_path / "hooks.tar") as tar:
        tar.extractall(server, filter="tar")
    project.git("config", "core.hooksPath", str(server / "custom_hooks"), cwd=server)
    project.git("remote", "add", "origin", str(server))

    project.write("train.py", "print('changed at Stage 0')\n")
    project.commit("Change the trainer at Stage 0")
    refused = project.git("push", "--no-verify", "origin", "main", check=False)
    assert refused.returncode != 0
    assert "pre-receive hook declined" in refused.stderr
    assert refused.stderr.count("train.py: source may change only at Stage 4") == 1, refused.stderr
    assert project.out("rev-parse", "main", cwd=server) != project.out("rev-parse", "HEAD")

    project.git("reset", "-q", "--hard", "HEAD~1")
    project.write("tickets/in-progress/house-style/notes.md", "Looked at the data.\n")
    project.commit("Notes for house-style")
    accepted = project.git("push", "--no-verify", "origin", "main", check=False)
    assert accepted.returncode == 0, accepted.stderr
    assert project.out("rev-parse", "main", cwd=server) == project.out("rev-parse", "HEAD")


def _job_script() -> str:
    job = yaml.safe_load(CI_FILE.read_text())["ftgate"]
    assert job["variables"]["GIT_DEPTH"] == "0"
    assert any('pip install -q "ftgate-workflow==' in line for line in job["before_script"])
    return "\n".join(job["script"])


def test_merge_request_job_judges_the_source_branch(tmp_path: Path, project: Repo) -> None:
    server = tmp_path / "server.git"
    project.git("clone", "-q", "--bare", str(project.path), str(server), cwd=tmp_path)
    project.git("remote", "add", "origin", str(server))
    base = project.out("rev-parse", "HEAD")
    project.git("checkout", "-q", "-b", "codex/house-style")
    project.write("train.py", "print('changed at Stage 0')\n")
    head = project.commit("Change the trainer at Stage 0")
    project.git("push", "-q", "--no-verify", "origin", "codex/house-style")
    runner = tmp_path / "runner"
    project.git("clone", "-q", str(server), str(runner), cwd=tmp_path)
    project.git("checkout", "-q", head, cwd=runner)

    script = _job_script()
    variables = {"CI_MERGE_REQUEST_IID": "7", "CI_MERGE_REQUEST_DIFF_BASE_SHA": base,
                 "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA": head, "CI_COMMIT_SHA": head,
                 "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "codex/house-style",
                 "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main"}
    def run_job(variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", "-c", script], cwd=runner, env={**project.env, **variables},
                              capture_output=True, text=True, check=False)

    job = run_job(variables)
    assert job.returncode == 1, job.stdout + job.stderr
    assert "train.py" in job.stdout + job.stderr

    # A branch pipeline for the first push of a branch: what it adds to main.
    job = run_job({"CI_COMMIT_BEFORE_SHA": "0" * 40, "CI_COMMIT_SHA": head, "CI_COMMIT_BRANCH": "codex/house-style",
                   "CI_DEFAULT_BRANCH": "main"})
    assert job.returncode == 1, job.stdout + job.stderr
    assert f"judging what codex/house-style adds to main (from {base})" in job.stdout

    # A force-push to main whose old tip the clone lacks: only the tip, said plainly.
    project.git("checkout", "-q", base, cwd=runner)
    job = run_job({"CI_COMMIT_BEFORE_SHA": "1" * 40, "CI_COMMIT_SHA": base, "CI_COMMIT_BRANCH": "main",
                   "CI_DEFAULT_BRANCH": "main"})
    assert job.returncode == 0, job.stdout + job.stderr
    assert "judging only the tip" in job.stdout
