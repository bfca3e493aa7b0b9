"""analysis.psychometric: the lapse model against statsmodels (no lapse) and an independent
likelihood maximised by scipy (with lapse, and Davidson ties), recovery of a known truth by
simulation, and each honest status."""

import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.optimize import minimize
from scipy.special import expit

from uxlab.analysis import psychometric
from uxlab.analysis.psychometric import Judgement, fit_lapse_model, psychometric_analysis
from uxlab.analysis.simulation import PaneTiming, ResponseModel, simulated_choices

RATIOS = (1.1, 1.25, 1.5, 2.0, 3.0, 8.0)


def ladder(participants, ratios=RATIOS, repeats=4, ttft=(0.5, 0.5)):
    """Every participant sees every ratio `repeats` times, the faster arm alternating sides."""
    return [[PaneTiming(20 * r, 20, *ttft) if (k + p) % 2 == 0 else PaneTiming(20, 20 * r, *reversed(ttft))
             for r in ratios for k in range(repeats)] for p in range(participants)]


def judgements(rows):
    return [Judgement(p, "base|fast", (t.x_speed, t.x_ttft), (t.x_speed, t.x_ttft), v) for p, _i, t, v in rows]


def table(rows):
    return psychometric._table([((t.x_speed,), v) for _p, _i, t, v in rows])


def test_it_is_logistic_regression_when_the_lapse_is_held_at_zero():
    rows = simulated_choices(ResponseModel(lapse=0.0, position_bias=0.6), ladder(30), seed=4, allow_tie=False)
    x, counts = table(rows)
    fit = fit_lapse_model(x, counts, ties="drop", lapse_max=0.0)
    signed = np.array([t.x_speed for _p, _i, t, _v in rows])
    chose_a = np.array([v == "A" for *_rest, v in rows], dtype=float)
    reference = sm.Logit(chose_a, sm.add_constant(signed)).fit(disp=0, tol=1e-12)
    assert [fit.bias, fit.slopes[0]] == pytest.approx(list(reference.params), rel=1e-5)


def reference_lapse_fit(x, counts, ties):
    """The same likelihood written out independently and maximised by Nelder–Mead on transformed
    parameters (lapse = 0.2·σ(u), ν = e^w)."""
    n_a, n_b, n_t = counts.T

    def nll(theta):
        bias, slope, u = theta[:3]
        lapse = 0.2 * expit(u)
        d = bias + slope * x[:, 0]
        if ties == "davidson":
            nu = math.exp(theta[3])
            z = np.exp(d / 2) + np.exp(-d / 2) + nu
            p_a = lapse / 2 + (1 - lapse) * np.exp(d / 2) / z
            p_b = lapse / 2 + (1 - lapse) * np.exp(-d / 2) / z
            return -(n_a * np.log(p_a) + n_b * np.log(p_b) + n_t * np.log((1 - lapse) * nu / z)).sum()
        p = lapse / 2 + (1 - lapse) * expit(d)
        y, m = n_a + n_t / 2, n_a + n_b + n_t
        return -(y * np.log(p) + (m - y) * np.log(1 - p)).sum()

    start = [0.0, 2.0, -1.0] + ([-1.0] if ties == "davidson" else [])
    result = minimize(nll, start, method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-11, "maxiter": 40000,
                                                                  "maxfev": 40000})
    return result.x[0], result.x[1], 0.2 * expit(result.x[2]), -result.fun


@pytest.mark.parametrize("ties", ["half", "davidson"])
def test_it_reaches_the_maximum_likelihood_of_an_independent_implementation(ties):
    model = ResponseModel(lapse=0.08, position_bias=0.55, tie_tendency=0.4)
    rows = simulated_choices(model, ladder(40), seed=11)
    x, counts = table(rows)
    fit = fit_lapse_model(x, counts, ties=ties)
    bias, slope, lapse, log_likelihood = reference_lapse_fit(x, counts, ties)
    assert fit.log_likelihood == pytest.approx(log_likelihood, abs=1e-5)
    assert (fit.bias, fit.slopes[0], fit.lapse) == pytest.approx((bias, slope, lapse), abs=2e-3)


def test_it_recovers_threshold_slope_and_lapse_where_a_plain_logistic_fit_is_biased():
    """The issue's truth: 75% point at ratio 1.5, slope 2.7, 5% lapses. A plain logistic fit flattens
    the slope; the lapse model does not, and its interval covers the truth in most studies."""
    model = ResponseModel(threshold_ratio=1.5, lapse=0.05, position_bias=0.55)
    truth = model.speed_threshold_log
    covered, thresholds, slopes, lapses, plain_slopes = 0, [], [], [], []
    runs = 30
    for run in range(runs):
        rows = simulated_choices(model, ladder(30), seed=100 + run, allow_tie=False)
        result = psychometric_analysis(judgements(rows), n_boot=150, seed=run)["speed"]
        low, high = result["threshold_75"]["ci_log"]
        covered += low <= truth <= high
        thresholds.append(result["threshold_75"]["log"])
        slopes.append(result["fit"]["slope"])
        lapses.append(result["fit"]["lapse"])
        x, counts = table(rows)
        plain_slopes.append(fit_lapse_model(x, counts, ties="drop", lapse_max=0.0).slopes[0])
    assert covered / runs >= 0.8
    assert np.mean(thresholds) == pytest.approx(truth, abs=0.03)
    assert np.mean(slopes) == pytest.approx(model.speed_slope, rel=0.1)
    assert np.mean(lapses) == pytest.approx(0.05, abs=0.02)
    assert np.mean(plain_slopes) < 0.9 * model.speed_slope


def test_it_reports_the_threshold_in_log_units_and_as_a_ratio_at_75_percent_and_a_chosen_level():
    rows = simulated_choices(ResponseModel(lapse=0.02), ladder(12), seed=5)
    result = psychometric_analysis(judgements(rows), level=0.9, n_boot=50)["speed"]
    fit = result["fit"]
    assert result["threshold_75"]["log"] == pytest.approx(math.log(3) / fit["slope"])
    assert result["threshold"]["log"] == pytest.approx(math.log(9) / fit["slope"])
    assert result["threshold"]["ratio"] == pytest.approx(math.exp(result["threshold"]["log"]))
    low, high = result["threshold_75"]["ci_log"]
    assert result["threshold_75"]["ci_ratio"] == pytest.approx([math.exp(low), math.exp(high)])
    assert result["curve"][0] == [0.0, pytest.approx(0.5)]


def test_it_counts_ties_as_half_by_default_and_can_drop_them():
    rows = simulated_choices(ResponseModel(tie_tendency=0.6), ladder(10), seed=6)
    assert any(v == "tie" for *_r, v in rows)
    half = psychometric_analysis(judgements(rows), n_boot=20)["speed"]
    dropped = psychometric_analysis(judgements(rows), ties="drop", n_boot=20)["speed"]
    ties = sum(v == "tie" for *_r, v in rows)
    assert half["ties"] == "half" and half["n"] == len(rows) and dropped["n"] == len(rows) - ties


@pytest.mark.parametrize("participants, ratios, answer, status", [
    (3, RATIOS, None, "too_few_participants"),
    (8, (1.5,), None, "too_few_ratios"),
    (8, (1.5, 2.0, 3.0), "faster", "separation"),
    (8, RATIOS, "slower", "no_positive_slope"),
])
def test_it_says_why_there_is_no_fit(participants, ratios, answer, status):
    rows = simulated_choices(ResponseModel(), ladder(participants, ratios), seed=7)
    if answer == "faster":
        rows = [(p, i, t, "A" if t.x_speed > 0 else "B") for p, i, t, _v in rows]
    elif answer == "slower":  # the slower arm chosen more often the larger the ratio: a negative slope
        rows = simulated_choices(ResponseModel(slope=-1.5, lapse=0.0), ladder(participants, ratios), seed=7)
    result = psychometric_analysis(judgements(rows), n_boot=20)["speed"]
    assert result["status"] == status and result["fit"] is None and result["curve"] == []
    fragment = {"too_few_participants": "Too few participants (3; at least 5", "too_few_ratios": "(1; the model needs at least 2)",
                "separation": "below the smallest ratio tested (1.5×)", "no_positive_slope": "was not chosen more often"}
    assert fragment[status] in result["message"]
    assert result["message"] and "{" not in result["message"]


def test_it_fits_speed_and_ttft_jointly_when_the_design_separates_them():
    model = ResponseModel(threshold_ratio=1.5, ttft_threshold_ratio=2.0, lapse=0.03)
    speed_only = ladder(20, ratios=(1.2, 1.5, 2.5), repeats=2)
    ttft_only = [[PaneTiming(20, 20, 1.0, 1.0 * r) if k % 2 else PaneTiming(20, 20, 1.0 * r, 1.0)
                  for r in (1.3, 2.0, 4.0) for k in range(2)] for _ in range(20)]
    trials = [a + b for a, b in zip(speed_only, ttft_only, strict=True)]
    rows = simulated_choices(model, trials, seed=8, allow_tie=False)
    result = psychometric_analysis(judgements(rows), n_boot=60)
    assert result["speed"]["model"] == result["ttft"]["model"] == "joint speed and TTFT"
    assert result["speed"]["threshold_75"]["ratio"] == pytest.approx(1.5, rel=0.25)
    assert result["ttft"]["threshold_75"]["ratio"] == pytest.approx(2.0, rel=0.3)


def test_it_leaves_out_pairs_that_change_speed_and_ttft_together_when_nothing_separates_them():
    confounded = [[PaneTiming(40, 20, 0.5, 1.0) if k % 2 else PaneTiming(20, 40, 1.0, 0.5) for k in range(4)]
                  for _ in range(8)]
    rows = simulated_choices(ResponseModel(), confounded, seed=9)
    judged = [Judgement(p, "slow|fast", (t.x_speed, t.x_ttft), (t.x_speed, t.x_ttft), v) for p, _i, t, v in rows]
    result = psychometric_analysis(judged, n_boot=10)
    assert result["speed"]["status"] == result["ttft"]["status"] == "confounded"
    assert result["speed"]["left_out_pairs"] == ["slow|fast"]


def test_it_fits_displayed_values_but_plots_them_at_their_design_level():
    rows = simulated_choices(ResponseModel(), ladder(8), seed=10)
    shown = [Judgement(p, "x", (t.x_speed * 0.9, 0.0), (t.x_speed, 0.0), v) for p, _i, t, v in rows]
    result = psychometric_analysis(shown, n_boot=10, stimulus_kind="displayed")["speed"]
    assert [round(b["level"], 6) for b in result["bins"]] == [round(math.log(r), 6) for r in RATIOS]
    assert [b["stimulus"] for b in result["bins"]] == pytest.approx([0.9 * math.log(r) for r in RATIOS])


def separated_ttft_design(participants=12):
    """Speed at 1.1–3× (informative) plus TTFT at 2× and 4×, where the earlier arm always wins."""
    speed = ladder(participants, ratios=(1.1, 1.25, 1.5, 2.0, 3.0), repeats=4)
    ttft = [[PaneTiming(20, 20, 1.0, 1.0 * r) if k % 2 else PaneTiming(20, 20, 1.0 * r, 1.0)
             for r in (2.0, 4.0) for k in range(4)] for _ in range(participants)]
    speed_rows = simulated_choices(ResponseModel(threshold_ratio=1.5, lapse=0.03), speed, seed=21, allow_tie=False)
    ttft_rows = [(p, i, t, "A" if t.x_ttft > 0 else "B")
                 for p, i, t, _v in simulated_choices(ResponseModel(), ttft, seed=22, allow_tie=False)]
    return speed_rows, ttft_rows


def test_a_dimension_separated_in_the_joint_model_does_not_spoil_the_other():
    """The review's case: TTFT separated made speed report `separation … below 1.1×`. Speed must get
    the same fit as on its own data, and TTFT its own message with its own smallest ratio (2×)."""
    speed_rows, ttft_rows = separated_ttft_design()
    both = psychometric_analysis(judgements(speed_rows + ttft_rows), n_boot=40)
    alone = psychometric_analysis(judgements(speed_rows), n_boot=40)["speed"]
    assert alone["status"] == "ok"
    assert both["ttft"]["status"] == "separation"
    assert "smallest ratio tested (2×)" in both["ttft"]["message"]
    assert both["speed"]["status"] == "ok"
    assert both["speed"]["model"] == "speed only (ttft separated)"
    assert both["speed"]["threshold_75"]["ratio"] == pytest.approx(alone["threshold_75"]["ratio"], rel=1e-6)
    assert both["speed"]["threshold_75"]["ci_log"] == pytest.approx(alone["threshold_75"]["ci_log"], rel=1e-6)


def test_a_bootstrap_resample_separated_on_the_other_dimension_keeps_a_finite_threshold():
    """In the joint bootstrap, only the separated dimension's threshold is set to −∞."""
    speed_rows, ttft_rows = separated_ttft_design(participants=8)
    rows = speed_rows + ttft_rows
    judged = judgements(rows)
    x, counts = psychometric._table([((t.x_speed, t.x_ttft), v) for _p, _i, t, v in rows])
    fit = fit_lapse_model(x, counts)
    assert fit.separated_dims == (False, True)
    participants = list(dict.fromkeys(j.participant for j in judged))
    boot = psychometric._bootstrap(judged, (0, 1), "half", fit, 0.75, 30, 0, participants)
    assert all(math.isfinite(t) for t in boot["threshold"][0])
    assert all(t == -math.inf for t in boot["threshold"][1])


def test_a_stop_off_the_optimum_is_not_accepted_however_large_the_likelihood():
    """The fallback once scaled its gradient tolerance by |NLL|: a gradient of 0.3 at NLL 3,000 passed."""
    bounds = [(-10.0, 10.0), (-5.0, 5.0), (0.0, 0.2)]

    def objective(theta):
        return 3000.0, np.array([0.3, 0.0, 0.0])

    assert not psychometric._projected_gradient_small(objective, np.array([0.0, 1.0, 0.05]), bounds)

    def flat(theta):
        return 3000.0, np.array([2e-4, -5e-4, 0.0])

    assert psychometric._projected_gradient_small(flat, np.array([0.0, 1.0, 0.05]), bounds)

    def pushing_at_a_bound(theta):  # the lapse at its upper bound, the gradient pushing outwards
        return 3000.0, np.array([0.0, 0.0, -4.0])

    assert psychometric._projected_gradient_small(pushing_at_a_bound, np.array([0.0, 1.0, 0.2]), bounds)


def test_the_joint_two_slope_model_is_two_regressor_logistic_regression_at_zero_lapse():
    model = ResponseModel(threshold_ratio=1.5, ttft_threshold_ratio=2.0, lapse=0.0, position_bias=0.6)
    speed_only = ladder(30, ratios=(1.2, 1.5, 2.5), repeats=2)
    ttft_only = [[PaneTiming(20, 20, 1.0, 1.0 * r) if k % 2 else PaneTiming(20, 20, 1.0 * r, 1.0)
                  for r in (1.3, 2.0, 4.0) for k in range(2)] for _ in range(30)]
    both = [[PaneTiming(30, 20, 1.0, 1.5) if k % 2 else PaneTiming(20, 30, 1.5, 1.0) for k in range(2)]
            for _ in range(30)]
    trials = [a + b + c for a, b, c in zip(speed_only, ttft_only, both, strict=True)]
    rows = simulated_choices(model, trials, seed=31, allow_tie=False)
    x, counts = psychometric._table([((t.x_speed, t.x_ttft), v) for _p, _i, t, v in rows])
    fit = fit_lapse_model(x, counts, ties="drop", lapse_max=0.0)
    design = sm.add_constant(np.array([[t.x_speed, t.x_ttft] for _p, _i, t, _v in rows]))
    chose_a = np.array([v == "A" for *_rest, v in rows], dtype=float)
    reference = sm.Logit(chose_a, design).fit(disp=0, tol=1e-12)
    assert [fit.bias, *fit.slopes] == pytest.approx(list(reference.params), rel=1e-5)


def test_ties_can_be_dropped_with_a_lapse_rate_and_match_an_independent_likelihood():
    """ties="drop" with a free lapse: the same as ties="half" on the answers without ties, and the
    maximum of the independent likelihood written out above."""
    rows = simulated_choices(ResponseModel(lapse=0.08, tie_tendency=0.5), ladder(30), seed=32)
    assert any(v == "tie" for *_r, v in rows)
    x, counts = table(rows)
    dropped = fit_lapse_model(x, counts, ties="drop")
    decided = counts.copy()
    decided[:, 2] = 0
    bias, slope, lapse, log_likelihood = reference_lapse_fit(x, decided, "half")
    assert dropped.lapse > 0
    assert dropped.log_likelihood == pytest.approx(log_likelihood, abs=1e-5)
    assert (dropped.bias, dropped.slopes[0], dropped.lapse) == pytest.approx((bias, slope, lapse), abs=2e-3)


def per_resample_bootstrap(judged, dims, ties, fit, n_boot, seed):
    """The bootstrap's fits as they were before the batched solver: one `fit_lapse_model` per
    resample, on its own table, from the full-data optimum."""
    participants = list(dict.fromkeys(j.participant for j in judged))
    weights = psychometric.bootstrap_weights(len(participants), n_boot, seed)
    start = np.r_[fit.bias, fit.slopes, fit.lapse, [math.log(fit.tie_parameter)] if fit.tie_parameter else []]
    fits = []
    for w in weights:
        rows = [(tuple(j.x[d] for d in dims), j.outcome) for j in judged
                for _ in range(int(w[participants.index(j.participant)]))]
        x, counts = psychometric._table(sorted(rows))
        fits.append(fit_lapse_model(x, counts, ties, start=start))
    return fits


@pytest.mark.parametrize("ties", ["half", "davidson"])
def test_resamples_the_batched_solver_leaves_unconverged_are_refitted_one_by_one(ties, monkeypatch):
    """Capped at 0 iterations the batch converges nothing, and every resample gets the fit it got
    before the batch existed; uncapped, none needs the fallback here and the results agree."""
    model = ResponseModel(lapse=0.05, position_bias=0.55, tie_tendency=0.3)
    judged = judgements(simulated_choices(model, ladder(12), seed=41))
    x, counts = psychometric._table([((j.x[0],), j.outcome) for j in judged])
    fit = fit_lapse_model(x, counts, ties)
    participants = list(dict.fromkeys(j.participant for j in judged))
    fallbacks = []

    def counted(*args, **kwargs):
        fallbacks.append(args)
        return fit_lapse_model(*args, **kwargs)

    monkeypatch.setattr(psychometric, "fit_lapse_model", counted)
    with psychometric.one_blas_thread():
        check_the_fallback(judged, ties, fit, participants, fallbacks)


def check_the_fallback(judged, ties, fit, participants, fallbacks):
    capped = psychometric._bootstrap(judged, (0,), ties, fit, 0.75, 40, 3, participants, max_iterations=0)
    assert len(fallbacks) == 40
    reference = per_resample_bootstrap(judged, (0,), ties, fit, 40, 3)
    assert capped["threshold"][0] == pytest.approx([r.thresholds(0.75)[0] for r in reference], rel=1e-9)
    assert capped["lapse"] == pytest.approx(psychometric.percentile_interval([r.lapse for r in reference]), rel=1e-9)
    fallbacks.clear()
    batched = psychometric._bootstrap(judged, (0,), ties, fit, 0.75, 40, 3, participants)
    assert fallbacks == []
    assert batched["threshold"][0] == pytest.approx(capped["threshold"][0], abs=1e-4)
    for key in ("bias", "lapse"):
        assert batched[key] == pytest.approx(capped[key], abs=1e-4)
    assert batched["slopes"][0] == pytest.approx(capped["slopes"][0], abs=1e-3)
    assert batched["failed"] == capped["failed"] == 0
    fallbacks.clear()
    mixed = psychometric._bootstrap(judged, (0,), ties, fit, 0.75, 40, 3, participants, max_iterations=5)
    assert 0 < len(fallbacks) < 40  # some resamples from the batch, the others refitted, each in its place
    assert mixed["threshold"][0] == pytest.approx(batched["threshold"][0], abs=1e-4)
    assert mixed["slopes"][0] == pytest.approx(batched["slopes"][0], abs=1e-3)
