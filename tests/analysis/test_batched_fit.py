"""analysis.batched_fit: the batched likelihood is the lapse model's written out, its Hessian the derivative
of its gradient, and the batched projected Newton solver reaches the optimum scipy's L-BFGS-B
reaches on real bootstrap resamples — at a lapse of 0, at a slope's bound (separated data) and
in the interior — for each way of counting ties."""

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from uxlab.analysis import batched_fit, psychometric
from uxlab.analysis.clustered import bootstrap_weights, one_blas_thread
from uxlab.analysis.psychometric import fit_lapse_model
from uxlab.analysis.simulation import ResponseModel, simulated_choices

from .test_psychometric import judgements, ladder, separated_ttft_design

TIES = ["half", "drop", "davidson"]


def two_dimension_table():
    """A table with two stimulus dimensions, ties, and rows some resamples leave empty."""
    speed_rows, ttft_rows = separated_ttft_design(participants=6)
    rows = simulated_choices(ResponseModel(lapse=0.05, tie_tendency=0.4), ladder(6), seed=3) + speed_rows + ttft_rows
    return psychometric._table([((t.x_speed, t.x_ttft), v) for _p, _i, t, v in rows])


def random_thetas(rng, batch, ties):
    columns = [rng.normal(0, 0.5, batch), rng.normal(3, 1, batch), rng.normal(1, 1, batch),
               np.r_[0.0, 0.2, rng.uniform(0, 0.2, batch - 2)]]  # the lapse at both bounds too
    if ties == "davidson":
        columns.append(rng.normal(-1, 1.5, batch))
    return np.column_stack(columns)


def written_out_nll(theta, x, counts, ties):
    """The lapse model's NLL for one θ, written out on its own (no clipping: θ is kept moderate)."""
    k = x.shape[1]
    bias, slopes, lapse = theta[0], theta[1 : 1 + k], theta[1 + k]
    d = bias + x @ slopes
    n_a, n_b, n_t = counts.T
    if ties == "davidson":
        nu = math.exp(theta[2 + k])
        z = np.exp(d / 2) + np.exp(-d / 2) + nu
        p_a = lapse / 2 + (1 - lapse) * np.exp(d / 2) / z
        p_b = lapse / 2 + (1 - lapse) * np.exp(-d / 2) / z
        return -(n_a * np.log(p_a) + n_b * np.log(p_b) + n_t * np.log((1 - lapse) * nu / z)).sum()
    p = lapse / 2 + (1 - lapse) / (1 + np.exp(-d))
    y, m = (n_a + n_t / 2, n_a + n_b + n_t) if ties == "half" else (n_a, n_a + n_b)
    return -(y * np.log(p) + (m - y) * np.log(1 - p)).sum()


@pytest.mark.parametrize("ties", TIES)
def test_the_batched_likelihood_is_the_written_out_one_and_its_gradient_the_derivative(ties):
    x, counts = two_dimension_table()
    rng = np.random.default_rng(1)
    batch = 9
    resampled = counts[None] * rng.integers(0, 3, size=(batch, len(x), 1))  # zeros: rows left out
    theta = random_thetas(rng, batch, ties)
    values, gradients = batched_fit.negative_log_likelihood(theta, x, resampled, ties)
    assert values.shape == (batch,) and gradients.shape == theta.shape
    for b in range(batch):
        keep = resampled[b].sum(axis=1) > 0
        assert values[b] == pytest.approx(written_out_nll(theta[b], x[keep], resampled[b, keep], ties), rel=1e-10)
        numeric = np.empty(theta.shape[1])
        for j in range(theta.shape[1]):
            step = np.zeros(theta.shape[1])
            step[j] = 1e-6 * max(1.0, abs(theta[b, j]))
            up = written_out_nll(theta[b] + step, x, resampled[b], ties)
            down = written_out_nll(theta[b] - step, x, resampled[b], ties)
            numeric[j] = (up - down) / (2 * step[j])
        assert gradients[b] == pytest.approx(numeric, rel=1e-5, abs=1e-5 * np.abs(numeric).max())
    # The full-data fit's likelihood is the same function, on a batch of one.
    single = psychometric._negative_log_likelihood(theta[0], x, resampled[0], ties)
    assert single[0] == values[0] and list(single[1]) == list(gradients[0])


@pytest.mark.parametrize("ties", TIES)
def test_the_hessian_is_the_derivative_of_the_gradient(ties):
    x, counts = two_dimension_table()
    rng = np.random.default_rng(2)
    theta = random_thetas(rng, 6, ties)
    theta[:, -2 if ties == "davidson" else -1] = rng.uniform(0.01, 0.19, 6)  # central differences need room
    resampled = np.broadcast_to(counts, (6, *counts.shape))
    hessians = batched_fit.hessian(theta, x, resampled, ties)
    for b in range(6):
        numeric = np.empty_like(hessians[b])
        for j in range(theta.shape[1]):
            step = np.zeros(theta.shape[1])
            step[j] = 1e-6 * max(1.0, abs(theta[b, j]))
            up = psychometric._negative_log_likelihood(theta[b] + step, x, counts, ties)[1]
            down = psychometric._negative_log_likelihood(theta[b] - step, x, counts, ties)[1]
            numeric[:, j] = (up - down) / (2 * step[j])
        assert hessians[b] == pytest.approx(numeric, rel=1e-6, abs=1e-6 * np.abs(numeric).max())
        assert hessians[b] == pytest.approx(hessians[b].T)


def resamples(judged, dims, ties, n_boot=60, seed=0):
    """The full-data fit, and the table, bounds and counts of `n_boot` participant resamples, as
    `psychometric._bootstrap` builds them."""
    participants = list(dict.fromkeys(j.participant for j in judged))
    x, counts = psychometric._table([(tuple(j.x[d] for d in dims), j.outcome) for j in judged])
    fit = fit_lapse_model(x, counts, ties)
    start = np.r_[fit.bias, fit.slopes, fit.lapse, [math.log(fit.tie_parameter)] if fit.tie_parameter else []]
    row = {tuple(round(v, 12) for v in r): i for i, r in enumerate(x)}
    weights = bootstrap_weights(len(participants), n_boot, seed)
    tables = np.zeros((n_boot, len(x), 3))
    for j in judged:
        cell = (row[tuple(round(j.x[d], 12) for d in dims)], psychometric.OUTCOMES.index(j.outcome))
        tables[:, cell[0], cell[1]] += weights[:, participants.index(j.participant)]
    bounds = [psychometric._bounds(psychometric._slope_bounds(x[table.sum(axis=1) > 0]), ties) for table in tables]
    lower = np.array([[low for low, _ in b] for b in bounds])
    upper = np.array([[high for _, high in b] for b in bounds])
    return x, tables, start, lower, upper


def tight_lbfgsb(x, table, ties, start, lower, upper):
    """The reference: scipy's L-BFGS-B on the resample's own table, run to far tighter tolerances
    than the app uses (its default stop is sometimes well short of the optimum)."""
    keep = table.sum(axis=1) > 0
    result = minimize(psychometric._negative_log_likelihood, np.clip(start, lower, upper),
                      args=(x[keep], table[keep], ties), jac=True, method="L-BFGS-B",
                      bounds=list(zip(lower, upper, strict=True)),
                      options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-10})
    return result.x, -result.fun


def assert_same_optimum_as_scipy(x, tables, ties, start, lower, upper):
    with one_blas_thread():  # as the app runs its fits: a threaded BLAS is ten times slower on them
        return _assert_same_optimum_as_scipy(x, tables, ties, start, lower, upper)


def _assert_same_optimum_as_scipy(x, tables, ties, start, lower, upper):
    theta, values, converged = batched_fit.fit_batch(x, tables, ties, start, lower, upper)
    assert converged.all()
    k = x.shape[1]
    for b, table in enumerate(tables):
        reference, log_likelihood = tight_lbfgsb(x, table, ties, start, lower[b], upper[b])
        assert -values[b] == pytest.approx(log_likelihood, abs=1e-6)
        # Parameters in the units of their range (slopes reach hundreds, the lapse 0.2).
        assert theta[b] / (upper[b] - lower[b]) == pytest.approx(reference / (upper[b] - lower[b]), abs=1e-6)
        assert theta[b, 1 + k] == pytest.approx(reference[1 + k], abs=1e-4)
        keep = table.sum(axis=1) > 0
        app = fit_lapse_model(x[keep], table[keep], ties, start=start)
        assert -values[b] >= app.log_likelihood - 1e-9  # never below what the app's own fit reaches
    return theta


@pytest.mark.parametrize("ties", TIES)
def test_it_reaches_scipys_optimum_on_bootstrap_resamples(ties):
    model = ResponseModel(threshold_ratio=1.5, lapse=0.05, position_bias=0.55, tie_tendency=0.3)
    judged = judgements(simulated_choices(model, ladder(30), seed=100))
    judged = [j for j in judged if ties != "drop" or j.outcome != "tie"]
    x, tables, start, lower, upper = resamples(judged, (0,), ties)
    theta = assert_same_optimum_as_scipy(x, tables, ties, start, lower, upper)
    lapse = theta[:, 2]
    assert (lapse == 0).any() and (lapse > 0.01).any()  # the lapse at its bound in some, inside in others


@pytest.mark.parametrize("ties", TIES)
def test_it_reaches_scipys_optimum_where_a_dimension_is_separated(ties):
    speed_rows, ttft_rows = separated_ttft_design(participants=8)
    judged = judgements(speed_rows + ttft_rows)
    x, tables, start, lower, upper = resamples(judged, (0, 1), ties, n_boot=30)
    theta = assert_same_optimum_as_scipy(x, tables, ties, start, lower, upper)
    assert (theta[:, 2] >= 0.95 * upper[:, 2]).all()  # the TTFT slope at its bound: a step


def test_a_resample_it_cannot_bring_to_convergence_is_reported_as_not_converged():
    model = ResponseModel(lapse=0.05, position_bias=0.55)
    judged = judgements(simulated_choices(model, ladder(20), seed=4, allow_tie=False))
    x, tables, start, lower, upper = resamples(judged, (0,), "half", n_boot=20)
    theta, _values, converged = batched_fit.fit_batch(x, tables, "half", start, lower, upper, max_iterations=0)
    assert not converged.any()
    assert theta == pytest.approx(np.broadcast_to(np.clip(start, lower, upper), theta.shape))
    _theta, _values, converged = batched_fit.fit_batch(x, tables, "half", start, lower, upper, max_iterations=1)
    assert not converged.all()


def test_a_resample_keeps_the_better_of_two_maxima():
    """Here the likelihood has two maxima with the lapse at its upper bound: from the full-data
    optimum Newton finds the shallow one, from the second, steeper start the higher one."""
    model = ResponseModel(lapse=0.1, position_bias=0.55, tie_tendency=0.5)
    judged = [j for j in judgements(simulated_choices(model, ladder(8), seed=201)) if j.outcome != "tie"]
    x, tables, start, lower, upper = resamples(judged, (0,), "drop", n_boot=52)
    _theta, one_start, _converged = batched_fit.fit_batch(x, tables, "drop", start, lower, upper)
    theta, two_starts, converged = batched_fit.fit_resamples(x, tables, "drop", start, lower, upper, lapse_index=2)
    assert converged.all()
    assert (two_starts <= one_start).all()
    assert one_start[51] - two_starts[51] > 0.2
    reference, log_likelihood = tight_lbfgsb(x, tables[51], "drop", start, lower[51], upper[51])
    assert -two_starts[51] == pytest.approx(log_likelihood, abs=1e-6)
    assert theta[51, 2] == upper[51, 2]
