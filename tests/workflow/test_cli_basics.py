"""Names, exit codes, ticket resolution, locking, and the light import path."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ftgate.errors import FtgateError
from ftgate.workflow.fileio import ticket_lock
from tests.support.cli import ftgate

BAD_NAMES = ["../escape", "a/b", ".hidden", "-dash", "Upper", "has space", "trailing.lock", "a..b", "", "x" * 101,
             "semi;colon", "end."]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_ticket_names_write_nothing(capsys, tmp_path: Path, name: str) -> None:
    run = ftgate(capsys, tmp_path, "ticket", "new", "--", name)
    assert run.code == 2, run
    assert "ticket name" in run.err and "fix:" in run.err
    assert not (tmp_path / "tickets").exists()


def test_version_and_usage_codes(capsys, tmp_path: Path) -> None:
    run = ftgate(capsys, tmp_path, "--version")
    assert run.code == 0 and "ftgate, version" in run.out
    assert ftgate(capsys, tmp_path, "no-such-command").code == 2
    assert ftgate(capsys, tmp_path, "reenter", "--class", "Nope", "--reason", "x").code == 2


def test_ticket_resolution_order(capsys, tmp_path: Path, monkeypatch) -> None:
    run = ftgate(capsys, tmp_path, "status")
    assert run.code == 2 and "no ticket in progress" in run.err
    assert ftgate(capsys, tmp_path, "ticket", "new", "alpha").code == 0
    assert "alpha" in ftgate(capsys, tmp_path, "status").out  # the only ticket
    assert ftgate(capsys, tmp_path, "ticket", "new", "beta").code == 0
    run = ftgate(capsys, tmp_path, "status")
    assert run.code == 2 and "alpha, beta" in run.err
    monkeypatch.setenv("FTGATE_TICKET", "beta")
    assert "beta" in ftgate(capsys, tmp_path, "status").out
    assert "alpha" in ftgate(capsys, tmp_path, "status", "alpha").out  # argument wins
    monkeypatch.delenv("FTGATE_TICKET")
    subprocess.run(["git", "init", "-q", "-b", "codex/beta"], cwd=tmp_path, check=True)
    assert "ticket      beta" in ftgate(capsys, tmp_path, "status").out  # branch codex/<name>
    run = ftgate(capsys, tmp_path / "tickets", "status", "gamma")
    assert run.code == 2 and "no ticket 'gamma'" in run.err


def test_unreadable_state_is_exit_2_without_traceback(capsys, tmp_path: Path) -> None:
    assert ftgate(capsys, tmp_path, "ticket", "new", "alpha").code == 0
    state = tmp_path / "tickets/in-progress/alpha/workflow-state.md"
    state.write_text(state.read_text() + "\n- Code Edit Permission: `Unlocked`\n")
    for command in (["status"], ["advance"], ["unlock"]):
        run = ftgate(capsys, tmp_path, *command)
        assert run.code == 2, (command, run)
        assert "Traceback" not in run.text
        assert "workflow-state.md:12," in run.err and "different values" in run.err
    assert ftgate(capsys, tmp_path, "validate").code == 1


def test_lock_excludes_a_second_process(tmp_path: Path) -> None:
    holder = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from ftgate.workflow.fileio import ticket_lock
        with ticket_lock(Path({str(tmp_path)!r})):
            print("held", flush=True)
            time.sleep(3)
    """)
    proc = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(FtgateError, match="another ftgate command"), ticket_lock(tmp_path, wait=0.2):
            pass
    finally:
        proc.wait()
    with ticket_lock(tmp_path, wait=0.2):
        pass  # released when the holder exits


def test_status_and_advance_never_import_the_ml_stack(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import sys
        from ftgate.__main__ import main
        main(["ticket", "new", "alpha"])
        main(["status"])
        main(["status", "--json"])
        main(["advance"])
        main(["validate"])
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in
                       {"torch", "transformers", "trl", "peft", "datasets", "accelerate"})
        print("HEAVY:" + ",".join(heavy))
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, env=env,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert "HEAVY:\n" in result.stdout or result.stdout.rstrip().endswith("HEAVY:")


def test_advance_waits_for_the_ticket_lock(capsys, tmp_path: Path) -> None:
    """While another process holds the ticket's lock, `ftgate advance` waits
    and writes nothing; it proceeds, on the state as it then is, once the
    lock is released. (Racing two processes would rarely hit the window.)"""
    import time

    from ftgate.workflow.model import Stage
    from ftgate.workflow.state import read_state
    from tests.support.tickets import fill

    assert ftgate(capsys, tmp_path, "ticket", "new", "race").code == 0
    folder = tmp_path / "tickets/in-progress/race"
    fill(folder, Stage.INVESTIGATION, "race")
    before = (folder / "workflow-state.md").read_bytes()
    with ticket_lock(folder):
        proc = subprocess.Popen([sys.executable, "-m", "ftgate", "advance"], cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        assert proc.poll() is None, "advance must wait for the lock"
        assert (folder / "workflow-state.md").read_bytes() == before
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, out + err
    state = read_state((folder / "workflow-state.md").read_text(), "x").state
    assert state.current_stage == Stage.INVESTIGATION
    assert [t.transition_id for t in state.transitions] == ["T-001", "T-002"]
