"""A hostile participant over HTTP: each hole of issue 11's HTTP half, played through the real
views on Postgres (the websocket half is in tests/live). Every test here failed before the fix."""

import json
import logging
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from tests.conftest import QUICK_STUDY_YAML, import_yaml
from tests.web.test_participant_pages import GOOD_CHECKS
from uxlab.analysis.rows import ExportOptions, export_tables
from uxlab.studies import actions
from uxlab.studies.models import ExternalIdentity, Participant, Rating, Study, Trial, TrialTelemetry
from uxlab.studies.study_files import StudyFileError, parse_study_yaml

pytestmark = pytest.mark.django_db

EXAMPLE_STUDIES = Path(__file__).resolve().parents[2] / "uxlab" / "studies" / "examples"

CHECKED_STUDY_YAML = QUICK_STUDY_YAML.replace("code: quick", "code: checked").replace(
    "design:",
    """attention_checks:
  - name: check_one
    text: Attention check.
    response: This is an attention check. Please answer "No difference" below.
    question: faster
    expected: tie
    after_trial: 1
design:""",
).replace(
    "completion:\n  code: QUICK123",
    """completion:
  code: QUICK123
  url: https://app.prolific.com/submissions/complete?cc=QUICK123
  failed_attention: {code: FAILATT}
  timed_out: {code: TIMEDOUT, url: "https://app.prolific.com/submissions/complete?cc=TIMEDOUT"}
  backend_failure: {code: NOBACKEND}""",
)


# --- Helpers: the participant's HTTP steps, and what the websocket half would do ------------------


def press_start(client, study, **params):
    return client.post(f"/s/{study.code}/", params)


def walk_to_trials(client, study, **params):
    """Start, pass the checks, consent, read the instructions and open the trial page; the token."""
    response = press_start(client, study, **params)
    token = response.url.split("/")[2]
    client.post(f"/p/{token}/checks/", json.dumps(GOOD_CHECKS), content_type="application/json")
    client.post(f"/p/{token}/consent/", {"decision": "agree"})
    client.post(f"/p/{token}/instructions/")
    assert client.get(f"/p/{token}/trial/").status_code == 200
    return token


def stream(participant, index):
    """The trial's stream ran to its end (what the socket's trial.start does, then finish)."""
    actions.start_trial(participant.pk, index)
    actions.finish_trial(participant.pk, index)


def store_answer(participant, index, value, question="faster"):
    """An answer as the worker stores it (actions.record_ratings, the store path)."""
    trial = participant.trials.get(index=index)
    question = participant.study.questions.get(name=question)
    return actions.record_ratings(
        [
            {
                "key": str(uuid.uuid4()),
                "participant_id": participant.pk,
                "group_name": participant.group_name,
                "trial_id": trial.pk,
                "question_id": question.pk,
                "value": value,
                "response_ms": 900,
                "received_at": timezone.now().isoformat(),
            }
        ]
    )


def store_telemetry(participant, index):
    trial = participant.trials.get(index=index)
    TrialTelemetry.objects.create(key=uuid.uuid4(), trial=trial, payload={}, received_at=timezone.now())


def participant_rows(study):
    table = export_tables()["participants"]
    names = table.column_names
    return [dict(zip(names, row)) for row in table.rows(study, ExportOptions())]


# --- 1. A panel id alone never hands over a session -------------------------------------------------


def test_cheat_a_panel_id_alone_does_not_hand_over_the_session(client, study, alice):
    token = walk_to_trials(client, study, PROLIFIC_PID="victim")

    thief = type(client)()
    for response in (
        thief.get(f"/s/{study.code}/?PROLIFIC_PID=victim"),
        thief.post(f"/s/{study.code}/", {"PROLIFIC_PID": "victim"}),
    ):
        assert response.status_code == 409
        page = response.content.decode()
        assert "already started the study on another device" in page and token not in page
    # A cookie made up by hand (the token is not signed) is no better.
    thief.cookies[f"uxlab_{study.code}"] = token
    assert thief.get(f"/s/{study.code}/?PROLIFIC_PID=victim").status_code == 409

    identity = ExternalIdentity.objects.get(external_id="victim")
    assert identity.other_device_attempts == 3 and identity.last_other_device_attempt_at is not None
    assert participant_rows(study)[0]["other_device_attempts"] == 3
    # The researcher sees the attempts on the study page.
    researcher = type(client)()
    researcher.force_login(alice)
    page = researcher.get(f"/studies/{study.code}/").content.decode()
    assert 'data-count="other_device_attempts">3<' in page

    # The browser that started goes back to its step.
    assert client.get(f"/s/{study.code}/?PROLIFIC_PID=victim").url == f"/p/{token}/"


def test_cheat_registering_a_known_id_first_gives_the_later_browser_nothing(client, study):
    press_start(client, study, PROLIFIC_PID="shared")
    late = type(client)()
    response = press_start(late, study, PROLIFIC_PID="shared")
    assert response.status_code == 409 and Participant.objects.count() == 1


# --- 2. No completion code without streamed trials and stored answers -------------------------------


def test_cheat_the_give_up_route_shows_no_code_with_zero_answers(client, study):
    token = walk_to_trials(client, study)
    participant = Participant.objects.get(token=token)
    assert client.post(f"/p/{token}/unconfirmed/", "{}", content_type="application/json").status_code == 409
    stream(participant, 0)  # streamed, but nothing answered
    assert client.post(f"/p/{token}/unconfirmed/", "{}", content_type="application/json").status_code == 409
    done = client.get(f"/p/{token}/done/")
    assert done.status_code == 302 and "QUICK123" not in client.get(done.url, follow=True).content.decode()
    participant.refresh_from_db()
    assert participant.completion_unconfirmed_at is None and participant.completed_at is None


def test_cheat_answers_to_trials_never_streamed_earn_no_code(client, study):
    token = walk_to_trials(client, study)
    participant = Participant.objects.get(token=token)
    store_answer(participant, 0, "A")
    store_telemetry(participant, 0)
    assert not actions.complete_participant(participant)
    assert "QUICK123" not in client.get(f"/p/{token}/done/", follow=True).content.decode()
    assert actions.participant_step(participant) == "trial"
    # Once the trial was really streamed, the same answers complete the session.
    stream(participant, 0)
    page = client.get(f"/p/{token}/done/").content.decode()
    assert "QUICK123" in page
    participant.refresh_from_db()
    assert participant.outcome == "completed" and participant.completion_code_shown == "QUICK123"


def waited_since_the_stream_ended(participant, index, seconds):
    """The page has waited `seconds` since the trial's stream ended (its finish moved back)."""
    Trial.objects.filter(participant=participant, index=index).update(
        finished_at=timezone.now() - timedelta(seconds=seconds)
    )


def test_cheat_the_give_up_route_waits_for_the_save_timeout_after_the_last_stream(client, study):
    token = walk_to_trials(client, study)
    participant = Participant.objects.get(token=token)
    actions.start_trial(participant.pk, 0)  # the last (only) trial starts; nothing waits for its end
    store_answer(participant, 0, "B")
    give_up = lambda: client.post(f"/p/{token}/unconfirmed/", '{"pending": 1}', content_type="application/json")  # noqa: E731
    assert give_up().status_code == 409
    stream(participant, 0)  # it ended just now: the page has not waited the save timeout (60 s)
    assert give_up().status_code == 409
    waited_since_the_stream_ended(participant, 0, 30)
    assert give_up().status_code == 409
    assert "QUICK123" not in client.get(f"/p/{token}/done/", follow=True).content.decode()
    waited_since_the_stream_ended(participant, 0, 61)
    assert give_up().status_code == 200


def test_cheat_giving_up_is_recorded_with_its_reason_and_exported(client, study):
    token = walk_to_trials(client, study)
    participant = Participant.objects.get(token=token)
    stream(participant, 0)
    store_answer(participant, 0, "B")  # stored, but its telemetry never arrived
    waited_since_the_stream_ended(participant, 0, 61)
    response = client.post(f"/p/{token}/unconfirmed/", '{"pending": 2}', content_type="application/json")
    assert response.status_code == 200 and response.json() == {"next_url": f"/p/{token}/done/"}
    assert "QUICK123" in client.get(f"/p/{token}/done/").content.decode()
    row = participant_rows(study)[0]
    assert row["unconfirmed_reason"] == "save_timeout" and row["completion_unconfirmed_at"] is not None
    assert row["completion_code"] == "QUICK123" and row["outcome"] == "completed"


def test_cheat_a_completed_session_cannot_be_recorded_as_given_up(client, study):
    """A confirmed session posting the give-up (a page that missed its last confirmation, or a
    script) goes to its code; it was marked unconfirmed, with the count it sent, before."""
    token = walk_to_trials(client, study)
    participant = Participant.objects.get(token=token)
    stream(participant, 0)
    store_answer(participant, 0, "B")
    store_telemetry(participant, 0)
    assert "QUICK123" in client.get(f"/p/{token}/done/").content.decode()
    waited_since_the_stream_ended(participant, 0, 61)
    response = client.post(f"/p/{token}/unconfirmed/", '{"pending": 9999}', content_type="application/json")
    assert response.status_code == 200 and response.json() == {"next_url": f"/p/{token}/done/"}
    participant.refresh_from_db()
    assert participant.completed_at is not None
    assert (participant.completion_unconfirmed_at, participant.unconfirmed_count, participant.unconfirmed_reason) == (None, 0, "")
    assert participant.completion_code_shown == "QUICK123"


def test_cheat_the_give_up_route_shows_no_code_before_the_adaptive_runs_last_trial(client, team):
    """Every adaptive trial is the last one made so far; only the one whose answer ends the run
    whatever it is may be given up (else a participant would leave with a code after one trial)."""
    text = (EXAMPLE_STUDIES / "speed_threshold_adaptive.yaml").read_text().replace("max_trials: 40", "max_trials: 2")
    study = import_yaml(text, team)
    token = walk_to_trials(client, study)
    participant = Participant.objects.get(token=token)
    give_up = lambda: client.post(f"/p/{token}/unconfirmed/", '{"pending": 1}', content_type="application/json")  # noqa: E731
    stream(participant, 0)
    store_answer(participant, 0, "A")  # the practice trial: an answer is stored
    store_answer(participant, 0, "2", question="ai_use")  # with the screener, asked once
    assert 'data-last-trial="false"' in client.get(f"/p/{token}/trial/").content.decode()
    stream(participant, 1)
    waited_since_the_stream_ended(participant, 1, 3600)
    assert give_up().status_code == 409  # the first adaptive trial, unanswered: no code
    assert study.completion_code not in client.get(f"/p/{token}/done/", follow=True).content.decode()

    step = participant.trials.get(index=1).adaptive_step
    store_answer(participant, 1, actions.faster_pane(step.value, step.run.reference_value, step.test_pane,
                                                     "tokens_per_second"))
    assert 'data-last-trial="true"' in client.get(f"/p/{token}/trial/").content.decode()  # step 2 of 2
    stream(participant, 2)
    waited_since_the_stream_ended(participant, 2, 61)
    assert give_up().status_code == 200
    assert study.completion_code in client.get(f"/p/{token}/done/").content.decode()
    participant.refresh_from_db()
    assert participant.outcome == "completed" and participant.adaptive_run.finished_at is not None
    assert participant.trials.count() == 3


# --- 3. Quota squatting -------------------------------------------------------------------------------


@pytest.fixture
def one_place(study):
    study.design = {**study.design, "quota_per_cell": 1}
    study.save()
    return study


def test_quota_consenting_reserves_no_cell(client, one_place):
    squatters = []
    for _ in range(5):
        squatter = type(client)()
        token = press_start(squatter, one_place).url.split("/")[2]
        squatter.post(f"/p/{token}/checks/", json.dumps(GOOD_CHECKS), content_type="application/json")
        squatter.post(f"/p/{token}/consent/", {"decision": "agree"})
        squatters.append(token)
    assert Trial.objects.count() == 0 and not actions.study_is_full(one_place)
    # The first real participant to reach the trials takes the place.
    walk_to_trials(client, one_place)
    assert actions.study_is_full(one_place)
    assert client.get(f"/s/{one_place.code}/").content.decode().count('data-reason="full"') == 1


def test_quota_reservations_never_started_are_released_quickly(client, one_place, settings):
    token = walk_to_trials(client, one_place)
    squatter = Participant.objects.get(token=token)
    assert actions.study_is_full(one_place)
    actions.expire_sessions(now=timezone.now() + timedelta(seconds=settings.UXLAB_RELEASE_UNSTARTED_AFTER_S - 5))
    assert actions.study_is_full(one_place)
    actions.expire_sessions(now=timezone.now() + timedelta(seconds=settings.UXLAB_RELEASE_UNSTARTED_AFTER_S + 5))
    assert not actions.study_is_full(one_place) and not squatter.trials.exists()

    # Someone else takes the place and starts; the squatter, back, finds it full.
    other = type(client)()
    newcomer = Participant.objects.get(token=walk_to_trials(other, one_place))
    stream(newcomer, 0)
    actions.expire_sessions(now=timezone.now() + timedelta(hours=2) - timedelta(minutes=119))
    assert newcomer.trials.exists()
    assert 'data-reason="full"' in client.get(f"/p/{token}/trial/").content.decode()


def test_quota_a_study_can_require_a_panel_id(client, study):
    study.design = {**study.design, "require_participant_id": True}
    study.save()
    for response in (client.get(f"/s/{study.code}/"), press_start(client, study)):
        assert response.status_code == 400 and 'data-reason="missing_id"' in response.content.decode()
    assert Participant.objects.count() == 0
    assert press_start(client, study, PROLIFIC_PID="p-1").status_code == 302


def test_cheat_a_panel_id_too_long_to_be_real_is_refused_not_cut(client, study):
    first = press_start(client, study, PROLIFIC_PID="x" * 200 + "-alice")
    assert first.status_code == 400 and 'data-reason="bad_id"' in first.content.decode()
    assert Participant.objects.count() == 0
    assert press_start(client, study, PROLIFIC_PID="x" * 200).status_code == 302  # 200 is the most


def test_limit_enrolment_is_rate_limited_per_client_without_logging_addresses(client, study, settings, caplog):
    settings.UXLAB_ENROL_LIMIT = 3
    caplog.set_level(logging.INFO)
    for _ in range(3):
        assert client.post(f"/s/{study.code}/", {}, REMOTE_ADDR="203.0.113.7").status_code == 302
    refused = client.post(f"/s/{study.code}/", {}, REMOTE_ADDR="203.0.113.7")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert 'data-reason="too_many"' in refused.content.decode()
    assert client.post(f"/s/{study.code}/", {}, REMOTE_ADDR="198.51.100.2").status_code == 302
    assert Participant.objects.count() == 4
    assert "203.0.113.7" not in caplog.text and "rate limit" in caplog.text


# --- 4. Attention checks are scored when their answer is stored -------------------------------------


@pytest.fixture
def checked(team):
    return import_yaml(CHECKED_STUDY_YAML, team)


def test_attention_a_failed_check_is_flagged_at_once_even_if_the_participant_never_finishes(client, checked):
    token = walk_to_trials(client, checked)
    participant = Participant.objects.get(token=token)
    check = participant.trials.get(kind="attention")
    stream(participant, check.index)
    store_answer(participant, check.index, "A")  # the instructed answer was "tie"
    check.refresh_from_db()
    assert check.attention_passed is False

    # They leave; the session expires. The analysis excludes them all the same.
    actions.expire_sessions(now=timezone.now() + timedelta(hours=2))
    participant.refresh_from_db()
    assert participant.status == "expired" and participant.completed_at is None
    assert participant_rows(checked)[0]["failed_attention_check"] is True


def test_attention_simulated_participants_are_scored_by_the_store_path(checked):
    call_command("simulate_participants", checked.code, "--participants", "2")
    for participant in Participant.objects.filter(study=checked):
        assert participant.trials.get(kind="attention").attention_passed is True
        assert participant.outcome == "completed" and participant.completion_code_shown == "QUICK123"


# --- 5. Per-outcome completion ------------------------------------------------------------------------


def complete_every_trial(participant, value_for):
    for trial in participant.trials.order_by("index"):
        stream(participant, trial.index)
        store_answer(participant, trial.index, value_for(trial))
        store_telemetry(participant, trial.index)


def test_attention_failure_gets_its_own_completion_code(client, checked):
    token = walk_to_trials(client, checked)
    participant = Participant.objects.get(token=token)
    complete_every_trial(participant, lambda trial: "A")
    page = client.get(f"/p/{token}/done/").content.decode()
    assert "FAILATT" in page and "QUICK123" not in page
    row = participant_rows(checked)[0]
    assert (row["outcome"], row["completion_code"]) == ("failed_attention", "FAILATT")


def test_limit_timed_out_participants_get_the_timed_out_code_only_after_reaching_a_trial(client, checked):
    started = Participant.objects.get(token=walk_to_trials(client, checked))
    stream(started, 0)
    idle_client = type(client)()
    idle = Participant.objects.get(token=walk_to_trials(idle_client, checked))
    actions.expire_sessions(now=timezone.now() + timedelta(hours=2))

    page = client.get(f"/p/{started.token}/").content.decode()
    assert "TIMEDOUT" in page and "cc=TIMEDOUT" in page
    assert "TIMEDOUT" not in idle_client.get(f"/p/{idle.token}/").content.decode()
    rows = {row["participant"]: row for row in participant_rows(checked)}
    assert (rows[started.pk]["outcome"], rows[started.pk]["completion_code"]) == ("timed_out", "TIMEDOUT")
    assert (rows[idle.pk]["outcome"], rows[idle.pk]["completion_code"]) == ("timed_out", "")


def skip(participant, index, reason):
    """The trial could not be shown (what the live path and start_trial do past their limits)."""
    with transaction.atomic():
        actions.skip_trial(Trial.objects.select_for_update().get(participant=participant, index=index), reason)


def first_trial_done(client, checked):
    """A participant of the checked study whose first trial is streamed, answered and its telemetry stored."""
    token = walk_to_trials(client, checked)
    participant = Participant.objects.get(token=token)
    stream(participant, 0)
    store_answer(participant, 0, "A")
    store_telemetry(participant, 0)
    return token, participant


def test_cheat_trials_skipped_by_the_participants_own_reloads_earn_no_code(client, checked):
    token, participant = first_trial_done(client, checked)
    # A script reloads the attention check past the restart limit (default 2) instead of answering.
    check = participant.trials.get(kind="attention")
    for _ in range(3):
        actions.start_trial(participant.pk, check.index)
    with pytest.raises(actions.TrialUnavailable):
        actions.start_trial(participant.pk, check.index)
    check.refresh_from_db()
    assert (check.status, check.skip_reason, check.attention_passed) == ("skipped", "restart_limit", False)
    page = client.get(f"/p/{token}/done/").content.decode()
    # A dodged check is a failed one, and skipping never pays better than answering: no code at all.
    assert "QUICK123" not in page and "FAILATT" not in page and 'id="no-code"' in page
    row = participant_rows(checked)[0]
    assert row["failed_attention_check"] is True and (row["outcome"], row["completion_code"]) == ("incomplete", "")


def test_cheat_the_give_up_route_does_not_dodge_a_last_attention_check(client, checked):
    """The checked study's attention check is its last trial. A script that streams it, leaves it
    unanswered and posts the give-up once the save timeout has passed got the main code (outcome
    completed), where answering it wrongly gets FAILATT: skipping paid better than answering. The
    give-up waits for the check's answer (the page's outbox resends it meanwhile), as for any trial
    before the last."""
    token, participant = first_trial_done(client, checked)
    check = participant.trials.get(kind="attention")
    assert check.index == participant.trials.order_by("-index").first().index  # the last trial
    stream(participant, check.index)
    waited_since_the_stream_ended(participant, check.index, 3600)
    give_up = lambda: client.post(f"/p/{token}/unconfirmed/", '{"pending": 0}', content_type="application/json")  # noqa: E731
    assert give_up().status_code == 409
    assert "QUICK123" not in client.get(f"/p/{token}/done/", follow=True).content.decode()
    participant.refresh_from_db()
    assert participant.completion_unconfirmed_at is None and participant.outcome == ""

    # Once the check's answer is stored (its telemetry still missing), the page may give up as before.
    store_answer(participant, check.index, "tie")
    assert give_up().status_code == 200
    assert "QUICK123" in client.get(f"/p/{token}/done/").content.decode()


def test_cheat_skipping_every_trial_ends_the_session_as_incomplete_not_a_page_that_waits(client, study):
    token = walk_to_trials(client, study)
    participant = Participant.objects.get(token=token)
    for _ in range(3):
        actions.start_trial(participant.pk, 0)
    with pytest.raises(actions.TrialUnavailable):
        actions.start_trial(participant.pk, 0)
    page = client.get(f"/p/{token}/done/").content.decode()
    assert "QUICK123" not in page and 'id="no-code"' in page and "Saving" not in page
    row = participant_rows(study)[0]
    assert (row["outcome"], row["completion_code"]) == ("incomplete", "")


def test_cheat_a_trial_skipped_by_reloads_gives_the_incomplete_outcome_without_a_code(client, study):
    study.prompts.create(name="second", text="Say goodbye.", response="Goodbye, and thank you for taking part.")
    token = walk_to_trials(client, study)
    participant = Participant.objects.get(token=token)
    assert participant.trials.count() == 2
    stream(participant, 0)
    store_answer(participant, 0, "A")
    store_telemetry(participant, 0)
    for _ in range(3):
        actions.start_trial(participant.pk, 1)
    with pytest.raises(actions.TrialUnavailable):
        actions.start_trial(participant.pk, 1)
    page = client.get(f"/p/{token}/done/").content.decode()
    assert "QUICK123" not in page and 'id="no-code"' in page
    row = participant_rows(study)[0]
    assert (row["outcome"], row["completion_code"]) == ("incomplete", "")


def test_limit_a_trial_lost_to_a_failing_backend_gets_the_backend_failure_code(client, checked):
    token = walk_to_trials(client, checked)
    participant = Participant.objects.get(token=token)
    actions.start_trial(participant.pk, 0)
    skip(participant, 0, "restart_limit: server_error")
    stream(participant, 1)
    store_answer(participant, 1, "tie")  # the attention check, passed
    store_telemetry(participant, 1)
    page = client.get(f"/p/{token}/done/").content.decode()
    assert "NOBACKEND" in page and "QUICK123" not in page
    row = participant_rows(checked)[0]
    assert (row["outcome"], row["completion_code"]) == ("backend_failure", "NOBACKEND")


def test_cheat_skipping_every_trial_by_reloading_earns_no_code(client, study):
    token = walk_to_trials(client, study)
    participant = Participant.objects.get(token=token)
    actions.start_trial(participant.pk, 0)
    skip(participant, 0, "restart_limit")  # reloaded mid-stream until the trial was skipped
    assert actions.pending_trial(participant) is None
    # The session ends (nothing is left to show) as incomplete, with no code.
    assert actions.complete_participant(participant)
    assert (participant.outcome, participant.completion_code_shown) == ("incomplete", "")
    assert "QUICK123" not in client.get(f"/p/{token}/done/", follow=True).content.decode()


# --- 6. Absurd inputs: a 4xx or one error line, never a 500 or a traceback ------------------------


def test_limit_a_deeply_nested_study_file_is_one_error_line(tmp_path, capsys):
    nested = "x: " + "[" * 5000 + "]" * 5000
    with pytest.raises(StudyFileError) as error:
        parse_study_yaml(nested)
    assert error.value.errors == ["line 1, column 24: nested too deeply (at most 20 levels)"]
    path = tmp_path / "deep.yaml"
    path.write_text(nested)
    with pytest.raises(Exception, match="1 error; nothing was imported"):
        call_command("import_study", str(path))
    assert capsys.readouterr().err.strip().splitlines() == [f"{path}: line 1, column 24: nested too deeply (at most 20 levels)"]


def with_arm(field, value):
    return QUICK_STUDY_YAML.replace("    tokens_per_second: 400\n", f"    tokens_per_second: 400\n    {field}: {value}\n")


ABSURD_FILES = [
    (QUICK_STUDY_YAML.replace("  seed: quick", "  seed: quick\n  abandon_after_minutes: 1.0e+12"),
     "design.abandon_after_minutes: must be <= 1440"),
    (QUICK_STUDY_YAML.replace("  seed: quick", "  seed: quick\n  time_limit_minutes: 1.0e+12"),
     "design.time_limit_minutes: must be <= 1440"),
    (QUICK_STUDY_YAML.replace("ttft_s: 0.05", "ttft_s: 1.0e+9"), "arms[0].ttft_s: must be <= 300"),
    (with_arm("stall_s", "1.0e+9"), "arms[0].stall_s: must be <= 60"),
    (QUICK_STUDY_YAML.replace("tokens_per_second: 400", "tokens_per_second: 1.0e-300"),
     "arms[0].tokens_per_second: must be >= 0.1"),
    (with_arm("thinking_tokens", "1000000"), "arms[0].thinking_tokens: must be <= 100000"),
    (with_arm("thinking_tokens", "1.0e+30"), "arms[0].thinking_tokens: must be a whole number"),
    (with_arm("thinking_tokens_per_second", "1.0e-300"),
     "arms[0].thinking_tokens_per_second: must be 0 (the answer's speed) or >= 0.1"),
    (with_arm("chunk_tokens", "10000000"), "arms[0].chunk_tokens: must be <= 1000"),
    # PyYAML reads 1e9 (no dot) as text: refused as such, with its path.
    (with_arm("stall_s", "1e9"), "arms[0].stall_s: must be a number"),
    (QUICK_STUDY_YAML.replace("version: 1", "version: 1.0"), "version: must be 1"),
    (QUICK_STUDY_YAML.replace("version: 1", "version: true"), "version: must be 1"),
    (QUICK_STUDY_YAML.replace("title: Quick test study", 'title: "Quick\\0study"'), "title: must not contain NUL characters"),
    (QUICK_STUDY_YAML.replace("  seed: quick", "  seed: quick\n  quota_per_cell: 1.0e+400"), "design.quota_per_cell: must be a whole number"),
    (QUICK_STUDY_YAML.replace("  seed: quick", "  seed: quick\n  trials_per_participant: 100000"),
     "design.trials_per_participant: must be <= 1000"),
    (QUICK_STUDY_YAML.replace("completion:\n  code: QUICK123", "completion:\n  code: QUICK123\n  timed_out: {code: QUICK123}"),
     "completion.timed_out.code: must differ from completion.code"),
    (QUICK_STUDY_YAML.replace("completion:\n  code: QUICK123", "completion:\n  code: QUICK123\n  timed_out: {}"),
     "completion.timed_out: give a code, a url, or both"),
    # Each figure is in range, but the trial could never finish within the session's hour.
    (QUICK_STUDY_YAML.replace("tokens_per_second: 60", "tokens_per_second: 0.1\n    stall_probability: 1\n    stall_s: 60")
     .replace("  seed: quick", "  seed: quick\n  time_limit_minutes: 10"),
     "design.pairs[0]: a trial with prompt 'greeting' would stream for about 1,570 s, longer than design.time_limit_minutes (10 min)"),
    # A recorded cadence slowed a hundredfold: its length is known at import from the recording.
    (QUICK_STUDY_YAML.replace("""    ttft_s: 0.2
    tokens_per_second: 60
    thinking_tokens: 5
    thinking_tokens_per_second: 100
    thinking_display: hidden""", """    kind: trace
    builtin: h200_llama8b_batch1
    speed_factor: 0.01""").replace("  seed: quick", "  seed: quick\n  time_limit_minutes: 1"),
     "design.pairs[0]: a trial with prompt 'greeting' would stream for about 85 s, longer than design.time_limit_minutes (1 min)"),
]


@pytest.mark.parametrize("text, error", ABSURD_FILES)
def test_limit_absurd_study_files_are_refused_at_import_with_their_path(text, error):
    with pytest.raises(StudyFileError) as refused:
        parse_study_yaml(text)
    assert error in refused.value.errors, refused.value.errors


def test_limit_study_files_bound_their_size_and_lists():
    arms = "".join(f"  - name: arm{index}\n" for index in range(51))
    text = QUICK_STUDY_YAML.replace("arms:\n", f"arms:\n{arms}")
    with pytest.raises(StudyFileError) as refused:
        parse_study_yaml(text)
    assert "arms: at most 50 items allowed" in refused.value.errors
    with pytest.raises(StudyFileError) as refused:
        parse_study_yaml(QUICK_STUDY_YAML + "#" * 2_000_000)
    assert refused.value.errors == ["(top level): the file is too large (at most 2,000,000 characters)"]
    alias_bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
        for prev, name in zip("abcdefg", "bcdefgh")
    )
    with pytest.raises(StudyFileError) as refused:
        parse_study_yaml(alias_bomb)
    assert refused.value.errors == ["(top level): too many values (at most 200,000, counting each use of an alias)"]


def test_limit_study_codes_that_differ_only_in_case_cannot_coexist(team):
    import_yaml(QUICK_STUDY_YAML, team)
    with pytest.raises(StudyFileError) as refused:
        import_yaml(QUICK_STUDY_YAML.replace("code: quick", "code: QUICK"), team)
    assert refused.value.errors == [
        "code: a study with code 'quick' already exists (codes that differ only in case cannot coexist)"
    ]


def test_limit_expiry_survives_a_study_with_unusable_limits(client, study, team, caplog):
    other = import_yaml(QUICK_STUDY_YAML.replace("code: quick", "code: other"), team)
    broken = Participant.objects.get(token=walk_to_trials(client, study))
    fine = Participant.objects.get(token=walk_to_trials(type(client)(), other))
    Study.objects.filter(pk=study.pk).update(design={**study.design, "abandon_after_minutes": 1e12})
    caplog.set_level(logging.WARNING)

    assert actions.expire_sessions(now=timezone.now() + timedelta(hours=2)) == 1
    broken.refresh_from_db()
    fine.refresh_from_db()
    assert (broken.status, fine.status) == ("consented", "expired")
    assert "study quick: its session limits cannot be used" in caplog.text and "Traceback" not in caplog.text
    Study.objects.filter(pk=study.pk).update(design={**study.design, "time_limit_minutes": "soon"})
    assert actions.expire_sessions(now=timezone.now() + timedelta(hours=2)) == 0


def test_limit_nul_characters_are_a_400_everywhere(client, study):
    token = walk_to_trials(client, study)
    assert client.get(f"/s/{study.code}/?PROLIFIC_PID=a%00b").status_code == 400
    assert client.post(f"/s/{study.code}/", {"PROLIFIC_PID": "a\x00b"}).status_code == 400
    assert client.get("/p/a%00b/").status_code == 400
    assert client.post(f"/p/{token}/consent/", {"decision": "agree\x00"}).status_code == 400
    assert ExternalIdentity.objects.count() == 0


@pytest.mark.parametrize("body", ['{"pending": Infinity}', '{"pending": 1e400}', '{"pending": NaN}',
                                  '{"pending": -1}', '{"pending": "2"}', "[]", "not json", '{"reason": "bored"}'])
def test_limit_absurd_give_up_requests_are_a_400(client, study, body):
    token = walk_to_trials(client, study)
    participant = Participant.objects.get(token=token)
    stream(participant, 0)
    store_answer(participant, 0, "A")
    response = client.post(f"/p/{token}/unconfirmed/", body, content_type="application/json")
    assert response.status_code == 400
    participant.refresh_from_db()
    assert participant.completion_unconfirmed_at is None
    assert Rating.objects.filter(participant=participant).count() == 1
