"""The gate's answer to one tool call, as plain data.

A leaf of its own so that a call that writes nothing is answered without
importing the gate (git plumbing, the policy) at all.
"""

from __future__ import annotations

from ftgate.records import field, record


@record(slots=True)
class Outcome:
    """``deny`` with the reason text, or no objection (``deny`` False)."""

    deny: bool
    reason: str = ""
    paths: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
