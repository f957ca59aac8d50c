"""Turning verdicts into text: a terminal, a git client's ``remote:`` lines
(with GitLab's ``GL-HOOK-ERR:`` prefix when GitLab runs the hook), and GitHub
Actions annotations. stdlib only."""

from __future__ import annotations

import os
from collections.abc import Sequence

from ftgate.git.judge import Judged
from ftgate.policy.decide import Reason, show_path

# A push of a huge refused commit should not print a million lines.
MAX_REASONS_SHOWN = 50


def under_gitlab() -> bool:
    # GitLab's hooks run with GL_ID / GL_PROJECT_PATH / GL_REPOSITORY set.
    return bool(os.environ.get("GL_ID") or os.environ.get("GL_PROJECT_PATH") or os.environ.get("GL_REPOSITORY"))


# Rules whose message already starts with the changed path.
_PATH_IN_MESSAGE = {"source-locked", "no-ticket", "unlock-not-committed"}


def reason_text(reason: Reason) -> list[str]:
    message = reason.message
    if reason.rule not in _PATH_IN_MESSAGE and reason.path and not message.startswith(reason.path):
        message = f"{show_path(reason.path)}: {message}"
    # The rule's name ends the line, so a refusal can be looked up and grepped.
    return [f"- {message} [{reason.rule}]", f"    fix: {reason.fix}"]


def render(judged: Sequence[Judged], *, header: str | None = None, show_ok: bool = False,
           total: int | None = None, refused_count: int | None = None, hidden: int = 0) -> list[str]:
    """Lines for ``judged``. A streamed run keeps only the verdicts worth
    showing and passes the counts: ``total`` judged, ``refused_count``
    refused, ``hidden`` verdicts left out past the cap."""
    lines: list[str] = []
    refused = [j for j in judged if not j.verdict.allowed]
    total = len(judged) if total is None else total
    refused_count = len(refused) if refused_count is None else refused_count
    if header:
        lines.append(header)
    for item in judged:
        verdict = item.verdict
        if verdict.allowed and not (show_ok or verdict.notes):
            continue
        where = item.unit.label
        if item.unit.ref:
            where += f" on {show_path(item.unit.ref)}"
        if verdict.allowed:
            if show_ok:
                lines.append(f"ftgate: {where}: ok")
            for note in verdict.notes:
                lines.append(f"ftgate: {where}: note: {note}")
            continue
        lines.append(f"ftgate: {where}: refused ({len(verdict.reasons)} reason(s))")
        for reason in verdict.reasons[:MAX_REASONS_SHOWN]:
            lines.extend("  " + line for line in reason_text(reason))
        if len(verdict.reasons) > MAX_REASONS_SHOWN:
            lines.append(f"  ... and {len(verdict.reasons) - MAX_REASONS_SHOWN} more")
        for note in verdict.notes:
            lines.append(f"  note: {note}")
    if hidden:
        lines.append(f"ftgate: ... and {hidden} more verdict(s) with refusals or notes, not shown")
    if refused_count:
        lines.append(f"ftgate: {refused_count} of {total} change(s) refused: source may change only while "
                     "the ticket is at Stage 4 with Code Edit Permission Unlocked")
    return lines


def for_remote(lines: Sequence[str]) -> list[str]:
    """Lines a git client shows as ``remote: ...``; GitLab shows a hook's
    message to the user only when it starts with ``GL-HOOK-ERR:``."""
    if under_gitlab():
        return [f"GL-HOOK-ERR: {line}" for line in lines]
    return list(lines)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(judged: Sequence[Judged]) -> list[str]:
    out = []
    for item in judged:
        if item.verdict.allowed:
            continue
        for reason in item.verdict.reasons[:MAX_REASONS_SHOWN]:
            title = f"ftgate {reason.rule} ({item.unit.label})"
            out.append(f"::error file={_escape_property(reason.path)},title={_escape_property(title)}::"
                       f"{_escape_data(reason.message + ' | fix: ' + reason.fix)}")
    return out


def github_summary(judged: Sequence[Judged], base: str, head: str, *, total: int | None = None,
                   refused_count: int | None = None) -> str:
    refused = [j for j in judged if not j.verdict.allowed]
    total = len(judged) if total is None else total
    refused_count = len(refused) if refused_count is None else refused_count
    lines = ["## ftgate", ""]
    if not refused_count:
        lines.append(f"All {total} commit(s) in `{base}..{head}` keep source changes inside Stage 4 Unlocked.")
        return "\n".join(lines) + "\n"
    lines.append(f"**{refused_count} of {total} commit(s) refused** in `{base}..{head}`.")
    lines += ["", "| Commit | Path | Rule | Why | Fix |", "|---|---|---|---|---|"]

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    for item in refused:
        for reason in item.verdict.reasons[:MAX_REASONS_SHOWN]:
            lines.append(f"| {cell(item.unit.label)} | `{cell(show_path(reason.path))}` | {reason.rule} | "
                         f"{cell(reason.message)} | {cell(reason.fix)} |")
    return "\n".join(lines) + "\n"
