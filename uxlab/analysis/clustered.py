"""Intervals and tests that respect repeated answers: each participant is a cluster (no Django).

A participant answers many trials, so their answers are not independent. Every pooled share or mean
here gets a cluster-robust (sandwich) variance over participants, as statsmodels computes it with
``cov_type="cluster"``, and tests use Student's t with (participants − 1) degrees of freedom.
Model-based statistics (psychometric fits, Bradley–Terry) resample participants instead:
`bootstrap_weights` is the one source of those resamples. References: docs/analysis.md.
"""

import math
from collections import defaultdict

import numpy as np
from threadpoolctl import threadpool_limits

from uxlab.analysis.stats import Z95, student_t_cdf, student_t_quantile, wilson_interval

N_BOOT = 500  # bootstrap resamples everywhere: the results page, the API and the downloads
MIN_PARTICIPANTS = 5  # below this a participant-level interval is not attempted


def one_blas_thread():
    """A context in which BLAS runs on one thread: the fits here work on arrays so small that a
    threaded BLAS spends ten times the work synchronising its threads."""
    return threadpool_limits(limits=1, user_api="blas")


def bootstrap_weights(n_clusters, n_boot=N_BOOT, seed=0):
    """n_boot × n_clusters counts: how often each participant is drawn in each resample."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_clusters, size=(n_boot, n_clusters))
    weights = np.zeros((n_boot, n_clusters))
    np.add.at(weights, (np.arange(n_boot)[:, None], draws), 1)
    return weights


def percentile_interval(samples, confidence=0.95):
    """The central percentile interval of bootstrap samples (linear interpolation, as numpy's
    default); an end that reaches an infinite sample becomes None (unbounded)."""
    ordered = sorted(float(s) for s in samples if not math.isnan(s))
    if not ordered:
        return None
    tail = (1 - confidence) / 2

    def quantile(q):
        position = (len(ordered) - 1) * q
        low = math.floor(position)
        high = min(low + 1, len(ordered) - 1)
        a, b = ordered[low], ordered[high]
        if math.isinf(a) or math.isinf(b):
            return None
        return a + (b - a) * (position - low)

    return [quantile(tail), quantile(1 - tail)]


def group_values(values, clusters):
    """The values of each cluster, in first-seen cluster order."""
    grouped = defaultdict(list)
    for value, cluster in zip(values, clusters, strict=True):
        grouped[cluster].append(float(value))
    return list(grouped.values())


def clustered_mean(values, clusters, confidence=0.95):
    """Mean with a cluster-robust standard error and a t interval (df = participants − 1).

    se² = G/(G−1) · (N−1)/(N−1) · Σ_g (Σ_i (y_gi − ȳ))² / N², i.e. statsmodels' OLS on a constant
    with cov_type="cluster" (its small-sample correction G/(G−1)·(N−1)/(N−K), K = 1).
    """
    groups = group_values(values, clusters)
    n = sum(len(group) for group in groups)
    g = len(groups)
    result = {"n": n, "n_participants": g, "mean": None, "sd": None, "se": None, "ci_low": None, "ci_high": None}
    if n == 0:
        return result
    flat = [value for group in groups for value in group]
    mean = sum(flat) / n
    result["mean"] = mean
    if n > 1:
        result["sd"] = math.sqrt(sum((value - mean) ** 2 for value in flat) / (n - 1))
    if g < 2:
        return result
    score = sum(sum(value - mean for value in group) ** 2 for group in groups)
    se = math.sqrt(g / (g - 1) * score) / n
    result["se"] = se
    half = student_t_quantile(1 - (1 - confidence) / 2, g - 1) * se
    result["ci_low"], result["ci_high"] = mean - half, mean + half
    return result


def clustered_t_test(values, clusters, null=0.0):
    """Two-sided test that the mean equals `null`, with the cluster-robust se and df = participants − 1.

    None (undefined) when there are fewer than two participants, or when the se is 0: every
    participant's answers sum to the same deviation (e.g. one participant, or all chose the same
    side), so t is 0/0 or ±∞ and the test says nothing a p-value could — a p of 0 from two people who
    agreed would be a false certainty. `clustered_t_test_reason` names which."""
    summary = clustered_mean(values, clusters)
    if summary["se"] is None or summary["se"] == 0:
        return None
    t = (summary["mean"] - null) / summary["se"]
    return min(1.0, 2 * (1 - student_t_cdf(abs(t), summary["n_participants"] - 1)))


def clustered_t_test_reason(values, clusters):
    """Why `clustered_t_test` is undefined ("" when it is defined)."""
    summary = clustered_mean(values, clusters)
    if summary["n"] == 0:
        return "no answers"
    if summary["se"] is None:
        return "fewer than 2 participants"
    if summary["se"] == 0:
        return "no variation between participants: standard error 0"
    return ""


def design_effect(values, clusters):
    """How much clustering inflates the variance of a mean: cluster-robust over naive variance (≥ 1)."""
    summary = clustered_mean(values, clusters)
    n = summary["n"]
    if summary["se"] is None or summary["sd"] in (None, 0) or n < 2:
        return 1.0
    naive = summary["sd"] ** 2 / n
    return max(1.0, summary["se"] ** 2 / naive)


def clustered_proportion(successes, clusters, confidence=0.95):
    """A share (successes may be 0, ½ or 1 per answer) with a cluster-adjusted Wilson interval.

    The Wilson interval is computed with the effective sample size n / deff, where deff is the
    design effect of the participants (Kish 1965; Korn & Graubard 1998), so a share pooled over many
    answers of few people gets a wider interval than the answers alone would give. With one answer
    per participant it is the ordinary Wilson interval.
    """
    successes = [float(s) for s in successes]
    n = len(successes)
    groups = group_values(successes, clusters)
    result = {"count": sum(successes), "n": n, "n_participants": len(groups), "share": None,
              "ci_low": None, "ci_high": None, "design_effect": None}
    if n == 0:
        return result
    share = sum(successes) / n
    deff = design_effect(successes, clusters)
    n_eff = n / deff
    z = Z95 if confidence == 0.95 else _normal_quantile(1 - (1 - confidence) / 2)
    low, high = wilson_interval(share * n_eff, n_eff, z)
    result.update(share=share, ci_low=low, ci_high=high, design_effect=deff)
    return result


def _normal_quantile(q):
    low, high = -10.0, 10.0
    for _ in range(200):
        mid = (low + high) / 2
        if 0.5 * math.erfc(-mid / math.sqrt(2)) < q:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def holm(p_values):
    """Holm's step-down adjustment (Holm 1979) of a family of p-values; None stays None."""
    indexed = [(p, i) for i, p in enumerate(p_values) if p is not None]
    indexed.sort()
    m = len(indexed)
    adjusted = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def cohens_h(p1, p2=0.5):
    """Cohen's h, the difference of arcsine-transformed proportions (small 0.2, medium 0.5, large 0.8)."""
    if p1 is None or p2 is None:
        return None
    return 2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p2))
