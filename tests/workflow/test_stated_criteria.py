"""Success criteria read from requirements.md as terms a run is held to."""

from __future__ import annotations

from ftgate.workflow.stated_criteria import config_disagreements, criteria_changes, stated_criteria

TEXT = """\
# Requirements: demo

## Success Criteria

- SC-001 (R-001): `exact_match >= 0.80` on the held-out prompts
- SC-002 (R-001): `exact_match` improves on the base model by at least 0.50
- SC-003 (R-001): exact match on the held-out prompts >= 0.80
- SC-004 (R-002): eval_loss < 1.5
"""


def test_measurable_terms_are_read_and_prose_is_a_rubric() -> None:
    stated = stated_criteria(TEXT)
    assert (stated["SC-001"].metric, stated["SC-001"].op, stated["SC-001"].threshold) == ("exact_match", ">=", 0.8)
    assert (stated["SC-002"].metric, stated["SC-002"].min_delta, stated["SC-002"].threshold) == ("exact_match", 0.5, None)
    # "prompts >= 0.80" is prose, not a metric: a person closes SC-003.
    assert not stated["SC-003"].measurable
    assert (stated["SC-004"].metric, stated["SC-004"].op, stated["SC-004"].threshold) == ("eval_loss", "<", 1.5)


def test_a_config_must_say_what_requirements_say() -> None:
    stated = stated_criteria(TEXT)
    same = [("SC-001", "exact_match", ">=", 0.8, None), ("SC-002", "exact_match", None, None, 0.5),
            ("SC-003", "contains", ">=", 0.1, None)]
    assert config_disagreements(stated, same) == []
    weaker = config_disagreements(stated, [("SC-001", "exact_match", ">=", 0.5, None),
                                           ("SC-002", "contains", None, None, 0.5)])
    assert len(weaker) == 2
    assert "SC-001 in requirements.md line 5 states exact_match >= 0.8" in weaker[0]
    assert "metric 'contains' instead of 'exact_match'" in weaker[1]


def test_changes_between_two_versions_are_named() -> None:
    assert criteria_changes(TEXT, TEXT.replace("on the held-out prompts\n", "on held-out prompts\n", 1)) == []
    changed = criteria_changes(TEXT, TEXT.replace("0.80` on", "0.60` on").replace("- SC-004 (R-002): eval_loss < 1.5\n", ""))
    assert changed == ["SC-004 was removed", "SC-001 changed from exact_match >= 0.8 to exact_match >= 0.6"]
    reworded = criteria_changes(TEXT, TEXT.replace("exact match on the", "exact match over the"))
    assert reworded == ["SC-003's rubric was reworded"]
