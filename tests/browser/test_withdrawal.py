"""Withdrawing in a real browser against the real web process and worker: the link at the foot of
the trial page, the confirmation (its safe choice focused), the withdrawn page; and a second tab of
the same session, its socket open on the trial, is told at once and leaves for the withdrawn page."""

import re
from pathlib import Path

import pytest

from tests.browser.participant_flow import start_session
from uxlab.studies.models import AuditEntry, Participant, Rating, Study, Trial
from uxlab.studies.study_files import import_study, parse_study_yaml

DEMO = Path(__file__).resolve().parents[2] / "uxlab" / "studies" / "examples" / "demo.yaml"
HOME = re.compile(r"/p/[^/]+/$")

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo_study(monkeypatch, team):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    return import_study(parse_study_yaml(DEMO.read_text()), team=team, status=Study.Status.LIVE)


def test_a_participant_withdraws_from_the_trial_page_and_every_open_tab_follows(demo_study, stack, browser):
    context = browser.new_context()
    page = context.new_page()
    start_session(page, stack.url, demo_study.code, "?PROLIFIC_PID=pid-withdraw")
    assert page.url.endswith("/trial/")
    other_tab = context.new_page()
    other_tab.goto(page.url)
    other_tab.locator("#pane-A .answer").filter(has_text=re.compile(r"\S")).wait_for(timeout=20_000)  # streaming

    page.get_by_role("link", name="Withdraw from this study").click()
    page.wait_for_url(re.compile(r"/withdraw/$"))
    assert page.evaluate("() => document.activeElement.id") == "cancel-withdraw"  # Enter does not withdraw
    page.get_by_role("button", name="Withdraw and delete my answers").click()
    page.wait_for_url(HOME)
    assert "You have withdrawn from this study" in page.locator("main").inner_text()

    other_tab.wait_for_url(HOME, timeout=10_000)  # told by its socket, not by a reload
    assert "You have withdrawn from this study" in other_tab.locator("main").inner_text()

    participant = Participant.objects.get(study=demo_study)
    assert (participant.status, participant.withdrawn_by) == ("withdrawn", "participant")
    assert not Trial.objects.exists() and not Rating.objects.exists()
    assert AuditEntry.objects.get().participant_number == participant.pk
    page.goto(f"{stack.url}/s/{demo_study.code}/?PROLIFIC_PID=pid-withdraw")  # the panel link again
    assert "You have withdrawn from this study" in page.locator("main").inner_text()
    assert Participant.objects.count() == 1
