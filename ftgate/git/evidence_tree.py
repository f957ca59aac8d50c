"""Stage 5 evidence, verified on a commit's own tree (or the index).

When a change's ``workflow-state.md`` walks past Stage 5, the gate must
trust the training evidence *in that change*, not whatever sits in someone's
working directory. ``ftgate.evidence.verify`` works on a folder (it hashes
files and asks ``git ls-files`` for the source list), so the tree is written
out into a temporary checkout with its own index, and the verifier runs
there. That costs a full checkout, which is fine: a change leaves Stage 5
once per ticket, and nothing else pays for it.

Only :func:`evidence_findings` and :func:`evidence_check` (the same, with
the notes of what could not be checked) are public; the judge imports them
only when such a change is in the batch.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Collection
from pathlib import Path

from ftgate import proc
from ftgate.git import plumbing as pl


def _checkout(rev: str, root: Path, scratch: Path, cwd: str | None, keep: Collection[str]) -> None:
    """Write the tree of ``rev`` ("" = the index) into ``root``, with a
    ``.git`` whose index lists the same paths (for ``git ls-files``).

    Reading runs in the judged repository with the hook's ``keep`` (the
    quarantine holds a pushed tree's objects); the scratch index is named
    for these calls only, and the new repository is made with nothing of the
    hook's environment, so neither can point at the other."""
    tree = rev
    if rev == "":
        # The staged tree; write-tree only adds tree objects git commit
        # would write a moment later anyway.
        tree = pl.git(["write-tree"], cwd=cwd, keep=keep).decode().strip()
    index = scratch / "index"
    reading = frozenset(keep) - {"GIT_INDEX_FILE"}
    scratch_index = {"GIT_INDEX_FILE": str(index)}
    proc.run(["read-tree", tree], cwd=cwd, keep=reading, extra_env=scratch_index)
    proc.run(["--work-tree", str(root), "checkout-index", "-a", "-f"], cwd=cwd, keep=reading, extra_env=scratch_index)
    proc.run(["init", "-q", str(root)], cwd=cwd)
    shutil.copyfile(index, root / ".git" / "index")


def evidence_findings(rev: str, ticket_folder: str, *, cwd: str | None = None,
                      keep: Collection[str] = proc.KEEP_NONE) -> list[str]:
    """The Stage 5 evidence findings for ``ticket_folder`` in the tree of
    ``rev`` (a commit id, or "" for the index), one line each; empty when
    the evidence verifies."""
    return evidence_check(rev, ticket_folder, cwd=cwd, keep=keep)[0]


def evidence_check(rev: str, ticket_folder: str, *, cwd: str | None = None,
                   keep: Collection[str] = proc.KEEP_NONE) -> tuple[list[str], list[str]]:
    """:func:`evidence_findings`, and the notes of what could not be checked
    in that tree (base weights and inputs git does not hold), one line each."""
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ftgate-evidence-") as tmp:
        scratch = Path(tmp)
        root = scratch / "tree"
        root.mkdir()
        try:
            _checkout(rev, root, scratch, cwd, keep)
        except pl.GitError as err:
            return [f"{ticket_folder}: the tree could not be written out to check its training evidence ({err})"], []
        from ftgate.errors import FtgateError
        from ftgate.evidence.verify import gate_findings

        # The verifier's own git calls address the scratch checkout by cwd,
        # through the scrubbed environment of ftgate.proc.
        try:
            findings = gate_findings(root / ticket_folder, root=root, notes=notes)
        except FtgateError as err:
            return [f"{ticket_folder}: the training evidence could not be checked: {err.message}"], []
        scrub = str(root) + os.sep
        return ([f.render().replace("\n", " ").replace(scrub, "") for f in findings],
                [note.replace("\n", " ").replace(scrub, "") for note in notes])
