"""analysis.clustered against statsmodels: cluster-robust means and tests, Holm, Cohen's h, and the
cluster-adjusted Wilson interval (the ordinary one when every participant answers once)."""

import random

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint, proportion_effectsize

from uxlab.analysis import clustered


def clustered_data(participants=12, per_participant=8, seed=3):
    rng = random.Random(seed)
    values, groups = [], []
    for person in range(participants):
        own = rng.gauss(0, 1)  # a participant effect: answers within a person are correlated
        for _ in range(rng.randint(2, per_participant)):
            values.append(4 + own + rng.gauss(0, 0.5))
            groups.append(person)
    return values, groups


def statsmodels_cluster_fit(values, groups):
    return sm.OLS(np.array(values), np.ones(len(values))).fit(
        cov_type="cluster", cov_kwds={"groups": np.array(groups)}, use_t=True)


def test_it_matches_statsmodels_cluster_robust_mean_and_interval():
    values, groups = clustered_data()
    summary = clustered.clustered_mean(values, groups)
    reference = statsmodels_cluster_fit(values, groups)
    assert summary["mean"] == pytest.approx(reference.params[0], rel=1e-12)
    assert summary["se"] == pytest.approx(reference.bse[0], rel=1e-9)
    low, high = reference.conf_int()[0]
    assert (summary["ci_low"], summary["ci_high"]) == pytest.approx((low, high), rel=1e-8)
    # The naive interval would be much narrower: the clustering matters here.
    assert summary["se"] > 2 * np.std(values, ddof=1) / np.sqrt(len(values))


def test_it_matches_statsmodels_cluster_robust_t_test():
    values, groups = clustered_data(seed=9)
    reference = statsmodels_cluster_fit(values, groups).t_test("const = 4.3")
    assert clustered.clustered_t_test(values, groups, 4.3) == pytest.approx(float(reference.pvalue), rel=1e-7)


@pytest.mark.parametrize("k, n", [(3, 10), (7, 10), (50, 100), (0, 12), (12, 12)])
def test_it_gives_the_ordinary_wilson_interval_when_each_participant_answers_once(k, n):
    share = clustered.clustered_proportion([1] * k + [0] * (n - k), list(range(n)))
    low, high = proportion_confint(k, n, method="wilson")
    assert share["design_effect"] == pytest.approx(1.0)
    assert (share["ci_low"], share["ci_high"]) == pytest.approx((low, high), abs=1e-12)


def test_it_widens_the_wilson_interval_by_the_design_effect_of_participants():
    # Six participants, each answering the same way ten times: really six answers, not sixty.
    successes = [1] * 40 + [0] * 20
    groups = [p for p in range(6) for _ in range(10)]
    share = clustered.clustered_proportion(successes, groups)
    reference = statsmodels_cluster_fit(successes, groups)
    naive_variance = np.var(successes, ddof=1) / len(successes)
    assert share["design_effect"] == pytest.approx(reference.bse[0] ** 2 / naive_variance)
    n_eff = len(successes) / share["design_effect"]
    low, high = proportion_confint(share["share"] * n_eff, n_eff, method="wilson")
    assert (share["ci_low"], share["ci_high"]) == pytest.approx((low, high))
    plain_low, plain_high = proportion_confint(40, 60, method="wilson")
    assert share["ci_high"] - share["ci_low"] > 2 * (plain_high - plain_low)


def test_it_matches_statsmodels_holm_adjustment():
    p_values = [0.01, 0.04, 0.03, 0.005, 0.5, None, 0.2]
    adjusted = clustered.holm(p_values)
    reference = multipletests([p for p in p_values if p is not None], method="holm")[1]
    assert [a for a in adjusted if a is not None] == pytest.approx(list(reference))
    assert adjusted[5] is None


@pytest.mark.parametrize("p", [0.5, 0.6, 0.75, 0.9, 0.2])
def test_it_matches_statsmodels_cohens_h(p):
    assert clustered.cohens_h(p) == pytest.approx(proportion_effectsize(p, 0.5))


def test_it_draws_each_participant_as_often_as_the_bootstrap_says():
    weights = clustered.bootstrap_weights(7, n_boot=50, seed=1)
    assert weights.shape == (50, 7) and (weights.sum(axis=1) == 7).all()
    assert (clustered.bootstrap_weights(7, n_boot=50, seed=1) == weights).all()
    assert clustered.percentile_interval([1.0, 2.0, float("inf")] * 10)[1] is None  # unbounded above


@pytest.mark.parametrize("values, groups, reason", [
    ([1.0, 1.0, 1.0], ["p", "p", "p"], "fewer than 2 participants"),
    ([1.0, 1.0, 1.0, 1.0], ["p", "p", "q", "q"], "standard error 0"),  # two people who agreed: t = ±∞
    ([], [], "no answers"),
])
def test_it_leaves_the_t_test_undefined_with_a_reason_when_the_standard_error_is_zero(values, groups, reason):
    assert clustered.clustered_t_test(values, groups, 0.5) is None
    assert reason in clustered.clustered_t_test_reason(values, groups)


def test_a_defined_t_test_has_no_reason():
    values, groups = clustered_data(seed=9)
    assert clustered.clustered_t_test_reason(values, groups) == ""
