"""QUEST+ (Watson 2017): a grid posterior over a psychometric function's parameters, and the next
stimulus chosen to minimise the expected entropy of that posterior after the answer.

Watson, A. B. (2017). QUEST+: A general multidimensional Bayesian adaptive psychometric method.
Journal of Vision, 17(3):10. The 2AFC Weibull is parametrised as in the paper (and the
``questplus`` package): p(correct) = 1 - λ - (1 - γ - λ) exp(-10^(β (x - t) / k)), with k = 1 on
a log10 scale and k = 20 on a decibel scale. Framework-free (numpy only); tested against the
paper's worked examples (tests/adaptive/test_questplus.py).
"""

from dataclasses import dataclass, field

import numpy as np

SCALES = {"log10": 1.0, "dB": 20.0}


def weibull(x, threshold, slope, guess, lapse, scale="log10"):
    """P(correct) of the Weibull at stimulus ``x`` (broadcasting over numpy arrays)."""
    k = SCALES[scale]
    return 1 - lapse - (1 - guess - lapse) * np.exp(-(10 ** (slope * (np.asarray(x) - threshold) / k)))


@dataclass
class QuestPlus:
    """A QUEST+ posterior over (threshold, slope, lapse) for a 2AFC Weibull with a fixed guess rate.

    ``stimuli`` are the candidate next stimuli; ``prior`` (optional) weighs the thresholds (any
    positive weights, normalised here; uniform when left out). Answers are replayed with
    ``update``, so a state kept as a list of (stimulus, correct) pairs rebuilds the same posterior.
    """

    stimuli: np.ndarray
    thresholds: np.ndarray
    slopes: np.ndarray
    lapses: np.ndarray
    guess: float = 0.5
    scale: str = "log10"
    prior: np.ndarray | None = None
    posterior: np.ndarray = field(init=False)

    def __post_init__(self):
        self.stimuli = np.atleast_1d(np.asarray(self.stimuli, dtype=float))
        self.thresholds = np.atleast_1d(np.asarray(self.thresholds, dtype=float))
        self.slopes = np.atleast_1d(np.asarray(self.slopes, dtype=float))
        self.lapses = np.atleast_1d(np.asarray(self.lapses, dtype=float))
        weights = np.ones(len(self.thresholds)) if self.prior is None else np.asarray(self.prior, dtype=float)
        if weights.shape != self.thresholds.shape or not np.all(weights >= 0) or weights.sum() <= 0:
            raise ValueError("the prior needs one non-negative weight per threshold, not all zero")
        posterior = np.broadcast_to(
            weights[:, None, None], (len(self.thresholds), len(self.slopes), len(self.lapses))
        ).astype(float)
        self.posterior = posterior / posterior.sum()
        # p(correct) for every candidate stimulus and parameter set: (stimuli, thresholds, slopes, lapses).
        self._p_correct = self.p_correct(self.stimuli)

    def p_correct(self, x):
        """P(correct) at stimuli ``x`` for every parameter set: shape (len(x), T, S, L)."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        return weibull(
            x[:, None, None, None],
            self.thresholds[None, :, None, None],
            self.slopes[None, None, :, None],
            self.guess,
            self.lapses[None, None, None, :],
            self.scale,
        )

    def update(self, stimulus, correct):
        """Bayes' rule with one answer at ``stimulus`` (any value, not only a candidate)."""
        self.replay([(stimulus, correct)])

    def replay(self, answers):
        """``update`` with each (stimulus, correct) answer in turn; P(correct) is computed for all
        of them at once, the posterior multiplied and normalised answer by answer as ``update``
        does (the same arithmetic, so the same posterior to the last bit)."""
        answers = list(answers)
        if not answers:
            return
        p = self.p_correct([stimulus for stimulus, _correct in answers])
        for likelihood, (_stimulus, correct) in zip(p, answers):
            self.posterior = self.posterior * (likelihood if correct else 1 - likelihood)
            total = self.posterior.sum()
            if total <= 0:  # cannot happen with a lapse rate above zero; guards a degenerate grid
                raise ValueError("the answers left no parameter set with any probability")
            self.posterior /= total

    def expected_entropies(self):
        """The expected entropy of the posterior after an answer at each candidate stimulus."""
        joint_correct = self._p_correct * self.posterior  # (X, T, S, L)
        expected = np.zeros(len(self.stimuli))
        for joint in (joint_correct, self.posterior - joint_correct):
            outcome = joint.reshape(len(self.stimuli), -1).sum(axis=1)
            normalised = joint.reshape(len(self.stimuli), -1) / np.where(outcome > 0, outcome, 1)[:, None]
            with np.errstate(divide="ignore", invalid="ignore"):
                entropy = -np.nansum(np.where(normalised > 0, normalised * np.log(normalised), 0.0), axis=1)
            expected += outcome * entropy
        return expected

    def next_stimulus(self):
        """The candidate stimulus with the least expected entropy (the first of equal ones)."""
        return float(self.stimuli[int(np.argmin(self.expected_entropies()))])

    def marginal(self, name):
        """The posterior of one parameter ("threshold", "slope" or "lapse") over its grid."""
        axes = {"threshold": (1, 2), "slope": (0, 2), "lapse": (0, 1)}[name]
        return self.posterior.sum(axis=axes)

    def mode(self):
        """The parameter set with the highest posterior probability."""
        t, s, lam = np.unravel_index(int(np.argmax(self.posterior)), self.posterior.shape)
        return {"threshold": float(self.thresholds[t]), "slope": float(self.slopes[s]), "lapse": float(self.lapses[lam])}

    def threshold_summary(self, level=0.95):
        """Mean, SD, mode and central credible interval of the threshold's marginal posterior."""
        return grid_summary(self.thresholds, self.marginal("threshold"), level)


def grid_summary(values, weights, level=0.95):
    """Summary of a distribution on a grid: mean, sd, mode and the central ``level`` interval
    (quantiles of the cumulative weights, interpolated between grid points)."""
    values = np.asarray(values, dtype=float)
    weights = np.asarray(weights, dtype=float) / np.sum(weights)
    order = np.argsort(values)
    values, weights = values[order], weights[order]
    mean = float(np.sum(values * weights))
    sd = float(np.sqrt(max(0.0, np.sum(weights * (values - mean) ** 2))))
    cumulative = np.cumsum(weights) - weights / 2  # each grid point at the middle of its mass
    tail = (1 - level) / 2
    low, high = (float(np.interp(q, cumulative, values)) for q in (tail, 1 - tail))
    return {"mean": mean, "sd": sd, "mode": float(values[int(np.argmax(weights))]), "low": low, "high": high}
