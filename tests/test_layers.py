"""The import-layer contract (docs/architecture.md), read from the source with
``ast`` so the suite enforces it too, not only ``scripts/lint``:

- imports point down only: cli -> git | agents -> train -> evidence -> policy
  -> workflow -> leaves;
- nothing but the CLI imports the trainer (``ftgate.train``);
- no file-level import cycle inside ``ftgate/``.

Every import counts, including those inside functions and under
``TYPE_CHECKING``: a lazy import still ties the two modules together, it only
hides the tie from the reader."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ftgate"

# Rank by the first name under ftgate; lower ranks sit higher and may import
# any higher rank number. A top-level name not listed here is a leaf
# (constants, errors, records, proc, hashing, gitdir, examples, ...).
LAYERS: dict[str, int] = {
    "__main__": 0,
    "cli": 1,
    "demo": 2,
    "git": 3,
    "agents": 3,
    "train": 4,
    "evidence": 5,
    "policy": 6,
    "workflow": 7,
}
LEAF = 8
# Packages that share a rank but are independent of each other. The two
# adapter packages share git's object readers and the hook fast path, so
# they are one layer that may import itself (see docs/architecture.md).
SIBLINGS_APART: set[str] = set()
# Only these may import the trainer (inside their command bodies).
MAY_IMPORT_TRAINER = {"cli", "train"}


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    imported: str  # dotted module name, resolved to a file of ours
    line: int

    def where(self) -> str:
        return f"{self.importer.replace('.', '/')}.py:{self.line}: imports {self.imported}"


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is one of our modules."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in known:
            return candidate
        parts.pop()
    return None


def imports(known: dict[str, Path]) -> Iterator[Import]:
    for module, path in known.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module.split(".")
                    base = base[: len(base) - node.level + (1 if is_package else 0)]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                # `from ftgate.policy import decide` names a submodule when one exists.
                targets = [f"{prefix}.{alias.name}" for alias in node.names] or [prefix]
            for target in targets:
                if not target.startswith("ftgate"):
                    continue
                resolved = _resolve(target, known)
                if resolved is not None and resolved != module:
                    yield Import(module, resolved, node.lineno)


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def rank(module: str) -> int:
    return LAYERS.get(top(module), LEAF)


def test_imports_point_down_only() -> None:
    upward: set[str] = set()
    for imp in imports(modules()):
        here, there = top(imp.importer), top(imp.imported)
        if here == there or not here:
            continue
        if rank(imp.imported) < rank(imp.importer):
            upward.add(imp.where())
        elif here in SIBLINGS_APART and there in SIBLINGS_APART:
            upward.add(imp.where() + " (sibling adapters stay apart)")
    assert not upward, "imports that point up a layer:\n" + "\n".join(sorted(upward))


def test_the_core_never_imports_the_trainer() -> None:
    offenders = {imp.where() for imp in imports(modules())
                 if top(imp.imported) == "train" and top(imp.importer) not in MAY_IMPORT_TRAINER}
    assert not offenders, "the core imports the trainer:\n" + "\n".join(sorted(offenders))


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    # The check below passes vacuously if this helper never reports anything.
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_file_level_import_cycles() -> None:
    known = modules()
    edges: dict[str, set[str]] = {name: set() for name in known}
    lines: dict[tuple[str, str], int] = {}
    for imp in imports(known):
        edges[imp.importer].add(imp.imported)
        lines.setdefault((imp.importer, imp.imported), imp.line)
    report = []
    for component in cycles(edges):
        members = set(component)
        ties = [f"  {a.replace('.', '/')}.py:{lines[(a, b)]} -> {b}"
                for a in component for b in sorted(edges[a] & members)]
        report.append(" <-> ".join(component) + "\n" + "\n".join(ties))
    assert not report, "import cycles between files:\n" + "\n".join(report)


def test_the_checks_see_the_package() -> None:
    # Guards against a path mistake making every check above pass on nothing.
    known = modules()
    assert {"ftgate.cli.main", "ftgate.policy.decide", "ftgate.workflow.gates"} <= set(known)
    assert sum(1 for _ in imports(known)) > 100
