"""The interleaved adaptive session: seeded choices, catch trials, stopping rules, replay."""

import math
import random

from uxlab.adaptive.questplus import weibull
from uxlab.adaptive.session import AdaptiveSession

REFERENCE = 15.0


def observer(threshold, seed):
    rng = random.Random(seed)
    truth_e = abs(math.log10(threshold) - math.log10(REFERENCE))

    def answer(value):
        e = abs(math.log10(value) - math.log10(REFERENCE))
        return rng.random() < weibull(math.log10(e), math.log10(truth_e), 3.0, 0.5, 0.03)

    return answer


def run(config, answer, seed="s"):
    session = AdaptiveSession(config, REFERENCE)
    state, trials = session.start(seed), []
    while (trial := session.next_trial(state)) is not None:
        state, summary = session.record(state, trial, answer(trial["value"]))
        trials.append(trial)
    return session, state, trials


def test_it_interleaves_tracks_on_both_sides_with_catch_trials():
    config = {
        "procedure": "staircase",
        "tracks": [{"name": "slower", "range": [1.5, 15]}, {"name": "faster", "range": [15, 150]}],
        "catch_trials": 0.2,
        "max_trials": 60,
    }
    session, state, trials = run(config, lambda value: True)
    assert len(trials) == 60 and state["finished"]
    assert {trial["track"] for trial in trials} == {"slower", "faster"}
    assert all(trial["value"] < REFERENCE for trial in trials if trial["track"] == "slower")
    assert all(trial["value"] > REFERENCE for trial in trials if trial["track"] == "faster")
    catches = [trial for trial in trials if trial["catch"]]
    assert 4 <= len(catches) <= 20 and state["catch"] == {"trials": len(catches), "correct": len(catches)}
    assert {round(trial["value"], 6) for trial in catches} <= {1.5, 150.0}
    assert {trial["test_pane"] for trial in trials} == {"A", "B"}


def test_it_replays_the_same_choices_from_the_same_seed():
    config = {"procedure": "quest_plus", "tracks": [{"name": "slower", "range": [1.5, 15]}], "max_trials": 12}
    first = run(config, observer(5.0, 1))[2]
    again = run(config, observer(5.0, 1))[2]
    assert first == again
    assert run(config, observer(5.0, 1), seed="other")[2] != first


def test_it_stops_a_track_at_its_reversals_or_posterior_width():
    staircase = {"procedure": "staircase", "tracks": [{"name": "t", "range": [1.5, 15]}], "max_trials": 500,
                 "stop": {"reversals": 8}}
    _session, state, _trials = run(staircase, observer(5.0, 2))
    assert len(state["tracks"]["t"]["reversals"]) == 8
    quest = {"procedure": "quest_plus", "tracks": [{"name": "t", "range": [1.5, 15]}], "max_trials": 500,
             "stop": {"posterior_sd": 0.06}}
    session, state, trials = run(quest, observer(5.0, 3))
    history = state["tracks"]["t"]["history"]
    before_last = session.tracks["t"].summary({"history": history[:-1], "trials": len(history) - 1})
    assert session.estimates(state)["t"]["sd_log10"] <= 0.06 < before_last["sd_log10"]
    assert len(trials) < 500


def test_quest_plus_finds_a_known_threshold_within_its_interval():
    config = {"procedure": "quest_plus", "tracks": [{"name": "t", "range": [1.5, 15]}], "max_trials": 40,
              "quest_plus": {"prior": {"threshold": 5.0, "sd_log10": 0.3}}}
    covered, errors = 0, []
    for seed in range(12):
        truth = 10 ** (math.log10(5.0) + random.Random(seed).gauss(0, 0.2))
        session, state, _ = run(config, observer(truth, seed), seed=seed)
        estimate = session.estimates(state)["t"]
        errors.append(estimate["log10"] - math.log10(truth))
        covered += estimate["low_log10"] <= math.log10(truth) <= estimate["high_log10"]
    assert math.sqrt(sum(error**2 for error in errors) / len(errors)) < 0.15
    assert covered >= 9


def test_a_posterior_width_rule_never_stops_a_track_before_its_first_answer():
    """A prior already narrower than stop.posterior_sd: the session still shows a first trial."""
    config = {"procedure": "quest_plus", "tracks": [{"name": "t", "range": [1.5, 15]}], "max_trials": 40,
              "stop": {"posterior_sd": 0.05}, "quest_plus": {"prior": {"threshold": 5.0, "sd_log10": 0.01}}}
    session, state, trials = run(config, observer(5.0, 4))
    assert len(trials) >= 1 and state["finished"]


def test_it_knows_when_a_trial_ends_the_session_whatever_the_answer():
    config = {"procedure": "staircase", "tracks": [{"name": "t", "range": [1.5, 15]}], "max_trials": 3,
              "stop": {"reversals": 1}}
    session = AdaptiveSession(config, REFERENCE)
    state = session.start("s")
    first = session.next_trial(state)
    assert not session.ends_after(state, first)
    state = session.advanced(state, first, True)
    second = session.next_trial(state)
    # No move was made yet, so neither answer can be the first reversal.
    assert not session.ends_after(state, second)
    state = session.advanced(state, second, True)  # two right: harder
    third = session.next_trial(state)
    assert session.ends_after(state, third)  # the third of max_trials 3
