"""Adaptive designs' results, pure: the distribution of per-participant thresholds and thresholds
by group. Thresholds are in log10 units of the design's dimension (analysis/adaptive_rows.py
collects them from the stored steps)."""

import math
import statistics

import numpy as np


def distribution(values):
    """n, mean, SD, median and quartiles of a list of log10 thresholds (None when empty), and the
    geometric mean, median and quartiles as values in the dimension's units."""
    values = [value for value in values if value is not None and math.isfinite(value)]
    if not values:
        return {"n": 0}
    quartiles = np.quantile(values, [0.25, 0.5, 0.75])
    mean = statistics.fmean(values)
    return {
        "n": len(values),
        "mean_log10": mean,
        "sd_log10": statistics.stdev(values) if len(values) > 1 else None,
        "median_log10": float(quartiles[1]),
        "q1_log10": float(quartiles[0]),
        "q3_log10": float(quartiles[2]),
        "geometric_mean": 10**mean,
        "median_value": 10 ** float(quartiles[1]),
        "q1_value": 10 ** float(quartiles[0]),
        "q3_value": 10 ** float(quartiles[2]),
    }


# The group of participants with no answer to the grouping question (e.g. still in their first
# trial): listed last, and never compared, since it is not a group the question defines.
NO_ANSWER = "(no answer)"


def by_group(rows):
    """{group: distribution} of rows ``(group, log10 threshold)``, groups in sorted order (NO_ANSWER
    last), and the difference of each answered group's mean from the first answered group's with a
    Welch 95 % interval."""
    groups = {}
    for group, value in rows:
        groups.setdefault(group, []).append(value)
    order = sorted(groups, key=lambda group: (group == NO_ANSWER, group))
    result = {group: distribution(groups[group]) for group in order}
    names = [group for group in order if group != NO_ANSWER]
    if len(names) < 2:
        return {"groups": result, "differences": []}
    base = names[0]
    differences = []
    for other in names[1:]:
        a, b = groups[base], groups[other]
        if len(a) < 2 or len(b) < 2:
            differences.append({"group": other, "versus": base, "difference_log10": None})
            continue
        from scipy import stats

        diff = statistics.fmean(b) - statistics.fmean(a)
        va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
        se = math.sqrt(va + vb)
        dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if se > 0 else len(a) + len(b) - 2
        half = float(stats.t.ppf(0.975, dof)) * se
        differences.append({"group": other, "versus": base, "difference_log10": diff,
                            "low_log10": diff - half, "high_log10": diff + half})
    return {"groups": result, "differences": differences}


def track_ranges(config):
    """{track name: (log10 low, log10 high)} of an adaptive design's tracks' ranges."""
    ranges = {}
    for spec in config.get("tracks") or []:
        low, high = sorted(spec["range"])
        ranges[spec["name"]] = (math.log10(low), math.log10(high))
    return ranges


def clip_interval(summary, bounds, use_reversals):
    """A staircase summary (log10 values) with its t interval clipped to the track's range
    ``bounds`` (log10 low, high): with few reversals the t interval can reach far outside the range
    the staircase could ever visit (t(0.975, 1) = 12.7). Adds ``interval_clipped`` (whether either
    end was moved) and ``reversals_used`` (at most ``use_reversals``); the SD is left as it was.
    A clipped interval is no longer a 95 % interval: it only says the threshold lies in the range."""
    if not summary or summary.get("low_log10") is None or summary.get("high_log10") is None:
        return summary
    low, high = bounds
    clipped = summary["low_log10"] < low - 1e-9 or summary["high_log10"] > high + 1e-9
    result = dict(summary, interval_clipped=clipped,
                  low_log10=min(max(summary["low_log10"], low), high),
                  high_log10=max(min(summary["high_log10"], high), low))
    if summary.get("reversals") is not None:
        result["reversals_used"] = min(summary["reversals"], use_reversals)
    return result
