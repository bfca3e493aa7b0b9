"""The lapse model fitted on many bootstrap resamples at once (no Django; psychometric.py uses it).

A participant bootstrap refits the same model on hundreds of resamples of one stimulus table: only
the counts differ. One scipy `minimize` per resample spends most of its time in scipy's per-call
Python overhead, not in the likelihood. Here every resample is one row of a batch: the likelihood,
its gradient and its Hessian are computed for all of them in one pass of array operations, and a
projected Newton method with box bounds (Bertsekas 1982) moves them all together. A resample that
does not meet the convergence test within the iteration cap is reported as not converged, and the
caller refits it the old way — so the batch can only make the bootstrap faster, never worse.

Shapes: theta (B, p) with p = 1 + k + 1 (+1 for ties="davidson": bias, slopes, lapse[, log ν]),
counts (B, R, 3) of (A, B, tie) answers over the shared stimulus table x (R, k).
"""

import numpy as np
from scipy.special import expit

PROJECTED_GRADIENT_TOLERANCE = 1e-6  # |∂NLL/∂θ| of every free parameter at a converged resample
MAX_ITERATIONS = 50  # Newton steps; from the full-data optimum most resamples need 3–6
LINE_SEARCH_HALVINGS = 40
ARMIJO = 1e-4  # sufficient decrease: NLL(new) ≤ NLL + ARMIJO · ∇NLL·(new − old)
NEWTON_DECREMENT = 1e-9  # at convergence the Newton step would lower the NLL by less than this
SECOND_START_LAPSE = 0.75  # × the lapse's upper bound: the second start of every resample,
SECOND_START_STEEPER = 2.0  # with slopes this many times as steep as the first start's
MAX_STEP = 0.1  # of a parameter's range, per Newton step
AT_BOUND = 1e-9  # as `_projected_gradient_small`: a parameter this close to its bound is at it


def _linear_part(theta, x, counts):
    """k, the lapse (B, 1), d = bias + x·slopes (B, R) and the counts of A, B and ties (B, R) each."""
    k = x.shape[1]
    bias, slopes, lapse = theta[:, :1], theta[:, 1 : 1 + k], theta[:, 1 + k : 2 + k]
    d = bias + np.einsum("rk,bk->br", x, slopes)
    return k, lapse, d, (counts[..., 0], counts[..., 1], counts[..., 2])


def _davidson_shares(theta, d, k):
    """Davidson's shares of A, B and a tie without lapses: e^(d/2), e^(−d/2) and ν over their sum."""
    nu = np.exp(theta[:, 2 + k : 3 + k])
    half = np.clip(d / 2, -350, 350)
    a, b = np.exp(half), np.exp(-half)
    z = a + b + nu
    return a / z, b / z, nu / z


def negative_log_likelihood(theta, x, counts, ties):
    """Per resample, the lapse model's NLL and its gradient (B,), (B, p); psychometric's
    full-data fit calls it on a batch of one. Probabilities are clipped away from 0 and 1 (so a
    separated table has a finite NLL), d/2 to ±350 (so e^±d/2 stays finite)."""
    k, lapse, d, (n_a, n_b, n_t) = _linear_part(theta, x, counts)
    if ties == "davidson":
        q_a, q_b, q_t = _davidson_shares(theta, d, k)
        p_a = np.maximum(lapse / 2 + (1 - lapse) * q_a, 1e-300)
        p_b = np.maximum(lapse / 2 + (1 - lapse) * q_b, 1e-300)
        p_t = np.maximum((1 - lapse) * q_t, 1e-300)
        value = -(n_a * np.log(p_a) + n_b * np.log(p_b) + n_t * np.log(p_t)).sum(axis=1)
        r_a, r_b, r_t = n_a / p_a, n_b / p_b, n_t / p_t
        spread = (q_a - q_b) / 2
        dd = -(1 - lapse) * (r_a * q_a * (0.5 - spread) + r_b * q_b * (-0.5 - spread) - r_t * q_t * spread)
        d_lapse = -(r_a * (0.5 - q_a) + r_b * (0.5 - q_b) - r_t * q_t).sum(axis=1)
        d_nu = -(1 - lapse[:, 0]) * (-r_a * q_a * q_t - r_b * q_b * q_t + r_t * q_t * (1 - q_t)).sum(axis=1)
        gradient = np.column_stack([dd.sum(axis=1), np.einsum("rk,br->bk", x, dd), d_lapse, d_nu])
        return value, gradient
    if ties == "half":
        y, m = n_a + n_t / 2, n_a + n_b + n_t
    else:
        y, m = n_a, n_a + n_b
    s = expit(d)
    p = np.clip(lapse / 2 + (1 - lapse) * s, 1e-15, 1 - 1e-15)
    value = -(y * np.log(p) + (m - y) * np.log1p(-p)).sum(axis=1)
    dp = -(y / p - (m - y) / (1 - p))
    dd = dp * (1 - lapse) * s * (1 - s)
    gradient = np.column_stack([dd.sum(axis=1), np.einsum("rk,br->bk", x, dd), (dp * (0.5 - s)).sum(axis=1)])
    return value, gradient


def hessian(theta, x, counts, ties):
    """Per resample, the analytic Hessian of the same NLL (B, p, p).

    Each row's NLL depends on θ through d = bias + x·slopes, the lapse λ and (Davidson) η = log ν.
    Its second derivatives in (d, λ[, η]) are summed over rows with the chain rule's weights
    (1, x) for d. For each outcome o, p_o = c_o·λ + (1 − λ)·q_o and
    ∂²(−n_o log p_o) = n_o/p_o² · ∂p_o ∂p_oᵀ − n_o/p_o · ∂²p_o."""
    k, lapse, d, (n_a, n_b, n_t) = _linear_part(theta, x, counts)
    keep = 1 - lapse
    if ties == "davidson":
        q_a, q_b, q_t = _davidson_shares(theta, d, k)
        spread = (q_a - q_b) / 2
        spread_d = (q_a * (0.5 - spread) + q_b * (0.5 + spread)) / 2  # ∂spread/∂d
        outcomes = (
            # (n, c, q, ∂q/∂d, ∂q/∂η, ∂²q/∂d², ∂²q/∂d∂η, ∂²q/∂η²)
            (n_a, 0.5, q_a, q_a * (0.5 - spread), -q_a * q_t, q_a * (0.5 - spread) ** 2 - q_a * spread_d,
             -q_a * q_t * (0.5 - 2 * spread), -q_a * q_t * (1 - 2 * q_t)),
            (n_b, 0.5, q_b, q_b * (-0.5 - spread), -q_b * q_t, q_b * (0.5 + spread) ** 2 - q_b * spread_d,
             q_b * q_t * (0.5 + 2 * spread), -q_b * q_t * (1 - 2 * q_t)),
            (n_t, 0.0, q_t, -q_t * spread, q_t * (1 - q_t), q_t * spread ** 2 - q_t * spread_d,
             -q_t * spread * (1 - 2 * q_t), q_t * (1 - q_t) * (1 - 2 * q_t)),
        )
        h_dd = h_dl = h_de = h_ll = h_le = h_ee = 0.0
        for n, c, q, q_d, q_e, q_dd, q_de, q_ee in outcomes:
            p = np.maximum(c * lapse + keep * q, 1e-300)
            r, r2 = n / p, n / (p * p)
            p_d, p_l, p_e = keep * q_d, c - q, keep * q_e
            h_dd = h_dd + r2 * p_d * p_d - r * keep * q_dd
            h_dl = h_dl + r2 * p_d * p_l + r * q_d
            h_de = h_de + r2 * p_d * p_e - r * keep * q_de
            h_ll = h_ll + r2 * p_l * p_l
            h_le = h_le + r2 * p_l * p_e + r * q_e
            h_ee = h_ee + r2 * p_e * p_e - r * keep * q_ee
        return _assemble(x, h_dd, [h_dl, h_de], [[h_ll, h_le], [h_le, h_ee]])
    if ties == "half":
        y, m = n_a + n_t / 2, n_a + n_b + n_t
    else:
        y, m = n_a, n_a + n_b
    s = expit(d)
    p = np.clip(lapse / 2 + keep * s, 1e-15, 1 - 1e-15)
    first = -(y / p - (m - y) / (1 - p))  # d(row NLL)/dp
    second = y / (p * p) + (m - y) / ((1 - p) * (1 - p))
    v = s * (1 - s)
    h_dd = second * (keep * v) ** 2 + first * keep * v * (1 - 2 * s)
    h_dl = second * keep * v * (0.5 - s) - first * v
    h_ll = second * (0.5 - s) ** 2
    return _assemble(x, h_dd, [h_dl], [[h_ll]])


def _assemble(x, h_dd, h_d_other, h_other):
    """θ-space Hessian from the per-row second derivatives in (d, others): rows weigh (1, x)."""
    batch = h_dd.shape[0]
    design = np.column_stack([np.ones(len(x)), x])  # ∂d/∂(bias, slopes) per row
    n_linear, n_other = design.shape[1], len(h_other)
    result = np.empty((batch, n_linear + n_other, n_linear + n_other))
    result[:, :n_linear, :n_linear] = np.einsum("br,ri,rj->bij", h_dd, design, design)
    for j, h in enumerate(h_d_other):
        column = np.einsum("br,ri->bi", h, design)
        result[:, :n_linear, n_linear + j] = column
        result[:, n_linear + j, :n_linear] = column
    for i in range(n_other):
        for j in range(n_other):
            result[:, n_linear + i, n_linear + j] = h_other[i][j].sum(axis=1)
    return result


def projected_gradient_small(theta, gradient, lower, upper, tol=PROJECTED_GRADIENT_TOLERANCE):
    """Per resample: is every component of the gradient below `tol`, except where the parameter
    sits at a bound and the gradient pushes it outwards? (`_projected_gradient_small` on a batch.)"""
    pushed_out = ((theta <= lower + AT_BOUND) & (gradient > 0)) | ((theta >= upper - AT_BOUND) & (gradient < 0))
    return np.all(pushed_out | (np.abs(gradient) <= tol), axis=1)


def fit_batch(x, counts, ties, start, lower, upper, max_iterations=MAX_ITERATIONS,
              tol=PROJECTED_GRADIENT_TOLERANCE):
    """Minimise the NLL of every resample within its box [lower, upper] (B, p) from `start`.

    Returns (theta, NLL, converged). Converged: the projected gradient is below `tol` and the
    Newton step from the point would lower the NLL by less than NEWTON_DECREMENT (a small gradient
    alone also stops on a flat ridge, e.g. a steep slope traded against many lapses, short of
    where the NLL still falls by 1e-6).

    Projected Newton (Bertsekas 1982): a parameter within ε of a bound whose gradient pushes
    outwards is held and sent to the bound; a Newton step (eigenvalues of the free block made
    positive, so it always descends) moves the others; the step is projected onto the box and
    halved until the NLL falls enough. ε shrinks with the distance to stationarity, so near the
    optimum exactly the bounds that bind are held."""
    theta = np.clip(np.broadcast_to(start, lower.shape), lower, upper).astype(float)
    batch = len(theta)
    converged = np.zeros(batch, dtype=bool)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore", under="ignore"):
        value, gradient = negative_log_likelihood(theta, x, counts, ties)
        stuck = ~np.isfinite(value)
        for iteration in range(max_iterations + 1):
            todo = np.flatnonzero(~converged & ~stuck)
            if not len(todo):
                break
            t, g, lo, up = theta[todo], gradient[todo], lower[todo], upper[todo]
            direction, decrement = _newton_direction(t, g, x, counts[todo], ties, lo, up)
            done = projected_gradient_small(t, g, lo, up, tol) & (decrement <= NEWTON_DECREMENT)
            converged[todo[done]] = True
            if iteration == max_iterations:
                break
            todo, direction = todo[~done], direction[~done]
            new_theta, new_value, new_gradient, moved = _line_search(
                theta[todo], value[todo], gradient[todo], direction, x, counts[todo], ties, lower[todo], upper[todo])
            theta[todo], value[todo], gradient[todo] = new_theta, new_value, new_gradient
            stuck[todo] = ~moved
    return theta, value, converged


def fit_resamples(x, counts, ties, start, lower, upper, lapse_index, max_iterations=MAX_ITERATIONS):
    """`fit_batch` from `start`, and again from a steeper start with many lapses: the lapse model's
    likelihood can have more than one maximum (a shallow slope with few lapses against a steep one
    with many), and each resample keeps the better of the two it reaches. A resample the first
    start does not bring to convergence is reported unconverged whatever the second gives, so that
    the caller refits it from `start` as before."""
    theta, value, converged = fit_batch(x, counts, ties, start, lower, upper, max_iterations)
    second = np.flatnonzero(converged)
    if len(second):
        other = np.broadcast_to(start, lower.shape)[second].copy()
        other[:, lapse_index] = SECOND_START_LAPSE * upper[second, lapse_index]
        other[:, 1:lapse_index] *= SECOND_START_STEEPER
        theta2, value2, converged2 = fit_batch(x, counts[second], ties, other, lower[second], upper[second],
                                               max_iterations)
        better = converged2 & (value2 < value[second])
        theta[second[better]], value[second[better]] = theta2[better], value2[better]
    return theta, value, converged


def _newton_direction(theta, gradient, x, counts, ties, lower, upper):
    """The projected Newton direction (held parameters to their bound, the free ones a Newton step
    on their block of the Hessian with its eigenvalues made positive), and the decrease of the NLL
    the whole step predicts."""
    p = theta.shape[1]
    stationarity = np.abs(theta - np.clip(theta - gradient, lower, upper)).max(axis=1, keepdims=True)
    epsilon = np.minimum(stationarity, 1e-3 * (upper - lower))
    at_lower = (theta <= lower + epsilon) & (gradient > 0)
    at_upper = (theta >= upper - epsilon) & (gradient < 0)
    held = at_lower | at_upper
    free = ~held
    h = hessian(theta, x, counts, ties)
    h = np.where(free[:, :, None] & free[:, None, :], h, 0.0) + held[:, :, None] * np.eye(p)  # held: decoupled
    values, vectors = np.linalg.eigh(h)
    scale = np.abs(values).max(axis=1, keepdims=True)
    values = np.maximum(np.abs(values), np.maximum(scale * 1e-10, 1e-12))
    g_free = np.where(free, gradient, 0.0)
    newton = -np.einsum("bij,bj->bi", vectors, np.einsum("bji,bj->bi", vectors, g_free) / values)
    to_bound = np.where(at_lower, lower - theta, upper - theta)
    decrement = -(gradient * np.where(held, to_bound, newton)).sum(axis=1)
    # A Newton step may leap from the basin the start lies in to another maximum of the likelihood
    # (the lapse model has more than one): no parameter moves more than MAX_STEP of its range.
    longest = (np.abs(newton) / (upper - lower)).max(axis=1, keepdims=True)
    newton = newton * np.minimum(1.0, MAX_STEP / np.maximum(longest, 1e-300))
    return np.where(held, to_bound, newton), decrement


def _line_search(theta, value, gradient, direction, x, counts, ties, lower, upper):
    """Per resample, halve the step along `direction` (projected onto the box) until the NLL falls
    enough; `moved` is False where no step length did."""
    step = np.ones(len(theta))
    new_theta, new_value, new_gradient = theta.copy(), value.copy(), gradient.copy()
    pending = np.arange(len(theta))
    for _ in range(LINE_SEARCH_HALVINGS):
        trial = np.clip(theta[pending] + step[pending, None] * direction[pending], lower[pending], upper[pending])
        trial_value, trial_gradient = negative_log_likelihood(trial, x, counts[pending], ties)
        decrease = (gradient[pending] * (trial - theta[pending])).sum(axis=1)
        accepted = np.isfinite(trial_value) & (trial_value <= value[pending] + ARMIJO * decrease)
        # Within rounding of the optimum the NLL cannot show a decrease: a step whose predicted
        # decrease is below the NLL's rounding is taken if it does not raise the NLL beyond it.
        rounding = 1e-13 * np.maximum(1.0, np.abs(value[pending]))
        accepted |= np.isfinite(trial_value) & (-decrease <= rounding) & (trial_value <= value[pending] + rounding)
        done = pending[accepted]
        new_theta[done], new_value[done], new_gradient[done] = trial[accepted], trial_value[accepted], \
            trial_gradient[accepted]
        pending = pending[~accepted]
        if not len(pending):
            break
        step[pending] /= 2
    moved = np.ones(len(theta), dtype=bool)
    moved[pending] = False
    return new_theta, new_value, new_gradient, moved
