"""Benchmark: `ftgate check` (the pre-commit hook) on a 10,000-file repository
with 20 staged source files, against a bare `python -c pass`, side by side.

    python bench/bench_check.py [--files 10000] [--staged 20] [--runs 30]

Targets (issue 3): median at most 100 ms and at most 5x the python baseline.
Peak memory is the largest child RSS (resource.getrusage of children).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support import fastimport  # noqa: E402
from tests.support.gitrepo import Repo, git_env  # noqa: E402
from tests.support.tickets import put_ticket  # noqa: E402

WORK = Path(__file__).resolve().parent / ".work" / "check"


def build(files: int, staged: int) -> Repo:
    if WORK.exists():
        shutil.rmtree(WORK)
    env = git_env(WORK / "home")
    repo = Repo(WORK / "repo", env)
    repo.path.mkdir(parents=True)
    repo.git("init", "-q", "-b", "main")
    fastimport.source_tree(repo, files)
    put_ticket(repo, "t", 4, unlocked=True)
    repo.commit("ticket at 4 unlocked")
    repo.git("checkout", "-q", "-b", "codex/t")
    for i in range(staged):
        repo.write(f"src/pkg{i % 100}/mod{i}.py", f"x = {i} + 1\n")
    repo.git("add", "-A")
    return repo


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.decode()}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--staged", type=int, default=20)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    repo = build(args.files, args.staged)
    env = repo.env
    check = [sys.executable, "-m", "ftgate", "check"]
    baseline = [sys.executable, "-c", "pass"]
    timed(check, repo.path, env)  # first run compiles the config cache
    ours, base = [], []
    for _ in range(args.runs):  # interleaved, so both see the same machine load
        base.append(timed(baseline, repo.path, env))
        ours.append(timed(check, repo.path, env))
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    m_ours, m_base = statistics.median(ours), statistics.median(base)
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"python {platform.python_version()}, {git_version}")
    print(f"repo: {args.files} files, {args.staged} staged; {args.runs} runs each")
    print(f"python -c pass  median {m_base * 1000:.1f} ms")
    print(f"ftgate check    median {m_ours * 1000:.1f} ms  (ratio {m_ours / m_base:.2f}x)")
    print(f"peak child RSS  {peak_kb / 1024:.1f} MB")
    ok = m_ours <= 0.100 and m_ours <= 5 * m_base and peak_kb < 200 * 1024
    print("targets (<=100 ms, <=5x, <200 MB):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
