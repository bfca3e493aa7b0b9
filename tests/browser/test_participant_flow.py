"""A participant in headless chromium, against real uvicorn, Redis, a Celery worker and Postgres."""

import re
from pathlib import Path

import pytest

from tests.browser.participant_flow import answer_trial, complete_session, start_session
from uxlab.studies.models import ExternalIdentity, Participant, Rating, Study
from uxlab.studies.study_files import import_study, parse_study_yaml

DEMO = Path(__file__).resolve().parents[2] / "uxlab" / "studies" / "examples" / "demo.yaml"
ATTENTION_KEYS = {"faster": "3"}  # the demo's check asks for "No difference", the third choice

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo_study(monkeypatch, team):
    # Playwright's sync API keeps an event loop in this thread; the ORM calls here are plain sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    return import_study(parse_study_yaml(DEMO.read_text()), team=team, status=Study.Status.LIVE)


def outbox_size(page, token):
    return page.evaluate(f"Object.keys(JSON.parse(localStorage.getItem('uxlab.outbox.{token}') || '{{}}')).length")


def test_it_takes_a_participant_from_the_prolific_link_to_the_completion_redirect(
    demo_study, stack, browser
):
    # Prolific's completion URL format, pointed at a page of the test server instead of the internet.
    completion_url = f"{stack.url}/accounts/login/?cc={demo_study.completion_code}"
    Study.objects.filter(pk=demo_study.pk).update(completion_url=completion_url)
    page = browser.new_page()

    code = complete_session(
        page, stack.url, demo_study.code, query="?PROLIFIC_PID=pid-123&STUDY_ID=s1&SESSION_ID=x",
        attention_keys=ATTENTION_KEYS,
    )

    assert code == demo_study.completion_code
    # The page says it will go back to the panel (after 30 s, which the participant can stop); the
    # link goes at once.
    page.locator("#redirect-countdown", has_text="taken back to the panel").wait_for()
    page.get_by_role("link", name="Return to the panel and finish").click()
    page.wait_for_url(completion_url, timeout=10_000)
    identity = ExternalIdentity.objects.get(study=demo_study, external_id="pid-123")
    assert (identity.panel, identity.panel_study_id, identity.panel_session_id) == ("prolific", "s1", "x")
    participant = identity.participant
    assert participant.status == Participant.Status.COMPLETED
    assert participant.consent_version == "2" and participant.consented_at is not None
    assert participant.checks["passed"] and participant.checks["pings"] >= 1 and participant.layout == "side_by_side"
    assert participant.checks["refresh_hz"] > 0 and participant.checks["ws_rtt_ms_median"] > 0
    # Browser and server share this machine's clock: the estimated offset is a round trip at most.
    assert abs(participant.checks["clock_offset_ms"]) <= max(50, participant.checks["ws_rtt_ms_min"])
    trials = list(participant.trials.all())
    assert [trial.kind for trial in trials].count("attention") == 1 and len(trials) == 4
    assert [item["index"] for item in participant.assignment["trials"]] == [0, 1, 2, 3]
    ratings = Rating.objects.filter(participant=participant)
    assert ratings.count() == 3 * len(trials)  # faster, wait_ok_A, wait_ok_B on every trial
    assert all(rating.response_ms < 60_000 for rating in ratings)
    assert participant.trials.get(kind="attention").attention_passed is True
    assert outbox_size(page, participant.token) == 0


def test_it_returns_the_same_participant_for_the_same_prolific_id(demo_study, stack, browser):
    first = browser.new_page()
    start_session(first, stack.url, demo_study.code, query="?PROLIFIC_PID=pid-again")
    answer_trial(first, attention_keys=ATTENTION_KEYS)
    first.wait_for_url(re.compile(r"/trial/$"))
    token = ExternalIdentity.objects.get(external_id="pid-again").participant.token

    # The same browser with the same link lands on the same step.
    again = first.context.new_page()
    again.goto(f"{stack.url}/s/{demo_study.code}/?PROLIFIC_PID=pid-again")
    assert again.url == f"{stack.url}/p/{token}/trial/"
    assert again.locator("#progress-label").inner_text() == "Trial 2 of 4"

    # Another browser (no shared cookies or storage) with the same id is told it started elsewhere.
    other = browser.new_context().new_page()
    other.goto(f"{stack.url}/s/{demo_study.code}/?PROLIFIC_PID=pid-again")
    assert other.locator("#closed-reason").get_attribute("data-reason") == "other_device"
    assert token not in other.content()
    assert Participant.objects.filter(study=demo_study).count() == 1
    assert ExternalIdentity.objects.get(external_id="pid-again").other_device_attempts == 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [({"status": Study.Status.CLOSED}, "closed"), ({"status": Study.Status.PAUSED}, "paused")],
)
def test_it_tells_a_visitor_when_the_study_is_closed_or_paused(demo_study, stack, browser, change, reason):
    Study.objects.filter(pk=demo_study.pk).update(**change)
    page = browser.new_page()
    page.goto(f"{stack.url}/s/{demo_study.code}/?PROLIFIC_PID=late")

    assert page.locator("#closed-reason").get_attribute("data-reason") == reason
    assert reason in page.locator("main").inner_text()
    assert page.get_by_role("button", name="Start").count() == 0
    assert Participant.objects.count() == 0


def test_it_tells_a_visitor_when_the_study_is_full(demo_study, stack, browser):
    Study.objects.filter(pk=demo_study.pk).update(design={**demo_study.design, "quota_per_cell": 1})
    from uxlab.studies import actions

    actions.give_consent(actions.enroll_participant(Study.objects.get(pk=demo_study.pk)))
    page = browser.new_page()
    page.goto(f"{stack.url}/s/{demo_study.code}/")

    assert "full" in page.locator("#closed-reason").inner_text()
    assert Participant.objects.count() == 1


def test_it_keeps_nothing_but_a_count_when_consent_is_declined(demo_study, stack, browser):
    page = browser.new_page()
    page.goto(f"{stack.url}/s/{demo_study.code}/?PROLIFIC_PID=no-thanks")
    page.get_by_role("button", name="Start").click()
    page.get_by_role("button", name="I do not agree").click()

    assert "kept no answers" in page.locator("main").inner_text()
    assert Participant.objects.count() == 0 and ExternalIdentity.objects.count() == 0
    assert Study.objects.get(pk=demo_study.pk).declined_count == 1


def test_it_stacks_the_panes_on_a_narrow_phone_screen(demo_study, stack, browser):
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    start_session(page, stack.url, demo_study.code)
    box_a = page.locator("#pane-A").bounding_box()
    box_b = page.locator("#pane-B").bounding_box()
    assert page.locator("#player").get_attribute("data-stacked") == "true"
    assert box_b["y"] >= box_a["y"] + box_a["height"] and box_a["width"] <= 375

    answer_trial(page, attention_keys=ATTENTION_KEYS)

    participant = Participant.objects.get()
    assert participant.layout == "stacked" and participant.checks["viewport_width"] == 375
    assert Rating.objects.filter(participant=participant).count() == 3


def test_it_turns_away_a_small_window_when_the_study_needs_side_by_side(demo_study, stack, browser):
    Study.objects.filter(pk=demo_study.pk).update(design={**demo_study.design, "allow_stacked": False})
    page = browser.new_context(viewport={"width": 600, "height": 700}).new_page()
    page.goto(f"{stack.url}/s/{demo_study.code}/")
    page.get_by_role("button", name="Start").click()

    page.locator("#checks-failed:not([hidden])").wait_for(timeout=20_000)
    # The reason is in the status line (a live region), so a screen reader announces it too.
    status = page.get_by_role("status")
    assert "did not pass" in status.inner_text() and "at least 900 × 500 pixels" in status.inner_text()
    assert page.get_by_role("button", name="Check again").evaluate("el => el === document.activeElement")
    participant = Participant.objects.get()
    assert participant.checks["passed"] is False and participant.consented_at is None
    page.goto(f"{stack.url}/p/{participant.token}/consent/")
    assert page.url.endswith("/checks/")


def test_it_can_be_completed_with_the_keyboard_alone(demo_study, stack, browser):
    page = browser.new_page()
    # Enter on each step's focused button; number keys for every answer; Enter to send.
    code = complete_session(page, stack.url, demo_study.code, answer_key="2", attention_keys=ATTENTION_KEYS)

    assert code == demo_study.completion_code
    values = {(rating.trial.kind, rating.question.name, rating.value) for rating in Rating.objects.select_related("trial", "question")}
    assert values == {
        ("trial", "faster", "B"), ("trial", "wait_ok_A", "2"), ("trial", "wait_ok_B", "2"),
        ("attention", "faster", "tie"), ("attention", "wait_ok_A", "2"), ("attention", "wait_ok_B", "2"),
    }  # fmt: skip


def test_it_reruns_a_trial_reloaded_in_the_middle_of_its_stream(demo_study, stack, browser):
    page = browser.new_page()
    start_session(page, stack.url, demo_study.code)
    # Reload while the slower pane is still streaming.
    page.wait_for_function(
        "() => [...document.querySelectorAll('.pane .answer')].some(el => el.textContent.length > 0)"
        " && document.getElementById('player').dataset.streamDone !== 'true'",
        timeout=20_000,
    )
    page.reload()

    assert page.url.endswith("/trial/") and page.locator("#progress-label").inner_text() == "Trial 1 of 4"
    answer_trial(page, attention_keys=ATTENTION_KEYS)

    participant = Participant.objects.get()
    first = participant.trials.get(index=0)
    assert first.restarts + first.resumes >= 1  # the study's policy is restart: run again, marked
    assert first.ratings.count() == 3
    assert page.locator("#progress-label").inner_text() == "Trial 2 of 4"
