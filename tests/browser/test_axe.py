"""axe-core (WCAG 2.0/2.1/2.2 A and AA) on every participant and researcher page state, in Chromium
against the real web process and worker; researcher pages are also checked for sideways scrolling
at 320 CSS pixels (WCAG 1.4.10, the same as 1280 px at 400% zoom).

To cover a new page, add a `State` to one of the lists below: `PARTICIPANT_JOURNEY` (steps taken in
order by one participant on one page), `PARTICIPANT_PAGES` (each on a fresh page) or
`RESEARCHER_PAGES` (each on the owner's logged-in page, in order: the study builder, teams, jobs),
`FIRST_RUN_PAGES` (a researcher with no team or study yet) or `VISITOR_PAGES` (no one logged in; after
the researcher pages, so an invitation exists). A state's `reach` gets the page and the `Scene` and
returns when the state is on screen. Every researcher, first-run and visitor state is also checked
for sideways scrolling at 320 px.
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
    overflowing_elements,
    page_overflow,
)
from tests.browser.participant_flow import press_enter_on
from tests.conftest import import_yaml, make_user
from tests.web.test_results_page import ALL_KINDS, ladder_yaml
from uxlab.studies import actions, drafts
from uxlab.studies.actions import builder as build
from uxlab.studies.actions import lifecycle
from uxlab.studies.models import Participant, Study

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]

ANSWER_TIMEOUT_MS = 45_000


@dataclass
class Scene:
    """What the states need: the server, the studies, the participant met on the way."""

    url: str
    study: Study
    plots_study: Study
    draft: Study  # a valid draft in the builder, with a pilot session
    blank: Study  # a draft started blank: the builder lists its problems
    token: str = ""
    invite_link: str = ""

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
    # Hold the page on its result: the step it would go to next (consent) answers "no content".
    next_step = f"{scene.url}/p/{scene.token}/consent/"
    page.route(next_step, lambda route: route.fulfill(status=204))
    page.locator("#checks-status", has_text="All set").wait_for(timeout=20_000)
    page.wait_for_timeout(200)  # the held navigation has been answered
    page.unroute(next_step)


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


def withdraw_confirmation(page, scene):
    participant = actions.give_consent(actions.enroll_participant(scene.study))
    page.goto(f"{scene.url}/p/{participant.token}/withdraw/")
    page.locator("#cancel-withdraw").wait_for()


def withdrawn(page, scene):
    withdraw_confirmation(page, scene)
    with page.expect_navigation():
        page.get_by_role("button", name="Withdraw and delete my answers").click()
    page.locator("main", has_text="You have withdrawn from this study").wait_for()


PARTICIPANT_PAGES = [
    State("checks (failed)", checks_failed),
    State("withdraw confirmation", withdraw_confirmation),
    State("withdrawn", withdrawn),
    State("declined", declined),
    State("expired", expired),
    State("study paused", closed_study("paused")),
    State("study closed", closed_study("closed")),
]


# --- Researcher pages ------------------------------------------------------------------------------


def visit(path, ready="h1"):
    def reach(page, scene):
        page.goto(scene.url + path.format(
            study=scene.study.code, plots=scene.plots_study.code, draft=scene.draft.code, blank=scene.blank.code,
            team=scene.study.team.slug,
        ))
        page.locator(ready).first.wait_for()

    return reach


def builder_section(name):
    return State(f"builder: {name} section", visit(f"/studies/{{draft}}/build/{name}/"))


def arm_with_inline_error(page, scene):
    visit("/studies/{draft}/build/arms/0/")(page, scene)
    page.get_by_label("Tokens per second", exact=True).fill("0")
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    page.locator("[data-field=tokens_per_second] .field-error").wait_for()


def adaptive_with_inline_errors(page, scene):
    """The adaptive design's form, ticked, saved with a bad share and a reversed range."""
    visit("/studies/{draft}/build/adaptive/")(page, scene)
    page.get_by_label("This study is adaptive").check()
    page.get_by_label("Catch trials (share, 0–0.5)").fill("0.9")
    page.get_by_label("Track 1: range from").fill("5000")
    with page.expect_navigation():
        page.get_by_role("button", name="Save adaptive design").click()
    page.locator("[data-field=catch_trials] .field-error").wait_for()


def preview_entry(page, scene):
    """Preview as participant from the builder: the preview's checks page, held on its result."""
    visit("/studies/{draft}/build/", ready="#valid-note")(page, scene)
    next_step = re.compile(r"/p/[^/]+/consent/$")
    page.route(next_step, lambda route: route.fulfill(status=204))
    with page.expect_navigation():
        page.get_by_role("button", name="Preview as participant").click()
    page.wait_for_url(re.compile(r"/checks/$"))
    page.locator("#checks-status", has_text="All set").wait_for(timeout=20_000)
    page.wait_for_timeout(200)  # the held navigation has been answered
    page.unroute(next_step)


def team_with_invite(page, scene):
    visit("/teams/{team}/")(page, scene)
    page.get_by_label("Email address").fill("dana@example.org")
    page.get_by_label("Role", exact=True).select_option("editor")
    with page.expect_navigation():
        page.get_by_role("button", name="Send invitation").click()
    scene.invite_link = page.locator("#invite-link").inner_text()


def finished_job(page, scene):
    """An export run by the real worker: its page once done, with the download."""
    visit("/studies/{plots}/jobs/")(page, scene)
    page.get_by_label("Table").select_option("ratings")
    page.get_by_label("Format").select_option("csv")
    with page.expect_navigation():
        page.get_by_role("button", name="Start export").click()
    page.locator("#job-download").wait_for(state="visible", timeout=30_000)


def create_from_an_example(page, scene):
    visit("/studies/new/")(page, scene)
    page.get_by_label("An example study").check()
    page.locator("#examples summary").click()
    page.locator("#examples li").first.wait_for()


def cancelled_job(page, scene):
    """A queued export (never handed to the worker) cancelled from its page."""
    from uxlab.studies.models import Job

    job = Job.objects.create(study=scene.plots_study, kind="export", created_by=scene.study.team.memberships.first().user,
                             params={"target": "table", "table": "ratings", "format": "csv", "rules": []})
    page.goto(f"{scene.url}/jobs/{job.key}/")
    with page.expect_navigation():
        page.get_by_role("button", name="Cancel this job").click()
    page.locator("#job-state", has_text="cancelled").wait_for()


def import_with_problems(page, scene):
    visit("/import/")(page, scene)
    page.get_by_label("…or paste its YAML").fill("version: 1\ncode: Not A Code\n")
    with page.expect_navigation():
        page.get_by_role("button", name="Import").click()
    page.locator("#import-errors").wait_for()


def researcher_withdraw_found(page, scene):
    number = scene.plots_study.participants.order_by("pk").first().pk
    visit(f"/studies/{{plots}}/withdraw/?number={number}")(page, scene)


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
    State("monitor", visit("/studies/{study}/monitor/", ready='#connection:text("connected")')),
    State("fidelity", visit("/studies/{study}/fidelity/", ready="#clock-sync")),
    State("fidelity without measured trials", visit("/studies/{plots}/fidelity/")),
    State("API tokens", visit("/account/tokens/")),
    State("API tokens, one created", new_token),
    # The study builder and running a draft.
    State("builder: create", visit("/studies/new/")),
    State("builder: create from an example", create_from_an_example),
    State("builder: overview", visit("/studies/{draft}/build/", ready="#valid-note")),
    State("builder: overview with problems", visit("/studies/{blank}/build/")),
    *[builder_section(section.name) for section in drafts.SECTIONS],
    State("builder: arm from a preset", visit("/studies/{draft}/build/arms/new/?from=preset")),
    State("builder: arm edit", visit("/studies/{draft}/build/arms/0/")),
    State("builder: arm with an inline error", arm_with_inline_error),
    State("builder: adaptive design with inline errors", adaptive_with_inline_errors),
    State("builder: arm refilled from another preset",
          visit("/studies/{draft}/build/arms/0/?preset=loaded_gpu_cloud_70b", ready="#refilled")),
    State("builder: prompt edit", visit("/studies/{draft}/build/prompts/0/")),
    State("builder: question edit", visit("/studies/{draft}/build/questions/0/")),
    State("builder: preview entry", preview_entry),
    State("builder: pilot", visit("/studies/{draft}/pilot/")),
    State("builder: delete pilot data", visit("/studies/{draft}/pilot/delete/")),
    State("study page of a draft", visit("/studies/{draft}/", ready="#study-controls")),
    # The workspace: teams, sharing, background jobs, importing, withdrawing a participant.
    State("teams", visit("/teams/")),
    State("team with a new invitation", team_with_invite),
    State("Prolific setup", visit("/studies/{study}/prolific/")),
    State("jobs (none yet)", visit("/studies/{plots}/jobs/")),
    State("job finished", finished_job),
    State("jobs with a finished job", visit("/studies/{plots}/jobs/")),
    State("job cancelled", cancelled_job),
    State("import", visit("/import/")),
    State("import with problems", import_with_problems),
    State("researcher withdraw", visit("/studies/{plots}/withdraw/")),
    State("researcher withdraw, participant found", researcher_withdraw_found),
]


def accept_invitation(page, scene):
    page.goto(scene.invite_link)
    page.get_by_role("button", name="Create account and join").wait_for()


FIRST_RUN_PAGES = [
    State("study list (empty)", visit("/studies/")),
    State("start (first run)", visit("/start/")),
]

VISITOR_PAGES = [
    State("log in", visit("/accounts/login/")),
    State("invitation (no account yet)", accept_invitation),
]


# --- The test ----------------------------------------------------------------------------------------


@pytest.fixture
def scene(monkeypatch, team, alice, stack):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop here
    study = import_yaml(A11Y_STUDY_YAML, team)
    plots_study = import_yaml(ladder_yaml([1.5, 3.0], questions=ALL_KINDS).replace("code: ladder", "code: plots"), team)
    call_command("simulate_participants", plots_study.code, participants=12, stdout=open("/dev/null", "w"))
    draft = build.create_study(team, alice, drafts.preset_comparison_document(
        "Does 1,800 tokens/s feel faster than 59?", "built", "wafer_scale_8b", "gpu_cloud_70b_one_user"))
    lifecycle.enroll_uncounted(draft, lifecycle.PILOT)
    blank = build.create_study(team, alice, drafts.blank_document("A study started blank", "blank"))
    return Scene(url=stack.url, study=study, plots_study=plots_study, draft=draft, blank=blank)


def check(page, state, scene, found, reflow=False):
    state.reach(page, scene)
    found[state.name] = axe_violations(page)
    if reflow:
        size = page.viewport_size
        page.set_viewport_size({"width": 320, "height": 640})
        overflow = page_overflow(page)
        if overflow > 0:
            found[state.name].append(f"reflow: the page scrolls {overflow} px sideways at 320 px, past the edge: "
                                     + "; ".join(overflowing_elements(page)))
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

    outsider = logged_in_page(browser, make_user("dora"), scene.url)
    outsider.on("pageerror", lambda error: errors.append(str(error)))
    for state in FIRST_RUN_PAGES:
        check(outsider, state, scene, found, reflow=True)
    owner = logged_in_page(browser, alice, scene.url)
    owner.on("pageerror", lambda error: errors.append(str(error)))
    for state in RESEARCHER_PAGES:
        check(owner, state, scene, found, reflow=True)
    anonymous = browser.new_page()
    anonymous.on("pageerror", lambda error: errors.append(str(error)))
    for state in VISITOR_PAGES:
        check(anonymous, state, scene, found, reflow=True)

    every = [s.name for s in PARTICIPANT_JOURNEY + PARTICIPANT_PAGES + FIRST_RUN_PAGES + RESEARCHER_PAGES + VISITOR_PAGES]
    assert len(every) == len(set(every))  # no two states share a name
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
