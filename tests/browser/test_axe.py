"""axe-core (WCAG 2.0/2.1/2.2 A and AA) on every participant and researcher page state, in Chromium
against the real web process and worker; researcher pages are also checked for sideways scrolling
at 320 CSS pixels (WCAG 1.4.10, the same as 1280 px at 400% zoom).

To cover a new page, add a `State` to one of the lists below: `PARTICIPANT_JOURNEY` (steps taken in
order by one participant on one page), `PARTICIPANT_PAGES` (each on a fresh page) or
`RESEARCHER_PAGES` (each on the owner's logged-in page, e.g. the study builder). A state's `reach`
gets the page and the `Scene` and returns when the state is on screen.
"""

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.browser.a11y import (
    A11Y_STUDY_YAML,
    answer_every_question,
    axe_violations,
    logged_in_page,
    page_overflow,
)
from tests.browser.participant_flow import press_enter_on
from tests.conftest import import_yaml, make_user
from tests.web.test_results_page import ALL_KINDS, ladder_yaml
from uxlab.studies import actions
from uxlab.studies.models import Participant, Study

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]

ANSWER_TIMEOUT_MS = 45_000


@dataclass
class Scene:
    """What the states need: the server, the studies, the participant met on the way."""

    url: str
    study: Study
    plots_study: Study
    token: str = ""

    def participant(self):
        return Participant.objects.get(token=self.token)


@dataclass
class State:
    name: str
    reach: Callable


def token_of(page):
    return re.search(r"/p/([^/]+)/", page.url).group(1)


# --- One participant, step by step --------------------------------------------------------------------


def welcome(page, scene):
    page.goto(f"{scene.url}/s/{scene.study.code}/")
    page.get_by_role("button", name="Start").wait_for()


def checks_passed(page, scene):
    press_enter_on(page, "Start")
    page.wait_for_url(re.compile(r"/checks/$"))
    scene.token = token_of(page)
    # Hold the page on its result: the step it would go to next answers "no content".
    home = f"{scene.url}/p/{scene.token}/"
    page.route(home, lambda route: route.fulfill(status=204))
    page.locator("#checks-status", has_text="All set").wait_for(timeout=20_000)
    page.wait_for_timeout(200)  # the held navigation has been answered
    page.unroute(home)


def consent(page, scene):
    page.goto(f"{scene.url}/p/{scene.token}/")
    page.wait_for_url(re.compile(r"/consent/$"))


def instructions(page, scene):
    press_enter_on(page, re.compile("I agree"))
    page.wait_for_url(re.compile(r"/instructions/$"))


def time_warning(page, scene):
    """The session's time limit is two minutes away: the warning with its way to extend."""
    limit = scene.study.session.time_limit_minutes
    Participant.objects.filter(token=scene.token).update(consented_at=timezone.now() - timedelta(minutes=limit - 1.5))
    page.reload()
    page.locator("#session-warning[open]").wait_for(timeout=5_000)


def practice_streaming(page, scene):
    # Enter on "I need more time" extends and closes the warning; the focus goes back to Begin.
    page.keyboard.press("Enter")
    page.locator("#session-warning:not([open])").wait_for(state="attached", timeout=5_000)
    assert scene.participant().time_extensions == 1
    press_enter_on(page, "Begin")
    page.wait_for_url(re.compile(r"/trial/$"))
    page.locator("#status", has_text="loading").wait_for(timeout=20_000)


def questions_shown(page, scene):
    page.locator("#answers[data-allowed=true]").wait_for(timeout=ANSWER_TIMEOUT_MS)


def trial_streaming(page, scene):
    answer_every_question(page)
    page.locator("#pane-B .answer:not(:empty)").wait_for(timeout=ANSWER_TIMEOUT_MS)
    assert page.evaluate("() => !document.getElementById('player').dataset.streamDone"), "the stream ended too soon"


def unanswered(page, scene):
    questions_shown(page, scene)
    page.keyboard.press("Enter")  # nothing answered yet: each question says what it needs
    page.locator("#answers .question[aria-invalid=true]").first.wait_for()


def done(page, scene):
    answer_every_question(page)
    page.wait_for_url(re.compile(r"/done/$"))
    page.locator("#completion-code").wait_for()


PARTICIPANT_JOURNEY = [
    State("welcome", welcome),
    State("checks (passed)", checks_passed),
    State("consent", consent),
    State("instructions", instructions),
    State("session time warning", time_warning),
    State("practice while streaming", practice_streaming),
    State("practice with questions", questions_shown),
    State("trial while streaming", trial_streaming),
    State("trial with unanswered questions", unanswered),
    State("done", done),
]


# --- Participant pages on their own ----------------------------------------------------------------


def checks_failed(page, scene):
    page.set_viewport_size({"width": 800, "height": 600})  # below the study's 900 × 500, not stackable
    page.goto(f"{scene.url}/s/{scene.study.code}/")
    press_enter_on(page, "Start")
    page.locator("#checks-failed:not([hidden])").wait_for(timeout=20_000)


def declined(page, scene):
    welcome(page, scene)
    press_enter_on(page, "Start")
    page.wait_for_url(re.compile(r"/consent/$"), timeout=20_000)
    page.get_by_role("button", name="I do not agree").click()
    page.get_by_role("heading", name="Thank you").wait_for()


def expired(page, scene):
    participant = actions.give_consent(actions.enroll_participant(scene.study))
    Participant.objects.filter(pk=participant.pk).update(status=Participant.Status.EXPIRED)
    page.goto(f"{scene.url}/p/{participant.token}/")
    page.locator("#expired").wait_for()


def closed_study(status):
    def reach(page, scene):
        Study.objects.filter(pk=scene.plots_study.pk).update(status=status)
        page.goto(f"{scene.url}/s/{scene.plots_study.code}/")
        page.locator(f'#closed-reason[data-reason="{status}"]').wait_for()
        Study.objects.filter(pk=scene.plots_study.pk).update(status=Study.Status.LIVE)

    return reach


PARTICIPANT_PAGES = [
    State("checks (failed)", checks_failed),
    State("declined", declined),
    State("expired", expired),
    State("study paused", closed_study("paused")),
    State("study closed", closed_study("closed")),
]


# --- Researcher pages ------------------------------------------------------------------------------


def visit(path, ready="h1"):
    def reach(page, scene):
        page.goto(scene.url + path.format(study=scene.study.code, plots=scene.plots_study.code))
        page.locator(ready).first.wait_for()

    return reach


def new_token(page, scene):
    visit("/account/tokens/")(page, scene)
    page.get_by_label("Name").fill("notebook")
    with page.expect_navigation():
        page.get_by_role("button", name="Create token").click()
    page.locator("#new-token").wait_for()


RESEARCHER_PAGES = [
    State("study list", visit("/studies/")),
    State("study page", visit("/studies/{study}/")),
    State("study page with plots' study", visit("/studies/{plots}/")),
    State("results with plots", visit("/studies/{plots}/results/", ready="svg.plot")),
    State("results without answers", visit("/studies/{study}/results/")),
    State("monitor", visit("/studies/{study}/monitor/", ready='#connection:text("live")')),
    State("fidelity", visit("/studies/{study}/fidelity/", ready="#clock-sync")),
    State("fidelity without measured trials", visit("/studies/{plots}/fidelity/")),
    State("API tokens", visit("/account/tokens/")),
    State("API tokens, one created", new_token),
]


# --- The test ----------------------------------------------------------------------------------------


@pytest.fixture
def scene(monkeypatch, team, stack):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop here
    study = import_yaml(A11Y_STUDY_YAML, team)
    plots_study = import_yaml(ladder_yaml([1.5, 3.0], questions=ALL_KINDS).replace("code: ladder", "code: plots"), team)
    call_command("simulate_participants", plots_study.code, participants=12, stdout=open("/dev/null", "w"))
    return Scene(url=stack.url, study=study, plots_study=plots_study)


def check(page, state, scene, found, reflow=False):
    state.reach(page, scene)
    found[state.name] = axe_violations(page)
    if reflow:
        size = page.viewport_size
        page.set_viewport_size({"width": 320, "height": 640})
        overflow = page_overflow(page)
        if overflow > 0:
            found[state.name].append(f"reflow: the page scrolls {overflow} px sideways at 320 px")
        page.set_viewport_size(size)


def test_it_finds_no_wcag_a_or_aa_violation_with_axe_on_any_page_state(scene, alice, browser):
    found = {}
    errors = []

    page = browser.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    for state in PARTICIPANT_JOURNEY:
        check(page, state, scene, found)
    for state in PARTICIPANT_PAGES:
        check(browser.new_page(), state, scene, found)

    anonymous = browser.new_page()
    check(anonymous, State("log in", visit("/accounts/login/")), scene, found, reflow=True)
    outsider = logged_in_page(browser, make_user("dora"), scene.url)
    check(outsider, State("study list (empty)", visit("/studies/")), scene, found, reflow=True)
    owner = logged_in_page(browser, alice, scene.url)
    owner.on("pageerror", lambda error: errors.append(str(error)))
    for state in RESEARCHER_PAGES:
        check(owner, state, scene, found, reflow=True)

    every = [s.name for s in PARTICIPANT_JOURNEY + PARTICIPANT_PAGES + RESEARCHER_PAGES]
    assert set(every) <= set(found)  # every state was reached and checked
    assert {name: problems for name, problems in found.items() if problems} == {}
    assert errors == []


def test_it_reports_what_axe_finds_on_a_page_with_known_violations(browser):
    """The check above can fail: the same injection finds planted WCAG A/AA problems."""
    page = browser.new_page()
    page.set_content(
        '<html lang="en"><head><title>planted</title></head><body><main><h1>Planted</h1>'
        '<img src="data:,"><p style="color:#bbb;background:#fff">faint text</p>'
        '<button></button><p><button style="all:unset;font-size:8px">a</button><button style="all:unset;font-size:8px">b'
        '</button></p></main></body></html>'
    )
    found = " ".join(axe_violations(page))
    for rule in ("image-alt", "color-contrast", "button-name", "target-size"):
        assert rule in found
