"""analysis.stats against scipy / statsmodels on the same data."""

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


@pytest.mark.parametrize("q, df", [(0.975, 1), (0.975, 4), (0.975, 29), (0.95, 200), (0.025, 9)])
def test_it_matches_scipy_student_t_quantiles(q, df):
    assert stats.student_t_quantile(q, df) == pytest.approx(scipy.stats.t.ppf(q, df), rel=1e-8)


def test_it_applies_only_the_enabled_exclusion_rules_and_reports_each_rules_effect():
    records = [
        {"status": "finished"},
        {"status": "interrupted"},
        {"status": "finished", "practice": True},
        {"status": "finished", "hidden_during_stream": True, "practice": True},
        {"status": "finished", "low_fidelity": True},
        {"status": "finished", "participant_failed_attention_check": True},
        {"status": "finished", "participant_did_not_complete": True},
    ]
    assert stats.exclusion_reasons(records[3], ["practice", "hidden_tab"]) == ["hidden_tab", "practice"]
    assert stats.exclusion_reasons(records[3], ["interrupted"]) == []
    effect = stats.exclusion_effect(records, ["practice", "interrupted"])
    assert (effect["total"], effect["excluded"], effect["kept"]) == (7, 3, 4)
    matches = {rule["name"]: rule["matches"] for rule in effect["rules"]}
    assert matches == {"failed_attention_check": 1, "hidden_tab": 1, "low_fidelity": 1, "interrupted": 1, "practice": 2,
                       "attention_check_trial": 0, "pilot": 0, "assistive_technology": 0,
                       "did_not_complete": 1}
    # Every rule is in force by default except did_not_complete (partial data kept, counted).
    assert set(stats.DEFAULT_RULES) == set(matches) - {"did_not_complete"}


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


def test_student_t_quantiles_are_memoised():
    """An analysis asks for the same (q, df) hundreds of times; each costs 200 incomplete betas."""
    stats.student_t_quantile.cache_clear()
    first = stats.student_t_quantile(0.975, 11)
    assert stats.student_t_quantile(0.975, 11) == first
    assert stats.student_t_quantile.cache_info().hits == 1
