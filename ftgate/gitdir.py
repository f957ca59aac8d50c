"""Where a checkout's git directories are, found without a git process.

The commit hook, the ticket commands and the cache all need the per-worktree
git dir (``HEAD`` lives there) or the common one (hooks, objects, ftgate's
cache). Reading ``.git`` and ``commondir`` costs microseconds; a
``git rev-parse`` costs milliseconds on every commit.
"""

from __future__ import annotations

import os
from pathlib import Path


def _common_of(git_dir: Path) -> Path:
    commondir = git_dir / "commondir"
    if commondir.is_file():
        try:
            return (git_dir / commondir.read_text(encoding="utf-8").strip()).resolve()
        except OSError:
            return git_dir
    return git_dir


def git_dirs(start: str | os.PathLike[str] | None = None, *,
             use_env: bool = True) -> tuple[Path | None, Path | None]:
    """``(worktree git dir, common git dir)`` for the checkout holding
    ``start`` (default: the current folder), or ``(None, None)`` outside git.
    With ``use_env``, ``GIT_DIR``/``GIT_COMMON_DIR`` win, as they do for git
    itself inside a hook. A linked worktree's ``.git`` file is followed, and a
    bare repository is its own git dir."""
    base = Path(start if start is not None else os.getcwd())
    if use_env and os.environ.get("GIT_DIR"):
        own = base.joinpath(os.environ["GIT_DIR"]).resolve()
        common_env = os.environ.get("GIT_COMMON_DIR")
        return own, base.joinpath(common_env).resolve() if common_env else _common_of(own)
    here = base.resolve()
    for folder in (here, *here.parents):
        dot = folder / ".git"
        if dot.is_dir():
            return dot, _common_of(dot)
        if dot.is_file():
            try:
                text = dot.read_text(encoding="utf-8").strip()
            except OSError:
                return None, None
            if not text.startswith("gitdir:"):
                return None, None
            own = (folder / text.split(":", 1)[1].strip()).resolve()
            return own, _common_of(own)
        if (folder / "HEAD").is_file() and (folder / "objects").is_dir() and (folder / "refs").is_dir():
            return folder, folder
    return None, None


def current_branch(start: str | os.PathLike[str] | None = None, *, use_env: bool = True) -> str | None:
    """The checked-out branch's short name, or None (detached, outside git)."""
    own, _ = git_dirs(start, use_env=use_env)
    if own is None:
        return None
    try:
        head = (own / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    prefix = "ref: refs/heads/"
    return head[len(prefix):] if head.startswith(prefix) else None
