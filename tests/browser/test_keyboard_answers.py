"""The documented keyboard path of the answer form (number keys pick, Tab moves on, Enter sends),
end to end in Chromium: what is typed is what is stored, question by question."""

from pathlib import Path

import pytest

from tests.browser.participant_flow import start_session
from uxlab.studies.models import Participant, Study
from uxlab.studies.study_files import import_study, parse_study_yaml

DEMO = Path(__file__).resolve().parents[2] / "uxlab" / "studies" / "examples" / "demo.yaml"

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo_study(monkeypatch, team):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    return import_study(parse_study_yaml(DEMO.read_text()), team=team, status=Study.Status.LIVE)


def focused_question(page):
    return page.evaluate("() => document.activeElement?.closest('.question')?.dataset.question ?? null")


def checked(page):
    return page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('#answers .question')]"
        ".map(q => [q.dataset.question, q.querySelector('input[type=radio]:checked')?.value ?? null]))"
    )


def test_it_stores_the_documented_key_sequence_question_by_question(demo_study, stack, browser):
    page = browser.new_page()
    start_session(page, stack.url, demo_study.code)
    page.locator("#answers[data-allowed=true]").wait_for(timeout=45_000)
    # The demo asks: faster (A / B / no difference), then wait_ok for pane A and B (Likert, 1–7).
    assert [q.get_attribute("data-question") for q in page.locator("#answers .question").all()] == [
        "faster", "wait_ok_A", "wait_ok_B",
    ]  # fmt: skip
    assert focused_question(page) == "faster"

    page.keyboard.press("1")
    assert focused_question(page) == "faster"  # a number key picks; it never moves on by itself
    page.keyboard.press("Tab")
    assert focused_question(page) == "wait_ok_A"
    page.keyboard.press("4")
    assert focused_question(page) == "wait_ok_A"
    page.keyboard.press("Tab")
    page.keyboard.press("2")
    assert checked(page) == {"faster": "A", "wait_ok_A": "4", "wait_ok_B": "2"}
    with page.expect_navigation(timeout=45_000):
        page.keyboard.press("Enter")

    participant = Participant.objects.get()
    stored = dict(participant.trials.get(index=0).ratings.values_list("question__name", "value"))
    assert stored == {"faster": "A", "wait_ok_A": "4", "wait_ok_B": "2"}


def test_it_ignores_a_number_key_pressed_outside_the_questions(demo_study, stack, browser):
    page = browser.new_page()
    start_session(page, stack.url, demo_study.code)
    page.locator("#answers[data-allowed=true]").wait_for(timeout=45_000)
    page.keyboard.press("3")
    page.keyboard.press("Tab")  # into wait_ok_A
    page.evaluate("() => document.activeElement.blur()")  # the focus leaves the form

    page.keyboard.press("5")  # no question holds the focus: nothing is picked, nothing guessed
    assert checked(page) == {"faster": "tie", "wait_ok_A": None, "wait_ok_B": None}
    assert focused_question(page) is None
