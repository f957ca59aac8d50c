"""Issue 11 item 2: ticket names are validated wherever they come from (the
``codex/`` branch suffix, folder names, FTGATE_TICKET, the config's
``ticket``), and a ``workflow-state.md`` at any depth under ``tickets/`` is
a state file: a nested ticket folder is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftgate.policy import decide as d
from ftgate.policy.compiled import Policy
from ftgate.policy.config import Config
from ftgate.ticketname import name_problem
from tests.support.gitrepo import git_env
from tests.support.server import make_server, push
from tests.support.tickets import FILES_UP_TO_4, state_text


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return git_env(tmp_path / "home")


def test_a_codex_branch_with_a_slash_names_no_ticket_and_its_nested_state_is_refused(
        tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = make_server(tmp_path, env)
    work.git("checkout", "-q", "-b", "codex/a/b")
    folder = "tickets/done/a/b"
    # A hand-written Stage 4 Unlocked one folder deeper than any ticket.
    work.write(f"{folder}/workflow-state.md", state_text("b", 4, unlocked=True))
    for name, text in FILES_UP_TO_4.items():
        work.write(f"{folder}/{name}", text)
    work.commit("nested ticket")
    work.write("src/train.py", "print('sneaky')\n")
    work.commit("source under the nested ticket")
    proc = push(work, "codex/a/b")
    assert proc.returncode != 0
    assert "[ticket-layout]" in proc.stderr and "nested ticket folder" in proc.stderr
    assert "ticket name 'a/b' from branch codex/a/b contains a slash" in proc.stderr
    assert bare.git("rev-parse", "-q", "--verify", "refs/heads/codex/a/b", check=False).returncode != 0


def test_a_ticket_folder_with_a_bad_name_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = make_server(tmp_path, env)
    work.write("tickets/in-progress/Bad Name/workflow-state.md", state_text("x", 0))
    work.commit("bad folder")
    proc = push(work, "main")
    assert proc.returncode != 0
    assert "[ticket-layout]" in proc.stderr and "'Bad Name'" in proc.stderr


@pytest.mark.parametrize("name", ["a/b", "../x", "A", ".hidden", "x..y", "t\u0663", ""])
def test_every_source_of_a_name_uses_the_one_rule(name: str) -> None:
    assert name_problem(name) is not None
    policy = Policy(Config().matcher)
    source = [d.PathChange("M", "src/train.py")]
    explicit = d.Change(source, explicit_ticket=name or None, branch=f"codex/{name}")
    gov = d.governing_ticket(explicit, policy)
    assert gov.ticket is None and (gov.problem or not name)
    verdict = d.decide(explicit, policy)
    assert not verdict.allowed and {r.rule for r in verdict.reasons} == {"no-ticket"}
    branch_only = d.Change(source, branch=f"codex/{name}")
    assert d.governing_ticket(branch_only, policy).ticket is None


def test_the_configs_ticket_is_validated() -> None:
    class Configured:
        untracked_source = "allow"
        ticket = "a/b"

        def is_source(self, path: str) -> bool:
            return path.startswith("src/")

    change = d.Change([d.PathChange("M", "src/train.py")])
    verdict = d.decide(change, Configured())
    # Even with untracked source allowed, a bad name refuses instead of governing nothing.
    assert not verdict.allowed
    assert "ticket name 'a/b' from ftgate.yaml `ticket` contains a slash" in verdict.reasons[0].message
