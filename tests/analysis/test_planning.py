"""analysis.planning: the one rule of coverage and width that plan_study and bench_recovery share."""

import math

import pytest

from uxlab.analysis import planning


@pytest.mark.parametrize("interval, truth, held", [
    ([0.2, 0.6], 0.4, True),
    ([0.2, 0.6], 0.7, False),
    ([None, 0.6], -5.0, True),  # unbounded below holds everything below its upper end
    ([None, 0.6], 0.7, False),
    ([0.2, None], 9.0, True),
    ([None, None], 0.0, True),
    (None, 0.4, False),  # no interval (no fit) holds nothing
])
def test_an_unbounded_end_holds_everything_on_its_side(interval, truth, held):
    assert planning.covers(interval, truth) is held


def test_an_unbounded_interval_is_infinitely_wide():
    assert planning.width([0.2, 0.6]) == pytest.approx(0.4)
    assert planning.width([None, 0.6]) == math.inf and planning.width(None) == math.inf


def test_bench_recovery_uses_the_same_rule():
    from uxlab.benchmarks.management.commands import bench_recovery

    assert bench_recovery.covers is planning.covers
