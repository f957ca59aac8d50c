"""The agent adapters sit beside ftgate.git: they may import the policy,
the workflow and the leaves, never the trainer or the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import ftgate

AGENTS = Path(ftgate.__file__).parent / "agents"


def test_agents_import_neither_trainer_nor_cli() -> None:
    bad = []
    for path in sorted(AGENTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            bad += [f"{path.name} imports {n}" for n in names
                    if n.startswith(("ftgate.train", "ftgate.cli"))]
    assert bad == []
