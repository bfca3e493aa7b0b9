"""The basic statistics of a perception study, as pure functions over plain Python data (no Django):
proportions, exact tests, Bradley–Terry's MM fit, a plain logistic fit, Student's t, exclusion rules.

Each function is checked against scipy / statsmodels in tests/analysis/test_stats.py. The models
built on them live beside: clustered.py (participant-level intervals), psychometric.py (lapse-aware
thresholds), pairs.py (pair table, Bradley–Terry with intervals), summaries.py (one per question kind).
"""

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile
LOGIT_75 = math.log(3.0)  # logit(0.75): the 75% point of a logistic psychometric function


def json_safe(value):
    """A result made JSON-safe: NaN and infinities become null, tuples lists, keys strings, numpy
    scalars plain numbers."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if hasattr(value, "item"):  # numpy scalars
        return json_safe(value.item())
    return value


# --- Proportions ---------------------------------------------------------------------------------


def wilson_interval(successes, n, z=Z95):
    """Wilson score interval for a binomial proportion; (nan, nan) when n is 0."""
    if n == 0:
        return (math.nan, math.nan)
    share = successes / n
    denominator = 1 + z * z / n
    centre = (share + z * z / (2 * n)) / denominator
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def _binomial_log_pmf(k, n, p):
    if p in (0.0, 1.0):
        return 0.0 if k == round(n * p) else -math.inf
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * math.log(p) + (n - k) * math.log1p(-p)


def binomial_test(k, n, p=0.5):
    """Exact two-sided binomial test: the probability of outcomes no likelier than k (as scipy's binomtest)."""
    if n == 0:
        return 1.0
    observed = _binomial_log_pmf(k, n, p)
    # scipy's tolerance, so outcomes equal to the observed one up to rounding count as "no likelier".
    limit = observed + math.log1p(1e-7)
    total = sum(math.exp(lp) for lp in (_binomial_log_pmf(i, n, p) for i in range(n + 1)) if lp <= limit)
    return min(1.0, total)


def proportion(successes, n):
    """A share with its Wilson 95% interval, as a dict ready for JSON (None for an empty sample)."""
    low, high = wilson_interval(successes, n)
    return {
        "count": successes,
        "n": n,
        "share": successes / n if n else None,
        "ci_low": None if n == 0 else low,
        "ci_high": None if n == 0 else high,
    }


# --- Pairwise choices ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """One forced-choice answer: which arm was in pane A (left) and B (right), and the answer."""

    participant: object
    arm_a: str
    arm_b: str
    value: str  # "A", "B", or one of TIE_VALUES; anything else is ignored by the choice statistics


TIE_VALUES = ("tie", "both_bad")  # answers that prefer neither pane: "no difference", "both bad"


def pair_key(arm_a, arm_b, order=None):
    """The unordered pair of arms, in the study's arm order when given, else alphabetical."""
    rank = {name: position for position, name in enumerate(order or [])}
    return tuple(sorted((arm_a, arm_b), key=lambda name: (rank.get(name, len(rank)), name)))


# --- Bradley-Terry -------------------------------------------------------------------------------


def strongly_connected(wins):
    """Whether every arm beats, directly or through others, every other arm (the MLE then exists)."""
    k = len(wins)
    if k <= 1:
        return True
    for matrix in (wins, wins.T):
        seen, stack = {0}, [0]
        while stack:
            i = stack.pop()
            for j in np.nonzero(matrix[i] > 0)[0]:
                if j not in seen:
                    seen.add(int(j))
                    stack.append(int(j))
        if len(seen) < k:
            return False
    return True


def bradley_terry_fit(wins, tol=1e-10, max_iter=10_000):
    """Log-strengths (mean zero) from a matrix where wins[i, j] counts i preferred over j.

    Hunter's (2004) MM algorithm for the maximum-likelihood estimate. Ties should be entered as
    half a win each way. Returns (log_strengths, regularized): when the data leave the estimate
    undefined (an arm never wins or never loses), half a win each way is added to every compared
    pair so the result stays finite, and regularized is True.
    """
    wins = np.asarray(wins, dtype=float)
    regularized = False
    if not strongly_connected(wins):
        games = wins + wins.T
        wins = wins + 0.5 * (games > 0)
        regularized = True
    games = wins + wins.T
    total_wins = wins.sum(axis=1)
    strength = np.ones(len(wins))
    for _ in range(max_iter):
        denominator = (games / (strength[:, None] + strength[None, :])).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            updated = np.where(denominator > 0, total_wins / denominator, strength)
        updated = np.maximum(updated, 1e-300)
        updated /= math.exp(np.log(updated).mean())
        if np.max(np.abs(np.log(updated) - np.log(strength))) < tol:
            strength = updated
            break
        strength = updated
    log_strength = np.log(strength)
    return log_strength - log_strength.mean(), regularized


def choice_outcomes(choices: Iterable[Choice], arms: Sequence[str]):
    """wins[i, j] (arm i chosen over j) and ties[i, j] (symmetric: an answer preferring neither pane,
    "no difference" or preference's "both bad") of answers between the arms."""
    index = {name: i for i, name in enumerate(arms)}
    wins = np.zeros((len(arms), len(arms)))
    ties = np.zeros((len(arms), len(arms)))
    for choice in choices:
        a, b = index[choice.arm_a], index[choice.arm_b]
        if choice.value == "A":
            wins[a, b] += 1
        elif choice.value == "B":
            wins[b, a] += 1
        elif choice.value in TIE_VALUES:
            ties[a, b] += 1
            ties[b, a] += 1
    return wins, ties


def choice_win_matrix(choices: Iterable[Choice], arms: Sequence[str]):
    """The win matrix of Bradley-Terry from answers: a chosen side wins; an answer preferring neither
    pane is half a win each way."""
    wins, ties = choice_outcomes(choices, arms)
    return wins + ties / 2


# --- Logistic regression (the lapse-free reference) ------------------------------------------------


@dataclass
class LogisticFit:
    """P(y = 1) = 1 / (1 + exp(-(intercept + slope * x))), fitted by maximum likelihood."""

    intercept: float
    slope: float
    covariance: list  # 2x2, order (intercept, slope)
    n: int
    converged: bool
    separated: bool = False

    def probability(self, x):
        return 1.0 / (1.0 + np.exp(-(self.intercept + self.slope * np.asarray(x, dtype=float))))

    def threshold(self, p=0.75):
        """The x at which P(y = 1) = p."""
        return (math.log(p / (1 - p)) - self.intercept) / self.slope

    def threshold_interval(self, p=0.75, z=Z95):
        """Fieller's interval for the threshold (a ratio of estimates); None when unbounded."""
        target = math.log(p / (1 - p)) - self.intercept
        (v_aa, v_ab), (_, v_bb) = self.covariance
        b = self.slope
        qa = b * b - z * z * v_bb
        if qa <= 0:
            return None  # the slope is not clearly non-zero: the interval is unbounded
        qb = -2 * (target * b + z * z * v_ab)
        qc = target * target - z * z * v_aa
        discriminant = qb * qb - 4 * qa * qc
        if discriminant < 0:
            return None
        root = math.sqrt(discriminant)
        return ((-qb - root) / (2 * qa), (-qb + root) / (2 * qa))


def logistic_fit(x, y, max_iter=100, tol=1e-10):
    """Logistic regression of y (0/1) on x with an intercept, by Newton-Raphson; None if not fittable."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if len(x) < 3 or np.ptp(x) == 0 or y.min() == y.max():
        return None
    design = np.column_stack([np.ones_like(x), x])
    beta = np.zeros(2)
    converged = False
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-(design @ beta)))
        w = np.clip(p * (1 - p), 1e-12, None)
        information = design.T @ (design * w[:, None])
        step = np.linalg.solve(information, design.T @ (y - p))
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            converged = True
            break
    p = 1.0 / (1.0 + np.exp(-(design @ beta)))
    w = p * (1 - p)
    information = design.T @ (design * w[:, None])
    separated = bool(np.max(np.abs(beta)) > 30 or not converged)
    return LogisticFit(
        intercept=float(beta[0]),
        slope=float(beta[1]),
        covariance=np.linalg.inv(information).tolist(),
        n=len(x),
        converged=converged,
        separated=separated,
    )


# --- Student t ----------------------------------------------------------------------------------


def _betacf(a, b, x, max_iter=300, eps=3e-16):
    """Continued fraction of the incomplete beta function (Lentz's method)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, max_iter + 1):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c if abs(1 + aa / c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c if abs(1 + aa / c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1) < eps:
            break
    return h


def _regularized_beta(a, b, x):
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1 - front * _betacf(b, a, 1 - x) / b


def student_t_cdf(t, df):
    tail = 0.5 * _regularized_beta(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t > 0 else tail


@functools.lru_cache(maxsize=1024)
def student_t_quantile(q, df):
    """The q-quantile of Student's t with df degrees of freedom (bisection on the CDF: 200
    incomplete-beta evaluations, so it is memoised — an analysis asks for the same few (q, df)
    hundreds of times)."""
    low, high = -1e3, 1e3
    for _ in range(200):
        mid = (low + high) / 2
        if student_t_cdf(mid, df) < q:
            low = mid
        else:
            high = mid
    return (low + high) / 2


# --- Exclusion rules -----------------------------------------------------------------------------

MIN_ON_TIME_FRACTION = 0.9  # below this fraction of tokens painted on time, a pane is low fidelity


def on_time_key(fidelity):
    """The pane share a trial's standard judges: ``fraction_in_first_frame`` (controlled and
    server-paced trials) or, for the live standard, ``fraction_within_budget`` (presented within
    the lateness budget of arrival; streaming/fidelity.live_trial_fidelity)."""
    return "fraction_within_budget" if (fidelity or {}).get("standard") == "live" else "fraction_in_first_frame"


def is_low_fidelity(fidelity, min_on_time=MIN_ON_TIME_FRACTION):
    """Whether either pane of a trial had too few tokens shown on time by its trial's standard.

    Reads the trial's fidelity summary (streaming/fidelity.py): ``{"panes": {"A": {...}, "B": {...}}}``
    with each pane's on-time share (``on_time_key``); a missing summary is not evidence of low fidelity.
    """
    panes = (fidelity or {}).get("panes") or {}
    key = on_time_key(fidelity)
    for pane in panes.values():
        share = pane.get(key) if isinstance(pane, Mapping) else None
        if share is not None and share < min_on_time:
            return True
    return False


@dataclass(frozen=True)
class ExclusionRule:
    """A reason to leave a trial out of the analysis; `applies` reads one trial record (a mapping)."""

    name: str
    label: str
    applies: Callable[[Mapping], bool] = field(compare=False)
    default: bool = True  # in force unless the analyst says which rules (`rules=set`)


EXCLUSION_RULES = (
    ExclusionRule("failed_attention_check", "Participant failed an attention check",
                  lambda r: bool(r.get("participant_failed_attention_check"))),
    ExclusionRule("hidden_tab", "Tab hidden while streaming", lambda r: bool(r.get("hidden_during_stream"))),
    ExclusionRule("low_fidelity", "Low presentation fidelity", lambda r: bool(r.get("low_fidelity"))),
    ExclusionRule("interrupted", "Trial interrupted", lambda r: r.get("status") == "interrupted"),
    ExclusionRule("practice", "Practice trial", lambda r: bool(r.get("practice"))),
    ExclusionRule("attention_check_trial", "Attention-check trial (an instructed answer, not a judgement)",
                  lambda r: bool(r.get("attention_trial"))),
    ExclusionRule("pilot", "Pilot or preview participant (docs/builder.md)", lambda r: bool(r.get("pilot"))),
    ExclusionRule("assistive_technology", "Participant uses a screen reader or screen magnifier",
                  lambda r: bool(r.get("participant_assistive_technology"))),
    # Off by default: while a study runs, every participant still answering has not completed, and
    # excluding them would empty the page. Partial data are kept and counted; switch it on for the
    # complete-case analysis (docs/analysis.md, "Exclusion rules").
    ExclusionRule("did_not_complete", "Participant did not complete the study (dropped out or still running, "
                  "timed out, backend failure, incomplete; off by default: partial data kept)",
                  lambda r: bool(r.get("participant_did_not_complete")), default=False),
)
DEFAULT_RULES = tuple(rule.name for rule in EXCLUSION_RULES if rule.default)
NOT_COMPLETED_OUTCOMES = ("timed_out", "backend_failure", "incomplete")
RULES_BY_NAME = {rule.name: rule for rule in EXCLUSION_RULES}


def exclusion_reasons(record: Mapping, enabled: Iterable[str]):
    """The names of the enabled rules that exclude this record, in rule order."""
    enabled = set(enabled)
    return [rule.name for rule in EXCLUSION_RULES if rule.name in enabled and rule.applies(record)]


def exclusion_effect(records: Iterable[Mapping], enabled: Iterable[str]):
    """What each rule would exclude on its own, and what the enabled rules exclude together."""
    enabled = set(enabled)
    per_rule = {rule.name: 0 for rule in EXCLUSION_RULES}
    total = excluded = 0
    for record in records:
        total += 1
        hits = [rule.name for rule in EXCLUSION_RULES if rule.applies(record)]
        for name in hits:
            per_rule[name] += 1
        excluded += any(name in enabled for name in hits)
    return {
        "total": total,
        "excluded": excluded,
        "kept": total - excluded,
        "rules": [
            {"name": rule.name, "label": rule.label, "enabled": rule.name in enabled, "matches": per_rule[rule.name]}
            for rule in EXCLUSION_RULES
        ],
    }
