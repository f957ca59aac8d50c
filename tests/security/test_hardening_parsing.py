"""Item 7 of issue 11: parsing a pusher's text takes time linear in its size.

The attack: a 2 KB ``workflow-state.md`` made of heading and blank-run
patterns held the server hook for tens of seconds (the heading regex
backtracked cubically) and the push was then accepted. These tests read such
files and bound the time generously against their size, so they do not
flake on a loaded machine yet fail at once if a quadratic pattern returns.
"""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftgate.errors import ReadError
from ftgate.limits import STATE_FILE_MAX_BYTES, ascii_int, is_ascii_digits
from ftgate.workflow import markdown as md
from ftgate.workflow.state import parse_stage, read_state

# The patterns the attack was built on: each is about 2 KB.
ATTACKS = {
    "heading with a blank run and no end": "# a" + " " * 2000 + "x\n",
    "heading of hashes": "# " + "#" * 2000 + "a\n",
    "heading with tab/blank runs": "## t" + " \t" * 1000 + "!\n",
    "many headings and blank lines": "## h\n\n" * 350 + "- Current Stage: `1`\n",
    "key line with a blank lead": " " * 2000 + "x\n",
    "key line with a blank run in the value": "- Current Stage: 1" + " " * 2000 + "x\n",
    "key line of bullets": "- " * 1000 + "\n",
    "unclosed comments": "a <!--" * 350 + "\n",
    "table separator with a blank run": "| a | b |\n|--" + " " * 2000 + "x|\n",
}


def _read_ms(text: str) -> float:
    # CPU time of this process: the suite shares its cores with other
    # work, and wall time would measure the neighbours.
    start = time.process_time()
    try:
        read_state(text, "workflow-state.md")
    except ReadError:
        pass
    return (time.process_time() - start) * 1000


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_pathological_state_file_is_read_in_milliseconds(name: str) -> None:
    text = ATTACKS[name]
    elapsed = min(_read_ms(text) for _ in range(3))
    # Linear reading is well under 5 ms for 2 KB here; the cubic heading
    # regex took seconds. 250 ms leaves room for a machine shared by a build.
    assert elapsed < 250, f"{name}: {len(text)} bytes took {elapsed:.0f} ms"


def test_time_grows_linearly_with_the_attack() -> None:
    small = "# a" + " " * 2_000 + "x\n" + "## h\n\n" * 300
    big = "# a" + " " * 40_000 + "x\n" + "## h\n\n" * 6_000
    t_small = min(_read_ms(small) for _ in range(5))
    t_big = min(_read_ms(big) for _ in range(5))
    # 20x the input: linear is ~20x; quadratic would be ~400x.
    assert t_big < max(60 * t_small, 200), (t_small, t_big)


def test_oversized_state_file_is_refused_with_its_size() -> None:
    text = "- Current Stage: `4`\n- Code Edit Permission: `Unlocked`\n" + "x\n" * STATE_FILE_MAX_BYTES
    with pytest.raises(ReadError, match="more than ftgate reads"):
        read_state(text, "tickets/in-progress/t/workflow-state.md")


@pytest.mark.parametrize("digits", ["\u0664", "\u0967", "\uff14", "\U0001d7dc"])
def test_non_ascii_digits_are_not_a_stage(digits: str) -> None:
    # Arabic-Indic, Devanagari, fullwidth and mathematical "4" all satisfy \d.
    assert parse_stage(digits) is None
    assert parse_stage(f"Stage {digits}") is None
    with pytest.raises(ReadError, match="expected a stage number"):
        read_state(f"- Current Stage: {digits}\n", "workflow-state.md")
    assert not is_ascii_digits(digits)
    assert ascii_int(digits) is None


def test_a_stage_of_thousands_of_digits_is_refused_not_a_traceback() -> None:
    with pytest.raises(ReadError, match="expected a stage number"):
        read_state("- Current Stage: " + "4" * 5000 + "\n", "workflow-state.md")


def test_heading_lookup_is_not_quadratic() -> None:
    text = "".join(f"## Section {i}\n\ntext {i}\n" for i in range(6000)) + "## Target\n- a: b\n"
    doc = md.parse(text, "x.md")
    start = time.process_time()
    for heading in doc.headings[::50]:
        doc.section_lines(heading)
        doc.section_end(heading)
    assert doc.find_heading("Target") is not None
    elapsed = time.process_time() - start
    # 120 section walks over 18,000 lines: a list scan per line took minutes.
    assert elapsed < 2.0, elapsed


# The old key/value pattern, kept as the oracle the linear scanner must agree
# with (on ASCII text, where \d and [0-9] are the same).
_OLD_KV = re.compile(
    r"^(?P<lead>[ \t]*(?:[-*+][ \t]+|\d+[.)][ \t]+)?(?:\[[ xX]\][ \t]+)?)"
    r"(?P<key>[^:=|\n]*?[^:=|\s*_])"
    r"(?P<close>[*_]{0,2})[ \t]*(?P<sep>:|=)(?P<close2>[*_]{0,2})[ \t]*(?P<value>.*?)[ \t]*$"
)
_OLD_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_LINE = st.text(alphabet=" \t-*+_:=|#x[]1.)`<!->aK", max_size=24)


@settings(max_examples=400, deadline=None)
@given(_LINE)
def test_key_value_scanner_agrees_with_the_old_pattern(line: str) -> None:
    old = _OLD_KV.match(line)
    new = md.match_kv(line)
    if old is None:
        assert new is None
    else:
        assert new == (old.group("key"), old.start("value"), old.group("value"))


@settings(max_examples=400, deadline=None)
@given(_LINE)
def test_heading_reader_agrees_with_the_old_pattern(line: str) -> None:
    old = _OLD_HEADING.match(line)
    doc = md.parse(line, "x.md")
    if old is None:
        assert not doc.headings
    else:
        assert [(h.level, h.text) for h in doc.headings] == [(len(old.group(1)), old.group(2).strip())]


def test_other_workflow_patterns_do_not_rescan_blank_runs() -> None:
    from ftgate.workflow import expectations
    from ftgate.workflow.stages import parse_path

    blank = " " * 20_000
    start = time.process_time()
    parse_path("1" + blank + "x")
    expectations._TRAILING_APPLICABLE.sub("", "a" + blank + "x")
    # Searching from every position of a blank run was quadratic: seconds here.
    assert time.process_time() - start < 0.5
    assert parse_path("1 -> 3 ->4") is not None
    assert expectations._TRAILING_APPLICABLE.sub("", "owner (if applicable)") == "owner"
