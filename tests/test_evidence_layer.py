"""The evidence layer and the two leaves import only downwards: the Stage 5
verifier must never need the trainer, and the leaves need nothing of ftgate
but its error type."""

from __future__ import annotations

import ast
from pathlib import Path

import ftgate

PACKAGE = Path(ftgate.__file__).parent


def _ftgate_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("ftgate"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("ftgate"):
            found.add(node.module)
    return found


def test_evidence_imports_nothing_from_the_trainer_or_the_adapters() -> None:
    above = ("ftgate.train", "ftgate.git", "ftgate.agents", "ftgate.cli")
    upward = [
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for path in sorted((PACKAGE / "evidence").rglob("*.py"))
        for name in sorted(_ftgate_imports(path))
        if any(name == a or name.startswith(a + ".") for a in above)
    ]
    assert upward == []


def test_hashing_and_yaml_loader_are_leaves() -> None:
    for leaf in ("hashing.py", "yamlmodel.py"):
        assert _ftgate_imports(PACKAGE / leaf) <= {"ftgate.errors"}, leaf
