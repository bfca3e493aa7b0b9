"""analysis.stats against scipy / statsmodels on the same data, plus a recovery simulation."""

import math
import random

import numpy as np
import pytest
import scipy.stats
import statsmodels.api as sm
from statsmodels.stats.proportion import proportion_confint

from uxlab.analysis import stats
from uxlab.analysis.stats import Choice


@pytest.mark.parametrize("k, n", [(0, 1), (1, 1), (3, 10), (7, 10), (50, 100), (12, 97), (0, 40), (250, 1000)])
def test_it_matches_statsmodels_wilson_interval(k, n):
    low, high = stats.wilson_interval(k, n)
    ref_low, ref_high = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert low == pytest.approx(ref_low, abs=1e-12)
    assert high == pytest.approx(ref_high, abs=1e-12)


@pytest.mark.parametrize(
    "k, n, p", [(0, 1, 0.5), (3, 10, 0.5), (7, 10, 0.5), (50, 100, 0.5), (61, 100, 0.5), (5, 30, 0.3), (2, 25, 0.1),
                (400, 1000, 0.5), (9, 9, 0.5)]
)
def test_it_matches_scipy_exact_binomial_test(k, n, p):
    assert stats.binomial_test(k, n, p) == pytest.approx(scipy.stats.binomtest(k, n, p).pvalue, rel=1e-9)


def make_choices(strengths, participants=40, per_pair=3, tie_rate=0.0, seed=1):
    rng = random.Random(seed)
    arms = list(strengths)
    choices = []
    for person in range(participants):
        for i, first in enumerate(arms):
            for second in arms[i + 1 :]:
                for _ in range(per_pair):
                    a, b = (first, second) if rng.random() < 0.5 else (second, first)
                    if rng.random() < tie_rate:
                        value = "tie"
                    else:
                        p_a = 1 / (1 + math.exp(strengths[b] - strengths[a]))
                        value = "A" if rng.random() < p_a else "B"
                    choices.append(Choice(person, a, b, value))
    return choices


def test_it_summarises_each_pair_with_wilson_intervals_and_exact_tests():
    choices = [Choice(1, "fast", "slow", "A")] * 14 + [Choice(2, "slow", "fast", "A")] * 4 + [
        Choice(3, "fast", "slow", "tie")
    ] * 2
    (summary,) = stats.pair_summaries(choices, order=["fast", "slow"])
    assert (summary["first"], summary["second"], summary["n"]) == ("fast", "slow", 20)
    assert summary["chose_first"]["count"] == 14 and summary["chose_second"]["count"] == 4
    assert summary["no_difference"]["share"] == pytest.approx(0.1)
    low, high = proportion_confint(14, 20, method="wilson")
    assert (summary["chose_first"]["ci_low"], summary["chose_first"]["ci_high"]) == pytest.approx((low, high))
    assert summary["p_value"] == pytest.approx(scipy.stats.binomtest(14, 18).pvalue)


def test_it_measures_left_position_bias_with_an_exact_test():
    choices = [Choice(1, "x", "y", "A")] * 30 + [Choice(1, "y", "x", "B")] * 10 + [Choice(1, "x", "y", "tie")] * 5
    bias = stats.position_bias(choices)
    assert bias["chose_left"]["count"] == 30 and bias["chose_left"]["n"] == 40
    assert bias["p_value"] == pytest.approx(scipy.stats.binomtest(30, 40).pvalue)


def test_it_matches_a_statsmodels_logistic_bradley_terry_fit():
    truth = {"a": 0.0, "b": 0.6, "c": -0.4, "d": 1.2}
    arms = list(truth)
    choices = make_choices(truth, participants=60)
    # Reference: logistic regression without intercept on +1/-1 indicators, arm "a" as the baseline.
    rows, outcomes = [], []
    for choice in choices:
        row = np.zeros(len(arms))
        row[arms.index(choice.arm_a)] += 1
        row[arms.index(choice.arm_b)] -= 1
        rows.append(row[1:])
        outcomes.append(1 if choice.value == "A" else 0)
    reference = sm.Logit(np.array(outcomes), np.array(rows)).fit(disp=0, tol=1e-12)
    log_strength, regularized = stats.bradley_terry_fit(stats.choice_win_matrix(choices, arms))
    assert not regularized
    differences = log_strength[1:] - log_strength[0]
    assert differences == pytest.approx(reference.params, abs=1e-6)


def test_it_gives_bootstrap_intervals_that_cover_the_estimates():
    truth = {"fast": 1.0, "medium": 0.0, "slow": -1.0}
    result = stats.bradley_terry(make_choices(truth, participants=50), list(truth), n_boot=200, seed=3)
    by_arm = {row["arm"]: row for row in result["arms"]}
    for row in by_arm.values():
        assert row["ci_low"] < row["log_strength"] < row["ci_high"]
    assert by_arm["fast"]["ci_low"] > by_arm["slow"]["ci_high"]
    assert result["n_participants"] == 50


def test_it_keeps_bradley_terry_finite_when_an_arm_never_wins():
    choices = [Choice(p, "fast", "slow", "A") for p in range(5)]
    result = stats.bradley_terry(choices, ["fast", "slow"], n_boot=20)
    assert result["regularized"]
    assert all(math.isfinite(row["log_strength"]) for row in result["arms"])
    assert result["arms"][0]["log_strength"] > result["arms"][1]["log_strength"]


def test_it_gives_no_bradley_terry_strength_to_an_arm_never_compared():
    choices = [Choice(p, "fast", "slow", "A" if p % 3 else "B") for p in range(9)]
    result = stats.bradley_terry(choices, ["fast", "slow", "never_shown"], n_boot=20)
    assert [row["arm"] for row in result["arms"]] == ["fast", "slow"]


def simulate_psychometric(intercept, slope, levels, trials_per_level, rng):
    x, y = [], []
    for level in levels:
        p = 1 / (1 + math.exp(-(intercept + slope * level)))
        for _ in range(trials_per_level):
            x.append(level)
            y.append(1 if rng.random() < p else 0)
    return x, y


def test_it_matches_statsmodels_logistic_regression():
    rng = random.Random(7)
    x, y = simulate_psychometric(-0.5, 2.5, [0.05, 0.2, 0.4, 0.7, 1.0, 1.5], 40, rng)
    fit = stats.logistic_fit(x, y)
    reference = sm.Logit(np.array(y), sm.add_constant(np.array(x))).fit(disp=0, tol=1e-12)
    assert [fit.intercept, fit.slope] == pytest.approx(list(reference.params), rel=1e-7)
    assert np.array(fit.covariance) == pytest.approx(np.asarray(reference.cov_params()), rel=1e-6)


def test_it_recovers_a_known_threshold_within_its_interval_in_95_percent_of_simulated_studies():
    """Participants answer from a known psychometric function; the 75% threshold's Fieller interval
    must contain the true threshold in about 95% of simulated studies (and be centred near it)."""
    intercept, slope = -1.0, 3.0
    true_threshold = (math.log(3) - intercept) / slope  # 0.699 on the log speed-ratio axis
    levels = [math.log(r) for r in (1.1, 1.3, 1.6, 2.0, 3.0, 5.0, 10.0)]
    rng = random.Random(2024)
    covered, estimates, runs = 0, [], 300
    for _ in range(runs):
        points = [
            stats.SpeedChoice(x, bool(y)) for x, y in zip(*simulate_psychometric(intercept, slope, levels, 30, rng))
        ]
        result = stats.psychometric(points)
        low, high = result["threshold_ci"]
        covered += low <= true_threshold <= high
        estimates.append(result["threshold"])
    assert 0.92 <= covered / runs <= 0.98
    assert np.median(estimates) == pytest.approx(true_threshold, abs=0.03)


def test_it_turns_answers_into_faster_arm_choices_on_the_log_speed_ratio():
    speeds = {"fast": 1800.0, "slow": 15.0, "same": 15.0}
    choices = [Choice(1, "fast", "slow", "A"), Choice(1, "slow", "fast", "A"), Choice(1, "slow", "same", "A"),
               Choice(1, "fast", "slow", "tie")]
    points = stats.speed_choices(choices, speeds, stats.log_speed_ratio)
    assert points == [stats.SpeedChoice(math.log(120), True), stats.SpeedChoice(math.log(120), False)]
    ttft = {"early": -0.2, "late": -2.0}
    (point,) = stats.speed_choices([Choice(1, "late", "early", "B")], ttft, stats.ttft_difference)
    assert point.stimulus == pytest.approx(1.8) and point.chose_faster


@pytest.mark.parametrize("q, df", [(0.975, 1), (0.975, 4), (0.975, 29), (0.95, 200), (0.025, 9)])
def test_it_matches_scipy_student_t_quantiles(q, df):
    assert stats.student_t_quantile(q, df) == pytest.approx(scipy.stats.t.ppf(q, df), rel=1e-8)


def test_it_matches_scipy_likert_mean_interval():
    values = [1, 2, 4, 4, 5, 5, 5, 6, 7, 3, 4, 6]
    summary = stats.likert_summary(values)
    low, high = scipy.stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=scipy.stats.sem(values))
    assert (summary["ci_low"], summary["ci_high"]) == pytest.approx((low, high), rel=1e-9)
    assert summary["median"] == np.median(values)
    assert summary["distribution"][5] == 3 and sum(summary["distribution"].values()) == len(values)


def test_it_matches_scipy_on_estimated_versus_actual_waiting_time():
    estimated = [3.0, 5.5, 2.0, 8.0, 4.0, 6.0]
    actual = [2.5, 4.0, 2.2, 5.0, 4.1, 3.9]
    summary = stats.waiting_time_summary(estimated, actual)
    logs = np.log(np.array(estimated) / np.array(actual))
    low, high = scipy.stats.t.interval(0.95, len(logs) - 1, loc=logs.mean(), scale=scipy.stats.sem(logs))
    assert summary["ratio"] == pytest.approx(scipy.stats.gmean(np.array(estimated) / np.array(actual)))
    assert (summary["ratio_ci_low"], summary["ratio_ci_high"]) == pytest.approx((math.exp(low), math.exp(high)))


def test_it_applies_only_the_enabled_exclusion_rules_and_reports_each_rules_effect():
    records = [
        {"status": "finished"},
        {"status": "interrupted"},
        {"status": "finished", "practice": True},
        {"status": "finished", "hidden_during_stream": True, "practice": True},
        {"status": "finished", "low_fidelity": True},
        {"status": "finished", "participant_failed_attention_check": True},
    ]
    assert stats.exclusion_reasons(records[3], ["practice", "hidden_tab"]) == ["hidden_tab", "practice"]
    assert stats.exclusion_reasons(records[3], ["interrupted"]) == []
    effect = stats.exclusion_effect(records, ["practice", "interrupted"])
    assert (effect["total"], effect["excluded"], effect["kept"]) == (6, 3, 3)
    matches = {rule["name"]: rule["matches"] for rule in effect["rules"]}
    assert matches == {"failed_attention_check": 1, "hidden_tab": 1, "low_fidelity": 1, "interrupted": 1, "practice": 2,
                       "attention_check_trial": 0}


def test_it_flags_low_fidelity_from_a_per_pane_summary():
    def summary(a, b):
        return {"panes": {"A": {"fraction_in_first_frame": a}, "B": {"fraction_in_first_frame": b}}}

    assert stats.is_low_fidelity(summary(0.99, 0.5))
    assert not stats.is_low_fidelity(summary(0.99, 0.95))
    assert not stats.is_low_fidelity(summary(None, 0.95))
    assert not stats.is_low_fidelity(None)


def test_it_holds_a_live_trial_to_the_live_standard_not_the_first_frame():
    from uxlab.analysis.stats import is_low_fidelity

    controlled = {"panes": {"A": {"fraction_in_first_frame": 0.5}}}
    live_ok = {"standard": "live", "panes": {"A": {"fraction_in_first_frame": 0.0, "fraction_within_budget": 0.95}}}
    live_late = {"standard": "live", "panes": {"A": {"fraction_in_first_frame": 1.0, "fraction_within_budget": 0.5}}}
    assert is_low_fidelity(controlled) and not is_low_fidelity(live_ok) and is_low_fidelity(live_late)
