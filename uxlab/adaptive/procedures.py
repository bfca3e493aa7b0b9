"""The adaptive procedures, registered in one place: each takes a track (a range of stimulus values
on one side of the reference) and keeps a JSON state of its own.

A procedure works on the track's difficulty coordinate ``e``, the distance of the stimulus from
the reference in log10 units (staircase.py), and reports thresholds in log10 stimulus units
(``log10(value)``), so a threshold below the reference and one above it read the same way. Adding a
procedure is adding a class to PROCEDURES; nothing else switches on its name.
"""

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from uxlab.adaptive import staircase
from uxlab.adaptive.questplus import QuestPlus, grid_summary

# Defaults of the study file's adaptive block (docs/adaptive.md); study_files validates the values.
DEFAULTS = {
    "grid": 31,
    "catch_trials": 0.0,
    "max_trials": 40,
    "stop": {"trials_per_track": None, "reversals": None, "posterior_sd": None},
    "staircase": {"rule": "1up2down", "steps": [0.2, 0.1, 0.05], "use_reversals": 6},
    "quest_plus": {"slopes": [1.5, 2.0, 3.0, 4.5, 6.0], "lapses": [0.0, 0.02, 0.05], "guess": 0.5, "prior": None},
}


@dataclass(frozen=True)
class Track:
    """One side of the reference: stimulus values from ``low`` to ``high`` (one end may be the
    reference itself, which is never shown: the grid stops one grid step short of it)."""

    name: str
    low: float
    high: float
    reference: float
    grid: int
    start: float | None = None

    @property
    def sign(self):
        """+1 for a track above the reference, -1 below."""
        return 1 if self.low >= self.reference else -1

    def distance(self, value):
        return abs(math.log10(value) - math.log10(self.reference))

    def value(self, e):
        return float(self.reference * 10 ** (self.sign * e))

    def log_value(self, e):
        return math.log10(self.reference) + self.sign * e

    @cached_property
    def levels(self):
        """The grid of difficulties e (log-spaced values over the range, the reference left out), easiest first."""
        values = np.geomspace(self.low, self.high, self.grid)
        levels = tuple(sorted({round(self.distance(value), 12) for value in values} - {0.0}, reverse=True))
        if not levels:
            raise ValueError(f"track {self.name!r}: its range holds no value other than the reference")
        return levels

    @property
    def bounds(self):
        levels = self.levels
        return levels[-1], levels[0]

    def log_summary(self, summary):
        """A summary in e (mean, sd, low, high) as log10 stimulus values (low <= high)."""
        low, high = sorted((self.log_value(summary["low"]), self.log_value(summary["high"])))
        mean = self.log_value(summary["mean"])
        return {"log10": mean, "value": 10**mean, "sd_log10": summary["sd"], "low_log10": low, "high_log10": high}


class Procedure:
    """One track's procedure. ``start`` makes the state, ``next_level`` chooses the next
    difficulty, ``update`` takes an answer, ``summary`` is the current estimate (or None)."""

    name = ""

    def __init__(self, config, track):
        self.config = config
        self.track = track

    def start(self):
        raise NotImplementedError

    def next_level(self, state):
        raise NotImplementedError

    def update(self, state, level, correct):
        raise NotImplementedError

    def summary(self, state):
        raise NotImplementedError

    def done(self, state):
        """Whether the track's stopping rule is met (trials per track; the kind's own rules)."""
        limit = self.config["stop"].get("trials_per_track")
        return limit is not None and state["trials"] >= limit


class StaircaseProcedure(Procedure):
    name = "staircase"

    @property
    def settings(self):
        return self.config["staircase"]

    def start(self):
        low, high = self.track.bounds
        start = self.track.start
        level = high if start is None else min(high, max(low, self.track.distance(start)))
        return staircase.start(level)

    def next_level(self, state):
        return state["level"]

    def update(self, state, level, correct):
        return staircase.update(
            state, correct, rule=self.settings["rule"], steps=self.settings["steps"], bounds=self.track.bounds
        )

    def summary(self, state):
        estimate = staircase.estimate(state, self.settings["use_reversals"])
        base = {"reversals": len(state["reversals"]), "next_level_log10": self.track.log_value(state["level"])}
        if estimate is None:
            return base
        return {**base, **self.track.log_summary(estimate), "criterion": staircase.RULES[self.settings["rule"]][1]}

    def done(self, state):
        wanted = self.config["stop"].get("reversals")
        return super().done(state) or (wanted is not None and len(state["reversals"]) >= wanted)


class QuestPlusProcedure(Procedure):
    """QUEST+ on a Weibull over x = log10(e): the threshold is the distance from the reference at
    which 1 - λ - (1 - γ - λ)/e of answers are right (81.6 % with γ = 0.5, λ = 0)."""

    name = "quest_plus"

    @property
    def settings(self):
        return self.config["quest_plus"]

    def quest(self, history=()):
        """The posterior after ``history`` ([level, correct] pairs). A session asks for the same
        history several times per answer (summary, stopping rule, next level), so the last one
        built is kept; callers only read it."""
        key = tuple((float(level), bool(correct)) for level, correct in history)
        cached = getattr(self, "_last_quest", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        quest = self._fresh_quest()
        quest.replay((math.log10(level), correct) for level, correct in key)
        self._last_quest = (key, quest)
        return quest

    def _fresh_quest(self):
        levels = np.array(self.track.levels)
        x = np.log10(levels)
        prior = None
        if self.settings.get("prior"):
            centre = math.log10(self.settings["prior"]["threshold"])
            logs = np.array([self.track.log_value(level) for level in levels])
            prior = np.exp(-0.5 * ((logs - centre) / self.settings["prior"]["sd_log10"]) ** 2) + 1e-12
        return QuestPlus(
            stimuli=x, thresholds=x, slopes=self.settings["slopes"], lapses=self.settings["lapses"],
            guess=self.settings["guess"], prior=prior,
        )

    def start(self):
        return {"history": [], "trials": 0}

    def next_level(self, state):
        return float(10 ** self.quest(state["history"]).next_stimulus())

    def update(self, state, level, correct):
        return {"history": [*state["history"], [level, bool(correct)]], "trials": state["trials"] + 1}

    def summary(self, state):
        quest = self.quest(state["history"])
        # The threshold's marginal posterior over e (10^x), summarised in e, then as log10 values.
        levels = 10 ** quest.thresholds
        in_e = grid_summary(levels, quest.marginal("threshold"))
        mode = quest.mode()
        return {
            **self.track.log_summary(in_e),
            "slope_mode": mode["slope"],
            "lapse_mode": mode["lapse"],
            "criterion": 1 - (1 - self.settings["guess"]) / math.e,
        }

    def done(self, state):
        # The posterior-width rule needs an answer: a prior narrower than the width alone never
        # stops a track before its first trial.
        width = self.config["stop"].get("posterior_sd")
        return super().done(state) or (
            width is not None and state["trials"] > 0 and self.summary(state)["sd_log10"] <= width
        )


PROCEDURES = {procedure.name: procedure for procedure in (StaircaseProcedure, QuestPlusProcedure)}
