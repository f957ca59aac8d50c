"""Benchmark: `ftgate agent hook` (run by coding agents before every tool
call) on a 10,000-file repository, against a bare `python -c pass`, side by
side.

    python bench/bench_agent.py [--files 10000] [--runs 30]

Four recorded payloads, each timed as the agent runs it (a new process, the
payload on stdin):

* `Write train.py` with the ticket at Stage 4 Unlocked: the full path
  (HEAD read through git, working-tree state, decide() on both sides);
* a three-file `apply_patch` envelope (Codex), same state;
* `Bash: python train.py`: nothing written, no git at all;
* `Write train.py` on a locked ticket: refused, with the reason text.

Targets (issue 14): median per call at most 60 ms and at most 3x the python
baseline, for every payload.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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

WORK = Path(__file__).resolve().parent / ".work" / "agent"


def build(folder: Path, files: int, *, unlocked: bool) -> Repo:
    env = git_env(WORK / "home")
    repo = Repo(folder, env)
    repo.path.mkdir(parents=True)
    repo.git("init", "-q", "-b", "main")
    fastimport.source_tree(repo, files)
    repo.write("train.py", "print('train')\n")
    put_ticket(repo, "t", 4 if unlocked else 2, unlocked=unlocked)
    repo.commit("ticket")
    repo.git("checkout", "-q", "-b", "codex/t")
    return repo


def payload(repo: Repo, tool: str, tool_input: dict[str, object], *, codex: bool = False) -> str:
    data: dict[str, object] = {"session_id": "s", "transcript_path": "t.jsonl", "cwd": str(repo.path),
                               "hook_event_name": "PreToolUse", "tool_name": tool, "tool_input": tool_input}
    if codex:
        data["turn_id"] = "1"
    return json.dumps(data)


def timed(cmd: list[str], repo: Repo, stdin: str, expect: int) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=repo.path, env=repo.env, input=stdin.encode(), capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != expect:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.decode()}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    if WORK.exists():
        shutil.rmtree(WORK)
    open_repo = build(WORK / "unlocked", args.files, unlocked=True)
    locked_repo = build(WORK / "locked", args.files, unlocked=False)
    patch = ("*** Begin Patch\n*** Update File: src/pkg1/mod1.py\n@@\n-x = 1\n+x = 2\n"
             "*** Add File: src/pkg2/new.py\n+y = 1\n*** Update File: train.py\n@@\n-a\n+b\n*** End Patch\n")
    cases = [
        ("Write source, unlocked", open_repo,
         payload(open_repo, "Write", {"file_path": str(open_repo.path / "train.py"), "content": "x"}), 0),
        ("apply_patch, 3 files", open_repo, payload(open_repo, "apply_patch", {"command": patch}, codex=True), 0),
        ("Bash python train.py", open_repo, payload(open_repo, "Bash", {"command": "python train.py"}), 0),
        ("Write source, locked (deny)", locked_repo,
         payload(locked_repo, "Write", {"file_path": str(locked_repo.path / "train.py"), "content": "x"}), 0),
    ]
    hook = [sys.executable, "-m", "ftgate", "agent", "hook"]
    baseline = [sys.executable, "-c", "pass"]
    for repo in (open_repo, locked_repo):
        # An installed ftgate has its bytecode compiled (pip does it); a
        # shell that forbids writing it would time the compiler instead.
        repo.env.pop("PYTHONDONTWRITEBYTECODE", None)
    for _, repo, stdin, code in cases:  # first runs fill the bytecode, config and state caches
        timed(hook, repo, stdin, code)
    base: list[float] = []
    ours: dict[str, list[float]] = {name: [] for name, *_ in cases}
    for _ in range(args.runs):  # interleaved, so every series sees the same machine load
        base.append(timed(baseline, open_repo, "", 0))
        for name, repo, stdin, code in cases:
            ours[name].append(timed(hook, repo, stdin, code))
    m_base = statistics.median(base)
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"python {platform.python_version()}, {git_version}")
    print(f"repo: {args.files} files; {args.runs} runs each")
    print(f"{'python -c pass':<30} median {m_base * 1000:6.1f} ms")
    ok = True
    for name, times in ours.items():
        median = statistics.median(times)
        met = median <= 0.060 and median <= 3 * m_base
        ok = ok and met
        print(f"{name:<30} median {median * 1000:6.1f} ms  (ratio {median / m_base:.2f}x)"
              + ("" if met else "  NOT met"))
    print("targets (<=60 ms, <=3x, every payload):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
