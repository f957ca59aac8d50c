"""Removing ``ftgate.yaml`` is a transition of its own, and refused.

The adoption rule lets a commit add a policy without a ticket where none is
in force. So if a ticket at Stage 4 Unlocked could delete ``ftgate.yaml``
(it is source), a later commit could add a looser one as an "adoption".
Every way of taking the policy away (delete, rename, a symbolic link or a
folder in its place, a merge that drops it) is refused by the one decision:
on a real bare server with the update hook, by ``ftgate ci`` and by the local
commit hook. Editing the policy stays possible, judged under both policies."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.gitrepo import Repo
from tests.support.server import bare_and_clone, make_server, push

STRICT = "version: 1\nuntracked_source: block\nstage5_evidence: report\n"
LOOSE = "version: 1\nuntracked_source: allow\n"
NOTES = "tickets/in-progress/t/notes.md"


def _with_policy(work: Repo) -> None:
    work.write("ftgate.yaml", STRICT)
    work.commit("the repository's policy")


def _server(tmp_path: Path, env: dict[str, str]) -> tuple[Repo, Repo, str]:
    """A server whose main has a policy and a ticket `t` at Stage 4 Unlocked
    (in the parent too), so a source change under `t` is otherwise fine."""
    bare, work = make_server(tmp_path, env, stage=4, unlocked=True, setup=_with_policy)
    return bare, work, work.head()


def _adopted_late(tmp_path: Path, env: dict[str, str]) -> tuple[Repo, Repo, str]:
    """A server whose main got its policy after a first commit, with the
    update hook on; returns that first commit, where old branches start."""
    bare, work = bare_and_clone(tmp_path, env)
    work.commit("initial")
    before_policy = work.head()
    _with_policy(work)
    work.git("push", "-q", "origin", "main")
    assert work.ftgate("install", "--server", str(bare.path), "--hook", "update").returncode == 0
    return bare, work, before_policy


def _under_ticket(work: Repo, message: str) -> None:
    """Commit what is staged plus a note in `t`'s folder, so `t` governs."""
    work.write(NOTES, f"{message}\n")
    work.git("add", "-A")
    work.git("commit", "-q", "--no-verify", "-m", message)


def _refused_everywhere(bare: Repo, work: Repo, base: str, *words: str) -> None:
    pushed = push(work, "HEAD:main")
    assert pushed.returncode != 0, pushed.stderr
    assert bare.out("rev-parse", "main") == base
    ci = work.ftgate("ci", "--base", base, "--head", "HEAD", "--branch", "main", "--no-github")
    assert ci.returncode == 1, ci.stdout + ci.stderr
    for word in ("[config-removed]", "a policy cannot be removed", "To loosen the policy, edit ftgate.yaml",
                 "an administrator removes the server hook and the CI check", *words):
        assert word in pushed.stderr, pushed.stderr
        assert word in ci.stdout, ci.stdout


def _delete(work: Repo) -> None:
    work.git("rm", "-q", "ftgate.yaml")


def _rename(work: Repo) -> None:
    work.git("mv", "ftgate.yaml", "policy-was-here.yaml")


def _symlink(work: Repo) -> None:
    work.write("loose.yaml", LOOSE)
    (work.path / "ftgate.yaml").unlink(missing_ok=True)
    os.symlink("loose.yaml", work.path / "ftgate.yaml")


def _folder(work: Repo) -> None:
    (work.path / "ftgate.yaml").unlink()
    work.write("ftgate.yaml/config.yaml", LOOSE)


@pytest.mark.parametrize(("how", "words"), [
    (_delete, ("ftgate.yaml is deleted by this change",)),
    (_rename, ("renamed to policy-was-here.yaml",)),
    (_symlink, ("replaced by a symbolic link",)),
    (_folder, ("replaced by a folder",)),
], ids=["delete", "rename", "symlink", "folder"])
def test_taking_the_policy_away_is_refused(tmp_path: Path, env: dict[str, str], how: Callable[[Repo], None],
                                          words: tuple[str, ...]) -> None:
    bare, work, base = _server(tmp_path, env)
    how(work)
    _under_ticket(work, "drop the policy under an unlocked ticket")
    _refused_everywhere(bare, work, base, *words)


def test_delete_then_readd_looser_is_not_an_adoption(tmp_path: Path, env: dict[str, str]) -> None:
    """The attack the rule closes: the second commit alone would pass as an
    adoption, so the first one must not land, even in the same push."""
    bare, work, base = _server(tmp_path, env)
    _delete(work)
    _under_ticket(work, "drop the policy")
    work.write("ftgate.yaml", LOOSE)
    work.git("add", "ftgate.yaml")
    work.git("commit", "-q", "--no-verify", "-m", "adopt a looser policy")
    _refused_everywhere(bare, work, base, "ftgate.yaml is deleted by this change")


def test_a_merge_that_drops_the_policy_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    """A fast-forward to a merge whose first parent predates the policy and
    whose tree leaves it out: no diff deletes ftgate.yaml, yet main would
    lose it. Judged under main's policy, the landing commits lack it."""
    bare, work, before_policy = _adopted_late(tmp_path, env)
    base = work.head()
    work.git("checkout", "-q", "-b", "old", before_policy)
    work.write("README.md", "# demo, edited on a branch from before the policy\n")
    work.commit("docs only")
    work.git("merge", "-q", "-s", "ours", "--no-edit", "main")
    assert not (work.path / "ftgate.yaml").exists()
    _refused_everywhere(bare, work, base, "missing from this commit, while", "where it lands, has one")


def test_the_local_commit_hook_refuses_it_too(tmp_path: Path, env: dict[str, str]) -> None:
    _, work, _ = _server(tmp_path, env)
    assert work.ftgate("install").returncode == 0
    _delete(work)
    work.write(NOTES, "drop the policy\n")
    work.git("add", "-A")
    refused = work.git("commit", "-q", "-m", "drop the policy", check=False)
    said = refused.stderr.decode()
    assert refused.returncode != 0 and "[config-removed]" in said, said


def test_a_symlink_where_no_policy_was_is_invalid_config(tmp_path: Path, env: dict[str, str]) -> None:
    """With no policy before, a link is no adoption: the server would read
    the link's target name as the policy, a checkout the linked file."""
    bare, work = make_server(tmp_path, env)
    base = work.head()
    _symlink(work)
    work.git("add", "-A")
    work.git("commit", "-q", "--no-verify", "-m", "adopt ftgate through a link")
    pushed = push(work, "HEAD:main")
    assert pushed.returncode != 0 and "[config-invalid]" in pushed.stderr, pushed.stderr
    assert "must be a regular file" in pushed.stderr
    assert bare.out("rev-parse", "main") == base


def test_editing_the_policy_to_tighten_it_is_still_accepted(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work, base = _server(tmp_path, env)
    work.write("ftgate.yaml", STRICT.replace("stage5_evidence: report", "stage5_evidence: verified"))
    _under_ticket(work, "tighten the policy: Stage 5 evidence must verify")
    ci = work.ftgate("ci", "--base", base, "--head", "HEAD", "--branch", "main", "--no-github")
    assert ci.returncode == 0, ci.stdout + ci.stderr
    pushed = push(work, "HEAD:main")
    assert pushed.returncode == 0, pushed.stderr
    assert bare.out("rev-parse", "main") == work.head()


def test_a_branch_from_before_the_adoption_is_told_to_rebase(tmp_path: Path, env: dict[str, str]) -> None:
    """What docs/hosting.md promises for branches cut before the adoption
    commit: pushed as they are, their commits lack the policy main has and
    are refused with the way out; rebased onto main, the same docs-only work
    lands."""
    bare, work, before_policy = _adopted_late(tmp_path, env)
    work.git("checkout", "-q", "-b", "old-docs", before_policy)
    work.write("README.md", "# demo, written on a branch cut before the adoption\n")
    work.commit("docs only, from before the policy")
    pushed = push(work, "old-docs")
    assert pushed.returncode != 0, pushed.stderr
    for word in ("[config-removed]", "history from before ftgate.yaml was added", "rebase it onto"):
        assert word in pushed.stderr, pushed.stderr
    assert bare.git("rev-parse", "-q", "--verify", "refs/heads/old-docs", check=False).returncode != 0
    work.git("rebase", "-q", "main")
    rebased = push(work, "old-docs")
    assert rebased.returncode == 0, rebased.stderr
    assert bare.out("rev-parse", "old-docs") == work.head()
