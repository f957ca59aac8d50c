"""The adoption commit: the one change that may bring ftgate into a
repository without a ticket.

A repository without ``ftgate.yaml`` has no ticket to govern the commit that
adds it, yet every door judges that commit with the default policy, under
which ``ftgate.yaml`` is source. So the first commit that adds a policy
where its parent has none is accepted when it changes nothing but
``ftgate.yaml`` and ftgate's own files (ticket scaffolding, the hook
managers' configs, the CI files ``ftgate init`` writes). Anything else in
the same commit, a deletion, or a merge, and it is judged as usual.

stdlib only: the commit hook imports it.
"""

from __future__ import annotations

from collections.abc import Iterable

from ftgate.constants import CONFIG_FILE, TICKETS_SLASH

#: Files ``ftgate init`` may add or edit beside ``ftgate.yaml``.
ADOPTION_FILES: frozenset[str] = frozenset({
    CONFIG_FILE,
    ".pre-commit-config.yaml",
    "lefthook.yml",
    "lefthook.yaml",
    ".lefthook.yml",
    ".github/workflows/ftgate.yml",
    ".gitlab-ci.yml",
})
#: Folders whose files are ftgate's or a hook manager's, never a project's source.
ADOPTION_FOLDERS: tuple[str, ...] = (".husky/",)
# Only the scaffolding of tickets/, never a ticket: a ticket is born at
# Stage 0 through the normal doors.
_TICKET_SCAFFOLDING: frozenset[str] = frozenset({
    TICKETS_SLASH + "README.md",
    TICKETS_SLASH + ".gitkeep",
    TICKETS_SLASH + "in-progress/.gitkeep",
    TICKETS_SLASH + "done/.gitkeep",
})


def is_adoption_path(path: str) -> bool:
    return path in ADOPTION_FILES or path in _TICKET_SCAFFOLDING or path.startswith(ADOPTION_FOLDERS)


def adopts(changes: Iterable[tuple[str, str, str | None]]) -> bool:
    """Whether ``(status, path, old_path)`` rows are an adoption change: they
    add ``ftgate.yaml`` and otherwise only add or edit ftgate's own files."""
    added_config = False
    for status, path, old_path in changes:
        if status not in ("A", "M") or (old_path is not None and old_path != path):
            return False
        if not is_adoption_path(path):
            return False
        if path == CONFIG_FILE:
            if status != "A":
                return False
            added_config = True
    return added_config
