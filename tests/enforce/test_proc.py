"""The one git runner: what reaches git, what each hook may pass through,
and that no other module starts git by itself."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from ftgate import proc
from ftgate.errors import FtgateError
from ftgate.git import plumbing as pl
from ftgate.git.worktree import GitFailed
from tests.support.gitrepo import PYTHON, Repo, init_repo
from tests.support.tickets import put_ticket

PACKAGE = Path(__file__).resolve().parents[2] / "ftgate"

REDIRECTING = {
    "GIT_DIR": "/elsewhere/.git", "GIT_WORK_TREE": "/elsewhere", "GIT_INDEX_FILE": "/elsewhere/index",
    "GIT_OBJECT_DIRECTORY": "/elsewhere/objects", "GIT_ALTERNATE_OBJECT_DIRECTORIES": "/elsewhere/alt",
    "GIT_QUARANTINE_PATH": "/elsewhere/q", "GIT_NAMESPACE": "ns", "GIT_REPLACE_REF_BASE": "refs/x/",
    "GIT_CONFIG_PARAMETERS": "'core.hookspath'='/tmp'", "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "core.hooksPath", "GIT_CONFIG_VALUE_0": "/tmp", "GIT_EXEC_PATH": "/elsewhere/libexec",
}


def test_scrub_drops_every_redirect_and_always_ignores_replace_refs() -> None:
    base = {**REDIRECTING, "PATH": "/bin", "GIT_CONFIG_GLOBAL": "/home/me/gitconfig", "GIT_AUTHOR_NAME": "me"}
    env = proc.git_env(base=base)
    assert not set(REDIRECTING) & set(env)
    # Which user config and which author are the caller's to choose.
    assert env["GIT_CONFIG_GLOBAL"] == "/home/me/gitconfig" and env["GIT_AUTHOR_NAME"] == "me"
    assert env["GIT_NO_REPLACE_OBJECTS"] == "1" and env["PATH"] == "/bin"
    assert base["GIT_DIR"] == "/elsewhere/.git", "the source mapping is copied, never changed"


def test_each_hook_keeps_exactly_what_its_protocol_needs() -> None:
    commit = proc.git_env(proc.KEEP_COMMIT, base=REDIRECTING)
    assert commit["GIT_INDEX_FILE"] == "/elsewhere/index"
    assert "GIT_OBJECT_DIRECTORY" not in commit and "GIT_QUARANTINE_PATH" not in commit
    receive = proc.git_env(proc.KEEP_RECEIVE, base=REDIRECTING)
    for key in ("GIT_QUARANTINE_PATH", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES"):
        assert receive[key] == REDIRECTING[key]
    assert "GIT_INDEX_FILE" not in receive
    for env in (commit, receive, proc.git_env(proc.KEEP_PUSH, base=REDIRECTING)):
        # Never kept, whatever the door: injected config, namespaces, replace refs, another git.
        for key in ("GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0", "GIT_NAMESPACE",
                    "GIT_REPLACE_REF_BASE", "GIT_EXEC_PATH"):
            assert key not in env
        assert env["GIT_NO_REPLACE_OBJECTS"] == "1"


def test_an_inherited_git_dir_does_not_redirect_git_unless_kept(tmp_path: Path, env: dict[str, str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    here = init_repo(tmp_path / "here", env)
    other = init_repo(tmp_path / "other", env)
    monkeypatch.setenv("GIT_DIR", str(other.path / ".git"))
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "ftgate.probe")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "injected")
    said = proc.run(["rev-parse", "--absolute-git-dir"], cwd=here.path).stdout.decode().strip()
    assert Path(said) == (here.path / ".git").resolve()
    kept = proc.run(["rev-parse", "--absolute-git-dir"], cwd=here.path, keep={"GIT_DIR"}).stdout.decode().strip()
    assert Path(kept) == (other.path / ".git").resolve()
    assert proc.run(["config", "--get", "ftgate.probe"], cwd=here.path, ok_codes=(0, 1)).returncode == 1
    assert os.environ["GIT_DIR"] == str(other.path / ".git"), "the process environment is left alone"


def test_a_replace_ref_cannot_hide_a_refused_commit_from_ci(tmp_path: Path, env: dict[str, str]) -> None:
    repo = init_repo(tmp_path / "work", env)
    repo.write("src/train.py", "print('train')\n")
    repo.commit("initial")
    repo.commit("ticket at Stage 2", put_ticket(repo, "t", 2))
    base = repo.head()
    repo.write("docs/notes.md", "harmless\n")
    repo.commit("docs only")
    harmless = repo.head()
    repo.git("reset", "-q", "--hard", base)
    repo.write("src/train.py", "print('sneaky')\n")
    repo.commit("source at Stage 2")
    refused = repo.head()
    # Plain git now shows the harmless commit in place of the refused one.
    repo.git("replace", refused, harmless)
    assert "docs only" in repo.out("log", "-1", "--format=%s", refused)
    ci = repo.ftgate("ci", "--base", base, "--head", refused, "--no-github")
    assert ci.returncode == 1 and "src/train.py" in ci.stdout, ci.stdout + ci.stderr


def test_git_errors_are_ftgate_errors_with_argv_code_and_stderr(tmp_path: Path) -> None:
    with pytest.raises(proc.GitError) as caught:
        proc.run(["rev-parse", "--verify", "no-such-ref"], cwd=tmp_path)
    err = caught.value
    assert isinstance(err, FtgateError) and err.argv == ["rev-parse", "--verify", "no-such-ref"]
    assert err.code == 128 and "not a git repository" in err.stderr
    assert pl.GitError is proc.GitError and issubclass(GitFailed, proc.GitError)
    with pytest.raises(proc.GitError, match="no such folder to run git in"):
        proc.run(["status"], cwd=tmp_path / "missing")


def test_missing_git_is_one_clear_line(tmp_path: Path, repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "no-git-here"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(proc.GitError) as caught:
        proc.run(["--version"])
    assert str(caught.value) == proc.NOT_INSTALLED and caught.value.code is None
    checked = repo.ftgate("check", env=dict(repo.env, PATH=str(empty)))
    assert checked.returncode == 2, checked.stderr
    assert "git is not installed or not on PATH" in checked.stderr and "Traceback" not in checked.stderr


# ------------------------------------------------------ no second git runner

_SPAWNERS = {("subprocess", name) for name in ("run", "Popen", "call", "check_call", "check_output",
                                              "getoutput", "getstatusoutput")}
_SPAWNERS |= {("os", name) for name in ("system", "popen", "execvp", "execv", "execlp", "spawnvp",
                                        "posix_spawn", "posix_spawnp")}


def _starts_git(node: ast.expr) -> bool:
    if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
        node = node.elts[0]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value == "git" or node.value.startswith("git ")
    if isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        return isinstance(first, ast.Constant) and str(first.value).startswith("git ")
    return False


def stray_git_calls(source: str, filename: str) -> list[str]:
    """Places in ``source`` that start git other than through ftgate.proc:
    a process call whose command is git, an import of GitPython, or a
    module that imports subprocess and names the git executable at all."""
    tree = ast.parse(source, filename)
    found: list[str] = []
    spawns = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            names = []
        for name in names:
            if name.split(".")[0] in ("subprocess", "pty", "asyncio"):
                spawns = True
            if name.split(".")[0] == "git":
                found.append(f"{filename}:{node.lineno}: imports GitPython, a second path to git")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) \
                and (node.func.value.id, node.func.attr) in _SPAWNERS \
                and node.args and _starts_git(node.args[0]):
            found.append(f"{filename}:{node.lineno}: starts git without ftgate.proc")
    if spawns:
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value == "git":
                found.append(f"{filename}:{node.lineno}: names the git executable beside subprocess")
    return found


def test_the_detector_catches_stray_git_calls() -> None:
    assert stray_git_calls("import subprocess\nsubprocess.run(['git', 'status'])\n", "a.py")
    assert stray_git_calls("import os\nos.system(f'git {x}')\n", "b.py")
    assert stray_git_calls("import subprocess\nARGV = ('git',)\nsubprocess.run([*ARGV])\n", "c.py")
    assert stray_git_calls("from git import Repo\n", "d.py")
    assert not stray_git_calls("import subprocess\nsubprocess.run([sys.executable, '-m', 'ftgate'])\n", "e.py")


def test_no_module_but_proc_starts_git() -> None:
    found: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "proc.py":
            continue
        found += stray_git_calls(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent)))
    assert not found, "git must run through ftgate.proc:\n" + "\n".join(found)


def test_the_hook_path_imports_the_runner_without_click_or_pydantic() -> None:
    import subprocess

    code = ("import sys, ftgate.git.precommit, ftgate.proc\n"
            "print(sorted(m for m in ('click', 'pydantic', 'git') if m in sys.modules))")
    out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=str(PACKAGE.parent) + os.pathsep + os.environ.get(
                             "PYTHONPATH", "")))
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
