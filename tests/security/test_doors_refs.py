"""Issue 11 item 1: ref namespaces. A replacement ref, or a ref whose object
is a tree or a blob, is refused by a real bare server with ftgate's hook,
with a message that names the rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.gitrepo import git_env
from tests.support.server import make_server, push


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return git_env(tmp_path / "home")


@pytest.mark.parametrize("hook", ["update", "pre-receive"])
def test_a_replace_ref_is_refused(tmp_path: Path, env: dict[str, str], hook: str) -> None:
    bare, work = make_server(tmp_path, env, hook=hook, stage=2)
    harmless = work.head()
    work.write("src/train.py", "print('sneaky')\n")
    work.commit("source at Stage 2")
    sneaky = work.head()
    work.git("reset", "-q", "--hard", harmless)
    # Stand the harmless commit in for the sneaky one, then try to land that.
    work.git("replace", sneaky, harmless)
    proc = push(work, f"refs/replace/{sneaky}")
    assert proc.returncode != 0
    assert "[replace-ref]" in proc.stderr and "replacement refs" in proc.stderr
    assert bare.git("show-ref", check=False).stdout.decode().count("refs/replace/") == 0


@pytest.mark.parametrize("hook", ["update", "pre-receive"])
def test_a_tag_of_a_tree_or_a_blob_is_refused(tmp_path: Path, env: dict[str, str], hook: str) -> None:
    bare, work = make_server(tmp_path, env, hook=hook, stage=2)
    work.git("tag", "-a", "-m", "a tree", "tree-tag", "HEAD^{tree}")
    blob = work.out("hash-object", "-w", "src/train.py")
    work.git("tag", "blob-tag", blob)
    for tag in ("tree-tag", "blob-tag"):
        proc = push(work, f"refs/tags/{tag}")
        assert proc.returncode != 0, tag
        assert "[ref-not-commit]" in proc.stderr
        assert ("a tree" if tag == "tree-tag" else "a blob") in proc.stderr
    assert bare.git("show-ref", "--tags", check=False).stdout == b""
    # A tag of a commit the server already judged is fine.
    work.git("tag", "-a", "-m", "release", "v1", "HEAD")
    proc = push(work, "refs/tags/v1")
    assert proc.returncode == 0, proc.stderr
