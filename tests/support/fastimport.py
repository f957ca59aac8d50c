"""Histories written with one ``git fast-import`` process: thousands of
commits in a second, for tests and benchmarks that need a long push."""

from __future__ import annotations

from tests.support.gitrepo import Repo


def commit(lines: list[str], mark: int, *, when: int | None = None, ref: str = "refs/heads/main",
           parent: str | None = None, merge: str | None = None, files: dict[str, str] | None = None) -> None:
    """Append one commit to a fast-import stream. ``when`` (seconds after a
    fixed epoch) defaults to the mark, so later marks are later commits."""
    stamp = 1_700_000_000 + (mark if when is None else when)
    lines += ["commit " + ref, f"mark :{mark}", f"committer T <t@example.com> {stamp} +0000", "data 2", "c"]
    if parent is not None:
        lines.append(f"from {parent}")
    if merge is not None:
        lines.append(f"merge {merge}")
    for path, body in (files or {}).items():
        lines += [f"M 100644 inline {path}", f"data {len(body.encode())}", body]


def run(repo: Repo, lines: list[str], *, force: bool = True) -> None:
    """Feed the stream to ``git fast-import`` in ``repo``."""
    args = ["fast-import", "--quiet", *(["--force"] if force else [])]
    repo.git(*args, input=("\n".join(lines) + "\n").encode())


def source_tree(repo: Repo, files: int) -> None:
    """Commit ``files`` small Python modules on ``main`` of the empty
    ``repo`` in one fast-import run and check them out: the large
    repository the hook benchmarks work in."""
    lines: list[str] = []
    commit(lines, 1, files={f"src/pkg{i % 100}/mod{i}.py": f"x = {i}\n" for i in range(files)})
    run(repo, lines, force=False)
    repo.git("reset", "-q", "--hard", "main")
