"""The live monitor page in headless chromium against a real web process: monitor.js renders the
socket's snapshots, and the owner's Pause and Resume buttons post and change the study."""

import re

import pytest
from django.test import Client

from uxlab.studies import actions
from uxlab.studies.models import Study

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def owner_page(monkeypatch, alice, stack, browser):
    """A browser page logged in as alice (her session cookie from the test client)."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop here
    client = Client()
    client.force_login(alice)
    context = browser.new_context()
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": stack.url}])
    return context.new_page()


def test_it_shows_live_counts_and_pauses_and_resumes_from_the_buttons(owner_page, study, stack):
    page = owner_page
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{stack.url}/studies/{study.code}/monitor/")
    page.locator("#connection", has_text="connected").wait_for(timeout=10_000)
    page.locator('[data-state="welcome"] .value', has_text="0").wait_for()
    assert page.locator("#quota tr").first.inner_text().split("\t")[:2] == ["fast_arm vs slow_arm", "greeting"]

    actions.enroll_participant(study)
    page.locator('[data-state="welcome"] .value', has_text="1").wait_for(timeout=5_000)
    assert page.locator("#monitor-announcer").inner_text() == "Live updates connected."

    # A pilot participant is counted apart, not among the participants above.
    from uxlab.studies.actions.lifecycle import enroll_uncounted

    enroll_uncounted(study, "pilot")
    page.locator('#uncounted [data-mode="pilot"]', has_text="pilot: 1 (1 welcome)").wait_for(timeout=5_000)
    assert page.locator('[data-state="welcome"] .value').inner_text() == "1"
    assert page.locator('#uncounted [data-mode="preview"]').inner_text() == "preview: 0"

    # A change of status pushed by the socket (here a pause made elsewhere) is announced, once.
    actions.pause_study(study)
    page.locator("#monitor-announcer", has_text="The study is now paused.").wait_for(timeout=5_000)
    actions.resume_study(study)
    page.locator("#monitor-announcer", has_text="The study is now live.").wait_for(timeout=5_000)

    with page.expect_navigation():
        page.get_by_role("button", name="Pause").click()
    assert re.search(rf"/studies/{study.code}/monitor/$", page.url)
    page.locator("#status", has_text=re.compile(r"^paused$"))  # from the socket's snapshot.wait_for(timeout=5_000)
    assert Study.objects.get(pk=study.pk).status == "paused"

    with page.expect_navigation():
        page.get_by_role("button", name="Resume").click()
    page.locator("#status", has_text=re.compile(r"^live$")).wait_for(timeout=5_000)
    assert Study.objects.get(pk=study.pk).status == "live"
    assert errors == []
