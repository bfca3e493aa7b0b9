"""analysis.summaries: one summariser per question kind, checked against scipy/statsmodels."""

import math

import numpy as np
import pytest
import scipy.stats
import statsmodels.api as sm

from uxlab.analysis.simulation import PaneTiming
from uxlab.analysis.summaries import SUMMARISERS, AnalysisOptions, Answer, QuestionInfo, SummaryContext, summarise

CONTEXT = SummaryContext(["fast", "slow"], AnalysisOptions(n_boot=20))


def cluster_interval(values, groups):
    fit = sm.OLS(np.array(values, dtype=float), np.ones(len(values))).fit(
        cov_type="cluster", cov_kwds={"groups": np.array(groups)}, use_t=True)
    return tuple(fit.conf_int()[0])


def test_it_has_a_summariser_for_every_question_kind():
    from uxlab.studies.models import Question

    assert set(SUMMARISERS) == {kind for kind, _label in Question.Kind.choices}


def test_it_summarises_a_per_pane_likert_item_per_arm_with_clustered_intervals():
    values = {("fast", 1): [5, 4, 5], ("fast", 2): [3, 4], ("fast", 3): [5, 5, 4], ("slow", 1): [2, 3],
              ("slow", 2): [1, 2, 2], ("slow", 3): [3]}
    answers = [Answer(p, "fast", "slow", str(v), pane="A" if arm == "fast" else "B")
               for (arm, p), vs in values.items() for v in vs]
    summary = summarise(QuestionInfo("ok", "likert", "OK?", {"scale": 5}), answers, CONTEXT)
    assert summary["summary"] == "likert" and summary["per_pane"]
    fast = summary["rows"][0]
    fast_values = [v for (arm, _p), vs in values.items() if arm == "fast" for v in vs]
    fast_groups = [p for (arm, p), vs in values.items() if arm == "fast" for _v in vs]
    assert fast["label"] == "fast" and fast["distribution"] == {1: 0, 2: 0, 3: 1, 4: 3, 5: 4}
    assert fast["median"] == np.median(fast_values)
    assert (fast["ci_low"], fast["ci_high"]) == pytest.approx(cluster_interval(fast_values, fast_groups))
    assert summary["overall"]["n"] == len(answers)


def test_it_summarises_a_likert_item_about_the_whole_trial_per_pair():
    answers = [Answer(p, "fast", "slow", str(v)) for p, v in enumerate([6, 7, 5, 6, 4])]
    summary = summarise(QuestionInfo("overall", "likert", "Overall?", {"scale": 7}), answers, CONTEXT)
    assert not summary["per_pane"] and summary["rows"][0]["label"] == "fast|slow"
    low, high = scipy.stats.t.interval(0.95, 4, loc=5.6, scale=scipy.stats.sem([6, 7, 5, 6, 4]))
    assert (summary["overall"]["ci_low"], summary["overall"]["ci_high"]) == pytest.approx((low, high))


def test_it_summarises_a_slider_with_quartiles():
    values = [10, 20, 35, 50, 80, 90, 15]
    answers = [Answer(p, "fast", "slow", str(v)) for p, v in enumerate(values)]
    summary = summarise(QuestionInfo("smooth", "slider", "Smooth?", {"min": 0, "max": 100}), answers, CONTEXT)
    overall = summary["overall"]
    assert (overall["q1"], overall["median"], overall["q3"]) == pytest.approx(tuple(np.percentile(values, [25, 50, 75])))
    assert overall["mean"] == pytest.approx(np.mean(values))


def test_it_compares_estimated_with_actual_waiting_time_on_the_log_scale():
    estimated = [3.0, 5.5, 2.0, 8.0, 4.0, 6.0]
    actual = [2.5, 4.0, 2.2, 5.0, 4.1, 3.9]
    answers = [Answer(p, "fast", "slow", str(e), pane="A", declared=PaneTiming(100, 10, a, 9.0))
               for p, (e, a) in enumerate(zip(estimated, actual, strict=True))]
    (row,) = summarise(QuestionInfo("wait", "wait_estimate", "How long?", {}), answers, CONTEXT)["rows"]
    logs = np.log(np.array(estimated) / np.array(actual))
    low, high = scipy.stats.t.interval(0.95, len(logs) - 1, loc=logs.mean(), scale=scipy.stats.sem(logs))
    assert row["ratio"] == pytest.approx(scipy.stats.gmean(np.array(estimated) / np.array(actual)))
    assert (row["ratio_ci_low"], row["ratio_ci_high"]) == pytest.approx((math.exp(low), math.exp(high)))
    # What the browser displayed wins over the schedule.
    shown = [Answer(0, "fast", "slow", "3", pane="A", declared=PaneTiming(100, 10, 9.0, 9.0),
                    displayed=PaneTiming(None, None, 2.0, None))]
    (row,) = summarise(QuestionInfo("wait", "wait_estimate", "How long?", {}), shown, CONTEXT)["rows"]
    assert row["mean_actual_s"] == 2.0 and row["ratio"] == pytest.approx(1.5)


def test_it_counts_free_text_answers_folding_case_and_punctuation():
    texts = ["Too slow!", "too slow", "Fine.", "fine", "fine", "the left one stuttered"]
    answers = [Answer(p % 4, "fast", "slow", t) for p, t in enumerate(texts)]
    summary = summarise(QuestionInfo("comment", "free_text", "Anything?", {}), answers, CONTEXT)
    assert summary["n"] == 6 and summary["n_participants"] == 4 and summary["n_distinct"] == 3
    assert summary["top"][:2] == [{"text": "fine", "count": 3}, {"text": "too slow", "count": 2}]


def test_it_refuses_unknown_options():
    with pytest.raises(ValueError):
        AnalysisOptions(ties="sometimes")
    with pytest.raises(ValueError):
        AnalysisOptions(level=1.2)
