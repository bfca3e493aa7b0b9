"""The participant reads written once in SQL (studies/raw_sql.py, actions/participants.py) give what
the ORM gives: the same instances, field for field, and the same counts of answered questions."""

import uuid

import pytest
from django.utils import timezone

from tests.conftest import QUICK_STUDY_YAML, SCREENER_QUESTION_YAML, import_yaml, mark_trials_shown
from uxlab.studies import actions
from uxlab.studies.models import Participant, Question, Rating, Trial
from uxlab.studies.raw_sql import ModelColumns

pytestmark = pytest.mark.django_db

SCREENER_YAML = (
    QUICK_STUDY_YAML.replace(
        "questions:\n",
        """  - name: weather
    text: Is it going to rain?
    response: Perhaps later today; the clouds are building up in the west.
questions:
""",
    )
    .replace("questions:\n", "questions:\n" + SCREENER_QUESTION_YAML, 1)
    .replace("code: quick", "code: rows")
)


def field_values(instance):
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


@pytest.fixture
def shown(team):
    study = import_yaml(SCREENER_YAML, team)
    participant = actions.give_consent(actions.enroll_participant(study))
    Participant.objects.filter(pk=participant.pk).update(checks={"passed": True, "nested": {"b": [1, 2]}})
    return mark_trials_shown(participant)


def answer(trial, question_name, value="A"):
    question = Question.objects.get(study=trial.participant.study, name=question_name)
    Rating.objects.create(
        key=uuid.uuid4(), participant=trial.participant, trial=trial, question=question, value=value,
        response_ms=500, received_at=timezone.now(),
    )  # fmt: skip


def test_it_reads_the_participant_and_study_the_orm_reads_in_one_statement(shown, django_assert_num_queries):
    expected = Participant.objects.select_related("study").get(token=shown.token)
    with django_assert_num_queries(1):
        participant = actions.participant_by_token(shown.token)
        study = participant.study
    assert field_values(participant) == field_values(expected)
    assert field_values(study) == field_values(expected.study)
    assert participant.checks == {"passed": True, "nested": {"b": [1, 2]}}  # JSON decoded as the ORM does
    assert study.design == expected.study.design and isinstance(study.design, dict)
    assert participant._state.db == "default" and not participant._state.adding
    assert actions.participant_by_token("no-such-token") is None


def test_it_reads_the_questions_in_the_orms_order(shown, django_assert_num_queries):
    study = shown.study
    Question.objects.filter(study=study, name="faster").update(position=99)
    expected = list(study.questions.all())
    with django_assert_num_queries(1):
        questions = actions.study_questions(study)
    assert [field_values(question) for question in questions] == [field_values(question) for question in expected]
    assert [question.name for question in questions][-1] == "faster"


def test_it_counts_the_answered_required_questions_of_each_trial(shown, django_assert_num_queries):
    first, second = shown.trials.order_by("index")
    answer(first, "faster")
    answer(first, "ai_use", "2")
    answer(second, "faster")
    questions = actions.study_questions(shown.study)
    with django_assert_num_queries(1):
        trials = actions.trials_with_answers(shown, questions)
    assert [(trial.index, trial.required_answered, trial.required_count) for trial in trials] == [(0, 1, 1), (1, 1, 1)]
    assert [(trial.once_answered, trial.once_count) for trial in trials] == [(1, 1), (0, 1)]
    assert [field_values(trial) for trial in trials] == [field_values(trial) for trial in shown.trials.order_by("index")]
    assert trials[0].prompt == first.prompt and trials[0].prompt.text == first.prompt.text
    assert actions.pending_trial(shown, questions, trials) is None


def test_it_finds_the_pending_trial_past_skipped_and_answered_ones(shown):
    first, second = shown.trials.order_by("index")
    assert actions.pending_trial(shown).index == 0  # nothing answered yet
    answer(first, "faster")
    assert actions.pending_trial(shown).index == 0  # the question asked once is still unanswered
    answer(first, "ai_use", "2")
    assert actions.pending_trial(shown).index == 1
    Trial.objects.filter(pk=second.pk).update(status=Trial.Status.SKIPPED)
    assert actions.pending_trial(shown) is None
    Trial.objects.filter(pk=second.pk).update(status=Trial.Status.ASSIGNED, started_at=None)
    answer(second, "faster")
    assert actions.pending_trial(shown).index == 1  # answered, but never streamed


def test_it_converts_values_per_database_vendor(shown):
    columns = ModelColumns(Participant, "p")
    assert columns.width == len(Participant._meta.concrete_fields)
    assert columns.sql.startswith('p."id", p."study_id"')
    from django.db import connection

    converted = {column.target.attname for _position, column, _chain in columns.converters(connection)}
    assert {"assignment", "checks"} <= converted


def test_it_splits_id_lists_into_statements_postgres_can_bind():
    from django.db import OperationalError, connection, transaction

    from uxlab.studies.raw_sql import in_chunks

    chunks = in_chunks(range(70_000))
    assert [len(chunk) for chunk in chunks] == [10_000] * 7 and chunks[-1][-1] == 69_999
    assert in_chunks([]) == []
    assert sum(Participant.objects.filter(pk__in=chunk).count() for chunk in chunks) == 0
    if connection.features.uses_server_side_binding:  # why: one statement cannot take them all
        with pytest.raises(OperationalError, match="parameters"), transaction.atomic():
            Participant.objects.filter(pk__in=list(range(70_000))).count()
