"""A question asked once (`ask: once`, a screener): asked, taken and required on the participant's
first trial only (docs/study-format.md, "Questions")."""

import uuid

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.conftest import QUICK_STUDY_YAML, SCREENER_QUESTION_YAML, import_yaml, mark_trials_shown
from uxlab.live.protocol import RatingSubmit
from uxlab.studies import actions
from uxlab.studies.models import Rating

pytestmark = pytest.mark.django_db

SCREENER_YAML = QUICK_STUDY_YAML.replace(
    "questions:\n",
    """  - name: weather
    text: Is it going to rain?
    response: Perhaps later today; the clouds are building up in the west and the wind has turned.
questions:
"""
    + SCREENER_QUESTION_YAML,
).replace("code: quick", "code: screener")


@pytest.fixture
def screener_study(team):
    return import_yaml(SCREENER_YAML, team)


@pytest.fixture
def shown(screener_study):
    participant = actions.give_consent(actions.enroll_participant(screener_study))
    assert participant.trials.count() == 2
    return mark_trials_shown(participant)


def submit(participant, trial, question, value):
    context = actions.load_participant_context(participant.token)
    message = RatingSubmit(type="rating.submit", key=uuid.uuid4(), trial=trial, question=question, value=value,
                           response_ms=700)
    return actions.record_ratings([actions.check_rating(context, message, timezone.now())])


def test_it_takes_the_answer_on_the_first_trial_and_refuses_it_on_a_later_one(shown):
    assert set(submit(shown, 0, "ai_use", "2").values()) == {"stored"}
    with pytest.raises(actions.RatingRejected) as rejected:
        submit(shown, 1, "ai_use", "3")
    assert rejected.value.code == "question_not_asked" and "first trial" in rejected.value.message
    assert list(Rating.objects.filter(question__name="ai_use").values_list("trial__index", "value")) == [(0, "2")]


def test_it_completes_only_with_the_answer_on_the_first_trial_and_not_without(shown):
    from uxlab.studies.models import TrialTelemetry

    for trial in shown.trials.all():
        TrialTelemetry.objects.create(key=uuid.uuid4(), trial=trial, payload={}, received_at=timezone.now())
    submit(shown, 0, "faster", "A")
    submit(shown, 1, "faster", "B")
    assert actions.pending_trial(shown).index == 0  # the question asked once is still missing
    assert not actions.complete_participant(shown)
    submit(shown, 0, "ai_use", "1")
    assert actions.pending_trial(shown) is None  # the later trial needs only the every-trial questions
    assert actions.complete_participant(shown) and shown.outcome == "completed"


def test_the_trial_page_shows_the_question_on_the_first_trial_only(client, screener_study):
    participant = actions.enroll_participant(screener_study)
    actions.record_checks(participant, {"simulated": True}, viewport_ok=True, stacked=False)
    participant = actions.give_consent(participant)
    actions.mark_instructions_seen(participant)
    page = client.get(f"/p/{participant.token}/trial/").content.decode()
    assert 'data-trial="0"' in page and 'data-question="ai_use"' in page and 'data-question="faster"' in page
    mark_trials_shown(participant)
    submit(participant, 0, "faster", "A")
    submit(participant, 0, "ai_use", "3")
    page = client.get(f"/p/{participant.token}/trial/").content.decode()
    assert 'data-trial="1"' in page and 'data-question="faster"' in page
    assert 'data-question="ai_use"' not in page and "AI chat assistants" not in page


def test_simulated_participants_answer_it_once(screener_study):
    call_command("simulate_participants", screener_study.code, "--participants", "3", "--dropout", "0")
    answers = Rating.objects.filter(question__name="ai_use")
    assert answers.count() == 3 and set(answers.values_list("trial__index", flat=True)) == {0}
    from uxlab.analysis.results import study_results

    summaries = {summary["question"]: summary for summary in study_results(screener_study)["questions"]}
    assert set(summaries) == {"ai_use", "faster"}


def test_the_results_summary_keeps_a_screener_stored_with_the_practice_trial(team):
    """In the adaptive example the screener is answered with the practice trial, which the trial
    rule `practice` leaves out; only the participant rules apply to a question asked once."""
    from pathlib import Path

    from uxlab.analysis.results import study_results

    example = Path(__file__).resolve().parents[2] / "uxlab" / "studies" / "examples" / "speed_threshold_adaptive.yaml"
    study = import_yaml(example.read_text().replace("max_trials: 40", "max_trials: 3"), team)
    call_command("simulate_participants", study.code, "--participants", "3", "--dropout", "0", "--inattentive", "0")
    summaries = {summary["question"]: summary for summary in study_results(study)["questions"]}
    assert summaries["ai_use"]["overall"]["n"] == 3


def test_the_ratings_export_says_which_answers_were_asked_once_by_rows_and_by_copy(shown):
    import csv
    import io

    from uxlab.analysis import export
    from uxlab.analysis.rows import ExportOptions, export_tables, iter_ratings_csv_copy

    submit(shown, 0, "ai_use", "2")
    submit(shown, 0, "faster", "A")
    submit(shown, 1, "faster", "B")
    table, options = export_tables()["ratings"], ExportOptions()
    rows = table.rows(shown.study, options)
    by_rows = list(csv.DictReader(io.StringIO(b"".join(export.iter_csv(table.columns, rows)).decode())))
    by_copy = list(csv.DictReader(io.StringIO(b"".join(iter_ratings_csv_copy(shown.study, options)).decode())))
    assert by_rows == by_copy
    assert [(row["trial_index"], row["question"], row["question_asked"]) for row in by_rows] == [
        ("0", "ai_use", "once"), ("0", "faster", "every_trial"), ("1", "faster", "every_trial")]


def test_the_study_page_and_the_api_say_which_question_is_asked_once(client, alice, screener_study):
    from django.urls import reverse

    from uxlab.studies.api_tokens import create_api_token
    from uxlab.web import throttle

    throttle.reset_all()  # the API's request counts live in Redis: earlier tests' must not count here
    client.force_login(alice)
    page = client.get(f"/studies/{screener_study.code}/").content.decode()
    assert "<code>ai_use</code> (likert, asked once: after the first trial only)" in page
    token = create_api_token(alice, "tests")[1]
    study = client.get(reverse("web:api_study", args=[screener_study.code]),
                       HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert {q["name"]: q["ask"] for q in study["questions"]} == {"ai_use": "once", "faster": "every_trial"}
