"""Server hooks (update, pre-receive) in a real bare repository, real
`git push`, pre-push on the client, and `ftgate ci` on the same history."""

from __future__ import annotations

from pathlib import Path

from ftgate.workflow.model import Permission
from tests.support.gitrepo import Repo
from tests.support.server import make_server, push, seed_ticket
from tests.support.tickets import edit_state


def test_no_verify_commit_at_stage_2_is_refused_by_server_and_ci(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = make_server(tmp_path, env, stage=2)
    base = work.head()
    folder = "tickets/in-progress/t"
    work.write(f"{folder}/requirements.md", "# Requirements\n\n- Status: `Draft`\n\nnotes\n")
    work.commit("ticket-only at Stage 2")
    assert push(work, "main").returncode == 0
    work.write("src/train.py", "print('sneaky')\n")
    work.commit("sneak past the local hook")  # --no-verify
    work.write("src/train.py", "print('sneakier')\n")
    work.git("add", "-A")
    work.git("-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", "hooks path trick")
    proc = push(work, "main")
    assert proc.returncode != 0
    assert "remote: ftgate: commit" in proc.stderr and "src/train.py" in proc.stderr
    assert "Stage 2" in proc.stderr and "fix:" in proc.stderr
    # A pushed commit cannot be unstaged: the server says how to take it out of history.
    assert "git rebase -i" in proc.stderr and "git restore --staged" not in proc.stderr
    assert bare.out("rev-parse", "main") != work.head()

    ci = work.ftgate("ci", "--base", base, "--head", "HEAD", "--no-github")
    assert ci.returncode == 1 and "2 refused" in ci.stdout
    summary = work.path.parent / "summary.md"
    gh = work.ftgate("ci", "--base", base, "--head", "HEAD",
                     env=dict(work.env, GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary)))
    assert gh.returncode == 1
    assert "::error file=src/train.py,title=ftgate source-locked" in gh.stdout
    assert "refused" in summary.read_text()


def test_client_pre_push_catches_no_verify_commits_on_every_ref(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = make_server(tmp_path, env, stage=2)
    assert work.ftgate("install").returncode == 0
    work.git("checkout", "-q", "-b", "docs-only")
    work.write("README.md", "# more docs\n")
    work.commit("docs")
    work.git("checkout", "-q", "-b", "zz-bad")
    work.write("src/train.py", "print('bad')\n")
    work.commit("bad")
    # The good ref first: a hook that looks only at the first ref would pass.
    proc = push(work, "docs-only", "zz-bad", extra=())
    assert proc.returncode != 0
    assert "refs/heads/zz-bad: refused" in proc.stderr
    assert bare.git("rev-parse", "--verify", "-q", "refs/heads/zz-bad", check=False).returncode != 0


def test_stage_4_unlocked_is_accepted_everywhere(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = make_server(tmp_path, env, stage=4, unlocked=True)
    base = work.head()
    work.write("src/train.py", "print('allowed')\n")
    work.commit("real work")
    proc = push(work, "main")
    assert proc.returncode == 0, proc.stderr
    assert bare.out("rev-parse", "main") == work.head()
    assert work.ftgate("ci", "--base", base, "--head", "HEAD", "--no-github").returncode == 0


def ticket_branch(work: Repo) -> None:
    """codex/t as the workflow makes it: the unlock committed on its own,
    then the source change. (The full walk to an archive, merged through
    the server, is the demo's: tests/test_demo.py.)"""
    work.git("checkout", "-q", "-b", "codex/t")
    edit_state(work, "tickets/in-progress/t",
               lambda e: e.set_token("codeeditpermission", Permission.UNLOCKED))
    work.commit("unlock")
    work.write("src/train.py", "print('feature')\n")
    work.commit("feature")


def test_merge_of_a_ticket_branch_is_accepted_and_an_evil_merge_is_not(tmp_path: Path,
                                                                       env: dict[str, str]) -> None:
    bare, work = make_server(tmp_path, env, stage=4)
    ticket_branch(work)
    assert push(work, "codex/t").returncode == 0

    work.git("checkout", "-q", "main")
    work.git("branch", "evil", "main")
    work.git("merge", "-q", "--no-ff", "--no-edit", "codex/t")
    # The branch's commits are new to main and judged again there: the
    # ticket they carry unlocked governs them.
    proc = push(work, "main")
    assert proc.returncode == 0, proc.stderr

    work.git("checkout", "-q", "evil")
    work.write("README.md", "# demo on evil\n")
    work.commit("diverge")
    work.git("merge", "-q", "--no-ff", "--no-commit", "codex/t")
    work.write("src/extra.py", "print('smuggled')\n")
    work.git("add", "-A")
    work.git("commit", "-q", "--no-verify", "-m", "evil merge")
    proc = push(work, "evil")
    assert proc.returncode != 0
    assert "src/extra.py" in proc.stderr
    assert "src/train.py" not in proc.stderr  # the merged branch's own change is allowed


def test_several_refs_are_judged_ref_by_ref(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = make_server(tmp_path, env, stage=2)
    work.git("checkout", "-q", "-b", "good")
    work.write("README.md", "# fine\n")
    work.commit("docs")
    work.git("checkout", "-q", "-b", "bad", "main")
    work.write("src/train.py", "print('bad')\n")
    work.commit("bad")
    proc = push(work, "good", "bad")
    assert proc.returncode != 0
    assert bare.git("rev-parse", "-q", "--verify", "refs/heads/good", check=False).returncode == 0
    assert bare.git("rev-parse", "-q", "--verify", "refs/heads/bad", check=False).returncode != 0
    assert "refs/heads/bad" in proc.stderr


def test_pre_receive_refuses_the_whole_push_and_names_each_ref(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = make_server(tmp_path, env, hook="pre-receive", stage=2)
    work.git("checkout", "-q", "-b", "good")
    work.write("README.md", "# fine\n")
    work.commit("docs")
    work.git("checkout", "-q", "-b", "bad", "main")
    work.write("src/train.py", "print('bad')\n")
    work.commit("bad")
    bare.git("config", "receive.advertisePushOptions", "true")
    work.git("checkout", "-q", "main")
    work.write("README.md", "# docs\n")
    work.commit("docs")
    work.commit("empty")
    proc = push(work, "main", extra=("--no-verify", "-o", "ftgate.verbose"))
    assert proc.returncode == 0, proc.stderr
    assert "refs/heads/main: ok (2 new commit(s) judged)" in proc.stderr
    gitlab_env = dict(work.env, GL_ID="user-1")
    proc = push(work, "good", "bad", env=gitlab_env)
    assert proc.returncode != 0
    assert "remote: GL-HOOK-ERR: ftgate:" in proc.stderr
    assert "refs/heads/bad: refused" in proc.stderr
    assert bare.git("rev-parse", "-q", "--verify", "refs/heads/good", check=False).returncode != 0


def test_tags_deletions_empty_commits_and_push_options(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = make_server(tmp_path, env, stage=2)
    work.write("README.md", "# docs\n")
    work.commit("docs")
    work.commit("empty")  # --allow-empty
    assert push(work, "main").returncode == 0
    work.git("tag", "v1")
    work.git("tag", "-a", "-m", "annotated", "v1a")
    assert push(work, "v1", "v1a").returncode == 0
    work.git("checkout", "-q", "-b", "topic")
    work.write("src/train.py", "print('bad')\n")
    work.commit("bad")
    work.git("tag", "v2-bad")
    assert push(work, "v2-bad").returncode != 0
    work.git("checkout", "-q", "main")
    work.git("checkout", "-q", "-b", "tmp")
    assert push(work, "tmp").returncode == 0
    assert push(work, ":tmp").returncode == 0
    assert bare.git("rev-parse", "-q", "--verify", "refs/heads/tmp", check=False).returncode != 0


def test_force_push_judges_only_new_commits(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = make_server(tmp_path, env, stage=4, unlocked=True)
    work.write("src/train.py", "print('v1')\n")
    work.commit("v1")
    assert push(work, "main").returncode == 0
    work.write("src/train.py", "print('v2')\n")
    work.git("add", "-A")
    work.git("commit", "-q", "--amend", "--no-verify", "-m", "amended")
    assert push(work, "+main").returncode == 0


def test_hook_input_is_validated(tmp_path: Path, env: dict[str, str]) -> None:
    bare, _ = make_server(tmp_path, env)
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "ftgate", "hook", "pre-receive"], cwd=bare.path, env=bare.env,
                          input="garbage\n", capture_output=True, text=True)
    assert proc.returncode == 2 and "expected '<old-id> <new-id> <ref>'" in proc.stderr


def test_a_long_push_is_judged_commit_by_commit(tmp_path: Path, env: dict[str, str]) -> None:
    """1,000 commits in one push: the ticket is locked part-way and one
    later commit edits source. Facts are carried from parent to child, so
    this checks that carrying never skips a commit or a state change."""
    from tests.support.tickets import state_text

    bare, work = make_server(tmp_path, env, hook="pre-receive", stage=4, unlocked=True)
    base = work.head()
    locked = state_text("t", 4)
    lines: list[str] = []
    for i in range(1000):
        lines += ["commit refs/heads/main", f"committer T <t@example.com> {1_700_000_000 + i} +0000",
                  "data 2", "c"]
        if i == 0:
            lines.append(f"from {base}")
        if i == 100:
            path, body = "src/early.py", "x = 1\n"  # still unlocked: allowed
        elif i == 300:
            path, body = "tickets/in-progress/t/workflow-state.md", locked
        elif i == 500:
            path, body = "src/train.py", "print('after the lock')\n"
        else:
            path, body = f"docs/note{i % 50}.md", f"note {i}\n"
        data = body.encode()
        lines += [f"M 100644 inline {path}", f"data {len(data)}"]
        lines.append(body if body.endswith("\n") else body + "\n")
    work.git("fast-import", "--quiet", "--force", input="\n".join(lines).encode())
    commits = work.out("rev-list", "--reverse", f"{base}..main").split()
    assert len(commits) == 1000
    proc = push(work, "main")
    assert proc.returncode != 0
    assert f"commit {commits[500][:10]} on refs/heads/main: refused" in proc.stderr
    assert "Stage 4 (Locked)" in proc.stderr and "src/train.py" in proc.stderr
    assert "1 of 1000 change(s) refused" in proc.stderr
    assert bare.out("rev-parse", "main") == base


def test_ci_rechecks_evidence_of_tickets_past_stage_5(tmp_path: Path, env: dict[str, str]) -> None:
    """A ticket at Stage 6 with no training evidence at the head of the range
    fails CI even when every commit in the range is a legal ticket-file edit;
    `stage5_evidence: report` trusts the hand-written report instead."""
    work = Repo(tmp_path / "work", env)
    work.path.mkdir()
    work.git("init", "-q", "-b", "main")
    folder = seed_ticket(work, 6)
    base = work.head()
    work.write(f"{folder}/code-review.md", "# Code Review\n\nstarted\n")
    work.commit("review notes")
    ci = work.ftgate("ci", "--base", base, "--head", "HEAD", "--no-github")
    assert ci.returncode == 1, ci.stdout + ci.stderr
    assert "0 refused" in ci.stdout and "training evidence does not verify" in ci.stdout
    assert "1 ticket(s) with stale or missing evidence" in ci.stdout
    work.write("ftgate.yaml", "stage5_evidence: report\n")
    work.commit("trust the report")  # a policy change is source; the ticket is at 6, so it is refused ...
    ci = work.ftgate("ci", "--base", work.head(), "--head", "HEAD", "--no-github")
    assert "evidence" not in ci.stdout  # ... but the head's policy no longer asks for evidence
