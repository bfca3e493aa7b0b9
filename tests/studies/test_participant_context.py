"""What a socket knows of its participant (actions.load_participant_context): read in one statement
on Postgres, and the same context the ORM's queries give (load_participant_context_portable)."""

from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.conftest import SCREENER_QUESTION_YAML, import_yaml
from uxlab.studies import actions
from uxlab.studies.actions.trials import load_participant_context_portable
from uxlab.studies.models import Participant, Question

pytestmark = pytest.mark.django_db

DEMO_STUDY = Path(__file__).resolve().parents[2] / "uxlab" / "studies" / "examples" / "demo.yaml"


@pytest.fixture
def study(team):
    # The demo's questions (a per-pane Likert with options) and a screener asked once.
    return import_yaml(DEMO_STUDY.read_text().replace("questions:\n", "questions:\n" + SCREENER_QUESTION_YAML), team)


def question_fields(context):
    return {
        name: (question_id, {field.attname: getattr(question, field.attname) for field in Question._meta.concrete_fields},
               question._state.adding, question._state.db)
        for name, (question_id, question) in context.questions.items()
    }  # fmt: skip


def assert_same_context(token):
    context, expected = actions.load_participant_context(token), load_participant_context_portable(token)
    assert context == expected
    assert list(context.trial_ids.items()) == list(expected.trial_ids.items())  # in index order
    assert list(context.questions) == list(expected.questions)  # in the questions' order
    assert question_fields(context) == question_fields(expected)
    return context


def test_it_reads_the_same_context_as_the_orm_through_a_session(study):
    participant = actions.enroll_participant(study)
    before_consent = assert_same_context(participant.token)
    assert not before_consent.consented and before_consent.trial_ids == {}

    actions.give_consent(participant)
    actions.start_trial(participant.pk, 0)
    actions.finish_trial(participant.pk, 0)
    actions.start_trial(participant.pk, 1)
    context = assert_same_context(participant.token)
    assert context.consented and context.state == "active" and len(context.trial_ids) == 4
    assert set(context.started) == {0, 1} and context.finished == {0}
    assert context.group_name == f"participant.{participant.pk}" == participant.group_name
    assert list(context.questions) == ["ai_use", "faster", "wait_ok_A", "wait_ok_B"]

    Participant.objects.filter(pk=participant.pk).update(completed_at=timezone.now())
    assert assert_same_context(participant.token).state == "completed"


def test_it_reads_a_context_in_one_query(study):
    participant = actions.give_consent(actions.enroll_participant(study))
    with CaptureQueriesContext(connection) as queries:
        context = actions.load_participant_context(participant.token)
    assert context.participant_id == participant.pk
    assert len(queries) == 1


def test_it_finds_no_one_for_an_unknown_token_and_asks_nothing_for_a_malformed_one(study):
    with CaptureQueriesContext(connection) as queries:
        assert actions.load_participant_context("no-such-token") is None
    assert len(queries) == 1
    with CaptureQueriesContext(connection) as queries:
        assert actions.load_participant_context("not/a token") is None
        assert actions.load_participant_context(None) is None
    assert len(queries) == 0
