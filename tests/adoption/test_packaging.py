"""The distribution builds under its public name, and the version, the
changelog and the release-tag convention agree with each other."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import ftgate

ROOT = Path(__file__).resolve().parents[2]
DIST = "ftgate-workflow"


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_distribution_name_and_version_agree() -> None:
    project = _project()
    assert project["name"] == DIST
    assert project["scripts"]["ftgate"] == "ftgate.__main__:main"
    assert project["version"] == ftgate.__version__


def test_changelog_has_the_current_version_and_the_tag_convention() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{ftgate.__version__}]" in text
    assert "`vX.Y.Z`" in text


def test_every_install_hint_names_the_distribution() -> None:
    """`pip install ftgate` installs somebody else's project."""
    wrong = re.compile(r"pip install +['\"]?ftgate(?![-\w])")
    offenders = []
    for path in [ROOT / "README.md", *(ROOT / "ftgate").rglob("*.py"), *(ROOT / "examples").rglob("*"),
                 *(ROOT / "docs").rglob("*.md"), ROOT / ".pre-commit-hooks.yaml"]:
        if path.is_file() and path.suffix in {".md", ".py", ".yml", ".yaml", ".sh", ""}:
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if wrong.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_readme_pins_a_real_release_tag() -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"rev: v{ftgate.__version__}" in readme
    assert "rev: <tag>" not in readme


def _source_copy(dest: Path) -> Path:
    # A copy, so the build's scratch folders never land in the checkout other
    # tests (and other engineers) are running from.
    ignore = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__",
                                    ".pytest_cache", ".hypothesis", "runs", "tiny-model", ".work")
    return Path(shutil.copytree(ROOT, dest / "src", ignore=ignore))


@pytest.mark.slow
def test_wheel_builds_under_the_new_name(tmp_path: Path) -> None:
    src = _source_copy(tmp_path)
    out = tmp_path / "wheels"
    # No isolation: the build backend comes from this environment, so the
    # test needs no package index.
    proc = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation",
                           "--skip-dependency-check", "--outdir", str(out), str(src)],
                          check=False, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheels = list(out.glob("*.whl"))
    assert [w.name for w in wheels] == [f"ftgate_workflow-{ftgate.__version__}-py3-none-any.whl"]
    with zipfile.ZipFile(wheels[0]) as zf:
        names = set(zf.namelist())
        meta = zf.read(f"ftgate_workflow-{ftgate.__version__}.dist-info/METADATA").decode()
        entry_points = zf.read(f"ftgate_workflow-{ftgate.__version__}.dist-info/entry_points.txt").decode()
    assert "ftgate/__init__.py" in names
    assert "ftgate/cli/main.py" in names
    assert "ftgate/workflow/templates/workflow-state.md" in names
    templates = {n for n in names if n.startswith("ftgate/workflow/templates/") and n.endswith(".md")}
    assert len(templates) == len(list((ROOT / "ftgate/workflow/templates").glob("*.md")))
    assert "ftgate/examples/ticket/requirements.md" in names
    assert not any(n.startswith("tests/") for n in names)
    assert f"Name: {DIST}\n" in meta
    assert f"Version: {ftgate.__version__}\n" in meta
    assert "ftgate = ftgate.__main__:main" in entry_points
