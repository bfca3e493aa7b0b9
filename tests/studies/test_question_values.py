"""Question.clean_value: what each kind accepts, in what canonical form, and what it refuses."""

import pytest

from uxlab.studies.models import Question


def question(kind, **options):
    return Question(name="q", kind=kind, text="?", options=options)


@pytest.mark.parametrize(
    ("kind", "options", "value", "stored"),
    [
        ("forced_choice", {}, "A", "A"),
        ("forced_choice_tie", {}, "tie", "tie"),
        ("preference", {}, "both_bad", "both_bad"),
        ("likert", {"scale": 5}, "5", "5"),
        ("slider", {"min": -10, "max": 10}, "-2.50", "-2.5"),
        ("slider", {}, "100", "100"),
        ("wait_estimate", {}, "4.0", "4"),
        ("free_text", {"max_length": 10}, "  fine  ", "fine"),
    ],
)
def test_it_accepts_and_normalises_valid_answers(kind, options, value, stored):
    assert question(kind, **options).clean_value(value) == stored


@pytest.mark.parametrize(
    ("kind", "options", "value", "message"),
    [
        ("forced_choice", {}, "tie", "one of: A, B"),
        ("preference", {}, "C", "one of: A, B, tie, both_bad"),
        ("likert", {"scale": 5}, "6", "one of: 1, 2, 3, 4, 5"),
        ("likert", {}, "1.0", "one of: 1, 2, 3, 4, 5, 6, 7"),
        ("slider", {}, "101", "from 0 to 100"),
        ("slider", {}, "nan", "from 0 to 100"),
        ("wait_estimate", {"max_seconds": 60}, "-1", "from 0 to 60"),
        ("wait_estimate", {}, "soon", "must be a number"),
        ("free_text", {"max_length": 3}, "four", "at most 3 characters"),
        ("free_text", {}, "   ", "must not be empty"),
    ],
)
def test_it_refuses_invalid_answers_with_a_message(kind, options, value, message):
    with pytest.raises(ValueError, match=message):
        question(kind, **options).clean_value(value)


def test_it_makes_only_free_text_optional_by_default():
    assert [question(kind).required for kind in Question.Kind.values] == [True] * 6 + [False]
    assert question("free_text", required=True).required
