"""``ftgate ci --base REF --head REF``: the door no local setting can skip.

Judges every commit in ``base..head`` against its own parent, exactly as the
server hook does. Under GitHub Actions it prints ``::error`` annotations and
writes a job summary; elsewhere plain text. Exit 1 on any refused commit, so
the job can be a required status check. stdlib only.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import TextIO

from ftgate.constants import CONFIG_FILE
from ftgate.errors import FtgateError
from ftgate.git import plumbing as pl
from ftgate.git.history import Outcome, iter_commit_units, judge_units
from ftgate.git.judge import Judge, Unit
from ftgate.git.report import (
    _escape_data,
    _escape_property,
    github_annotations,
    github_summary,
    render,
)


class CiError(FtgateError):
    """A range CI cannot judge (a ref this clone does not have)."""


def _resolve(ref: str, cwd: str | None) -> str:
    out = pl.git(["rev-parse", "-q", "--verify", "--end-of-options", f"{ref}^{{commit}}"], cwd=cwd,
                 ok_codes=(0, 1, 128)).decode().strip()
    if not out:
        raise CiError(f"{ref!r} is not a commit in this clone",
                      hint="fetch the full history (actions/checkout with fetch-depth: 0) or pass an existing ref")
    return out


def default_branch_name() -> str | None:
    # On a pull request GITHUB_HEAD_REF is the source branch (codex/<ticket>).
    return os.environ.get("GITHUB_HEAD_REF") or os.environ.get("CI_COMMIT_REF_NAME") \
        or os.environ.get("GITHUB_REF_NAME") or None


def judge_range(base: str, head: str, *, branch: str | None, cwd: str | None = None) -> Outcome:
    """Every commit of ``base..head``, streamed and judged in batches as
    the server hook does."""
    base_id, head_id = _resolve(base, cwd), _resolve(head, cwd)
    with pl.Lookups(cwd):
        # The base is the target: each commit must pass its ftgate.yaml as well
        # as its own parent's, as on the server.
        hit = pl.batch_check([f"{base_id}:{CONFIG_FILE}"], cwd=cwd).get(f"{base_id}:{CONFIG_FILE}")
        target = hit[0] if hit and hit[1] == "blob" else None

        def landing(units: Iterator[Unit]) -> Iterator[Unit]:
            for unit in units:
                unit.target_config, unit.targeted = target, True
                unit.target = base_id  # the adoption rule looks for a policy where the range lands
                yield unit

        units = iter_commit_units([head_id], [base_id], branch=branch, ref=None, cwd=cwd)
        return judge_units(Judge(cwd=cwd), landing(units))


def run(base: str, head: str, *, branch: str | None = None, github: bool | None = None,
        out: TextIO | None = None, cwd: str | None = None) -> int:
    out = out if out is not None else sys.stdout
    github = os.environ.get("GITHUB_ACTIONS") == "true" if github is None else github
    branch = branch if branch is not None else default_branch_name()
    try:
        outcome = judge_range(base, head, branch=branch, cwd=cwd)
    except CiError as err:
        out.write(f"ftgate: {err.message}\n" + (f"  fix: {err.hint}\n" if err.hint else ""))
        return 2
    except pl.GitError as err:
        out.write(f"ftgate: git failed: {err}\n")
        return 2
    judged = outcome.shown
    stale = evidence_at_head(_resolve(head, cwd), cwd=cwd)
    if github:
        for line in github_annotations(judged):
            out.write(line + "\n")
        for folder, findings in stale.items():
            for finding in findings:
                out.write(f"::error file={_escape_property(folder + '/training-validation-report.md')},"
                          f"title=ftgate stage5-evidence::{_escape_data(finding)}\n")
        summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary_path:
            try:
                with open(summary_path, "a", encoding="utf-8") as fh:
                    fh.write(github_summary(judged, base, head, total=outcome.judged,
                                            refused_count=outcome.refused))
            except OSError:
                pass
    lines = render(judged, total=outcome.judged, refused_count=outcome.refused, hidden=outcome.hidden)
    for folder, findings in stale.items():
        lines.append(f"ftgate: {folder} is past Stage 5 but its training evidence does not verify at {head}:")
        lines += [f"  - {finding}" for finding in findings]
    lines.append(f"ftgate ci: {outcome.judged} commit(s) in {base}..{head}, {outcome.refused} refused"
                 + (f", {len(stale)} ticket(s) with stale or missing evidence" if stale else ""))
    out.write("\n".join(lines) + "\n")
    return 1 if outcome.refused or stale else 0


def evidence_at_head(head_id: str, *, cwd: str | None = None) -> dict[str, list[str]]:
    """Tickets in progress at Stage 6 or later whose Stage 5 evidence no
    longer verifies on the head tree (a source edit after the run makes it
    stale), keyed by ticket folder. Honours ``stage5_evidence`` in the head's
    ftgate.yaml; archived tickets are history and are not re-checked."""
    from ftgate.errors import FtgateError
    from ftgate.workflow.state import read_state
    from ftgate.workflow.tickets import IN_PROGRESS, TICKETS

    prefix = f"{TICKETS}/{IN_PROGRESS}/"
    listing = pl.git(["ls-tree", "-d", "--name-only", "-z", head_id, prefix], cwd=cwd).decode("utf-8", "replace")
    folders = [name for name in listing.split("\0") if name]
    if not folders:
        return {}
    config_text = pl.git(["cat-file", "-p", f"{head_id}:ftgate.yaml"], cwd=cwd, ok_codes=(0, 128))
    try:
        from ftgate.policy.config import Config, parse_config

        config = parse_config(config_text.decode("utf-8")) if config_text else Config.model_validate({})
    except (FtgateError, UnicodeDecodeError):
        config = None  # the commit judgment already reports a broken config
    if config is not None and config.stage5_evidence == "report":
        return {}
    out: dict[str, list[str]] = {}
    for folder in folders:
        raw = pl.git(["cat-file", "-p", f"{head_id}:{folder}/workflow-state.md"], cwd=cwd, ok_codes=(0, 128))
        try:
            stage = read_state(raw.decode("utf-8"), f"{folder}/workflow-state.md").state.current_stage
        except (FtgateError, UnicodeDecodeError) as err:
            # Fail closed: a state nobody can read cannot vouch for its evidence.
            out[folder] = [f"the ticket's state cannot be read, so its evidence cannot be trusted: {err}"]
            continue
        if stage < 6:
            continue
        from ftgate.git.evidence_tree import evidence_findings

        findings = evidence_findings(head_id, folder, cwd=cwd)
        if findings:
            out[folder] = findings
    return out
