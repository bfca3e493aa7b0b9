"""Adaptive results, pure: the distribution of thresholds and the Welch difference between groups."""

import math

import numpy as np
import pytest
from scipy import stats

from uxlab.analysis.adaptive import by_group, distribution


def test_it_summarises_thresholds_in_log10_units_and_as_values():
    values = [0.9, 1.0, 1.1, 1.3, float("nan"), None]
    summary = distribution(values)
    assert summary["n"] == 4 and summary["mean_log10"] == pytest.approx(1.075)
    assert summary["sd_log10"] == pytest.approx(np.std([0.9, 1.0, 1.1, 1.3], ddof=1))
    assert summary["median_log10"] == pytest.approx(1.05) and summary["median_value"] == pytest.approx(10**1.05)
    assert (summary["q1_value"], summary["q3_value"]) == pytest.approx((10**0.975, 10**1.15))
    assert summary["geometric_mean"] == pytest.approx(10**1.075)
    assert distribution([None]) == {"n": 0}


def test_it_gives_each_groups_difference_with_welchs_interval():
    rng = np.random.default_rng(3)
    first, second = list(rng.normal(1.0, 0.1, 12)), list(rng.normal(1.2, 0.25, 9))
    result = by_group([("no", value) for value in first] + [("yes", value) for value in second])
    assert list(result["groups"]) == ["no", "yes"] and result["groups"]["yes"]["n"] == 9
    (difference,) = result["differences"]
    welch = stats.ttest_ind(second, first, equal_var=False).confidence_interval(0.95)
    assert difference["difference_log10"] == pytest.approx(np.mean(second) - np.mean(first))
    assert (difference["low_log10"], difference["high_log10"]) == pytest.approx((welch.low, welch.high))
    assert not math.isnan(difference["low_log10"])


def test_a_group_of_one_has_no_interval():
    result = by_group([("a", 1.0), ("a", 1.1), ("b", 1.3)])
    assert result["differences"] == [{"group": "b", "versus": "a", "difference_log10": None}]


def test_it_clips_a_staircase_interval_to_the_tracks_range_and_says_so():
    from uxlab.analysis.adaptive import clip_interval

    summary = {"log10": -0.3, "low_log10": -3.0, "high_log10": 2.24, "reversals": 2}
    clipped = clip_interval(summary, (-0.7, 0.0), 6)
    assert (clipped["low_log10"], clipped["high_log10"]) == (-0.7, 0.0)
    assert clipped["interval_clipped"] is True and clipped["reversals_used"] == 2 and clipped["log10"] == -0.3
    inside = clip_interval({"log10": -0.3, "low_log10": -0.4, "high_log10": -0.2, "reversals": 9}, (-0.7, 0.0), 6)
    assert inside["interval_clipped"] is False and inside["reversals_used"] == 6 and inside["low_log10"] == -0.4
    assert clip_interval({"reversals": 1}, (-0.7, 0.0), 6) == {"reversals": 1}


def test_a_track_plot_draws_every_tracks_threshold_in_its_own_colour():
    from uxlab.analysis.plots import adaptive_track_svg

    steps = [{"value": 10, "track": "slower", "correct": True}, {"value": 20, "track": "faster", "correct": False}]
    estimates = {"slower": {"log10": 1.0, "low_log10": 0.9, "high_log10": 1.1},
                 "faster": {"log10": 1.3, "low_log10": 1.2, "high_log10": 1.4}}
    svg = adaptive_track_svg(steps, 15, "t", estimates)
    colours = set()
    for track in estimates:
        for line in ("log10", "low_log10", "high_log10"):
            tag = svg.split(f'data-track="{track}" data-line="{line}"')[1].split("/>")[0]
            colours.add((track, tag.split("stroke:")[1].split(";")[0]))
    assert len({colour for _track, colour in colours}) == 2


DOCS = __import__("pathlib").Path(__file__).resolve().parents[2] / "docs"


def test_the_data_dictionary_tells_the_unsigned_level_from_signed_log10_values():
    text = (DOCS / "data-dictionary.md").read_text()
    level = next(line for line in text.splitlines() if line.startswith("| `level_log10` |"))
    assert "unsigned distance" in level and "next_level_log10" in level
    summary = next(line for line in text.splitlines() if line.startswith("| `summary` | json |"))
    assert "signed log10" in summary and "next_level_log10" in summary
    assert "| `threshold_interval_clipped` |" in text


def test_the_adaptive_docs_say_what_blinding_cannot_hide_and_what_clipping_means():
    text = (DOCS / "adaptive.md").read_text()
    assert "`due_ms`" in text and "implausibly good participant" in text
    assert "A\n  clipped interval is **not** a 95 % interval" in text


def test_the_try_it_commands_run_as_printed_without_a_env_file():
    """The demo runs with DEBUG=true; without it (and without .env) manage.py stops for SECRET_KEY."""
    text = (DOCS / "adaptive.md").read_text()
    block = text.split("## Try it")[1].split("```sh")[1].split("```")[0]
    commands = [line for line in block.splitlines() if line.strip()]
    assert commands and all(line.startswith("DEBUG=true .venv/bin/python manage.py ") for line in commands)


def test_the_docs_say_where_group_by_is_echoed_and_which_kinds_take_ask():
    api = (DOCS / "api.md").read_text()
    assert "echoed in\n`adaptive.group_by`, not in `options`" in api
    assert "`group`, `versus` (the first answered group), `difference_log10`" in api
    ask = next(line for line in (DOCS / "study-format.md").read_text().splitlines() if line.startswith("| `ask` |"))
    assert "other kinds refuse it" in ask and "`every_trial`, the default, may be written on any kind" in ask


def test_by_group_lists_participants_without_an_answer_last_and_never_compares_them():
    """"(no answer)" sorts before "1" by its characters; as the first group it was the base of every
    difference, so one participant still in their first trial emptied the comparison."""
    from uxlab.analysis.adaptive import NO_ANSWER, by_group

    rows = [(NO_ANSWER, 1.2)] + [("1", value) for value in (1.0, 1.1, 1.2)] + [("2", value) for value in (1.3, 1.4, 1.5)]
    result = by_group(rows)
    assert list(result["groups"]) == ["1", "2", NO_ANSWER] and result["groups"][NO_ANSWER]["n"] == 1
    assert [(d["group"], d["versus"]) for d in result["differences"]] == [("2", "1")]
    assert result["differences"][0]["difference_log10"] == pytest.approx(0.3)
    assert by_group([(NO_ANSWER, 1.0), ("1", 1.1), ("1", 1.2)])["differences"] == []
