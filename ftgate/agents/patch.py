"""The paths a Codex ``apply_patch`` envelope would write.

The envelope is ``*** Begin Patch`` ... ``*** End Patch`` with one header
per file: ``*** Add File: P``, ``*** Update File: P`` (optionally followed
by ``*** Move to: Q``) and ``*** Delete File: P``. Only the headers matter
here, never the hunks: a gate needs to know which files change, not how.

Models indent the envelope (inside a heredoc, a JSON string, a list item),
so a header is recognised after any leading whitespace. A line of a hunk
always starts with ``+``, ``-``, a space followed by text, or ``@@``, so a
header can not be confused with one.

stdlib only: this runs on every tool call.
"""

from __future__ import annotations

from ftgate.records import record

BEGIN = "*** Begin Patch"
END = "*** End Patch"
_ADD = "*** Add File:"
_UPDATE = "*** Update File:"
_DELETE = "*** Delete File:"
_MOVE = "*** Move to:"


@record(frozen=True, slots=True)
class PatchedFile:
    """One file the patch touches: git's status letter (A, M, D, R), the
    path written (the new name for a move) and the old name of a move."""

    status: str
    path: str
    old_path: str | None = None


def looks_like_patch(text: str) -> bool:
    return BEGIN in text


def patched_files(text: str) -> list[PatchedFile]:
    """Every file the envelope names, in order. A move is reported as one
    rename (``R``, old -> new): the old path is removed and the new one
    written, and both sides are judged."""
    out: list[PatchedFile] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith("*** "):
            continue
        if line.startswith(_ADD):
            out.append(PatchedFile("A", _value(line, _ADD)))
        elif line.startswith(_UPDATE):
            out.append(PatchedFile("M", _value(line, _UPDATE)))
        elif line.startswith(_DELETE):
            out.append(PatchedFile("D", _value(line, _DELETE)))
        elif line.startswith(_MOVE) and out and out[-1].status == "M":
            source = out.pop()
            out.append(PatchedFile("R", _value(line, _MOVE), source.path))
    return [f for f in out if f.path and (f.old_path is None or f.old_path)]


def _value(line: str, header: str) -> str:
    return line[len(header):].strip()


def patch_bodies(text: str) -> list[str]:
    """Each ``*** Begin Patch`` ... ``*** End Patch`` block inside a larger
    text (a shell command with a heredoc, for example); an unterminated
    block runs to the end."""
    bodies = []
    start = text.find(BEGIN)
    while start != -1:
        end = text.find(END, start)
        stop = len(text) if end == -1 else end + len(END)
        bodies.append(text[start:stop])
        start = text.find(BEGIN, stop)
    return bodies
