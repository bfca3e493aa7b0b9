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
