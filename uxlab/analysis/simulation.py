"""Simulated participants with a known truth (no Django): the response model `simulate_participants`,
`plan_study` and `bench_recovery` share, so planning and recovery run through the analysis the
results page uses.

The truth is the model analysis/psychometric.py fits: an attentive answer chooses pane A with
probability λ/2 + (1 − λ)·σ(α + β_s·x_s + β_t·x_t), where x_s = log(v_A/v_B), x_t = log(TTFT_B/TTFT_A),
α = logit(position bias) and β = logit(0.75)/log(threshold ratio). With a tie option, an attentive
participant says "no difference" with probability τ·(1 − |2ψ − 1|) (most often where the arms are
hardest to tell apart), taken evenly from both sides, so ties-as-half recovers ψ exactly.
"""

import math
import random
from dataclasses import dataclass

LOGIT_75 = math.log(3.0)
FREE_TEXT_ANSWERS = ("felt quick", "too slow", "about the same", "the left one stuttered", "fine", "smooth")


def logistic(value):
    if value >= 0:
        return 1 / (1 + math.exp(-value))
    e = math.exp(value)
    return e / (1 + e)


@dataclass(frozen=True)
class ResponseModel:
    """Parameters of simulated participants. The slope of a dimension follows from its 75% threshold
    ratio (β = log 3 / log ratio) unless given."""

    threshold_ratio: float = 1.5
    slope: float | None = None
    ttft_threshold_ratio: float = 1.5
    lapse: float = 0.05
    position_bias: float = 0.5  # P(choosing pane A) when the arms are equal
    tie_tendency: float = 0.0
    inattentive: float = 0.0  # share of participants who answer at random (and fail attention checks)
    dropout: float = 0.0  # share of attentive participants who leave part-way through
    # An assumed preference for named arms beyond speed and TTFT: (arm, log-odds) pairs; choosing A
    # gains effect(arm in A) − effect(arm in B) logits (for planning e.g. a stall-position pair).
    arm_effects: tuple = ()

    def __post_init__(self):
        if self.threshold_ratio <= 1 or self.ttft_threshold_ratio <= 1:
            raise ValueError("threshold ratios must be above 1")
        for name in ("lapse", "tie_tendency", "inattentive", "dropout"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
        if not 0 < self.position_bias < 1:
            raise ValueError("position_bias must be strictly between 0 and 1")

    @property
    def speed_slope(self):
        return self.slope if self.slope is not None else LOGIT_75 / math.log(self.threshold_ratio)

    @property
    def speed_threshold_log(self):
        return LOGIT_75 / self.speed_slope

    @property
    def ttft_slope(self):
        return LOGIT_75 / math.log(self.ttft_threshold_ratio)

    @property
    def bias(self):
        return math.log(self.position_bias / (1 - self.position_bias))

    def arm_effect(self, arm_a, arm_b):
        effects = dict(self.arm_effects)
        return effects.get(arm_a, 0.0) - effects.get(arm_b, 0.0)

    def attentive_share_a(self, x_speed, x_ttft, extra=0.0):
        return logistic(self.bias + self.speed_slope * (x_speed or 0.0) + self.ttft_slope * (x_ttft or 0.0) + extra)

    def choose(self, rng, x_speed, x_ttft, allow_tie=True, extra=0.0):
        """One attentive answer to "which was faster?": "A", "B" or "tie"."""
        if rng.random() < self.lapse:
            return "A" if rng.random() < 0.5 else "B"
        psi = self.attentive_share_a(x_speed, x_ttft, extra)
        tie = self.tie_tendency * (1 - abs(2 * psi - 1)) if allow_tie else 0.0
        u = rng.random()
        if u < tie:
            return "tie"
        return "A" if u < tie + (psi - tie / 2) else "B"


@dataclass(frozen=True)
class SimulatedParticipant:
    """Who this participant is: attentive or not, and after how many trials they leave (None: never)."""

    attentive: bool
    leaves_after: int | None


def draw_participant(model, rng, trial_count):
    attentive = rng.random() >= model.inattentive
    leaves_after = None
    if attentive and trial_count > 1 and rng.random() < model.dropout:
        leaves_after = rng.randrange(1, trial_count)
    return SimulatedParticipant(attentive, leaves_after)


@dataclass(frozen=True)
class PaneTiming:
    """What the simulated participant saw in a trial (declared or displayed): per pane."""

    speed_a: float | None
    speed_b: float | None
    ttft_a: float | None
    ttft_b: float | None

    @property
    def x_speed(self):
        if not self.speed_a or not self.speed_b:
            return None
        return math.log(self.speed_a / self.speed_b)

    @property
    def x_ttft(self):
        if not self.ttft_a or not self.ttft_b:
            return None
        return math.log(self.ttft_b / self.ttft_a)


def answer(model, rng, person, kind, options, timing, pane=None, expected=None, arms=None):
    """A simulated answer to one question (kind as in Question.Kind), as the text the browser sends.

    `options`: the question's resolved options; `expected`: the instructed answer on an attention
    check (an attentive participant gives it; an inattentive one picks another value); `arms`:
    (arm in A, arm in B), for the model's arm effects.
    """
    extra = model.arm_effect(*arms) if arms else 0.0
    choices = {"forced_choice": ["A", "B"], "forced_choice_tie": ["A", "B", "tie"],
               "preference": ["A", "B", "tie", "both_bad"]}
    if kind in choices:
        values = choices[kind]
        if expected is not None:
            return expected if person.attentive else rng.choice([v for v in values if v != expected] or values)
        if not person.attentive:
            return rng.choice(values)
        return model.choose(rng, timing.x_speed, timing.x_ttft, allow_tie="tie" in values, extra=extra)
    own = _own_appeal(model, timing, pane, extra)
    if kind == "likert":
        scale = options.get("scale") or 7
        if not person.attentive:
            return str(rng.randint(1, scale))
        return str(max(1, min(scale, round(1 + own * (scale - 1) + rng.gauss(0, 0.7)))))
    if kind == "slider":
        low, high = options.get("min", 0), options.get("max", 100)
        value = rng.uniform(low, high) if not person.attentive else low + (high - low) * own + rng.gauss(0, (high - low) / 10)
        return str(round(max(low, min(high, value))))
    if kind == "wait_estimate":
        waited = (timing.ttft_a if pane != "B" else timing.ttft_b) or 1.0
        estimate = waited * math.exp(rng.gauss(0.1, 0.3)) if person.attentive else rng.uniform(0.5, 30)
        return str(round(min(options.get("max_seconds", 600), max(0.1, estimate)), 1))
    if kind == "free_text":
        return rng.choice(FREE_TEXT_ANSWERS)
    return ""


def _own_appeal(model, timing, pane, extra=0.0):
    """How good a pane (or, without a pane, the better of the two) looked, from 0 to 1: by default
    the faster looks better on every rating (an assumption of the simulation, not a finding)."""
    share_a = model.attentive_share_a(timing.x_speed, timing.x_ttft, extra)
    if pane == "A":
        return share_a
    if pane == "B":
        return 1 - share_a
    return max(share_a, 1 - share_a)


def simulated_choices(model, trials_by_participant, seed=0, allow_tie=True):
    """In memory, without a database: for each participant's list of PaneTiming, their answers to
    one choice question as (participant, trial index, timing, value), honouring inattention (answers
    at random) and drop-out. Used by planning and by tests of the analysis."""
    rng = random.Random(seed)
    rows = []
    for participant, trials in enumerate(trials_by_participant):
        person = draw_participant(model, rng, len(trials))
        for index, timing in enumerate(trials):
            if person.leaves_after is not None and index >= person.leaves_after:
                break
            kind = "forced_choice_tie" if allow_tie else "forced_choice"
            rows.append((participant, index, timing, answer(model, rng, person, kind, {}, timing)))
    return rows
