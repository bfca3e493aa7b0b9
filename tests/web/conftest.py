"""Fixtures for researcher pages and the API: a study with answers, and API tokens per user."""

import uuid

import pytest
from django.utils import timezone


def answer(trial, question, value, response_ms=900):
    from uxlab.studies.models import Rating

    return Rating.objects.create(
        key=uuid.uuid4(), participant=trial.participant, trial=trial, question=question, value=value,
        response_ms=response_ms, received_at=timezone.now(),
    )


def run_participant(study, values):
    """A consented participant whose trials all finished with the given answers (cycled)."""
    from uxlab.studies import actions
    from uxlab.studies.models import Trial

    participant = actions.give_consent(actions.enroll_participant(study))
    question = study.questions.first()
    for position, trial in enumerate(participant.trials.order_by("index")):
        Trial.objects.filter(pk=trial.pk).update(
            status=Trial.Status.FINISHED, started_at=timezone.now(), finished_at=timezone.now()
        )
        answer(trial, question, values[position % len(values)])
    actions.complete_participant(participant)
    return participant


def add_answers(study):
    """Four participants' answers (A, B, tie, A) and a free-text question, so its download is among
    the pages every access test covers."""
    from uxlab.studies.models import Question

    Question.objects.create(study=study, name="comment", kind="free_text", text="Anything else?", position=5,
                            options={"required": False})
    for values in (["A"], ["B"], ["tie"], ["A"]):
        run_participant(study, values)
    return study


@pytest.fixture
def rated_study(study):
    return add_answers(study)


@pytest.fixture
def tokens(alice, bob, charlie):
    from uxlab.studies.api_tokens import create_api_token

    return {user.username: create_api_token(user, "tests")[1] for user in (alice, bob, charlie)}


@pytest.fixture(autouse=True)
def _fresh_throttle():
    """Failed-attempt counts (web/throttle.py) live in Redis: each test starts with none."""
    from uxlab.web import throttle

    throttle.reset_all()
