"""``ftgate init`` and ``ftgate uninstall``: taking ftgate into an existing
repository, and taking it out again.

``init`` reads the tracked layout, proposes an ``ftgate.yaml`` that names
where code lives, installs the client hooks (or, when another hook manager
owns the hooks, prints the lines to add to its config), and says what the
server and CI need. What it wrote is recorded in ``ftgate-init.json`` in the
common git dir, so ``uninstall`` removes exactly that: ftgate's own hooks
(restoring a hook it had replaced) and the files ``init`` created, when they
still hold what ``init`` wrote.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ftgate import proc
from ftgate.constants import CONFIG_FILE
from ftgate.errors import FtgateError
from ftgate.git.install import CLIENT_HOOKS, MARKER, hooks_dir_of, install_hooks, is_bare

MANIFEST = "ftgate-init.json"
# Top-level folders that hold prose or tooling, never the model's code.
_DOC_DIRS = frozenset({"docs", "doc", "documentation", "site", "website"})
_TOOLING_DIRS = frozenset({".github", ".gitlab", ".husky", "tickets", ".vscode", ".idea", ".devcontainer"})
_CODE_SUFFIXES = (".py", ".pyx", ".sh", ".yaml", ".yml", ".json", ".toml", ".cfg", ".ini", ".ipynb", ".jsonl")
_CODE_FILES = frozenset({"pyproject.toml", "setup.py", "setup.cfg", "Makefile", "Dockerfile", "environment.yml",
                         "accelerate.yaml"})
_DOC_SUFFIXES = (".md", ".rst", ".txt")


@dataclass(slots=True)
class Layout:
    """What ``init`` found: top-level entries that hold code, and those that are docs."""

    code: list[str] = field(default_factory=list)
    docs: list[str] = field(default_factory=list)


@dataclass(slots=True)
class InitReport:
    root: Path
    lines: list[str] = field(default_factory=list)
    ok: bool = True


def _tracked(root: Path) -> list[str]:
    out = proc.run(["ls-files", "-z", "--full-name"], cwd=root).stdout
    return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]


def toplevel(start: Path) -> Path:
    """The work tree's top folder; a clear error in a bare repository or outside git."""
    if is_bare(start):
        raise FtgateError(f"{start}: a bare repository has no work tree to adopt",
                          hint="run this in a clone; on the server use `ftgate install --server PATH`")
    done = proc.text(proc.run(["rev-parse", "--show-toplevel"], cwd=start, ok_codes=None))
    if done.returncode != 0:
        raise FtgateError(f"{start}: not inside a git repository",
                          hint="run this in the checkout of the repository to adopt")
    return Path(done.stdout.strip())


def detect_layout(root: Path) -> Layout:
    """Top-level code locations (Python packages, ``src/``, ``train*``,
    ``configs``, scripts) and documentation, from the tracked files."""
    layout = Layout()
    code: dict[str, None] = {}
    docs: dict[str, None] = {}
    for path in _tracked(root):
        head, _, rest = path.partition("/")
        if rest:
            if head in _TOOLING_DIRS or head.startswith("."):
                continue
            if head.lower() in _DOC_DIRS:
                docs[f"{head}/"] = None
            elif rest.endswith(_CODE_SUFFIXES) or head in ("src", "configs") or head.startswith("train"):
                code[f"/{head}/"] = None
        elif head.endswith(_DOC_SUFFIXES) and not head.startswith("requirements"):
            continue  # prose at the top: the default excludes cover *.md and *.rst
        elif head.endswith(".py"):
            code["/*.py"] = None  # a new top-level script is code too
        elif head.endswith(_CODE_SUFFIXES) or head in _CODE_FILES or head.startswith(("train", "requirements")):
            code[f"/{head}"] = None
    layout.code = sorted(code)
    layout.docs = sorted(docs)
    return layout


def propose_config(layout: Layout) -> str:
    """The text of the proposed ``ftgate.yaml``."""
    include = layout.code or ["*"]
    exclude = ["*.md", "*.rst", *[d for d in layout.docs if d != "docs/"], "docs/"]
    lines = [
        "# ftgate.yaml, proposed by `ftgate init` from this repository's layout.",
        "# Source (the paths below) changes only while a ticket is at Stage 4 Unlocked.",
        "# `ftgate config is-source PATH` tells how a path is judged; edit the lists to taste",
        "# before the adoption commit (after it, changing this file needs a ticket).",
        "version: 1",
        "",
        "source:",
        "  include:",
        *[f'    - "{p}"' for p in include],
        "  exclude:",
        *[f'    - "{p}"' for p in exclude],
        "",
        "untracked_source: block",
        "stage5_evidence: verified",
        "",
        "# Approvals: a person's SSH signature on chosen transitions (see docs/security.md).",
        "# To turn them on, list the signers' keys in the allowed-signers file and uncomment:",
        "# approvals:",
        "#   transitions: [unlock, done]      # any of: unlock, done, waive, reopen",
        "#   allowed_signers: .ftgate/allowed_signers",
        "#   separate: true",
        "",
    ]
    return "\n".join(lines)


def _manager(root: Path, hooks_setting: str | None) -> str | None:
    """The hook manager that owns this repository's hooks, if any."""
    if (root / ".pre-commit-config.yaml").is_file():
        return "pre-commit"
    if any((root / name).is_file() for name in ("lefthook.yml", "lefthook.yaml", ".lefthook.yml")):
        return "lefthook"
    if (root / ".husky").is_dir() or (hooks_setting or "").startswith(".husky"):
        return "husky"
    if hooks_setting:
        return "core.hooksPath"
    return None


_SNIPPETS: dict[str, list[str]] = {
    "pre-commit": [
        "add to .pre-commit-config.yaml (then `pre-commit install -t pre-commit -t pre-push`):",
        "  - repo: local",
        "    hooks:",
        "      - {id: ftgate-check, name: ftgate check, entry: ftgate check, language: system,"
        " pass_filenames: false, always_run: true}",
        "      - {id: ftgate-pre-push, name: ftgate pre-push, entry: ftgate hook pre-push, language: system,"
        " pass_filenames: false, always_run: true, stages: [pre-push]}",
    ],
    "lefthook": [
        "add to lefthook.yml (then `lefthook install`):",
        "  pre-commit:",
        "    commands:",
        "      ftgate: {run: ftgate check}",
        "  pre-push:",
        "    commands:",
        "      ftgate: {run: ftgate hook pre-push {1} {2}, use_stdin: true}",
    ],
    "husky": [
        "add a line to .husky/pre-commit:  ftgate check",
        "and to .husky/pre-push:          ftgate hook pre-push \"$@\"",
    ],
    "core.hooksPath": [
        "core.hooksPath points at a folder another tool manages; call from its hooks:",
        "  pre-commit: ftgate check        pre-push: ftgate hook pre-push \"$@\"",
    ],
}

SERVER_AND_CI = [
    "server: on the bare repository, `ftgate install --server /path/to/repo.git` (one `update` hook);",
    "  GitLab: see docs/hosting.md (a `hooks set` tarball with the single update hook)",
    "CI: copy examples/github-actions/ftgate.yml to .github/workflows/ (GitHub), or run",
    "  `ftgate ci --base <target> --head HEAD` in a merge-request job (GitLab)",
]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _manifest_path(root: Path) -> Path:
    return _common_dir(root) / MANIFEST


def _common_dir(root: Path) -> Path:
    out = proc.text(proc.run(["rev-parse", "--git-common-dir"], cwd=root)).stdout.strip()
    path = Path(out)
    return path if path.is_absolute() else (root / path).resolve()


def _load_manifest(root: Path) -> dict[str, dict[str, str]]:
    path = _manifest_path(root)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"files": {}, "hooks": {}}
    except (OSError, ValueError) as err:
        raise FtgateError(f"{path}: unreadable ({err})", hint="delete it; `ftgate uninstall` then removes "
                          "only ftgate's own hooks") from None
    return {"files": dict(data.get("files", {})), "hooks": dict(data.get("hooks", {}))}


def _save_manifest(root: Path, manifest: dict[str, dict[str, str]]) -> None:
    path = _manifest_path(root)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def init(start: Path, *, hooks: bool = True, dry_run: bool = False) -> InitReport:
    """Adopt ftgate in the repository holding ``start``."""
    root = toplevel(start)
    report = InitReport(root)
    out = report.lines
    layout = detect_layout(root)
    config_path = root / CONFIG_FILE
    manifest = _load_manifest(root)
    if config_path.exists():
        out.append(f"{CONFIG_FILE}: already present, left as it is")
    else:
        text = propose_config(layout)
        out.append(f"{CONFIG_FILE}: " + ("would write" if dry_run else "written")
                   + " (source: " + (", ".join(layout.code) or "every path") + ")")
        if not dry_run:
            config_path.write_text(text, encoding="utf-8")
            manifest["files"][CONFIG_FILE] = _sha(text.encode())
    folder, setting = hooks_dir_of(root)
    manager = _manager(root, setting)
    if not hooks:
        out.append("hooks: not installed (--no-hooks)")
    elif manager is not None:
        out.append(f"hooks: {manager} manages this repository's hooks; ftgate leaves them alone")
        out += _SNIPPETS[manager]
    elif dry_run:
        out.append(f"hooks: would install pre-commit and pre-push into {folder}")
    else:
        installed = install_hooks(root)
        out += installed.lines()
        for result in installed.results:
            if result.action in ("written", "replaced-foreign", "unchanged"):
                manifest["hooks"][result.name] = result.action
        report.ok = installed.ok
    if not dry_run:
        _save_manifest(root, manifest)
    out.append("next: review ftgate.yaml, then make the adoption commit (accepted without a ticket when it "
               "changes only ftgate.yaml and ftgate's own files):")
    out.append(f"  git add {CONFIG_FILE} && git commit -m 'Adopt ftgate'")
    out += SERVER_AND_CI
    return report


def uninstall(start: Path) -> InitReport:
    """Remove ftgate's hooks (restoring any it replaced) and the files
    ``init`` wrote that still hold what it wrote; nothing else."""
    bare = is_bare(start)
    root = start if bare else toplevel(start)
    report = InitReport(root)
    folder, _setting = hooks_dir_of(root)
    names = (*CLIENT_HOOKS, "pre-receive", "update")
    for name in names:
        path = folder / name
        try:
            head = path.read_text(encoding="utf-8", errors="replace")[:4000]
        except OSError:
            continue
        if MARKER not in head:
            continue
        backup = folder / f"{name}.ftgate-backup"
        if backup.exists():
            os.replace(backup, path)
            report.lines.append(f"{name}: ftgate's hook removed, the earlier hook restored")
        else:
            path.unlink()
            report.lines.append(f"{name}: ftgate's hook removed")
    if bare:
        return report
    manifest = _load_manifest(root)
    for rel, digest in sorted(manifest["files"].items()):
        path = root / rel
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        if _sha(data) != digest:
            report.lines.append(f"{rel}: changed since `ftgate init` wrote it; left in place")
            continue
        path.unlink()
        report.lines.append(f"{rel}: removed (written by `ftgate init`)")
    manifest_file = _manifest_path(root)
    if manifest_file.exists():
        manifest_file.unlink()
    if not report.lines:
        report.lines.append("nothing of ftgate's was installed here")
    return report
