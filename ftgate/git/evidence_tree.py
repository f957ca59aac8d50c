"""Stage 5 evidence, verified on a commit's own tree (or the index).

When a change's ``workflow-state.md`` walks past Stage 5, the gate must
trust the training evidence *in that change*, not whatever sits in someone's
working directory. ``ftgate.evidence.verify`` works on a folder (it hashes
files and asks ``git ls-files`` for the source list), so the tree is written
out into a temporary checkout with its own index, and the verifier runs
there. That costs a full checkout, which is fine: a change leaves Stage 5
once per ticket, and nothing else pays for it.

Only :func:`evidence_findings` is public; it is imported by the judge only
when such a change is in the batch.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ftgate.git import plumbing as pl

# What points git at a repository: inside a hook these name the pushed-to
# repository (and its quarantine), which must not leak into the temporary one.
_LOCATING = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
             "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_PREFIX", "GIT_NAMESPACE",
             "GIT_QUARANTINE_PATH")


@contextmanager
def _environment(root: Path) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in (*_LOCATING, "GIT_CEILING_DIRECTORIES")}
    try:
        for key in _LOCATING:
            os.environ.pop(key, None)
        os.environ["GIT_DIR"] = str(root / ".git")
        os.environ["GIT_WORK_TREE"] = str(root)
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _checkout(rev: str, root: Path, scratch: Path, cwd: str | None) -> None:
    """Write the tree of ``rev`` ("" = the index) into ``root``, with a
    ``.git`` whose index lists the same paths (for ``git ls-files``)."""
    tree = rev
    if rev == "":
        # The staged tree; write-tree only adds tree objects git commit
        # would write a moment later anyway.
        tree = pl.git(["write-tree"], cwd=cwd).decode().strip()
    index = scratch / "index"
    env_index = dict(os.environ, GIT_INDEX_FILE=str(index))
    _git_env(["read-tree", tree], env_index, cwd)
    _git_env(["--work-tree", str(root), "checkout-index", "-a", "-f"], env_index, cwd)
    clean = {k: v for k, v in os.environ.items() if k not in _LOCATING}
    _git_env(["init", "-q", str(root)], clean, cwd)
    shutil.copyfile(index, root / ".git" / "index")


def _git_env(args: list[str], env: dict[str, str], cwd: str | None) -> None:
    import subprocess

    proc = subprocess.run(["git", *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          check=False)
    if proc.returncode != 0:
        raise pl.GitError(args, proc.returncode, proc.stderr.decode("utf-8", "replace"))


def evidence_findings(rev: str, ticket_folder: str, *, cwd: str | None = None) -> list[str]:
    """The Stage 5 evidence findings for ``ticket_folder`` in the tree of
    ``rev`` (a commit id, or "" for the index), one line each; empty when
    the evidence verifies."""
    with tempfile.TemporaryDirectory(prefix="ftgate-evidence-") as tmp:
        scratch = Path(tmp)
        root = scratch / "tree"
        root.mkdir()
        try:
            _checkout(rev, root, scratch, cwd)
        except pl.GitError as err:
            return [f"{ticket_folder}: the tree could not be written out to check its training evidence ({err})"]
        from ftgate.errors import FtgateError
        from ftgate.evidence.verify import gate_findings

        with _environment(root):
            try:
                findings = gate_findings(root / ticket_folder, root=root)
            except FtgateError as err:
                return [f"{ticket_folder}: the training evidence could not be checked: {err.message}"]
        return [f.render().replace("\n", " ").replace(str(root) + os.sep, "") for f in findings]
