"""The completion code is never shown before the last answer is stored, even with a slow worker.

A dedicated web server and Celery worker share a queue of their own; the worker runs through
tests/faulty_worker.py and waits UXLAB_TEST_STORE_DELAY_S before storing each batch (set only in
that process).
"""

import re
import time
import uuid
from pathlib import Path

import pytest
from django.db.models import Max

from tests.browser.outbox_states import (
    every_trial_answered_and_the_first_trials_telemetry_only_in_the_outbox,
    first_trial_answered_and_its_telemetry_only_in_the_outbox,
    page_with_outbox,
)
from tests.browser.participant_flow import complete_session
from tests.stack import Stack
from uxlab.benchmarks.processes import free_port
from uxlab.studies.models import Participant, Rating, Study, Trial
from uxlab.studies.study_files import import_study, parse_study_yaml

DEMO = Path(__file__).resolve().parents[2] / "uxlab" / "studies" / "examples" / "demo.yaml"
ADAPTIVE = DEMO.with_name("speed_threshold_adaptive.yaml")
STORE_DELAY_S = 2.5
TELEMETRY_DELAY_S = 5.0

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def own_stack(services_env, tmp_path, store_delay_s=None, telemetry_delay_s=0, concurrency=1):
    """A web server on a queue of its own, with a worker waiting store_delay_s before each batch of
    answers and telemetry_delay_s before each trial's telemetry (store_delay_s None: no worker)."""
    env = {**services_env, "CELERY_TASK_DEFAULT_QUEUE": f"own-{free_port()}"}
    worker_env = {"UXLAB_TEST_STORE_DELAY_S": str(store_delay_s), "UXLAB_TEST_TELEMETRY_DELAY_S": str(telemetry_delay_s)}
    stack = Stack(tmp_path, env, worker=store_delay_s is not None, worker_env=worker_env,
                  worker_module="tests.faulty_worker", worker_concurrency=concurrency)
    try:
        yield stack.url
    finally:
        stack.close()


@pytest.fixture
def slow_services(services_env, tmp_path):
    yield from own_stack(services_env, tmp_path, STORE_DELAY_S)


@pytest.fixture
def slow_telemetry_services(services_env, tmp_path):
    # Two worker processes, as `serve` runs on two cores: one may be storing telemetry while the
    # other stores the answers that came after it.
    yield from own_stack(services_env, tmp_path, 0, TELEMETRY_DELAY_S, concurrency=2)


@pytest.fixture
def services_without_worker(services_env, tmp_path):
    yield from own_stack(services_env, tmp_path, None)


def demo_session_in_a_browser(team, base_url, browser):
    """A live demo study completed in a browser: (study, the code shown, the times a response to
    the page carried the completion code)."""
    study = import_study(parse_study_yaml(DEMO.read_text()), team=team, status=Study.Status.LIVE)
    page = browser.new_page()
    seen = []

    def on_response(response):
        try:
            if study.completion_code in response.text():
                seen.append(time.time())
        except Exception:  # redirects have no body
            pass

    page.on("response", on_response)
    code = complete_session(page, base_url, study.code, attention_keys={"faster": "3"})
    return study, code, seen


def test_it_shows_the_completion_code_only_after_the_last_answer_is_stored(monkeypatch, team, slow_services, browser):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    study, code, code_seen_at = demo_session_in_a_browser(team, slow_services, browser)

    participant = Participant.objects.get()
    ratings = Rating.objects.filter(participant=participant)
    assert code == study.completion_code and ratings.count() == 12
    last_stored = ratings.aggregate(last=Max("stored_at"))["last"].timestamp()
    last_received = ratings.aggregate(last=Max("received_at"))["last"].timestamp()
    # The worker really was slow, and the code reached the browser only after the last store.
    assert last_stored - last_received >= STORE_DELAY_S * 0.9
    assert code_seen_at and min(code_seen_at) > last_stored
    assert participant.completion_unconfirmed_at is None


def test_a_trial_moves_on_before_its_telemetry_is_stored_and_the_last_waits_for_all_of_it(
    monkeypatch, team, slow_telemetry_services, browser
):
    """Telemetry is stored after every waiting answer, slowly here: a trial with another to come
    leaves once its answers are stored (its telemetry goes from the next page's outbox), and the
    completion code appears only once every trial's telemetry is stored."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from uxlab.studies.models import TrialTelemetry

    study, code, code_seen_at = demo_session_in_a_browser(team, slow_telemetry_services, browser)

    participant = Participant.objects.get()
    trials = list(participant.trials.order_by("index"))
    telemetry = {t.trial_id: t.stored_at for t in TrialTelemetry.objects.filter(trial__participant=participant)}
    assert code == study.completion_code and set(telemetry) == {trial.pk for trial in trials}
    # Each trial but the last: the next one started before this one's telemetry was stored.
    timings = [(t.index, t.started_at.timestamp(), telemetry[t.pk].timestamp()) for t in trials]
    assert all(after.started_at < telemetry[before.pk] for before, after in zip(trials, trials[1:])), timings
    assert code_seen_at and min(code_seen_at) > max(telemetry.values()).timestamp()
    assert participant.completion_unconfirmed_at is None


def test_it_shows_the_code_anyway_and_records_it_when_the_final_save_never_confirms(
    monkeypatch, team, services_without_worker, browser
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from django.utils import timezone

    from uxlab.studies import actions

    study = import_study(parse_study_yaml(DEMO.read_text()), team=team, status=Study.Status.LIVE)
    Study.objects.filter(pk=study.pk).update(design={**study.design, "save_timeout_s": 2})
    participant = actions.give_consent(actions.enroll_participant(Study.objects.get(pk=study.pk)))
    Participant.objects.filter(pk=participant.pk).update(
        checks={"passed": True}, checked_at=timezone.now(), instructions_seen_at=timezone.now(), layout="side_by_side"
    )
    *earlier, last = participant.trials.all()
    for trial in earlier:  # every trial but the last was already streamed, answered and stored
        Trial.objects.filter(pk=trial.pk).update(
            status=Trial.Status.FINISHED, started_at=timezone.now(), finished_at=timezone.now()
        )
        for question in study.questions.all():
            Rating.objects.create(
                participant=participant, trial=trial, question=question, value="1" if question.pane else "A",
                response_ms=1, received_at=timezone.now(),
            )
    page = browser.new_page()
    page.goto(f"{services_without_worker}/p/{participant.token}/")
    assert page.locator("#progress-label").inner_text() == "Trial 4 of 4"

    from tests.browser.participant_flow import answer_trial

    answer_trial(page, attention_keys={"faster": "3"})  # the page moves on only after giving up

    page.wait_for_url(f"{services_without_worker}/p/{participant.token}/done/")
    assert page.locator("#completion-code").inner_text() == study.completion_code
    assert "may not have reached us" in page.locator("main").inner_text()
    participant.refresh_from_db()
    # Three answers and the trial's telemetry batch were still unconfirmed.
    assert participant.completion_unconfirmed_at is not None and participant.unconfirmed_count >= 3
    assert participant.completed_at is None and not last.ratings.exists()


def test_an_adaptive_sessions_last_trial_gives_up_like_a_fixed_ones_and_ends_the_run(
    monkeypatch, team, services_without_worker, browser
):
    """The give-up path on the trial that ends an adaptive run: the page shows the code after the
    save timeout, the run ends, and the answer that arrives later makes no further trial."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from django.utils import timezone

    from tests.browser.participant_flow import answer_trial
    from uxlab.studies import actions

    text = ADAPTIVE.read_text().replace("max_trials: 40", "max_trials: 2")
    study = import_study(parse_study_yaml(text), team=team, status=Study.Status.LIVE)
    Study.objects.filter(pk=study.pk).update(design={**study.design, "save_timeout_s": 2})
    participant = actions.give_consent(actions.enroll_participant(Study.objects.get(pk=study.pk)))
    Participant.objects.filter(pk=participant.pk).update(
        checks={"passed": True}, checked_at=timezone.now(), instructions_seen_at=timezone.now(), layout="side_by_side"
    )
    question = study.questions.get(name="faster")
    for index in (0, 1):  # the practice and the first adaptive trial: streamed, answered, stored
        trial = participant.trials.get(index=index)
        Trial.objects.filter(pk=trial.pk).update(
            status=Trial.Status.FINISHED, started_at=timezone.now(), finished_at=timezone.now()
        )
        step = getattr(trial, "adaptive_step", None)
        value = "A" if step is None else actions.faster_pane(step.value, step.run.reference_value, step.test_pane,
                                                             "tokens_per_second")
        answers = [(question, value)]
        if index == 0:  # the screener, asked once, on the first trial
            answers.append((study.questions.get(name="ai_use"), "2"))
        actions.record_ratings([{
            "key": str(uuid.uuid4()), "participant_id": participant.pk, "group_name": participant.group_name,
            "trial_id": trial.pk, "question_id": asked.pk, "value": given, "response_ms": 700,
            "received_at": timezone.now().isoformat(),
        } for asked, given in answers])
    page = browser.new_page()
    page.goto(f"{services_without_worker}/p/{participant.token}/")
    assert page.locator("#progress-label").inner_text() == "Trial 2 of 2"
    assert page.locator("#player").get_attribute("data-last-trial") == "true"

    answer_trial(page)  # no worker stores it: the page gives up after the save timeout

    page.wait_for_url(f"{services_without_worker}/p/{participant.token}/done/")
    assert page.locator("#completion-code").inner_text() == study.completion_code
    participant.refresh_from_db()
    assert participant.completion_unconfirmed_at is not None and participant.outcome == "completed"
    run = participant.adaptive_run
    assert run.finished_at is not None and run.steps.count() == 2 and participant.trials.count() == 3


# --- the last trial skipped when its page starts it ----------------------------------------------

def test_a_skipped_last_trial_waits_for_earlier_telemetry_as_the_last_trial_does(
    monkeypatch, team, slow_telemetry_services, browser
):
    """The last trial's page, skipped at start, sends the outbox and waits for the first trial's
    telemetry to be stored, as an answered last trial does, before it goes to the completion code;
    the done page never has to wait for it ("saving"). Before, it went on after 2 s, whatever the
    outbox held."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from uxlab.studies.models import TrialTelemetry

    # Longer than the worker takes to store it: the page must wait for it, not give up.
    participant, batch = first_trial_answered_and_its_telemetry_only_in_the_outbox(team, save_timeout_s=4 * TELEMETRY_DELAY_S)
    page, saving = page_with_outbox(browser, participant.token, [batch])

    page.goto(f"{slow_telemetry_services}/p/{participant.token}/")
    assert page.locator("#progress-label").inner_text() == "Trial 2 of 2"
    page.wait_for_url(re.compile(r"/done/$"), timeout=30_000)
    code_seen_at = time.time()

    assert page.locator("#completion-code").inner_text() == "SKIPLAST42"
    assert saving == []
    stored = TrialTelemetry.objects.get(key=batch["key"])
    assert stored.trial.index == 0 and stored.stored_at.timestamp() < code_seen_at
    participant.refresh_from_db()
    assert participant.completed_at is not None and participant.completion_unconfirmed_at is None
    assert participant.outcome == "backend_failure"
    assert participant.trials.get(index=1).status == Trial.Status.SKIPPED
    assert page.evaluate(f"localStorage.getItem('uxlab.outbox.{participant.token}')") == "{}"


def test_a_skipped_last_trial_whose_earlier_telemetry_is_never_stored_gives_up_after_the_save_timeout(
    monkeypatch, team, services_without_worker, browser
):
    """No worker stores the first trial's telemetry: the skipped last trial's page waits the study's
    save timeout and takes the give-up path, recorded, as an answered last trial does. Before, it
    went to the done page, whose "saving" had no give-up: it waited for ever."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    participant, batch = first_trial_answered_and_its_telemetry_only_in_the_outbox(team)
    page, saving = page_with_outbox(browser, participant.token, [batch])

    page.goto(f"{services_without_worker}/p/{participant.token}/")
    assert page.locator("#progress-label").inner_text() == "Trial 2 of 2"
    page.locator("#completion-code").wait_for(timeout=30_000)

    assert page.locator("#completion-code").inner_text() == "SKIPLAST42"
    assert "may not have reached us" in page.locator("main").inner_text()
    assert saving == []
    participant.refresh_from_db()
    assert participant.completion_unconfirmed_at is not None and participant.unconfirmed_count == 1
    assert participant.completed_at is None


def test_the_done_pages_saving_state_gives_up_after_the_save_timeout(monkeypatch, team, services_without_worker, browser):
    """Every trial answered, one trial's telemetry missing and nothing left to send it (the page that
    held it was closed, say): the done page says it is saving, looks again every few seconds, and
    after the study's save timeout takes the give-up path, recorded, instead of waiting for ever."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    participant, _batch = every_trial_answered_and_the_first_trials_telemetry_only_in_the_outbox(team)
    page = browser.new_page()

    opened_at = time.time()
    page.goto(f"{services_without_worker}/p/{participant.token}/done/")
    assert page.locator("#saving").is_visible()
    page.locator("#completion-code").wait_for(timeout=30_000)

    assert time.time() - opened_at >= 3  # not before the save timeout
    assert page.locator("#completion-code").inner_text() == "SKIPLAST42"
    participant.refresh_from_db()
    assert participant.completion_unconfirmed_at is not None and participant.unconfirmed_count == 0
    assert participant.completed_at is None and participant.outcome == "completed"


def test_the_done_pages_saving_state_sends_the_telemetry_its_outbox_holds_before_it_gives_up(
    monkeypatch, team, stack, browser
):
    """Every trial answered, the first trial's telemetry only in this browser's outbox (its publish
    failed, and the last page was closed before it gave up, say): the saving page sends the batch
    over the participant's socket and shows the code once it is stored, long before the save
    timeout, with nothing recorded as unconfirmed. Before, the page had no socket: it waited out the
    save timeout and gave up with the batch still in the outbox."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from uxlab.studies.models import TrialTelemetry

    save_timeout_s = 20
    participant, batch = every_trial_answered_and_the_first_trials_telemetry_only_in_the_outbox(team, save_timeout_s)
    page, saving = page_with_outbox(browser, participant.token, [batch])

    opened_at = time.time()
    page.goto(f"{stack.url}/p/{participant.token}/done/")
    page.locator("#completion-code").wait_for(timeout=(save_timeout_s + 10) * 1000)
    code_seen_at = time.time()

    assert saving and min(saving) < code_seen_at  # the page said it was saving first
    assert page.locator("#completion-code").inner_text() == "SKIPLAST42"
    stored = TrialTelemetry.objects.get(key=batch["key"])
    assert stored.trial.index == 0 and stored.stored_at.timestamp() < code_seen_at
    participant.refresh_from_db()
    assert participant.completed_at is not None and participant.completion_unconfirmed_at is None
    assert code_seen_at - opened_at < save_timeout_s
    assert page.evaluate(f"localStorage.getItem('uxlab.outbox.{participant.token}')") == "{}"
