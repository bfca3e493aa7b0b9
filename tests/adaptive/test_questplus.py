"""QUEST+ against the worked examples of Watson (2017), as the `questplus` package's own tests
replicate them: the stimulus sequence chosen for a given sequence of answers, and the final mode."""

import numpy as np
import pytest

from uxlab.adaptive.questplus import QuestPlus, grid_summary, weibull

C, I = True, False

# Watson 2017, Example 1, "Estimation of contrast threshold {1, 1, 2}": threshold only.
EXAMPLE_1_STIMULI = [-18, -22, -25, -28, -30, -22, -13, -15, -16, -18, -19, -20, -21, -22, -23, -19, -20, -20,
                     -18, -18, -19, -17, -17, -18, -18, -18, -19, -19, -19, -19, -19, -19]
EXAMPLE_1_ANSWERS = [C, C, C, C, I, I, C, C, C, C, C, C, C, C, I, C, C, I, C, C, I, C, C, C, C, C, C, C, C, C, C, C]

# Watson 2017, "Implementation": threshold and slope.
EXAMPLE_2_STIMULI = [-18, -22, -12, -13, -15, -16, -17, -18, -19, -21, -24, -25, -26, -27, -21, -22, -23, -20,
                     -20, -20, -21, -19, -19, -20, -20, -20, -19, -19, -19, -19, -19, -20, -20, -20, -20, -20,
                     -21, -21, -20, -20, -20, -19, -18, -18, -19, -19, -19, -18, -18, -17, -18, -18, -18, -17,
                     -17, -17, -17, -17, -17, -17, -18, -18, -18, -18]
EXAMPLE_2_ANSWERS = [C, I, C, C, C, C, C, C, C, C, C, C, C, I, C, C, I, C, C, C, I, C, C, C, C, I, C, C, C, C, C,
                     C, C, C, C, C, C, I, C, C, I, I, C, C, C, C, I, C, I, C, C, C, I, C, C, C, C, C, C, C, C, C,
                     C, C]


def contrast_quest(slopes):
    grid = np.arange(-40, 1)
    return QuestPlus(stimuli=grid, thresholds=grid, slopes=slopes, lapses=[0.02], guess=0.5, scale="dB")


@pytest.mark.parametrize(
    ("slopes", "stimuli", "answers", "mode"),
    [
        ([3.5], EXAMPLE_1_STIMULI, EXAMPLE_1_ANSWERS, {"threshold": -20, "slope": 3.5}),
        (np.arange(2, 6), EXAMPLE_2_STIMULI, EXAMPLE_2_ANSWERS, {"threshold": -20, "slope": 3}),
    ],
)
def test_it_chooses_the_papers_stimuli_for_the_papers_answers(slopes, stimuli, answers, mode):
    quest = contrast_quest(slopes)
    chosen = []
    for stimulus, correct in zip(stimuli, answers):
        chosen.append(quest.next_stimulus())
        quest.update(stimulus, correct)
    assert chosen == stimuli
    assert {key: quest.mode()[key] for key in mode} == mode


def test_it_is_the_weibull_of_the_paper():
    # At the threshold the Weibull is 1 - λ - (1 - γ - λ)/e whatever the slope.
    assert weibull(-20, -20, 3.5, 0.5, 0.02, "dB") == pytest.approx(1 - 0.02 - 0.48 / np.e)
    assert weibull(1.0, 1.0, 2.0, 0.5, 0.0) == pytest.approx(1 - 0.5 / np.e)
    assert weibull(10.0, 0.0, 2.0, 0.5, 0.03) == pytest.approx(0.97)


def test_it_weighs_thresholds_by_the_prior():
    grid = np.linspace(-1, 0, 11)
    prior = np.exp(-0.5 * ((grid + 0.5) / 0.1) ** 2)
    quest = QuestPlus(stimuli=grid, thresholds=grid, slopes=[3], lapses=[0.0], prior=prior)
    summary = quest.threshold_summary()
    assert summary["mean"] == pytest.approx(-0.5, abs=1e-9)
    assert summary["sd"] == pytest.approx(0.1, abs=0.01)
    with pytest.raises(ValueError):
        QuestPlus(stimuli=grid, thresholds=grid, slopes=[3], lapses=[0.0], prior=np.zeros(11))


def test_it_summarises_a_grid_distribution():
    summary = grid_summary([0, 1, 2, 3, 4], [0, 0, 1, 0, 0])
    assert (summary["mean"], summary["sd"], summary["mode"]) == (2.0, 0.0, 2.0)
    uniform = grid_summary(np.arange(100), np.ones(100))
    assert uniform["low"] == pytest.approx(2.0, abs=0.6) and uniform["high"] == pytest.approx(97.0, abs=0.6)


def test_replaying_answers_at_once_gives_the_posterior_of_updating_one_by_one():
    rng = np.random.default_rng(7)
    grid = np.log10(np.geomspace(0.01, 1.5, 30))
    answers = [(float(rng.choice(grid) + rng.uniform(-0.01, 0.01)), bool(rng.random() < 0.7)) for _ in range(40)]
    one_by_one, at_once = (QuestPlus(stimuli=grid, thresholds=grid, slopes=[1.5, 3.0], lapses=[0.0, 0.02])
                           for _ in range(2))
    for stimulus, correct in answers:
        one_by_one.update(stimulus, correct)
    at_once.replay(answers)
    assert np.array_equal(one_by_one.posterior, at_once.posterior)
    assert one_by_one.next_stimulus() == at_once.next_stimulus()
