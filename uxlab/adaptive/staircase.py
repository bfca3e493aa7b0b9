"""Transformed up/down staircases (Levitt 1971): after ``down`` correct answers in a row the
stimulus moves one step harder, after any wrong answer one step easier. 1-up-2-down converges on
70.7 % correct, 1-up-3-down on 79.4 %.

The staircase walks a *difficulty* coordinate: the distance ``e`` of the stimulus from the
reference in log10 units (``e = |log10(value) - log10(reference)|``), so harder is smaller ``e``
whichever side of the reference a track is on. A reversal is a move in the opposite direction to
the move before it; the step after k reversals is ``steps[min(k, len(steps) - 1)]``, applied to
the move that makes the reversal. The estimate is the mean level at the last ``use_reversals``
reversals. State is a plain dict, so it is stored as JSON and replayed anywhere.
"""

import math


# rule name -> correct answers in a row that make the stimulus harder, and the convergence point.
RULES = {"1up2down": (2, 0.5 ** 0.5), "1up3down": (3, 0.5 ** (1 / 3))}


def start(level):
    """A staircase at ``level`` (e, log10 units from the reference) that has seen nothing."""
    return {"level": float(level), "streak": 0, "direction": None, "reversals": [], "trials": 0}


def step_size(state, steps):
    return steps[min(len(state["reversals"]), len(steps) - 1)]


def update(state, correct, *, rule, steps, bounds):
    """The state after an answer at ``state["level"]`` (a new dict; the old one is not changed)."""
    down, _target = RULES[rule]
    state = {**state, "reversals": list(state["reversals"]), "trials": state["trials"] + 1}
    if correct:
        state["streak"] += 1
        if state["streak"] < down:
            return state
        move = "harder"
    else:
        move = "easier"
    state["streak"] = 0
    if state["direction"] is not None and move != state["direction"]:
        state["reversals"].append(state["level"])
    state["direction"] = move
    step = step_size(state, steps)
    low, high = bounds
    level = state["level"] - step if move == "harder" else state["level"] + step
    state["level"] = round(min(high, max(low, level)), 10)
    return state


def estimate(state, use_reversals, level=0.95):
    """Mean level (e) of the last ``use_reversals`` reversals with a t interval, or None before
    two reversals. The interval treats reversal levels as independent, which they are not quite
    (docs/adaptive.md): read it as a rough guide, QUEST+ gives a proper posterior."""
    levels = state["reversals"][-use_reversals:]
    if len(levels) < 2:
        return None
    n = len(levels)
    mean = sum(levels) / n
    sd = math.sqrt(sum((value - mean) ** 2 for value in levels) / (n - 1))
    from scipy import stats  # here, not at import: scipy.stats costs every process ~1.3 s to import

    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return {"mean": mean, "sd": sd, "low": mean - half, "high": mean + half, "reversals_used": n}
