"""Tolerant reading of the markdown people write, and surgical edits to it.

People and coding agents write ticket files by hand, in many shapes: bullets
with or without backticks, plain ``Key: value`` lines, ``Key = value``,
key/value tables, trailing labels, any letter case. This module turns such a
file into located facts (a key, its value, the line and the column span of the
value) without deciding what any key means; ``state.py`` and ``artifacts.py``
do that. Edits replace exactly the spans they own and keep every other byte,
line endings included.

Lines are numbered from 1 everywhere, as editors and error messages do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Every pattern here runs on text a pusher wrote, inside the server hook, so
# each must take time linear in the line: no two quantifiers that can trade
# the same characters back and forth on a failing match (possessive ``*+``
# where they could), and trailing markup is stripped in code, not by a lazy
# group followed by optional runs. Digits are ASCII ``[0-9]``: ``\d`` also
# matches other scripts' digits.
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]++(.*)$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
# A key/value line's lead: optional bullet or number, optional checkbox.
_KV_LEAD = re.compile(r"[ \t]*(?:[-*+][ \t]+|[0-9]+[.)][ \t]+)?(?:\[[ xX]\][ \t]+)?")
_TABLE_SEPARATOR = re.compile(r"^\s*+\|?+\s*+:?+-{2,}+:?+\s*+(?:\|\s*+:?+-{2,}+:?+\s*+)*+\|?+\s*+$")


def key_id(text: str) -> str:
    """Normalise a key for comparison: case, markup, spacing and hyphens do
    not matter (``Re-Entry Classification`` == ``reentry classification``)."""
    return re.sub(r"[^a-z0-9]", "", text.lower().replace("&", "and"))


def heading_id(text: str) -> str:
    """Normalise a heading: drop a leading number (``2. Stage Gates``)."""
    text = re.sub(r"^\s*+[0-9]++[.)]?+\s+", "", text)
    return key_id(text)


@dataclass(frozen=True, slots=True)
class Span:
    """A value's place: 1-based line, 0-based columns [start, end)."""

    line: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Value:
    """A value cell or the right side of a ``Key: value`` line.

    ``text`` is the value with markup peeled (backticks, bold, surrounding
    spaces); ``span`` locates exactly that text, so an edit keeps the markup.
    """

    raw: str
    text: str
    span: Span

    def head(self, length: int) -> Span:
        """The span of the first ``length`` characters of the text (a token
        followed by a label keeps the token first)."""
        return Span(self.span.line, self.span.start, self.span.start + length)


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    key_id: str
    value: Value
    sections: tuple[str, ...]
    in_table: bool


@dataclass(slots=True)
class TableRow:
    line: int
    cells: list[Value]

    def get(self, index: int | None) -> Value | None:
        if index is None or index >= len(self.cells):
            return None
        return self.cells[index]


@dataclass(slots=True)
class Table:
    header_line: int
    header: list[str]
    header_ids: list[str]
    rows: list[TableRow]
    sections: tuple[str, ...]
    last_line: int

    def column(self, *candidates: str) -> int | None:
        """Index of the first header matching one of ``candidates`` (by
        ``key_id``), trying candidates in order of preference."""
        for candidate in candidates:
            cid = key_id(candidate)
            for index, hid in enumerate(self.header_ids):
                if hid == cid:
                    return index
        return None

    def column_containing(self, *fragments: str) -> int | None:
        for fragment in fragments:
            fid = key_id(fragment)
            for index, hid in enumerate(self.header_ids):
                if fid in hid:
                    return index
        return None


@dataclass(slots=True)
class Heading:
    line: int
    level: int
    text: str
    id: str


@dataclass(slots=True)
class Document:
    """A scanned markdown file.

    ``lines`` keep their line endings; joining them gives back the file.
    Lines inside code fences and HTML comments are not scanned for keys or
    tables, so examples and template guidance never count as content.
    """

    path: str
    lines: list[str]
    headings: list[Heading] = field(default_factory=list)
    pairs: list[KeyValue] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    # 1-based line numbers hidden in comments or fences.
    hidden: set[int] = field(default_factory=set)
    section_of_line: list[tuple[str, ...]] = field(default_factory=list)
    _heading_lines: dict[int, Heading] = field(default_factory=dict, repr=False, compare=False)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def line_text(self, line: int) -> str:
        return self.lines[line - 1].rstrip("\r\n")

    def pairs_for(self, *keys: str) -> list[KeyValue]:
        ids = {key_id(k) for k in keys}
        return [p for p in self.pairs if p.key_id in ids]

    def find_heading(self, *names: str) -> Heading | None:
        first: dict[str, Heading] = {}
        for heading in self.headings:
            first.setdefault(heading.id, heading)
        for name in names:
            found = first.get(heading_id(name))
            if found is not None:
                return found
        return None

    def section_lines(self, heading: Heading) -> list[int]:
        """Visible line numbers under ``heading`` up to the next heading of
        the same or a higher level."""
        out: list[int] = []
        for number in range(heading.line + 1, len(self.lines) + 1):
            other = self._heading_at(number)
            if other is not None and other.level <= heading.level:
                break
            if number not in self.hidden:
                out.append(number)
        return out

    def section_end(self, heading: Heading) -> int:
        """Last line number belonging to ``heading``'s section."""
        end = heading.line
        for number in range(heading.line + 1, len(self.lines) + 1):
            other = self._heading_at(number)
            if other is not None and other.level <= heading.level:
                break
            end = number
        return end

    def _heading_at(self, number: int) -> Heading | None:
        # An index by line, rebuilt when headings were added: a scan of the
        # list per line made section walks quadratic in the headings.
        if len(self._heading_lines) != len(self.headings):
            self._heading_lines = {h.line: h for h in self.headings}
        return self._heading_lines.get(number)

    def tables_in(self, *section_names: str) -> list[Table]:
        ids = {heading_id(n) for n in section_names}
        return [t for t in self.tables if ids.intersection(t.sections)]


def _peel(raw: str, offset: int, line: int) -> Value:
    """Strip surrounding markup from a value, remembering where the text is."""
    start, end = 0, len(raw)
    while start < end and raw[start] in " \t":
        start += 1
    while end > start and raw[end - 1] in " \t":
        end -= 1
    changed = True
    while changed and end - start >= 2:
        changed = False
        for mark in ("**", "__", "`", "*", "_"):
            n = len(mark)
            if raw.startswith(mark, start) and end - start >= 2 * n:
                # Only a matching mark that closes the whole value or the
                # first token counts (``\`4\` - Implementation``).
                close = raw.find(mark, start + n)
                if close == -1:
                    continue
                if close + n == end:
                    start, end = start + n, close
                    changed = True
                    break
                if mark == "`" and close + n < end:
                    # Backticked token followed by a label: keep the label
                    # out of the token span, but report the whole as text.
                    inner_start, inner_end = start + n, close
                    label = raw[close + n:end]
                    text = raw[inner_start:inner_end].strip() + label
                    return Value(raw=raw, text=text.strip(), span=Span(line, offset + inner_start, offset + inner_end))
        while start < end and raw[start] in " \t":
            start += 1
        while end > start and raw[end - 1] in " \t":
            end -= 1
    return Value(raw=raw, text=raw[start:end], span=Span(line, offset + start, offset + end))


def split_cells(text: str) -> list[tuple[int, int]]:
    """Column spans of a table row's cells (between the pipes), honouring
    ``\\|`` escapes and pipes inside backticks."""
    body = text.rstrip("\r\n")
    i = 0
    n = len(body)
    while i < n and body[i] in " \t":
        i += 1
    if i < n and body[i] == "|":
        i += 1
    spans: list[tuple[int, int]] = []
    cell_start = i
    in_code = False
    while i < n:
        ch = body[i]
        if ch == "\\" and i + 1 < n:
            i += 2
            continue
        if ch == "`":
            in_code = not in_code
        elif ch == "|" and not in_code:
            spans.append((cell_start, i))
            cell_start = i + 1
        i += 1
    tail = body[cell_start:].strip()
    if tail:
        spans.append((cell_start, n))
    return spans


def parse(text: str, path: str) -> Document:
    lines = text.splitlines(keepends=True)
    doc = Document(path=path, lines=lines)
    stack: list[Heading] = []
    in_fence: str | None = None
    in_comment = False
    table_lines: list[int] = []

    def sections() -> tuple[str, ...]:
        return tuple(h.id for h in stack)

    def add_pair(cells: list[Value], number: int) -> None:
        if len(cells) >= 2 and cells[0].text:
            key = cells[0].text
            doc.pairs.append(
                KeyValue(key=key, key_id=key_id(key), value=cells[1],
                         sections=doc.section_of_line[number - 1], in_table=True)
            )

    def row_cells(number: int) -> list[Value]:
        body = doc.line_text(number)
        return [_peel(body[a:b], a, number) for a, b in split_cells(body)]

    def flush_table() -> None:
        if table_lines and not (len(table_lines) >= 2 and _TABLE_SEPARATOR.match(doc.line_text(table_lines[1]))):
            # Rows without a header separator: only a key/value list.
            for number in table_lines:
                add_pair(row_cells(number), number)
        elif table_lines:
            header_text = doc.line_text(table_lines[0])
            header_spans = split_cells(header_text)
            header = [header_text[a:b].strip().strip("`*_ ").strip() for a, b in header_spans]
            rows = [TableRow(line=number, cells=row_cells(number)) for number in table_lines[2:]]
            doc.tables.append(
                Table(
                    header_line=table_lines[0],
                    header=header,
                    header_ids=[key_id(h) for h in header],
                    rows=rows,
                    sections=doc.section_of_line[table_lines[0] - 1],
                    last_line=table_lines[-1],
                )
            )
            # Tables double as key/value lists: | Current Stage | 4 |
            add_pair(row_cells(table_lines[0]), table_lines[0])
            for row in rows:
                add_pair(row.cells, row.line)
        table_lines.clear()

    for number, raw_line in enumerate(lines, start=1):
        line = raw_line.rstrip("\r\n")
        hidden = False
        if in_fence is not None:
            hidden = True
            if line.strip().startswith(in_fence):
                in_fence = None
        elif in_comment:
            hidden = True
            if "-->" in line:
                in_comment = False
                if line.split("-->", 1)[1].strip():
                    hidden = False  # text after the comment's end counts
        else:
            fence = _FENCE.match(line)
            if fence:
                in_fence = fence.group(1)[0] * 3
                hidden = True
            elif "<!--" in line:
                before, after = line.split("<!--", 1)
                if "-->" not in after:
                    in_comment = True
                    hidden = not before.strip()
                elif not before.strip() and not after.split("-->", 1)[1].strip():
                    hidden = True
        if hidden:
            doc.hidden.add(number)
            doc.section_of_line.append(sections())
            flush_table()
            continue

        heading = _HEADING.match(line)
        if heading:
            flush_table()
            level = len(heading.group(1))
            title = _heading_title(heading.group(2))
            node = Heading(line=number, level=level, text=title, id=heading_id(title.strip("*_` ")))
            while stack and stack[-1].level >= level:
                stack.pop()
            stack.append(node)
            doc.headings.append(node)
            doc.section_of_line.append(sections())
            continue

        doc.section_of_line.append(sections())
        if line.lstrip().startswith("|"):
            table_lines.append(number)
            continue
        flush_table()

        match = match_kv(_strip_comment(line))
        if match:
            key = match[0].strip().strip("*_`").strip()
            if key:
                value_start, value_raw = match[1], match[2]
                doc.pairs.append(
                    KeyValue(
                        key=key,
                        key_id=key_id(key),
                        value=_peel(value_raw, value_start, number),
                        sections=sections(),
                        in_table=False,
                    )
                )
    flush_table()
    return doc


def _strip_comment(line: str) -> str:
    """Hide an inline ``<!-- ... -->`` without moving columns. Scanned with
    ``find``: a lazy regex would rescan the rest of the line from every
    unclosed ``<!--``."""
    start = line.find("<!--")
    if start < 0:
        return line
    out: list[str] = []
    done = 0
    while start >= 0:
        end = line.find("-->", start + 4)
        if end < 0:
            break
        out.append(line[done:start])
        out.append(" " * (end + 3 - start))
        done = end + 3
        start = line.find("<!--", done)
    out.append(line[done:])
    return "".join(out)


def _heading_title(rest: str) -> str:
    """A heading's text without its closing ``#`` run and the blanks around
    it (what ``(.*?)[ \\t]*#*[ \\t]*$`` kept, without its cubic backtracking)."""
    return rest.rstrip(" \t").rstrip("#").rstrip(" \t").strip()


def match_kv(line: str) -> tuple[str, int, str] | None:
    """``(key, value column, value)`` of a ``Key: value`` / ``Key = value``
    line, or None.

    The key is everything after the lead (bullet, number, checkbox) up to the
    first ``:`` or ``=``, with up to two closing ``*``/``_`` and blanks before
    the separator; it holds no ``|`` and its last character is not blank,
    ``*`` or ``_``. The value follows up to two opening ``*``/``_`` and
    blanks, without trailing blanks. Done with string scans so the time is
    linear in the line whatever a pusher writes.
    """
    sep = -1
    for index, ch in enumerate(line):
        if ch in ":=":
            sep = index
            break
        if ch in "|\n":
            return None
    if sep < 0:
        return None
    end = sep
    while end > 0 and line[end - 1] in " \t":
        end -= 1
    close = end
    while close > 0 and end - close < 2 and line[close - 1] in "*_":
        close -= 1
    last = close - 1  # the key's last character
    if last < 0 or line[last] in "*_" or line[last].isspace():
        return None
    # The longest lead that leaves the key at least that last character.
    lead = _KV_LEAD.match(line, 0, last)
    key_start = lead.end() if lead else 0
    start = sep + 1
    opened = start
    while opened < len(line) and opened - start < 2 and line[opened] in "*_":
        opened += 1
    while opened < len(line) and line[opened] in " \t":
        opened += 1
    return line[key_start:last + 1], opened, line[opened:].rstrip(" \t")


# ---------------------------------------------------------------- editing


@dataclass(slots=True)
class Editor:
    """Collects span replacements and line insertions, then applies them
    in one pass so that earlier edits never shift later spans."""

    lines: list[str]
    _replacements: dict[int, list[tuple[int, int, str]]] = field(default_factory=dict)
    _inserts_after: dict[int, list[str]] = field(default_factory=dict)

    @classmethod
    def for_document(cls, doc: Document) -> Editor:
        return cls(lines=list(doc.lines))

    @property
    def newline(self) -> str:
        for line in self.lines:
            if line.endswith("\r\n"):
                return "\r\n"
            if line.endswith("\n"):
                return "\n"
        return "\n"

    def replace(self, span: Span, new: str) -> None:
        self._replacements.setdefault(span.line, []).append((span.start, span.end, new))

    def replace_cell(self, span: Span, new: str) -> None:
        """Replace a table cell's text, keeping the column width where the
        padding allows, so hand-aligned tables stay aligned."""
        line = self.lines[span.line - 1].rstrip("\r\n")
        old = line[span.start:span.end]
        # Padding lives after any closing backtick: `Pass`   |
        outer = span.end
        while outer < len(line) and line[outer] in "`*_":
            outer += 1
        pad_after = 0
        while outer + pad_after < len(line) and line[outer + pad_after] == " ":
            pad_after += 1
        grow = len(new) - len(old)
        self.replace(span, new)
        if grow < 0:
            self.replace(Span(span.line, outer, outer), " " * (-grow))
        elif grow > 0 and pad_after - 1 >= grow:
            self.replace(Span(span.line, outer, outer + grow), "")

    def insert_after(self, line: int, text: str) -> None:
        """Insert a line (without its ending) after 1-based ``line``; 0 means
        at the top."""
        self._inserts_after.setdefault(line, []).append(text)

    def render(self) -> str:
        out: list[str] = []
        nl = self.newline
        for index in range(len(self.lines) + 1):
            number = index  # line number whose insertions come before the next
            if index > 0:
                line = self.lines[index - 1]
                edits = self._replacements.get(index)
                if edits:
                    body = line.rstrip("\r\n")
                    ending = line[len(body):]
                    for start, end, new in sorted(edits, reverse=True):
                        body = body[:start] + new + body[end:]
                    line = body + ending
                if number in self._inserts_after and not line.endswith(("\n", "\r")):
                    line += nl
                out.append(line)
            for inserted in self._inserts_after.get(number, []):
                out.append(inserted + nl)
        return "".join(out)


def format_row(cells: list[str]) -> str:
    """A new table row, escaping pipes inside the cells."""
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"
