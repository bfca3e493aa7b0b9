"""analysis.pairs: the pair table against statsmodels / scipy, Bradley–Terry (Newton = MM = statsmodels),
Davidson's ties against an independent likelihood, and pairwise differences with intervals."""

import math
import random

import numpy as np
import pytest
import scipy.stats
import statsmodels.api as sm
from scipy.optimize import minimize
from statsmodels.stats.multitest import multipletests

from tests.analysis.test_stats import make_choices
from uxlab.analysis import pairs, stats
from uxlab.analysis.stats import Choice


def test_it_tests_each_pair_with_participants_as_clusters_and_adjusts_by_holm():
    truth = {"a": 0.0, "b": 0.3, "c": 1.0, "d": 0.05}
    choices = make_choices(truth, participants=25, per_pair=2, tie_rate=0.2, seed=5)
    table = pairs.pair_table(choices, order=list(truth))
    for row in table:
        answers = [c for c in choices if {c.arm_a, c.arm_b} == {row["first"], row["second"]}]
        scores = [0.5 if c.value == "tie" else float((c.arm_a if c.value == "A" else c.arm_b) == row["first"])
                  for c in answers]
        groups = [c.participant for c in answers]
        reference = sm.OLS(np.array(scores), np.ones(len(scores))).fit(
            cov_type="cluster", cov_kwds={"groups": np.array(groups)}, use_t=True).t_test("const = 0.5")
        assert row["p_value"] == pytest.approx(float(reference.pvalue), rel=1e-6)
        decided = [s for s in scores if s != 0.5]
        assert row["p_exact_independent"] == pytest.approx(scipy.stats.binomtest(int(sum(decided)), len(decided)).pvalue)
        # The effect size: P(first) − P(second) is twice the mean score minus one.
        assert row["difference"]["mean"] == pytest.approx(2 * np.mean(scores) - 1)
    reference = multipletests([row["p_value"] for row in table], method="holm")[1]
    assert [row["p_holm"] for row in table] == pytest.approx(list(reference))
    assert {(row["first"], row["second"]) for row in table} == {
        (a, b) for i, a in enumerate(truth) for b in list(truth)[i + 1:]}


def test_it_measures_left_position_bias_with_participant_clusters():
    rng = random.Random(2)
    choices = [Choice(p, "x", "y", "A" if rng.random() < 0.7 else "B") for p in range(20) for _ in range(5)]
    bias = pairs.position_bias(choices)
    left = sum(c.value == "A" for c in choices)
    assert bias["chose_left"]["count"] == left and bias["chose_left"]["n"] == 100
    assert bias["p_exact_independent"] == pytest.approx(scipy.stats.binomtest(left, 100).pvalue)
    reference = sm.OLS(np.array([c.value == "A" for c in choices], dtype=float), np.ones(100)).fit(
        cov_type="cluster", cov_kwds={"groups": np.array([c.participant for c in choices])}, use_t=True)
    assert bias["p_value"] == pytest.approx(float(reference.t_test("const = 0.5").pvalue), rel=1e-6)
    assert bias["p_value"] > bias["p_exact_independent"]  # five answers per person are not five people


def test_it_reaches_the_same_bradley_terry_estimate_by_newton_as_by_mm():
    truth = {"a": 0.0, "b": 0.6, "c": -0.4, "d": 1.2}
    wins = stats.choice_win_matrix(make_choices(truth, participants=60, tie_rate=0.1), list(truth))
    mm, _ = stats.bradley_terry_fit(wins)
    assert pairs.bradley_terry_newton(wins) == pytest.approx(mm, abs=1e-7)


@pytest.mark.parametrize("arms, participants, rate", [(2, 4, 0.7), (4, 6, 0.3), (5, 30, 0.7)])
def test_the_batched_bootstrap_fit_takes_each_resamples_own_newton_steps(arms, participants, rate):
    from uxlab.analysis.clustered import bootstrap_weights

    rng = np.random.default_rng(arms)
    per_participant = rng.poisson(rate, size=(participants, arms, arms)).astype(float)
    per_participant[:, np.arange(arms), np.arange(arms)] = 0
    resamples = np.einsum("bp,pij->bij", bootstrap_weights(participants, 200, seed=1), per_participant)
    connected = [stats.strongly_connected(wins) for wins in resamples]
    if arms == 4:  # sparse: some resamples need the half-win regularisation, some not
        assert 0 < sum(connected) < len(resamples)
    assert pairs.strongly_connected_batch(resamples).tolist() == connected
    one_by_one = np.array([pairs.bradley_terry_newton(wins) for wins in resamples])
    assert np.array_equal(pairs.bradley_terry_newton_batch(resamples), one_by_one)


def reference_davidson(wins, ties):
    """Davidson's likelihood written out per pair and maximised by Nelder–Mead."""
    k = len(wins)

    def nll(theta):
        s = np.concatenate([[0.0], theta[:k - 1]])
        nu = math.exp(theta[-1])
        total = 0.0
        for i in range(k):
            for j in range(i + 1, k):
                pi, pj = math.exp(s[i]), math.exp(s[j])
                z = pi + pj + nu * math.sqrt(pi * pj)
                total += wins[i, j] * math.log(pi / z) + wins[j, i] * math.log(pj / z)
                total += ties[i, j] * math.log(nu * math.sqrt(pi * pj) / z)
        return -total

    result = minimize(nll, np.zeros(k), method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 50000})
    s = np.concatenate([[0.0], result.x[:k - 1]])
    return s - s.mean(), math.exp(result.x[-1])


def test_it_matches_an_independent_davidson_likelihood():
    truth = {"a": 0.0, "b": 0.7, "c": -0.5}
    choices = make_choices(truth, participants=40, per_pair=3, tie_rate=0.25, seed=8)
    arms = list(truth)
    wins, ties = stats.choice_outcomes(choices, arms)
    strengths, nu, _theta = pairs.davidson_fit(wins, ties)
    ref_strengths, ref_nu = reference_davidson(wins, ties)
    assert strengths == pytest.approx(ref_strengths, abs=1e-4)
    assert nu == pytest.approx(ref_nu, rel=1e-4)


def test_it_agrees_with_plain_bradley_terry_when_there_are_no_ties():
    truth = {"a": 0.0, "b": 0.8, "c": -0.6}
    choices = make_choices(truth, participants=40, seed=9)
    plain = pairs.bradley_terry(choices, list(truth), n_boot=50)
    davidson = pairs.bradley_terry(choices, list(truth), ties="davidson", n_boot=50)
    assert [r["log_strength"] for r in davidson["arms"]] == pytest.approx([r["log_strength"] for r in plain["arms"]], abs=1e-3)
    assert davidson["tie_parameter"] < 1e-3


def test_it_gives_every_pairwise_difference_an_interval_that_tests_two_arms():
    truth = {"fast": 1.0, "medium": 0.0, "slow": -1.0, "same_as_medium": 0.0}
    result = pairs.bradley_terry(make_choices(truth, participants=50), list(truth), n_boot=200, seed=3)
    by_pair = {(d["first"], d["second"]): d for d in result["differences"]}
    assert len(by_pair) == 6
    assert by_pair[("fast", "slow")]["excludes_zero"] and by_pair[("fast", "slow")]["ci_low"] > 0
    assert not by_pair[("medium", "same_as_medium")]["excludes_zero"]
    fast_slow = by_pair[("fast", "slow")]
    assert fast_slow["p_first_preferred"] == pytest.approx(1 / (1 + math.exp(-fast_slow["difference"])))
    for row in result["arms"]:
        assert row["ci_low"] < row["log_strength"] < row["ci_high"]


def test_it_keeps_bradley_terry_finite_when_an_arm_never_wins():
    choices = [Choice(p, "fast", "slow", "A") for p in range(5)]
    for ties in ("half", "davidson"):
        result = pairs.bradley_terry(choices, ["fast", "slow"], ties=ties, n_boot=20)
        assert result["regularized"]
        assert all(math.isfinite(row["log_strength"]) for row in result["arms"])
        assert result["arms"][0]["log_strength"] > result["arms"][1]["log_strength"]


def test_it_gives_no_bradley_terry_strength_to_an_arm_never_compared():
    choices = [Choice(p, "fast", "slow", "A" if p % 3 else "B") for p in range(9)]
    result = pairs.bradley_terry(choices, ["fast", "slow", "never_shown"], n_boot=20)
    assert [row["arm"] for row in result["arms"]] == ["fast", "slow"]


def test_both_bad_counts_as_neither_in_bradley_terry_davidson_and_the_pair_table():
    """Preference's "both bad" prefers neither pane: half a win each way under ties=half, a tie under
    Davidson, "neither" (score ½) in the pair table — exactly as "both equally good" ("tie")."""
    assert stats.choice_win_matrix([Choice(0, "x", "y", "A"), Choice(0, "x", "y", "both_bad")],
                                   ["x", "y"]).tolist() == [[0.0, 1.5], [0.5, 0.0]]
    truth = {"a": 0.0, "b": 0.8, "c": -0.6}
    tied = make_choices(truth, participants=30, tie_rate=0.3, seed=12)
    both_bad = [Choice(c.participant, c.arm_a, c.arm_b, "both_bad" if c.value == "tie" else c.value) for c in tied]
    dropped = [c for c in tied if c.value != "tie"]
    for ties in ("half", "davidson"):
        as_tie = pairs.bradley_terry(tied, list(truth), ties=ties, n_boot=30)
        as_bad = pairs.bradley_terry(both_bad, list(truth), ties=ties, n_boot=30)
        without = pairs.bradley_terry(dropped, list(truth), ties=ties, n_boot=30)
        assert as_bad["arms"] == as_tie["arms"]
        assert [r["log_strength"] for r in as_bad["arms"]] != pytest.approx([r["log_strength"] for r in without["arms"]])
    table_tie = pairs.pair_table(tied, list(truth))
    table_bad = pairs.pair_table(both_bad, list(truth))
    for row_tie, row_bad in zip(table_tie, table_bad, strict=True):
        assert row_bad["p_value"] == row_tie["p_value"] and row_bad["difference"] == row_tie["difference"]
        assert row_bad["both_bad"] == row_tie["no_difference"]


def test_bradley_terry_gives_no_interval_and_marks_nothing_with_too_few_participants():
    """One participant: a bootstrap over participants always redraws the same data, so its interval
    would have zero width and exclude 0. Below the minimum (5) there is no interval and no `*`."""
    choices = [Choice(0, "fast", "slow", "A")] * 6 + [Choice(0, "fast", "slow", "B")] * 2
    for participants, status in ((1, "too_few_participants"), (4, "too_few_participants"), (5, "ok")):
        many = [Choice(p, c.arm_a, c.arm_b, c.value) for p in range(participants) for c in choices]
        result = pairs.bradley_terry(many, ["fast", "slow"], n_boot=40)
        (difference,) = result["differences"]
        assert result["interval_status"] == status
        assert difference["difference"] == pytest.approx(math.log(3))  # log(6 / 2): won 6 of 8
        if status == "ok":
            assert "Too few" not in result["interval_message"]
        else:
            assert "at least 5" in result["interval_message"]
            assert difference["ci_low"] is None and not difference["excludes_zero"]
            assert all(row["ci_low"] is None for row in result["arms"])
