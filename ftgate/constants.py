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
