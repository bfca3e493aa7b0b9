"""The statistics of a perception study, as pure functions over plain Python data (no Django).

Each function is checked against scipy / statsmodels in tests/analysis/test_stats.py; the
psychometric fit is also checked by simulation (it recovers a known threshold within its interval).
"""

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile
LOGIT_75 = math.log(3.0)  # logit(0.75): the 75% point of a logistic psychometric function


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
    value: str  # "A", "B" or "tie"; anything else is ignored by the choice statistics


def pair_key(arm_a, arm_b, order=None):
    """The unordered pair of arms, in the study's arm order when given, else alphabetical."""
    rank = {name: position for position, name in enumerate(order or [])}
    return tuple(sorted((arm_a, arm_b), key=lambda name: (rank.get(name, len(rank)), name)))


def pair_summaries(choices: Iterable[Choice], order=None):
    """Per pair of arms: the share choosing each side and "no difference", with an exact test.

    The test asks whether the two arms are chosen equally often among the answers that chose one.
    """
    counts = defaultdict(lambda: {"first": 0, "second": 0, "tie": 0})
    for choice in choices:
        if choice.value not in ("A", "B", "tie"):
            continue
        first, second = pair_key(choice.arm_a, choice.arm_b, order)
        cell = counts[(first, second)]
        if choice.value == "tie":
            cell["tie"] += 1
        else:
            chosen = choice.arm_a if choice.value == "A" else choice.arm_b
            cell["first" if chosen == first else "second"] += 1
    summaries = []
    for (first, second), cell in counts.items():
        n = cell["first"] + cell["second"] + cell["tie"]
        decided = cell["first"] + cell["second"]
        summaries.append(
            {
                "first": first,
                "second": second,
                "n": n,
                "chose_first": proportion(cell["first"], n),
                "chose_second": proportion(cell["second"], n),
                "no_difference": proportion(cell["tie"], n),
                "first_among_decided": proportion(cell["first"], decided),
                "p_value": binomial_test(cell["first"], decided),
            }
        )
    rank = {name: position for position, name in enumerate(order or [])}
    summaries.sort(key=lambda s: (rank.get(s["first"], 1e9), rank.get(s["second"], 1e9), s["first"], s["second"]))
    return summaries


def position_bias(choices: Iterable[Choice]):
    """How often the left pane (A) is chosen among decided answers, with an exact test against 50%."""
    left = decided = 0
    for choice in choices:
        if choice.value in ("A", "B"):
            decided += 1
            left += choice.value == "A"
    return {"chose_left": proportion(left, decided), "p_value": binomial_test(left, decided)}


# --- Bradley-Terry -------------------------------------------------------------------------------


def _strongly_connected(wins):
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
    if not _strongly_connected(wins):
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


def choice_win_matrix(choices: Iterable[Choice], arms: Sequence[str]):
    """The win matrix of Bradley-Terry from answers: a chosen side wins, "no difference" is half each."""
    index = {name: i for i, name in enumerate(arms)}
    wins = np.zeros((len(arms), len(arms)))
    for choice in choices:
        a, b = index[choice.arm_a], index[choice.arm_b]
        if choice.value == "A":
            wins[a, b] += 1
        elif choice.value == "B":
            wins[b, a] += 1
        elif choice.value == "tie":
            wins[a, b] += 0.5
            wins[b, a] += 0.5
    return wins


def bradley_terry(choices: Sequence[Choice], arms: Sequence[str], n_boot=500, seed=0):
    """Bradley-Terry log-strengths of every arm, with 95% intervals from a participant bootstrap.

    Participants, not answers, are resampled, because one person's answers are not independent.
    """
    by_participant = defaultdict(list)
    for choice in choices:
        if choice.arm_a in arms and choice.arm_b in arms:
            by_participant[choice.participant].append(choice)
    # Only arms that were compared have a strength: one never shown has no data to estimate from.
    compared = {arm for group in by_participant.values() for choice in group for arm in (choice.arm_a, choice.arm_b)}
    arms = [arm for arm in arms if arm in compared]
    if not by_participant or len(arms) < 2:
        return {"arms": [], "n_participants": 0, "regularized": False}
    matrices = np.stack([choice_win_matrix(group, arms) for group in by_participant.values()])
    estimate, regularized = bradley_terry_fit(matrices.sum(axis=0))
    rng = np.random.default_rng(seed)
    samples = np.empty((n_boot, len(arms)))
    count = len(matrices)
    for b in range(n_boot):
        weights = np.bincount(rng.integers(0, count, count), minlength=count)
        samples[b], _ = bradley_terry_fit(np.tensordot(weights, matrices, axes=1), tol=1e-8, max_iter=2000)
    low, high = np.percentile(samples, [2.5, 97.5], axis=0)
    return {
        "arms": [
            {"arm": arm, "log_strength": float(estimate[i]), "ci_low": float(low[i]), "ci_high": float(high[i])}
            for i, arm in enumerate(arms)
        ],
        "n_participants": count,
        "n_boot": n_boot,
        "regularized": regularized,
    }


# --- Psychometric function -----------------------------------------------------------------------


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


@dataclass(frozen=True)
class SpeedChoice:
    """A decided answer between two arms with known speeds: was the objectively faster one chosen?"""

    stimulus: float  # e.g. log(tokens/s of the faster arm / tokens/s of the slower), always > 0
    chose_faster: bool


def speed_choices(choices: Iterable[Choice], arm_values: Mapping[str, float], transform: Callable):
    """Turn answers into (stimulus, chose the faster arm) for the psychometric fit.

    `arm_values` maps an arm to the quantity that defines "faster" (tokens/s, or minus TTFT);
    `transform(faster_value, slower_value)` gives the stimulus. Ties and equal arms are left out.
    """
    result = []
    for choice in choices:
        if choice.value not in ("A", "B"):
            continue
        value_a, value_b = arm_values.get(choice.arm_a), arm_values.get(choice.arm_b)
        if value_a is None or value_b is None or value_a == value_b:
            continue
        faster, slower = (choice.arm_a, choice.arm_b) if value_a > value_b else (choice.arm_b, choice.arm_a)
        chosen = choice.arm_a if choice.value == "A" else choice.arm_b
        result.append(SpeedChoice(transform(arm_values[faster], arm_values[slower]), chosen == faster))
    return result


def log_speed_ratio(faster_tps, slower_tps):
    return math.log(faster_tps / slower_tps)


def ttft_difference(minus_faster_ttft, minus_slower_ttft):
    """With arm values given as minus TTFT, the faster arm's head start in seconds."""
    return minus_faster_ttft - minus_slower_ttft


def psychometric(points: Sequence[SpeedChoice], p=0.75):
    """Logistic fit of choosing the faster arm against the stimulus, its p-threshold and interval."""
    points = list(points)
    binned = defaultdict(lambda: [0, 0])
    for point in points:
        cell = binned[round(point.stimulus, 9)]
        cell[0] += point.chose_faster
        cell[1] += 1
    bins = [
        {"stimulus": stimulus, **proportion(chosen, n)} for stimulus, (chosen, n) in sorted(binned.items())
    ]
    fit = logistic_fit([pt.stimulus for pt in points], [pt.chose_faster for pt in points])
    result = {"n": len(points), "bins": bins, "fit": None, "threshold": None, "threshold_ci": None, "p": p}
    if fit is not None:
        result["fit"] = {"intercept": fit.intercept, "slope": fit.slope, "converged": fit.converged,
                         "separated": fit.separated}
        if fit.slope != 0 and not fit.separated:
            result["threshold"] = fit.threshold(p)
            result["threshold_ci"] = fit.threshold_interval(p)
    return result


# --- Likert and waiting-time summaries -----------------------------------------------------------


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


def student_t_quantile(q, df):
    """The q-quantile of Student's t with df degrees of freedom (bisection on the CDF)."""
    low, high = -1e3, 1e3
    for _ in range(200):
        mid = (low + high) / 2
        if student_t_cdf(mid, df) < q:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def mean_interval(values, confidence=0.95):
    """Mean, standard deviation and Student-t interval of the mean."""
    values = [float(v) for v in values]
    n = len(values)
    if n == 0:
        return {"n": 0, "mean": None, "sd": None, "ci_low": None, "ci_high": None}
    mean = sum(values) / n
    if n == 1:
        return {"n": 1, "mean": mean, "sd": None, "ci_low": None, "ci_high": None}
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = student_t_quantile(1 - (1 - confidence) / 2, n - 1) * sd / math.sqrt(n)
    return {"n": n, "mean": mean, "sd": sd, "ci_low": mean - half, "ci_high": mean + half}


def likert_summary(values, levels=range(1, 8)):
    """A Likert item: the count of each level, the median, and the mean with its t interval."""
    values = [int(v) for v in values]
    ordered = sorted(values)
    n = len(ordered)
    median = None
    if n:
        median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    return {
        "distribution": {level: values.count(level) for level in levels},
        "median": median,
        **mean_interval(values),
    }


def waiting_time_summary(estimated_s, actual_s):
    """Estimated vs actual waiting time: the geometric-mean ratio estimate/actual with a t interval.

    Ratios are summarised on the log scale, where over- and under-estimation are symmetric.
    """
    pairs = [(e, a) for e, a in zip(estimated_s, actual_s, strict=True) if e > 0 and a > 0]
    logs = mean_interval([math.log(e / a) for e, a in pairs])
    result = {
        "n": len(pairs),
        "mean_estimated_s": sum(e for e, _ in pairs) / len(pairs) if pairs else None,
        "mean_actual_s": sum(a for _, a in pairs) / len(pairs) if pairs else None,
        "ratio": None,
        "ratio_ci_low": None,
        "ratio_ci_high": None,
    }
    if logs["mean"] is not None:
        result["ratio"] = math.exp(logs["mean"])
    if logs["ci_low"] is not None:
        result["ratio_ci_low"], result["ratio_ci_high"] = math.exp(logs["ci_low"]), math.exp(logs["ci_high"])
    return result


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


EXCLUSION_RULES = (
    ExclusionRule("failed_attention_check", "Participant failed an attention check",
                  lambda r: bool(r.get("participant_failed_attention_check"))),
    ExclusionRule("hidden_tab", "Tab hidden while streaming", lambda r: bool(r.get("hidden_during_stream"))),
    ExclusionRule("low_fidelity", "Low presentation fidelity", lambda r: bool(r.get("low_fidelity"))),
    ExclusionRule("interrupted", "Trial interrupted", lambda r: r.get("status") == "interrupted"),
    ExclusionRule("practice", "Practice trial", lambda r: bool(r.get("practice"))),
    ExclusionRule("attention_check_trial", "Attention-check trial (an instructed answer, not a judgement)",
                  lambda r: bool(r.get("attention_trial"))),
)
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
