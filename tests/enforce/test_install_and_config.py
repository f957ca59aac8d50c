"""install, doctor, worktrees, core.hooksPath, the pre-commit framework,
and ftgate.yaml."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ftgate.errors import FtgateError
from ftgate.git.install import install_hooks, protection_status
from ftgate.policy.config import Config, load_config, parse_config
from tests.support.gitrepo import Repo, init_repo
from tests.support.tickets import put_ticket

ROOT = Path(__file__).resolve().parents[2]


def test_install_protects_and_doctor_reports(tmp_path: Path, env: dict[str, str]) -> None:
    r = init_repo(tmp_path / "w", env)
    status = protection_status(r.path)
    assert not status.protected and any("ftgate install" in x for x in status.reasons)
    doctor = r.ftgate("doctor")
    assert doctor.returncode == 1 and "protected: NO" in doctor.stdout
    report = install_hooks(r.path)
    assert report.ok and {x.action for x in report.results} == {"written"}
    assert protection_status(r.path).protected
    doctor = r.ftgate("doctor")
    assert doctor.returncode == 0 and "protected: yes" in doctor.stdout and "pre-push: ftgate" in doctor.stdout


def test_foreign_hook_is_never_overwritten_silently(tmp_path: Path, env: dict[str, str]) -> None:
    r = init_repo(tmp_path / "w", env)
    hook = r.path / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho mine\n")
    hook.chmod(0o755)
    proc = r.ftgate("install")
    assert proc.returncode == 1 and "skipped-foreign" in proc.stdout
    assert hook.read_text() == "#!/bin/sh\necho mine\n"
    assert not protection_status(r.path).protected
    proc = r.ftgate("install", "--force")
    assert proc.returncode == 0
    assert (hook.parent / "pre-commit.ftgate-backup").read_text() == "#!/bin/sh\necho mine\n"


def test_linked_worktree_and_hooks_path(tmp_path: Path, env: dict[str, str]) -> None:
    r = init_repo(tmp_path / "w", env)
    r.write("README.md", "x\n")
    r.commit("init")
    r.git("worktree", "add", "-q", "-b", "codex/t", str(tmp_path / "wt"))
    wt = Repo(tmp_path / "wt", env)
    report = install_hooks(wt.path)
    # Hooks live in the common git dir, shared by every worktree.
    assert report.hooks_dir == (r.path / ".git" / "hooks").resolve()
    assert protection_status(r.path).protected and protection_status(wt.path).protected
    # A worktree-specific core.hooksPath is respected and reported.
    r.git("config", "extensions.worktreeConfig", "true")
    wt.git("config", "--worktree", "core.hooksPath", str(tmp_path / "wt-hooks"))
    status = protection_status(wt.path)
    assert not status.protected and status.hooks_path_setting == str(tmp_path / "wt-hooks")
    report = install_hooks(wt.path)
    assert report.hooks_dir == tmp_path / "wt-hooks" and report.hooks_path_setting
    assert protection_status(wt.path).protected
    # The hook really runs in the worktree and judges its own branch's ticket.
    put_ticket(wt, "t", 2)
    wt.commit("ticket", "tickets")
    wt.write("src.py", "x = 1\n")
    wt.git("add", "-A")
    proc = wt.git("commit", "-q", "-m", "src", check=False)
    assert proc.returncode != 0 and b"branch codex/t" in proc.stderr


def test_pre_commit_framework_runs_ftgate(tmp_path: Path, env: dict[str, str]) -> None:
    pytest.importorskip("pre_commit")
    r = init_repo(tmp_path / "w", env)
    r.write("README.md", "x\n")
    r.commit("init")
    put_ticket(r, "t", 2)
    r.commit("ticket", "tickets")
    r.write("app.py", "x = 1\n")
    r.git("add", "app.py")
    # try-repo runs the hook from this checkout's .pre-commit-hooks.yaml.
    proc = subprocess.run(["pre-commit", "try-repo", str(ROOT), "ftgate-check-system", "--verbose"], check=False,
                          cwd=r.path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0, proc.stdout
    assert "app.py" in proc.stdout and "Stage 2" in proc.stdout
    r.git("reset", "-q")
    r.write("README.md", "y\n")
    r.git("add", "README.md")
    proc = subprocess.run(["pre-commit", "try-repo", str(ROOT), "ftgate-check-system"], check=False,
                          cwd=r.path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout


def test_pre_commit_hooks_manifest_is_valid() -> None:
    import yaml

    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    for hook in hooks.values():
        assert hook["always_run"] is True and hook["pass_filenames"] is False
    assert hooks["ftgate-check"]["stages"] == ["pre-commit"]
    assert hooks["ftgate-pre-push"]["stages"] == ["pre-push"]


# ------------------------------------------------------------------ config


def test_defaults() -> None:
    cfg = Config()
    assert cfg.is_source("train.py") and cfg.is_source("a/b/c.yaml") and cfg.is_source("ftgate.yaml")
    assert not cfg.is_source("README.md") and not cfg.is_source("docs/x.py")
    assert not cfg.is_source("tickets/in-progress/t/workflow-state.md")
    assert cfg.is_source("new\nline.py")


def test_patterns_and_negation() -> None:
    cfg = parse_config("source:\n  include: ['src/', 'ftgate.yaml']\n  exclude: ['*.md', '!src/keep.md', "
                       "'/build']\nuntracked_source: allow\n")
    assert cfg.is_source("src/a.py") and not cfg.is_source("tools/a.py")
    assert not cfg.is_source("src/notes.md") and cfg.is_source("src/keep.md")
    assert cfg.untracked_source == "allow"


@pytest.mark.parametrize(("text", "expected"), [
    ("version: 1\nsourc:\n  include: []\n", "ftgate.yaml:2: unknown key `sourc`\n  fix: did you mean `source`?"),
    ("source:\n  exclud: []\n", "ftgate.yaml:2: unknown key `source.exclud`\n  fix: did you mean `exclude`?"),
    ("untracked_source: maybe\n", "ftgate.yaml:1: `untracked_source`"),
    ("source: [\n", "ftgate.yaml:2: not valid YAML"),
    ("- a\n", "must be a mapping"),
])
def test_bad_config_names_key_and_line(text: str, expected: str) -> None:
    with pytest.raises(FtgateError) as info:
        parse_config(text)
    assert expected in str(info.value)


def test_bad_config_in_a_commit_is_refused_with_its_line(tmp_path: Path, env: dict[str, str]) -> None:
    r = init_repo(tmp_path / "w", env)
    put_ticket(r, "t", 4, unlocked=True)
    r.commit("ticket")
    r.write("ftgate.yaml", "source:\n  includ: ['*']\n")
    r.git("add", "-A")
    proc = r.ftgate("check")
    assert proc.returncode == 1 and "ftgate.yaml:2: unknown key `source.includ`" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_config_cli_schema_and_load(tmp_path: Path, env: dict[str, str]) -> None:
    r = init_repo(tmp_path / "w", env)
    schema = json.loads(r.ftgate("config", "schema").stdout)
    assert schema["additionalProperties"] is False and "untracked_source" in schema["properties"]
    r.write("ftgate.yaml", "source:\n  exclude: ['data/']\n")
    assert not load_config(r.path).is_source("data/x.csv") and load_config(r.path).is_source("README.md")
    out = r.ftgate("config", "is-source", "data/x.csv", "train.py").stdout
    assert "not source\tdata/x.csv" in out and "source\ttrain.py" in out
    r.write("ftgate.yaml", "bogus: 1\n")
    proc = r.ftgate("config", "show")
    assert proc.returncode == 2 and "ftgate.yaml:1: unknown key `bogus`" in proc.stderr


def test_fast_path_imports_nothing_heavy(tmp_path: Path, env: dict[str, str]) -> None:
    r = init_repo(tmp_path / "w", env)
    r.write("README.md", "x\n")
    r.git("add", "-A")
    r.ftgate("check")  # warm the config cache
    proc = subprocess.run([__import__("sys").executable, "-X", "importtime", "-m", "ftgate", "check"], check=False,
                          cwd=r.path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    for heavy in ("click", "pydantic", "yaml", "pathspec", "git", "ftgate.workflow.state"):
        assert heavy not in imported, heavy
