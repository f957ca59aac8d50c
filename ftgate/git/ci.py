"""``ftgate ci --base REF --head REF``: the door no local setting can skip.

Judges every commit in ``base..head`` against its own parent, exactly as the
server hook does. Under GitHub Actions it prints ``::error`` annotations and
writes a job summary; elsewhere plain text. Exit 1 on any refused commit, so
the job can be a required status check. stdlib only.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from ftgate.git import plumbing as pl
from ftgate.git.history import new_commit_units
from ftgate.git.judge import Judge, Judged
from ftgate.git.report import github_annotations, github_summary, render


class CiError(Exception):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def _resolve(ref: str, cwd: str | None) -> str:
    out = pl.git(["rev-parse", "-q", "--verify", "--end-of-options", f"{ref}^{{commit}}"], cwd=cwd,
                 ok_codes=(0, 1, 128)).decode().strip()
    if not out:
        raise CiError(f"{ref!r} is not a commit in this clone",
                      "fetch the full history (actions/checkout with fetch-depth: 0) or pass an existing ref")
    return out


def default_branch_name() -> str | None:
    # On a pull request GITHUB_HEAD_REF is the source branch (codex/<ticket>).
    return os.environ.get("GITHUB_HEAD_REF") or os.environ.get("CI_COMMIT_REF_NAME") \
        or os.environ.get("GITHUB_REF_NAME") or None


def judge_range(base: str, head: str, *, branch: str | None, cwd: str | None = None) -> list[Judged]:
    base_id, head_id = _resolve(base, cwd), _resolve(head, cwd)
    units = new_commit_units([head_id], [base_id], branch=branch, ref=None, cwd=cwd)
    return Judge(cwd=cwd).judge(units)


def run(base: str, head: str, *, branch: str | None = None, github: bool | None = None,
        out: TextIO | None = None, cwd: str | None = None) -> int:
    out = out if out is not None else sys.stdout
    github = os.environ.get("GITHUB_ACTIONS") == "true" if github is None else github
    branch = branch if branch is not None else default_branch_name()
    try:
        judged = judge_range(base, head, branch=branch, cwd=cwd)
    except CiError as err:
        out.write(f"ftgate: {err.message}\n" + (f"  fix: {err.hint}\n" if err.hint else ""))
        return 2
    except pl.GitError as err:
        out.write(f"ftgate: git failed: {err}\n")
        return 2
    refused = [j for j in judged if not j.verdict.allowed]
    if github:
        for line in github_annotations(judged):
            out.write(line + "\n")
        summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary_path:
            try:
                with open(summary_path, "a", encoding="utf-8") as fh:
                    fh.write(github_summary(judged, base, head))
            except OSError:
                pass
    lines = render(judged)
    lines.append(f"ftgate ci: {len(judged)} commit(s) in {base}..{head}, {len(refused)} refused")
    out.write("\n".join(lines) + "\n")
    return 1 if refused else 0
