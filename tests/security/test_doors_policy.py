"""Issue 11 item 3: who picks the policy. A commit pushed to ref R must pass
both its parent's ``ftgate.yaml`` and R's (its current tip's; for a new ref
the default branch's), and what is new *to R* is judged, also commits the
server already accepted on another ref. Each attack is refused by a real
bare server with the update hook and by ``ftgate ci``, naming the rule."""

from __future__ import annotations

from pathlib import Path

from tests.support.gitrepo import Repo
from tests.support.server import bare_and_clone, make_server, push

LOOSE = "version: 1\nuntracked_source: allow\n"


def loose_then_strict(tmp_path: Path, env: dict[str, str]) -> tuple[Repo, Repo, str]:
    """A server whose history once allowed untracked source and no longer
    does; set up before the hook judges anything. Returns the loose commit."""
    bare, work = bare_and_clone(tmp_path, env)
    work.write("ftgate.yaml", LOOSE)
    work.commit("loose policy")
    loose = work.head()
    work.write("ftgate.yaml", "version: 1\nuntracked_source: block\n")
    work.commit("a stricter policy: source needs a ticket")
    work.git("push", "-q", "origin", "main")
    proc = work.ftgate("install", "--server", str(bare.path), "--hook", "update")
    assert proc.returncode == 0, proc.stderr
    return bare, work, loose


def test_a_branch_forked_from_a_looser_policy_is_judged_under_the_targets(
        tmp_path: Path, env: dict[str, str]) -> None:
    bare, work, loose = loose_then_strict(tmp_path, env)
    base = work.head()
    work.git("checkout", "-q", "-b", "feature", loose)
    work.write("src/evil.py", "print('no ticket')\n")
    work.commit("source with no ticket, under the old loose policy")
    # As a new ref: judged under the default branch's policy.
    proc = push(work, "feature")
    assert proc.returncode != 0
    assert "src/evil.py" in proc.stderr and "[no-ticket]" in proc.stderr
    assert "a commit must pass the policy of the ref it lands on" in proc.stderr
    # Merged into main: the merged-in commit is new to main and judged again.
    work.git("checkout", "-q", "main")
    work.git("merge", "-q", "--no-edit", "feature")
    proc = push(work, "main")
    assert proc.returncode != 0 and "[no-ticket]" in proc.stderr
    assert bare.out("rev-parse", "main") == base
    ci = work.ftgate("ci", "--base", base, "--head", "HEAD", "--no-github")
    assert ci.returncode == 1 and "refused" in ci.stdout and "[no-ticket]" in ci.stdout


def test_a_root_commit_is_judged_under_the_repositorys_policy(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = make_server(tmp_path, env)
    base = work.head()
    work.git("checkout", "-q", "--orphan", "fresh")
    work.git("rm", "-rq", "--cached", ".")
    work.write("ftgate.yaml", LOOSE)
    work.write("src/evil.py", "print('root')\n")
    work.git("add", "ftgate.yaml", "src/evil.py")
    work.git("commit", "-q", "--no-verify", "-m", "a root commit that brings its own policy")
    proc = push(work, "fresh")
    assert proc.returncode != 0 and "[no-ticket]" in proc.stderr
    proc = push(work, "+fresh:main")
    assert proc.returncode != 0 and "[no-ticket]" in proc.stderr
    assert bare.out("rev-parse", "main") == base
    # ftgate ci with the repository's main as the base: the same refusal.
    ci = work.ftgate("ci", "--base", base, "--head", "HEAD", "--no-github")
    assert ci.returncode == 1 and "[no-ticket]" in ci.stdout


def test_a_fast_forward_of_commits_accepted_on_a_looser_ref_is_judged_again(
        tmp_path: Path, env: dict[str, str]) -> None:
    bare, work = bare_and_clone(tmp_path, env)
    work.commit("initial")
    work.git("push", "-q", "origin", "main")
    base = work.head()
    work.git("checkout", "-q", "-b", "sandbox")
    work.write("ftgate.yaml", LOOSE)
    work.commit("a sandbox branch with a loose policy")
    work.git("push", "-q", "origin", "sandbox")
    proc = work.ftgate("install", "--server", str(bare.path), "--hook", "update")
    assert proc.returncode == 0, proc.stderr

    work.write("src/evil.py", "print('accepted on the sandbox')\n")
    work.commit("source with no ticket")
    proc = push(work, "sandbox")
    assert proc.returncode == 0, proc.stderr  # the sandbox's own policy allows it
    # The same commits reach main by fast-forward: new to main, judged again.
    proc = push(work, "sandbox:main")
    assert proc.returncode != 0
    assert "[no-ticket]" in proc.stderr and "src/evil.py" in proc.stderr
    assert bare.out("rev-parse", "main") == base
    ci = work.ftgate("ci", "--base", base, "--head", "sandbox", "--no-github")
    assert ci.returncode == 1 and "[no-ticket]" in ci.stdout


def test_a_stricter_policy_takes_effect_once_landed(tmp_path: Path, env: dict[str, str]) -> None:
    bare, work, _ = loose_then_strict(tmp_path, env)
    # Loosening it again is itself a source change under the strict policy.
    work.write("ftgate.yaml", LOOSE)
    work.commit("loosen")
    work.write("src/evil.py", "print('x')\n")
    work.commit("use the looser policy at once")
    proc = push(work, "main")
    assert proc.returncode != 0
    assert proc.stderr.count("[no-ticket]") >= 2  # both commits, not only the config change
