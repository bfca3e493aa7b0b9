"""Psychometric functions with lapses, fitted by maximum likelihood, with participant-bootstrap
intervals and an honest status when there is no fit (no Django; docs/analysis.md has the maths).

Each answer compares pane A with pane B. Its stimulus is signed, A relative to B: the log speed
ratio log(v_A / v_B) and the log TTFT ratio log(TTFT_B / TTFT_A), both positive when A is the
faster. The model of choosing A is

    P(A) = λ/2 + (1 − λ) · σ(α + β·x),   σ the logistic function,

where λ is the lapse rate (the share of answers given at random, half to each pane: the 2AFC guess
rate is ½), α the position bias (in logits, towards pane A) and β the slope per dimension. The
threshold at level p is the stimulus at which an attentive observer free of position bias picks the
faster arm with probability p: x_p = logit(p) / β, reported in log units and as a ratio exp(x_p).

"No difference" answers are modelled, not dropped: `ties="half"` (default) counts one as half a
choice each way — the forced-choice answer a participant who did not notice a difference would
give by guessing; `ties="davidson"` treats it as its own outcome (Davidson 1970):
P(A) ∝ e^{d/2}, P(B) ∝ e^{−d/2}, P(tie) ∝ ν; `ties="drop"` leaves ties out (the old behaviour).
"""

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from uxlab.analysis import batched_fit
from uxlab.analysis.clustered import (
    MIN_PARTICIPANTS,
    N_BOOT,
    bootstrap_weights,
    clustered_proportion,
    one_blas_thread,
    percentile_interval,
)

TIE_OPTIONS = ("half", "davidson", "drop")
DEFAULT_TIES = "half"
DIMENSIONS = ("speed", "ttft")
LAPSE_MAX = 0.2  # upper bound of the lapse rate (Wichmann & Hill 2001 bound it; 0.2 leaves room)
SLOPE_STEP_AT_SMALLEST = 12.0  # |β|·(smallest |x|) at which the curve is a step: the slope's bound
OUTCOMES = ("A", "B", "tie")

STATUS_MESSAGES = {
    "ok": "",
    "no_answers": "No answers between arms that differ on this dimension yet.",
    "no_variation": "No pair of arms differs on this dimension.",
    "too_few_participants": "Too few participants ({n_participants}; at least {min_participants} are needed for a "
                            "participant-level interval). No curve is fitted yet.",
    "too_few_ratios": "Too few distinct ratios ({count}; the model needs at least {needed}): one ratio cannot tell "
                      "a slope from lapses. Add pairs at other ratios.",
    "separation": "The data are separated: every tested ratio was told apart as well as at the largest one, so the "
                  "threshold lies below the smallest ratio tested ({smallest:.3g}×) and cannot be estimated. "
                  "Test smaller ratios.",
    "not_converged": "The maximum-likelihood fit did not converge; no curve is drawn.",
    "no_positive_slope": "The faster arm was not chosen more often as the ratio grew (slope {slope:.3g}): there is "
                         "no threshold to report.",
    "confounded": "Speed and TTFT change together in the pairs that differ in both, so their effects cannot be "
                  "told apart: only pairs that differ in this dimension alone inform its fit, and there are none.",
}


@dataclass(frozen=True)
class Judgement:
    """One answer between pane A and pane B: the signed stimulus per dimension and the outcome.

    `x` holds, per dimension, the value the fit uses (declared or displayed); `level` the declared
    value, which names the design level the answer belongs to (for the plotted points). None means
    the dimension is unknown for this answer (e.g. an arm without a declared speed).
    """

    participant: object
    pair: str
    x: tuple
    level: tuple
    outcome: str  # "A", "B" or "tie"


def log_ratio(faster_a, faster_b):
    """log(a / b), or None when either is missing or not positive."""
    if faster_a is None or faster_b is None or faster_a <= 0 or faster_b <= 0:
        return None
    return math.log(faster_a / faster_b)


def stimulus(speed_a, speed_b, ttft_a, ttft_b):
    """The signed stimulus of a trial: (log v_A/v_B, log TTFT_B/TTFT_A)."""
    return (log_ratio(speed_a, speed_b), log_ratio(ttft_b, ttft_a))


# --- The likelihood ------------------------------------------------------------------------------


@dataclass
class LapseFit:
    bias: float
    slopes: np.ndarray
    lapse: float
    tie_parameter: float | None
    log_likelihood: float
    converged: bool
    separated: bool
    separated_dims: tuple = ()  # per dimension: is its slope at the upper bound (a step)?

    def thresholds(self, level):
        """Per dimension, x_p = logit(p)/β (inf when the slope is not positive)."""
        target = math.log(level / (1 - level))
        return [target / slope if slope > 0 else math.inf for slope in self.slopes]


def _table(rows):
    """Unique stimulus rows and the answer counts (A, B, tie) at each."""
    index, xs, counts = {}, [], []
    for x, outcome in rows:
        key = tuple(round(value, 12) for value in x)
        if key not in index:
            index[key] = len(xs)
            xs.append(x)
            counts.append([0.0, 0.0, 0.0])
        counts[index[key]][OUTCOMES.index(outcome)] += 1
    return np.asarray(xs, dtype=float), np.asarray(counts, dtype=float)


def _negative_log_likelihood(theta, x, counts, ties):
    """The lapse model's NLL and its gradient at θ: batched_fit's, on a batch of one (one
    implementation for the full-data fit and the bootstrap's resamples)."""
    value, gradient = batched_fit.negative_log_likelihood(
        np.asarray(theta, dtype=float)[None, :], x, np.asarray(counts, dtype=float)[None], ties
    )
    return float(value[0]), gradient[0]


def fit_lapse_model(x, counts, ties=DEFAULT_TIES, lapse_max=LAPSE_MAX, start=None):
    """Maximum-likelihood (bias, slopes, lapse[, ν]) for a table of stimuli and (A, B, tie) counts.

    L-BFGS-B with the lapse bounded to [0, lapse_max] and each slope to ±SLOPE_STEP_AT_SMALLEST over
    that dimension's smallest non-zero |x|; a slope at its bound means the data are separated.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    counts = np.asarray(counts, dtype=float)
    k = x.shape[1]
    bounds_slope = _slope_bounds(x)
    bounds = _bounds(bounds_slope, ties, lapse_max)
    def objective(theta):
        return _negative_log_likelihood(theta, x, counts, ties)

    starts = [start] if start is not None else []
    for lapse in () if start is not None else (0.02, 0.1):
        scale = [2.0 / max(np.median(np.abs(c[c != 0])) if np.any(c != 0) else 1.0, 1e-6) for c in x.T]
        theta = [0.0, *scale, lapse]
        if ties == "davidson":
            theta.append(math.log(max(counts[:, 2].sum(), 0.5) / max(counts.sum(), 1.0)) + 1.0)
        starts.append(np.asarray(theta, dtype=float))
    best = None
    for theta0 in starts:
        result = minimize(objective, theta0, jac=True, method="L-BFGS-B", bounds=bounds,
                          options={"maxiter": 200, "ftol": 1e-10, "gtol": 1e-6})
        if best is None or result.fun < best.fun:
            best = result
    theta = best.x
    slopes = theta[1 : 1 + k]
    # A slope at its upper bound: the data are a step (separated). At the lower bound the faster arm
    # was avoided, which the caller reports as no positive slope.
    separated_dims = tuple(bool(s >= 0.95 * b) for s, b in zip(slopes, bounds_slope, strict=True))
    separated = any(separated_dims)
    converged = bool(best.success) or _projected_gradient_small(objective, theta, bounds)
    return LapseFit(
        bias=float(theta[0]), slopes=np.asarray(slopes, dtype=float), lapse=float(theta[1 + k]),
        tie_parameter=float(math.exp(theta[2 + k])) if ties == "davidson" else None,
        log_likelihood=-float(best.fun), converged=converged, separated=separated,
        separated_dims=separated_dims,
    )


def _slope_bounds(x):
    """Per dimension, the slope at which the curve is a step over its smallest non-zero |x|."""
    bounds = []
    for column in x.T:
        nonzero = np.abs(column[column != 0])
        bounds.append(SLOPE_STEP_AT_SMALLEST / nonzero.min() if len(nonzero) else 1.0)
    return bounds


def _bounds(bounds_slope, ties, lapse_max=LAPSE_MAX):
    """(low, high) per parameter: bias, slopes, lapse[, log ν]."""
    bounds = [(-10.0, 10.0)] + [(-b, b) for b in bounds_slope] + [(0.0, lapse_max)]
    if ties == "davidson":
        bounds.append((-12.0, 6.0))
    return bounds


GRADIENT_TOLERANCE = 1e-3  # |∂NLL/∂θ| below this at a stop L-BFGS-B called a failure: the optimum


def _projected_gradient_small(objective, theta, bounds, tol=GRADIENT_TOLERANCE):
    """L-BFGS-B sometimes stops on a line-search warning at the optimum: accept the point only if
    every free component of the gradient is below `tol` in absolute terms (log-likelihood per unit
    of the parameter: moving any parameter by 0.01 changes the log-likelihood by < 1e-5). Not scaled
    by |NLL|, which would loosen the test as the data grow (with 5,000 answers, |NLL| ≈ 3,000 would
    have accepted a gradient of 0.3 — a point visibly off the optimum)."""
    _value, gradient = objective(theta)
    for g, parameter, (low, high) in zip(gradient, theta, bounds, strict=True):
        if (parameter <= low + 1e-9 and g > 0) or (parameter >= high - 1e-9 and g < 0):
            continue
        if abs(g) > tol:
            return False
    return True


def probability_faster(fit, x, dimension=0, ties=DEFAULT_TIES):
    """The fitted share choosing the faster arm at |x| on one dimension (others 0), averaged over
    the two positions; among decided answers for ties="davidson"/"drop", ties as half for "half"."""
    x = np.asarray(x, dtype=float)
    d_values = [fit.bias + fit.slopes[dimension] * x, -fit.bias + fit.slopes[dimension] * x]
    shares = []
    for d in d_values:
        if ties == "davidson":
            half = np.clip(d / 2, -350, 350)
            z = np.exp(half) + np.exp(-half) + fit.tie_parameter
            p_a = fit.lapse / 2 + (1 - fit.lapse) * np.exp(half) / z
            p_b = fit.lapse / 2 + (1 - fit.lapse) * np.exp(-half) / z
            shares.append(p_a / (p_a + p_b))
        else:
            shares.append(fit.lapse / 2 + (1 - fit.lapse) * expit(d))
    return (shares[0] + shares[1]) / 2


# --- From answers to a reported threshold --------------------------------------------------------


def _folded_success(judgement, dimension, ties):
    """1 if the faster arm on `dimension` was chosen, 0 if the slower, ½ (or None) for a tie."""
    if judgement.outcome == "tie":
        return 0.5 if ties == "half" else None
    a_faster = judgement.x[dimension] > 0
    return 1.0 if (judgement.outcome == "A") == a_faster else 0.0


def _bins(judgements, dimension, dims, ties):
    """The plotted points: per declared level of one dimension (others at 0), the share choosing the
    faster arm with a participant-clustered Wilson interval, placed at the mean stimulus used."""
    grouped = defaultdict(list)
    for judgement in judgements:
        level = judgement.level[dimension]
        if level is None or level == 0 or any(judgement.level[d] not in (0, None) for d in dims if d != dimension):
            continue
        success = _folded_success(judgement, dimension, ties)
        if success is not None:
            grouped[round(abs(level), 9)].append((abs(judgement.x[dimension]), success, judgement.participant))
    bins = []
    for level, rows in sorted(grouped.items()):
        share = clustered_proportion([s for _x, s, _p in rows], [p for _x, _s, p in rows])
        bins.append({"level": level, "stimulus": sum(x for x, _s, _p in rows) / len(rows), **share})
    return bins


def _threshold_summary(log_value, samples, level, levels):
    if log_value is None:
        return None
    log_value = float(log_value)
    interval = percentile_interval(samples) if samples is not None else None
    finite = math.isfinite(log_value)
    return {
        "level": level,
        "log": log_value if finite else None,
        "ratio": math.exp(log_value) if finite and log_value < 700 else None,
        "ci_log": interval,
        "ci_ratio": None if interval is None else [None if v is None else math.exp(min(v, 700)) for v in interval],
        "extrapolated": bool(finite and levels and (log_value < min(levels) or log_value > max(levels))),
    }


def _empty(dimension_name, status, model, ties, stimulus_kind, data=None, **details):
    """A dimension without a fit: its status, the message saying why, and the data there is."""
    data = data or {}
    return {"dimension": dimension_name, "status": status, "message": STATUS_MESSAGES[status].format(**details),
            "model": model, "ties": ties, "stimulus": stimulus_kind, "n": data.get("n", 0),
            "n_participants": data.get("n_participants", 0), "bins": data.get("bins", []),
            "levels": data.get("levels", []), "fit": None, "threshold": None, "threshold_75": None,
            "curve": [], "informed_by": data.get("informed_by", []), "left_out_pairs": []}


def psychometric_analysis(*args, **kwargs):
    """See `_psychometric_analysis`; runs with one BLAS thread (the fits are many and tiny)."""
    with one_blas_thread():
        return _psychometric_analysis(*args, **kwargs)


def _psychometric_analysis(judgements, ties=DEFAULT_TIES, level=0.75, n_boot=N_BOOT, seed=0,
                          stimulus_kind="declared", min_participants=MIN_PARTICIPANTS):
    """Per dimension (speed, TTFT): the fitted function, threshold at 75% and at `level`, intervals.

    When both dimensions vary and the design separates them, one joint model fits both slopes; when
    every pair that differs in both changes them together (confounded), each dimension is fitted on
    the pairs that differ in it alone and the others are listed as left out.
    """
    if ties not in TIE_OPTIONS:
        raise ValueError(f"ties must be one of {', '.join(TIE_OPTIONS)}")
    judgements = [j for j in judgements if j.outcome in OUTCOMES and (ties != "drop" or j.outcome != "tie")]
    varying = [d for d in range(len(DIMENSIONS)) if any(j.x[d] not in (None, 0) for j in judgements)]
    results = {}
    if len(varying) == 2:
        usable = [j for j in judgements if None not in j.x]
        points = {tuple(round(abs(v), 9) * (1 if j.x[0] * v >= 0 else -1) for v in j.x) for j in usable if any(j.x)}
        if points and np.linalg.matrix_rank(np.asarray(sorted(points))) >= 2:
            joint = _fit_dimensions(usable, (0, 1), ties, level, n_boot, seed, stimulus_kind, min_participants,
                                    "joint speed and TTFT")
            return {"speed": joint[0], "ttft": joint[1]}
        for d in (0, 1):
            other = 1 - d
            alone = [j for j in judgements if j.x[d] is not None and j.x[other] in (0, None)]
            left_out = sorted({j.pair for j in judgements if j.x[d] not in (None, 0) and j.x[other] not in (0, None)})
            result = _fit_dimensions(alone, (d,), ties, level, n_boot, seed, stimulus_kind, min_participants,
                                     f"{DIMENSIONS[d]} only")[0]
            if left_out and result["status"] in ("no_answers", "too_few_ratios") and not any(
                    j.x[d] not in (None, 0) for j in alone):
                result = _empty(DIMENSIONS[d], "confounded", None, ties, stimulus_kind)
            result["left_out_pairs"] = left_out
            results[DIMENSIONS[d]] = result
        return results
    for d in range(len(DIMENSIONS)):
        if d in varying:
            usable = [j for j in judgements if j.x[d] is not None]
            results[DIMENSIONS[d]] = _fit_dimensions(usable, (d,), ties, level, n_boot, seed, stimulus_kind,
                                                     min_participants, f"{DIMENSIONS[d]} only")[0]
        else:
            status = "no_variation" if judgements else "no_answers"
            results[DIMENSIONS[d]] = _empty(DIMENSIONS[d], status, None, ties, stimulus_kind)
    return results


def _fit_dimensions(judgements, dims, ties, level, n_boot, seed, stimulus_kind, min_participants, model):
    """Fit the model on `dims` (indices into DIMENSIONS) and report each of them."""
    participants = list(dict.fromkeys(j.participant for j in judgements))
    informed_by = sorted({j.pair for j in judgements if any(j.x[d] not in (None, 0) for d in dims)})
    levels = {d: sorted({round(abs(j.x[d]), 9) for j in judgements if j.x[d] not in (None, 0)}) for d in dims}
    level_values = {d: sorted({round(abs(j.level[d]), 9) for j in judgements if j.level[d] not in (None, 0)})
                    for d in dims}
    distinct = {tuple(round(abs(j.level[d] or 0), 9) for d in dims) for j in judgements} - {tuple(0 for _ in dims)}
    base = {"n": len(judgements), "n_participants": len(participants), "informed_by": informed_by}

    def data(d):
        return {**base, "bins": _bins(judgements, d, dims, ties), "levels": [math.exp(v) for v in level_values[d]]}

    def empty(status, **details):
        return [_empty(DIMENSIONS[d], status, model, ties, stimulus_kind, data(d), **details) for d in dims]

    if not judgements:
        return empty("no_answers")
    if len(participants) < min_participants:
        return empty("too_few_participants", n_participants=len(participants), min_participants=min_participants)
    if len(distinct) < len(dims) + 1:
        return empty("too_few_ratios", count=len(distinct), needed=len(dims) + 1)
    rows = [(tuple(j.x[d] for d in dims), j.outcome) for j in judgements]
    x, counts = _table(rows)
    fit = fit_lapse_model(x, counts, ties)
    if fit.separated:
        return _separated(judgements, dims, fit, levels, ties, level, n_boot, seed, stimulus_kind,
                          min_participants, model, data)
    if not fit.converged:
        return empty("not_converged")
    boot = _bootstrap(judgements, dims, ties, fit, level, n_boot, seed, participants)
    results = []
    for position, d in enumerate(dims):
        slope = float(fit.slopes[position])
        if slope <= 0:
            results.append(_empty(DIMENSIONS[d], "no_positive_slope", model, ties, stimulus_kind, data(d), slope=slope))
            continue
        result = {"dimension": DIMENSIONS[d], "status": "ok", "message": "", "model": model, "ties": ties,
                  "stimulus": stimulus_kind, **data(d), "left_out_pairs": []}
        result["fit"] = {
            "bias": fit.bias, "slope": slope, "lapse": fit.lapse, "tie_parameter": fit.tie_parameter,
            "slopes": {DIMENSIONS[e]: float(fit.slopes[i]) for i, e in enumerate(dims)},
            "bias_ci": boot["bias"], "slope_ci": boot["slopes"][position], "lapse_ci": boot["lapse"],
            "log_likelihood": fit.log_likelihood, "n_boot": n_boot, "n_boot_failed": boot["failed"],
        }
        log_levels = levels[d]
        result["threshold"] = _threshold_summary(fit.thresholds(level)[position], boot["threshold"][position],
                                                 level, log_levels)
        result["threshold_75"] = (result["threshold"] if level == 0.75 else
                                  _threshold_summary(fit.thresholds(0.75)[position], boot["threshold_75"][position],
                                                     0.75, log_levels))
        top = max(log_levels + [result["threshold"]["log"] or 0]) * 1.15
        grid = np.linspace(0, top, 61)
        curve = probability_faster(fit, grid, position, ties)
        result["curve"] = [[float(a), float(b)] for a, b in zip(grid, curve, strict=True)]
        results.append(result)
    return results


def _separated(judgements, dims, fit, levels, ties, level, n_boot, seed, stimulus_kind, min_participants, model,
               data):
    """Per dimension: a separated one says so, quoting its own smallest ratio; in a joint fit, a
    dimension that is not separated is refitted alone on the answers at which every separated
    dimension is 0 (a step on one dimension must not spoil the other's estimate)."""
    results = []
    for position, d in enumerate(dims):
        if fit.separated_dims[position]:
            results.append(_empty(DIMENSIONS[d], "separation", model, ties, stimulus_kind, data(d),
                                  smallest=math.exp(levels[d][0])))
            continue
        stepped = [e for i, e in enumerate(dims) if fit.separated_dims[i]]
        alone = [j for j in judgements if all(j.x[e] == 0 for e in stepped)]
        names = " and ".join(DIMENSIONS[e] for e in stepped)
        results.append(_fit_dimensions(alone, (d,), ties, level, n_boot, seed, stimulus_kind, min_participants,
                                       f"{DIMENSIONS[d]} only ({names} separated)")[0])
    return results


def _bootstrap(judgements, dims, ties, fit, level, n_boot, seed, participants,
               max_iterations=batched_fit.MAX_ITERATIONS):
    """Refit on participant resamples: per dimension, threshold samples (log units), slope samples,
    and the lapse and bias intervals."""
    rows = [(tuple(j.x[d] for d in dims), j.outcome) for j in judgements]
    x, _ = _table(rows)
    index = {tuple(round(v, 12) for v in row): i for i, row in enumerate(x)}
    position = {p: i for i, p in enumerate(participants)}
    # One entry per answer: its participant, its stimulus row and its outcome. A resample's table is
    # the answers' counts weighted by how often their participant was drawn (memory ∝ answers, not
    # participants × stimulus rows, which matters for displayed, continuous stimuli).
    who = np.array([position[j.participant] for j in judgements])
    where = np.array([index[tuple(round(v, 12) for v in row)] for row, _ in rows])
    what = np.array([OUTCOMES.index(outcome) for _, outcome in rows])
    weights = bootstrap_weights(len(participants), n_boot, seed)
    start = np.concatenate([[fit.bias], fit.slopes, [fit.lapse]]
                           + ([[math.log(fit.tie_parameter)]] if fit.tie_parameter else []))
    k = len(dims)
    thresholds = [[] for _ in range(k)]
    thresholds_75 = [[] for _ in range(k)]
    slopes = [[] for _ in range(k)]
    lapses, biases, failed = [], [], 0
    for boot in _resample_fits(x, (who, where, what), weights, ties, start, max_iterations):
        if boot is None or (not boot.converged and not boot.separated):
            failed += 1
            continue
        lapses.append(boot.lapse)
        biases.append(boot.bias)
        for i in range(k):
            slopes[i].append(float(boot.slopes[i]))
            # A separated resample puts the threshold somewhere below the smallest tested ratio:
            # -inf, so an interval that depends on such resamples is reported unbounded below.
            separated = boot.separated_dims[i] and boot.slopes[i] > 0
            thresholds[i].append(-math.inf if separated else boot.thresholds(level)[i])
            thresholds_75[i].append(-math.inf if separated else boot.thresholds(0.75)[i])
    return {
        "threshold": thresholds, "threshold_75": thresholds_75,
        "slopes": [percentile_interval(s) for s in slopes],
        "lapse": percentile_interval(lapses), "bias": percentile_interval(biases), "failed": failed,
    }


BATCH_CELLS = 200_000  # resamples × stimulus rows per batch: bounds the batch's memory for large tables


def _resample_fits(x, answers, weights, ties, start, max_iterations):
    """The fit of each resample (None where it raised), in order: all of them at once by the
    batched Newton solver from the full-data optimum, and any it leaves unconverged by
    `fit_lapse_model` from the same start, as each resample was fitted before the batch existed."""
    who, where, what = answers
    cells = where * 3 + what
    rows, k = x.shape
    nonzero = np.where(x != 0, np.abs(x), np.inf)
    per_batch = max(1, BATCH_CELLS // rows)
    for first in range(0, len(weights), per_batch):
        w = weights[first : first + per_batch]
        batch = len(w)
        flat = (np.arange(batch)[:, None] * (rows * 3) + cells).ravel()
        counts = np.bincount(flat, weights=w[:, who].ravel(), minlength=batch * rows * 3).reshape(batch, rows, 3)
        keep = counts.sum(axis=2) > 0
        # As `fit_lapse_model` on the resample's own table (its rows with answers): slope bounds
        # from the smallest non-zero |x| among them.
        smallest = np.where(keep[:, :, None], nonzero, np.inf).min(axis=1)
        bounds_slope = np.where(np.isfinite(smallest), SLOPE_STEP_AT_SMALLEST / smallest, 1.0)
        low_high = np.asarray(_bounds([0.0] * k, ties))
        lower = np.tile(low_high[:, 0], (batch, 1))
        upper = np.tile(low_high[:, 1], (batch, 1))
        lower[:, 1 : 1 + k], upper[:, 1 : 1 + k] = -bounds_slope, bounds_slope
        theta, value, converged = batched_fit.fit_resamples(x, counts, ties, start, lower, upper, 1 + k,
                                                           max_iterations)
        for b in range(batch):
            if converged[b]:
                separated_dims = tuple(bool(s >= 0.95 * bound) for s, bound in zip(theta[b, 1 : 1 + k], bounds_slope[b],
                                                                                    strict=True))
                yield LapseFit(
                    bias=float(theta[b, 0]), slopes=theta[b, 1 : 1 + k].copy(), lapse=float(theta[b, 1 + k]),
                    tie_parameter=float(math.exp(theta[b, 2 + k])) if ties == "davidson" else None,
                    log_likelihood=-float(value[b]), converged=True, separated=any(separated_dims),
                    separated_dims=separated_dims)
                continue
            try:
                yield fit_lapse_model(x[keep[b]], counts[b, keep[b]], ties, start=start)
            except (ValueError, FloatingPointError):
                yield None
