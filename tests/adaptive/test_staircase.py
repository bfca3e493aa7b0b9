"""Transformed up/down staircases against sequences worked out by hand."""

import pytest

from uxlab.adaptive import staircase

C, I = True, False


def run(rule, steps, answers, start=1.0, bounds=(0.05, 1.0)):
    state = staircase.start(start)
    levels = []
    for correct in answers:
        levels.append(state["level"])
        state = staircase.update(state, correct, rule=rule, steps=steps, bounds=bounds)
    return state, levels


def test_it_follows_one_up_two_down_by_hand():
    # Two right: harder by 0.2 (no reversal yet). Wrong at 0.8: reversal 1 (at 0.8), the step
    # becomes 0.1 and applies to this move: 0.9. Two right at 0.9: reversal 2 (at 0.9), 0.8.
    # Two right: 0.7 (same direction). Wrong at 0.7: reversal 3, 0.8.
    state, levels = run("1up2down", [0.2, 0.1], [C, C, I, C, C, C, C, I])
    assert levels == [1.0, 1.0, 0.8, 0.9, 0.9, 0.8, 0.8, 0.7]
    assert state["level"] == pytest.approx(0.8)
    assert state["reversals"] == [0.8, 0.9, 0.7]
    assert state["trials"] == 8 and state["streak"] == 0


def test_it_follows_one_up_three_down_by_hand():
    # Three right to go down 0.1; a wrong answer resets the count; two right are not enough.
    state, levels = run("1up3down", [0.1], [C, C, C, C, C, I, C, C, C], start=0.5)
    assert levels == [0.5, 0.5, 0.5, 0.4, 0.4, 0.4, 0.5, 0.5, 0.5]
    assert state["level"] == pytest.approx(0.4)
    assert state["reversals"] == [0.4, 0.5]


def test_it_stays_within_the_range():
    state, levels = run("1up2down", [0.3], [I, I, I, I], start=0.9)
    assert levels == [0.9, 1.0, 1.0, 1.0] and state["level"] == 1.0
    state, levels = run("1up2down", [0.3], [C] * 12, start=0.3)
    assert min(levels) == 0.05 and state["level"] == 0.05


def test_it_estimates_from_the_last_reversals():
    state = {**staircase.start(0.5), "reversals": [0.9, 0.3, 0.5, 0.7, 0.5, 0.7]}
    estimate = staircase.estimate(state, 4)
    assert estimate["mean"] == pytest.approx(0.6) and estimate["reversals_used"] == 4
    # sd of (0.5, 0.7, 0.5, 0.7) is 0.11547; t(0.975, 3) = 3.182
    assert estimate["high"] - estimate["mean"] == pytest.approx(3.182446 * 0.11547 / 2, rel=1e-4)
    assert staircase.estimate({**state, "reversals": [0.4]}, 4) is None


def test_its_convergence_points_are_levitts():
    assert staircase.RULES["1up2down"][1] == pytest.approx(0.7071, abs=1e-4)
    assert staircase.RULES["1up3down"][1] == pytest.approx(0.7937, abs=1e-4)
