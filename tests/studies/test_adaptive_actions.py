"""Adaptive designs on the rating path: the next trial is chosen when an answer is stored (once,
however often it is delivered), from the reference arm with one pane changed; the state lives in
the database, so any process carries on from it."""

import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from tests.conftest import import_yaml, mark_trials_shown
from uxlab.adaptive.session import AdaptiveSession
from uxlab.live.protocol import RatingSubmit
from uxlab.studies import actions
from uxlab.studies.actions.sessions import expire_study_sessions
from uxlab.studies.models import AdaptiveRun, AdaptiveStep

pytestmark = pytest.mark.django_db

EXAMPLE = Path(__file__).resolve().parents[2] / "uxlab" / "studies" / "examples" / "speed_threshold_adaptive.yaml"


@pytest.fixture
def study(team):
    return import_yaml(EXAMPLE.read_text(), team)


@pytest.fixture
def participant(study):
    participant = actions.enroll_participant(study)
    actions.record_checks(participant, {"simulated": True}, viewport_ok=True, stacked=False)
    participant = actions.give_consent(participant)
    actions.mark_instructions_seen(participant)
    return participant


def answer(participant, index, value, key=None):
    """Store an answer the way the worker does (checked against the session first); on the first
    (practice) trial the example's screener question, asked once, is answered first."""
    mark_trials_shown(participant)
    context = actions.load_participant_context(participant.token)
    if index == 0:
        screener = RatingSubmit(type="rating.submit", key=uuid.uuid4(), trial=0, question="ai_use", value="2",
                                response_ms=700)
        actions.record_ratings([actions.check_rating(context, screener, timezone.now())])
    message = RatingSubmit(type="rating.submit", key=key or uuid.uuid4(), trial=index, question="faster",
                           value=value, response_ms=700)
    payload = actions.check_rating(context, message, timezone.now())
    return payload, actions.record_ratings([payload])


def right_answer(trial):
    step = trial.adaptive_step
    return actions.faster_pane(step.value, step.run.reference_value, step.test_pane, "tokens_per_second")


def test_it_starts_with_the_practice_and_the_first_adaptive_trial(participant):
    trials = list(participant.trials.order_by("index"))
    assert [trial.kind for trial in trials] == ["practice", "trial"]
    practice, first = trials
    assert practice.arm_a == practice.arm_b == first.arm_a == first.arm_b  # the reference arm
    step = first.adaptive_step
    assert step.number == 0 and step.track == "slower" and 1.5 <= step.value < 15
    specs = actions.trial_pane_specs(first)
    assert specs[step.test_pane]["profile"]["tokens_per_second"] == pytest.approx(step.value)
    other = "B" if step.test_pane == "A" else "A"
    assert specs[other]["profile"]["tokens_per_second"] == 15
    assert participant.assignment["design"] == "adaptive"


def test_it_chooses_the_next_trial_when_the_answer_is_stored_and_only_once(participant):
    first = participant.trials.get(index=1)
    payload, outcome = answer(participant, 1, right_answer(first))
    assert list(outcome.values()) == ["stored"]
    step = AdaptiveStep.objects.get(trial=first)
    assert step.correct is True and step.answer == payload["value"] and step.summary["sd_log10"] > 0
    second = participant.trials.get(index=2)
    assert second.adaptive_step.number == 1
    # The same answer delivered again (a resend, a retried task) changes nothing.
    assert list(actions.record_ratings([payload]).values()) == ["duplicate"]
    assert participant.trials.count() == 3 and AdaptiveStep.objects.filter(run__participant=participant).count() == 2
    assert AdaptiveRun.objects.get(participant=participant).state["trials"] == 1


def test_it_scores_the_answer_against_the_truly_faster_pane(participant):
    first = participant.trials.get(index=1)
    wrong = "B" if right_answer(first) == "A" else "A"
    answer(participant, 1, wrong)
    assert AdaptiveStep.objects.get(trial=first).correct is False


def test_it_carries_on_from_the_stored_state_anywhere(participant):
    answer(participant, 0, "A")  # the practice trial
    for index in (1, 2, 3):
        trial = participant.trials.get(index=index)
        answer(participant, index, right_answer(trial))
    run = AdaptiveRun.objects.get(participant=participant)
    pending = participant.trials.get(index=4).adaptive_step
    # A fresh session object (another process) gives the stimulus the stored trial already has.
    again = AdaptiveSession(participant.study.design["adaptive"], run.reference_value).next_trial(run.state)
    assert (again["track"], again["value"], again["test_pane"]) == (pending.track, pending.value, pending.test_pane)
    assert actions.pending_trial(participant).index == 4


def test_it_runs_to_its_stopping_rule_and_the_session_ends(participant):
    index = 0
    while (trial := actions.pending_trial(participant)) is not None:
        assert trial.index == index
        answer(participant, index, right_answer(trial) if trial.kind == "trial" else "A")
        index += 1
    run = AdaptiveRun.objects.get(participant=participant)
    steps = list(run.steps.all())
    assert run.finished_at is not None and 1 < len(steps) <= 40
    assert all(step.answered_at is not None for step in steps)
    assert actions.participant_step(participant) == "done"


def test_it_puts_an_attention_check_among_the_adaptive_trials(team):
    text = EXAMPLE.read_text().replace("practice:\n", """attention_checks:
  - name: check
    text: An attention check.
    response: Please answer A.
    question: faster
    expected: A
    after_trial: 2
practice:
""")
    study = import_yaml(text, team)
    participant = actions.give_consent(actions.enroll_participant(study))
    answer(participant, 0, "A")
    for index in (1, 2):
        answer(participant, index, right_answer(participant.trials.get(index=index)))
    kinds = list(participant.trials.order_by("index").values_list("kind", flat=True))
    assert kinds == ["practice", "trial", "trial", "attention", "trial"]
    assert AdaptiveStep.objects.filter(trial__index=3, trial__participant=participant).count() == 0
    answer(participant, 3, "A")
    assert participant.trials.get(index=3).attention_passed is True
    assert actions.pending_trial(participant).index == 4


# --- The last trial: the page's give-up, and runs that end with their session ------------------------


def short_study(team, max_trials=3):
    return import_yaml(EXAMPLE.read_text().replace("max_trials: 40", f"max_trials: {max_trials}"), team)


def enrolled(study):
    participant = actions.enroll_participant(study)
    actions.record_checks(participant, {"simulated": True}, viewport_ok=True, stacked=False)
    participant = actions.give_consent(participant)
    actions.mark_instructions_seen(participant)
    return participant


def test_only_the_trial_that_ends_the_run_is_the_last_and_may_be_given_up(team):
    participant = enrolled(short_study(team))
    later = time.time() + 3600  # long past any save timeout
    answer(participant, 0, "A")  # the practice trial
    first = participant.trials.get(index=1)
    assert not actions.is_last_trial(participant, first)
    assert not actions.may_give_up(participant, now=later)  # the run goes on after it: no code
    answer(participant, 1, right_answer(first))
    answer(participant, 2, right_answer(participant.trials.get(index=2)))
    final = actions.pending_trial(participant)
    assert final.adaptive_step.number == 2 and actions.is_last_trial(participant, final)
    mark_trials_shown(participant)
    assert actions.may_give_up(participant, now=later)


def test_giving_up_on_the_last_trial_ends_the_run_and_a_late_answer_makes_no_trial(team):
    study = short_study(team)
    participant = enrolled(study)
    answer(participant, 0, "A")
    for index in (1, 2):
        answer(participant, index, right_answer(participant.trials.get(index=index)))
    final = participant.trials.get(index=3)
    mark_trials_shown(participant)
    context = actions.load_participant_context(participant.token)
    late = actions.check_rating(context, RatingSubmit(
        type="rating.submit", key=uuid.uuid4(), trial=3, question="faster", value=right_answer(final),
        response_ms=800), timezone.now())  # sent, but the worker stores it only after the page gave up

    actions.record_unconfirmed_completion(participant, 1)
    run = AdaptiveRun.objects.get(participant=participant)
    assert run.finished_at is not None
    assert participant.outcome == "completed" and participant.completion_code_shown == study.completion_code

    assert list(actions.record_ratings([late]).values()) == ["stored"]
    step = AdaptiveStep.objects.get(trial=final)
    assert step.correct is True and step.answered_at is not None  # scored, as data
    assert participant.trials.count() == 4 and run.steps.count() == 3  # and nothing follows it
    assert actions.participant_step(participant) == "done" and actions.pending_trial(participant) is None


def test_an_expired_session_ends_its_run_and_an_answer_stored_after_makes_no_trial(team):
    study = short_study(team, max_trials=10)
    participant = enrolled(study)
    answer(participant, 0, "A")
    first = participant.trials.get(index=1)
    mark_trials_shown(participant)
    context = actions.load_participant_context(participant.token)
    queued = actions.check_rating(context, RatingSubmit(
        type="rating.submit", key=uuid.uuid4(), trial=1, question="faster", value=right_answer(first),
        response_ms=800), timezone.now())
    now = timezone.now()
    assert expire_study_sessions(study, now, over_limit=now - timedelta(hours=1), abandoned=now + timedelta(minutes=1))
    assert AdaptiveRun.objects.get(participant=participant).finished_at is not None

    actions.record_ratings([queued])
    assert AdaptiveStep.objects.get(trial=first).answered_at is not None
    assert participant.trials.count() == 2 and not actions.is_last_trial(participant, participant.trials.get(index=0))
    assert actions.is_last_trial(participant, first)
