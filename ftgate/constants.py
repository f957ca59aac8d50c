"""Names shared by every layer, written once.

A leaf module: it imports nothing, so the commit hook can read it for free
and no two copies of a name can drift apart.
"""

from __future__ import annotations

#: The policy file at the repository root.
CONFIG_FILE = "ftgate.yaml"
#: The file in each ticket folder that records the stage and permission.
STATE_FILE = "workflow-state.md"
#: The folder that holds every ticket, and its two sub-folders.
TICKETS = "tickets"
TICKETS_SLASH = TICKETS + "/"
IN_PROGRESS = "in-progress"
DONE = "done"
#: Ticket branches are ``codex/<ticket-name>``.
BRANCH_PREFIX = "codex/"
#: git's name for "no object": the old side of a created ref, the new side of a deleted one.
ZERO_OID = "0" * 40

#: What a ticket folder may hold, by file-name suffix (compared lower-case),
#: each with its size cap in bytes. Nothing under ``tickets/`` is source, so
#: anything that could run there (``tickets/conftest.py`` under a plain
#: ``pytest``), an executable, a link or a submodule is refused by every door.
#: Markdown: the ticket's artifacts. ``.sig``: approvals and signed
#: statements (ssh signatures). json/jsonl/csv: evidence and approval
#: records, including what ``ftgate train`` writes under ``evidence/RUN-*/``
#: (run.json, metrics.json, log_history.json, samples.jsonl). png/svg: plots
#: (loss.png). Other issues extend this table, not the rule.
TICKET_FILE_TYPES: dict[str, int] = {
    ".md": 1024 * 1024,
    ".sig": 64 * 1024,
    ".json": 32 * 1024 * 1024,
    ".jsonl": 64 * 1024 * 1024,
    ".csv": 32 * 1024 * 1024,
    ".png": 8 * 1024 * 1024,
    ".svg": 4 * 1024 * 1024,
}
#: git's modes for a regular file; anything else (100755 executable, 120000
#: symlink, 160000 gitlink) is refused under tickets/.
REGULAR_FILE_MODE = "100644"
