"""The policy the hooks run with, read from a small cache.

Validating ``ftgate.yaml`` needs pydantic, yaml and pathspec (hundreds of
milliseconds to import); a commit hook has tens. So the config is compiled
once per distinct content (its git blob id) and ftgate version into a JSON
file under the git dir, and the hooks read only that. The parsed summaries of
``workflow-state.md`` blobs are cached the same way: a blob id names its
content exactly, so a cached summary can never be stale.

stdlib only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from ftgate import __version__
from ftgate.policy.paths import SourceMatcher
from ftgate.records import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs the hook a few ms at import
    from typing import Any

NO_CONFIG = "none"
# Bumped when what is cached changes shape or meaning (2: the config gained
# stage5_evidence; 3: approvals; 4: default excludes anchored, file globs
# match files only), so an entry written by older code is never read.
CACHE_FORMAT = 4


@record(slots=True)
class Policy:
    """What decide() needs from a config: plain data, cheap to build."""

    matcher: SourceMatcher
    untracked_source: str = "block"
    ticket: str | None = None
    # What the Stage 5 gate trusts when a change leaves Stage 5 ("verified"
    # or "report"), as ftgate.yaml's ``stage5_evidence`` says.
    stage5_evidence: str = "verified"
    # ftgate.yaml's ``approvals`` block as plain data (transitions,
    # allowed_signers, separate), or None when approvals are off.
    approvals: dict[str, Any] | None = None
    # A push of many commits asks about the same paths again and again.
    _known: dict[str, bool] = field(default_factory=dict)

    def is_source(self, path: str) -> bool:
        known = self._known.get(path)
        if known is None:
            # Who may approve is policy, like ftgate.yaml: changing it needs a ticket.
            signers = self.approvals["allowed_signers"] if self.approvals else None
            known = self._known[path] = path == signers or self.matcher.is_source(path)
        return known


@record(slots=True)
class PolicyError:
    """A config that does not validate: the message names the key and line."""

    message: str
    hint: str | None = None


class Cache:
    """A folder of small JSON files keyed by content id; a missing or
    unwritable folder only makes ftgate slower, never wrong."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder / "ftgate-cache" / f"{__version__}-{CACHE_FORMAT}" if folder is not None else None

    def get(self, kind: str, key: str) -> Any | None:
        if self.folder is None:
            return None
        try:
            with open(self.folder / f"{kind}-{key}.json", encoding="utf-8") as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return None

    def put(self, kind: str, key: str, value: Any) -> None:
        if self.folder is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self.folder / f".{kind}-{key}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(value, fh)
            os.replace(tmp, self.folder / f"{kind}-{key}.json")
        except OSError:
            pass


def policy_from_data(data: dict[str, Any]) -> Policy | PolicyError:
    if not data.get("ok"):
        return PolicyError(str(data.get("error")), data.get("hint"))
    return Policy(SourceMatcher.from_json(data["matcher"]), data.get("untracked_source", "block"),
                  data.get("ticket"), data.get("stage5_evidence", "verified"), data.get("approvals"))


def load_policy(blob_id: str | None, read: Callable[[], bytes | None], cache: Cache,
                label: str = "ftgate.yaml") -> Policy | PolicyError:
    """The policy for a config blob (None: no ``ftgate.yaml``), compiled at
    most once per content."""
    key = blob_id or NO_CONFIG
    data = cache.get("config", key)
    if data is None:
        from ftgate.policy.config import compile_policy

        data = compile_policy(read() if blob_id else None, label)
        cache.put("config", key, data)
    return policy_from_data(data)
