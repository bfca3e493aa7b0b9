"""A whole session by keyboard alone (Tab, Shift+Tab, Space, Enter, arrows and number keys), in
Chromium against the real web process and worker: every step is reachable, the answers stored in
Postgres are exactly the ones keyed, and the key hint printed on the trial page says what the keys do.
"""

import re

import pytest

from tests.browser.a11y import A11Y_STUDY_YAML
from tests.conftest import import_yaml
from uxlab.studies.models import Participant, Rating, Study

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]

# The hint on the trial page; each of its clauses is done below and its effect checked.
KEY_HINT = (
    "Keys: in the question you are on (it is outlined), a number key picks that answer and the arrow keys "
    "move the choice; Tab goes to the next question and Shift+Tab back; Enter sends your answers."
)


def focused(page):
    """(question name, value of the focused element) — the question is None outside the questions."""
    return page.evaluate(
        "() => [document.activeElement?.closest('.question')?.dataset.question ?? null, document.activeElement?.value ?? null]"
    )


def focused_label(page):
    return page.evaluate("() => document.activeElement?.textContent?.trim() || document.activeElement?.tagName")


def wait_for_focus(page, label):
    """Wait until the element named `label` has the focus (a new page's autofocus comes after its load)."""
    page.wait_for_function(
        "label => document.activeElement?.textContent?.trim() === label", arg=label, timeout=10_000
    )


def press(page, *keys):
    for key in keys:
        page.keyboard.press(key)


def outlined(page):
    """The question drawn with the focus outline (CSS :focus-within), as the hint says."""
    return page.evaluate(
        "() => [...document.querySelectorAll('#answers .question')]"
        ".filter(q => getComputedStyle(q).outlineStyle !== 'none').map(q => q.dataset.question)"
    )


def answer_by_keyboard(page, faster, wait_a, wait_b, slider_keys, seconds):
    """Answer the study's trial with the documented keys only, checking each key's effect; returns the
    answers the page should send."""
    page.locator("#answers[data-allowed=true]").wait_for(timeout=45_000)
    assert page.locator("#answers-hint").inner_text() == KEY_HINT
    assert focused(page)[0] == "faster"  # answering starts on the first question
    assert outlined(page) == ["faster"]

    # A number key picks in the question that has the focus, and the focus stays there.
    press(page, "3" if faster != "tie" else "1")
    assert focused(page)[0] == "faster"
    # Tab goes to the next question; Shift+Tab back; a second number key changes the answer.
    press(page, "Tab")
    assert focused(page)[0] == "wait_ok_A" and outlined(page) == ["wait_ok_A"]
    press(page, "Shift+Tab")
    assert focused(page)[0] == "faster"
    press(page, {"A": "1", "B": "2", "tie": "3"}[faster])
    assert focused(page) == ["faster", faster]

    # Likert: a number key picks a point, an arrow key moves the choice to the next point.
    press(page, "Tab", str(wait_a - 1), "ArrowRight")
    assert focused(page) == ["wait_ok_A", str(wait_a)]
    press(page, "Tab", str(wait_b + 1), "ArrowLeft")
    assert focused(page) == ["wait_ok_B", str(wait_b)]

    # Slider: arrows move it from the middle (50); number input: number keys type the seconds.
    press(page, "Tab", *slider_keys)
    slider = page.evaluate("() => document.activeElement.value")
    assert focused(page)[0] == "smooth"
    press(page, "Tab", *seconds)
    assert focused(page) == ["wait", seconds]
    # The optional comment is left empty; a number key in a text box is just typed, never a shortcut.
    press(page, "Tab")
    assert focused(page)[0] == "comment"
    return {"faster": faster, "wait_ok_A": str(wait_a), "wait_ok_B": str(wait_b), "smooth": slider, "wait": seconds}


def stored(participant, index):
    return dict(Rating.objects.filter(participant=participant, trial__index=index).values_list("question__name", "value"))


def test_it_completes_a_session_by_keyboard_alone_and_stores_exactly_the_keyed_answers(
    monkeypatch, team, stack, browser
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop here
    study = import_yaml(A11Y_STUDY_YAML, team)
    panel = f"{stack.url}/accounts/login/?cc=ACCESS01"  # stands in for the panel's completion page
    Study.objects.filter(pk=study.pk).update(completion_url=panel)
    page = browser.new_page()
    page.goto(f"{stack.url}/s/{study.code}/")

    # Each step's main button has the focus: Enter starts, Space agrees.
    wait_for_focus(page, "Start")
    press(page, "Enter")
    page.wait_for_url(re.compile(r"/consent/$"), timeout=20_000)
    wait_for_focus(page, "I agree, start the study")
    press(page, "Space")
    page.wait_for_url(re.compile(r"/instructions/$"))

    # Shift+Tab back to the optional question, Space ticks it, Tab and Enter begin.
    wait_for_focus(page, "Begin")
    press(page, "Shift+Tab", "Space", "Tab")
    assert page.get_by_label("I use a screen reader or screen magnifier").is_checked()
    assert focused_label(page) == "Begin"
    press(page, "Enter")
    page.wait_for_url(re.compile(r"/trial/$"))

    practice = answer_by_keyboard(page, "A", wait_a=5, wait_b=3, slider_keys=["ArrowRight"] * 3, seconds="7")
    with page.expect_navigation(timeout=45_000):
        press(page, "Tab")  # to "Send answers"
        assert focused_label(page).startswith("Send answers")
        press(page, "Enter")

    trial = answer_by_keyboard(page, "tie", wait_a=2, wait_b=4, slider_keys=["ArrowLeft"] * 2, seconds="12")
    with page.expect_navigation(timeout=45_000):
        press(page, "Shift+Tab", "Enter")  # Enter sends from inside the form too (here: the seconds box)
    page.wait_for_url(re.compile(r"/done/$"), timeout=45_000)
    assert page.locator("#completion-code").inner_text() == "ACCESS01"
    # The page would go back to the panel by itself; Tab past the link to "Stay on this page" stops it.
    assert "taken back to the panel in" in page.locator("#redirect-countdown").inner_text()
    press(page, "Tab")
    assert focused_label(page) == "Return to the panel and finish"
    press(page, "Tab")
    assert focused_label(page) == "Stay on this page"
    press(page, "Space")
    assert "staying on this page" in page.locator("#redirect-countdown").inner_text()
    assert focused_label(page) == "Return to the panel and finish"

    participant = Participant.objects.get(study=study)
    assert participant.assistive_technology is True
    assert practice["smooth"] == "53" and trial["smooth"] == "48"
    assert stored(participant, 0) == practice  # the practice round, then the one real trial
    assert stored(participant, 1) == trial
    assert participant.trials.count() == 2 and participant.status == Participant.Status.COMPLETED
