"""The Stage 5 gate's evidence check, as the workflow layer asks for it.

:class:`ftgate.workflow.gates.GateContext` takes a ``Stage5Evidence``; this is
the one the commands that judge a ticket on disk pass in (``ftgate advance``,
``ftgate status``). It reads ``stage5_evidence`` from ftgate.yaml only when
the Stage 5 gate asks, so pydantic and the YAML loader stay off every other
stage, and a broken ftgate.yaml is reported by the gate that needs it.
"""

from __future__ import annotations

from pathlib import Path

from ftgate.workflow.findings import Finding


class RepoEvidence:
    """Stage 5 evidence of tickets under the repository ``root`` (None:
    outside a repository, where the evidence is always verified)."""

    __slots__ = ("_mode", "root")

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._mode: str | None = None

    def mode(self) -> str:
        if self._mode is None:
            if self.root is None:
                self._mode = "verified"
            else:
                from ftgate.policy.config import load_config

                self._mode = load_config(self.root).stage5_evidence
        return self._mode

    def findings(self, folder: Path) -> list[Finding]:
        from ftgate.evidence.approval_files import waiver_check
        from ftgate.evidence.verify import gate_findings

        # A waiver this checkout's ftgate.yaml wants signed is checked here
        # too, so `ftgate advance` says so before the push is refused for it.
        return gate_findings(folder, root=self.root, waiver_approval=waiver_check(folder, self.root))
