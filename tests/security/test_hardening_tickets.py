"""Item 8 of issue 11: what counts as source, and what a ticket folder may hold.

Nothing under ``tickets/`` is source, so until now anything could be put
there without a ticket at Stage 4 Unlocked, including ``tickets/conftest.py``
(which a plain ``pytest`` collects and runs), executables, symbolic links and
submodules. Each door refuses them: pre-commit, the server's update hook and
``ftgate ci``. The default excludes are anchored at the root and match files.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ftgate.constants import TICKET_FILE_TYPES
from ftgate.policy.config import Config, parse_config
from ftgate.policy.decide import Change, PathChange, decide
from ftgate.policy.ticketfiles import ticket_file_reasons
from tests.support.gitrepo import Repo
from tests.support.server import make_server, push

FOLDER = "tickets/in-progress/t"


# ------------------------------------------------------------ source patterns


@pytest.mark.parametrize(("path", "source"), [
    ("train/docs/loader.py", True),      # `docs/` at any depth used to exclude this
    ("docs/guide.py", False),
    ("docs/api/index.html", False),
    ("README.md", False),
    ("src/notes.md", False),
    ("notes.md/run.py", True),           # a folder named like markdown holds code
    ("notes.md/readme.md", False),
    ("guide.rst", False),
    ("src/train.py", True),
    ("ftgate.yaml", True),
])
def test_default_excludes_are_anchored_and_match_files(path: str, source: bool) -> None:
    assert Config().is_source(path) is source


def test_a_file_glob_in_the_config_matches_files_only() -> None:
    config = parse_config("source:\n  exclude: ['*.txt', '/build', 'gen/']\n")
    assert not config.is_source("a/b.txt")
    assert config.is_source("data.txt/loader.py")
    assert not config.is_source("build/out.py")       # a plain name still names a folder
    assert not config.is_source("x/gen/y.py")


# ------------------------------------------------------------ the pure rule


@pytest.mark.parametrize(("path", "mode", "size", "refused"), [
    # (requirements.md has a rule of its own: tests/enforce/test_criteria_after_stage2.py)
    (f"{FOLDER}/implementation.md", "100644", 100, False),
    (f"{FOLDER}/evidence/RUN-001/run.json", "100644", 100, False),
    (f"{FOLDER}/evidence/RUN-001/samples.jsonl", "100644", 100, False),
    (f"{FOLDER}/evidence/RUN-001/loss.png", "100644", 100, False),
    (f"{FOLDER}/approvals/unlock.sig", "100644", 100, False),
    (f"{FOLDER}/plot.SVG", "100644", 100, False),
    ("tickets/conftest.py", "100644", 10, True),
    (f"{FOLDER}/conftest.py", "100644", 10, True),
    (f"{FOLDER}/run.sh", "100644", 10, True),
    (f"{FOLDER}/Makefile", "100644", 10, True),
    (f"{FOLDER}/.gitkeep", "100644", 0, True),
    (f"{FOLDER}/notes.md", "100755", 10, True),
    (f"{FOLDER}/link.md", "120000", 10, True),
    (f"{FOLDER}/vendored", "160000", None, True),
    (f"{FOLDER}/huge.md", "100644", TICKET_FILE_TYPES[".md"] + 1, True),
])
def test_ticket_folder_allow_list(path: str, mode: str, size: int | None, refused: bool) -> None:
    reasons = ticket_file_reasons([PathChange("A", path, None, mode, size)])
    assert bool(reasons) is refused
    verdict = decide(Change([PathChange("A", path, None, mode, size)]), Config())
    assert verdict.allowed is not refused
    if refused:
        assert reasons[0].rule == "ticket-file-type" and "tickets/" in reasons[0].fix


def test_deleting_a_forbidden_file_is_allowed() -> None:
    assert ticket_file_reasons([PathChange("D", "tickets/conftest.py", None, "000000")]) == []


def test_renaming_code_into_a_ticket_folder_is_refused() -> None:
    reasons = ticket_file_reasons([PathChange("R", f"{FOLDER}/helper.py", "src/helper.py", "100644", 10)])
    assert reasons and "helper.py" in reasons[0].message


# ------------------------------------------------------------ every door


def _plant(work: Repo, kind: str) -> str:
    if kind == "conftest":
        work.write("tickets/conftest.py", "import os\nos.system('echo pwned')\n")
        return "tickets/conftest.py"
    if kind == "executable":
        path = work.write(f"{FOLDER}/notes.md", "#!/bin/sh\necho pwned\n")
        path.chmod(0o755)
        return f"{FOLDER}/notes.md"
    if kind == "symlink":
        link = work.path / FOLDER / "requirements-copy.md"
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink("/etc/passwd", link)
        return f"{FOLDER}/requirements-copy.md"
    assert kind == "gitlink"
    sub = work.path.parent / "sub"
    sub.mkdir()
    for args in (("init", "-q"), ("commit", "-q", "--allow-empty", "-m", "x")):
        Repo(sub, work.env).git(*args)
    commit = Repo(sub, work.env).out("rev-parse", "HEAD")
    work.git("update-index", "--add", "--cacheinfo", f"160000,{commit},{FOLDER}/vendored")
    return f"{FOLDER}/vendored"


@pytest.mark.parametrize("kind", ["conftest", "executable", "symlink", "gitlink"])
def test_every_door_refuses_what_a_ticket_folder_may_not_hold(tmp_path: Path, env: dict[str, str],
                                                               kind: str) -> None:
    bare, work = make_server(tmp_path, env, stage=2)
    assert work.ftgate("install").returncode == 0
    base = work.head()
    path = _plant(work, kind)
    if kind != "gitlink":
        work.git("add", "-A")
    # pre-commit
    check = work.ftgate("check")
    assert check.returncode == 1, check.stderr
    assert "ticket-file-type" in check.stderr or "may not live in a ticket folder" in check.stderr
    assert path in check.stderr
    work.git("commit", "-q", "--no-verify", "-m", f"plant {kind}")
    # the server's update hook
    proc = push(work, "main")
    assert proc.returncode != 0, proc.stderr
    assert "may not live in a ticket folder" in proc.stderr and path in proc.stderr
    assert bare.out("rev-parse", "main") == base
    # ftgate ci on the same history
    ci = work.ftgate("ci", "--base", base, "--head", "HEAD", "--no-github")
    assert ci.returncode == 1, ci.stdout + ci.stderr
    assert "may not live in a ticket folder" in ci.stdout + ci.stderr


def test_honest_ticket_files_and_trainer_evidence_are_accepted(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = make_server(tmp_path, env, stage=2)
    run = f"{FOLDER}/evidence/RUN-001"
    for name in ("run.json", "metrics.json", "log_history.json"):
        work.write(f"{run}/{name}", "{}\n")
    work.write(f"{run}/samples.jsonl", "{}\n")
    work.write(f"{run}/loss.png", b"\x89PNG\r\n\x1a\n")
    work.write(f"{FOLDER}/notes.md", "# notes\n")
    work.commit("evidence and notes")
    proc = push(work, "main")
    assert proc.returncode == 0, proc.stderr
    assert bare.out("rev-parse", "main") == work.head()


def test_every_file_ftgate_itself_writes_into_a_ticket_is_on_the_list() -> None:
    """The trainer's evidence names, the templates and the example ticket:
    if one of them gains a new file type, this fails before an honest
    walk is refused by the server."""
    from importlib import resources

    from ftgate.evidence import record as rec

    names = [f"evidence/RUN-001/{n}" for n in (rec.RUN_JSON, rec.METRICS_JSON, rec.SAMPLES_JSONL,
                                                  rec.LOG_HISTORY_JSON, rec.LOSS_PNG)]
    names += [rec.REPORT_FILE, rec.REQUIREMENTS_FILE]
    for package in ("ftgate.workflow.templates", "ftgate.examples.ticket"):
        names += [entry.name for entry in resources.files(package).iterdir()
                  if entry.is_file() and not entry.name.startswith(("__", "."))]
    assert len(names) > 10
    changes = [PathChange("A", f"{FOLDER}/{name}", None, "100644", 1000) for name in names]
    assert ticket_file_reasons(changes) == []
