"""A participant in headless chromium, against real uvicorn, Redis, a Celery worker and Postgres."""

from pathlib import Path

import pytest

from tests.browser.participant_flow import complete_session
from uxlab.studies.models import ExternalIdentity, Participant, Rating, Study, Team
from uxlab.studies.study_files import import_study, parse_study_yaml

DEMO = Path(__file__).resolve().parents[2] / "uxlab" / "studies" / "examples" / "demo.yaml"

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo_study(monkeypatch):
    # Playwright's sync API keeps an event loop in this thread; the ORM calls here are plain sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    team = Team.objects.create(name="Demo lab", slug="demo-lab")
    return import_study(parse_study_yaml(DEMO.read_text()), team=team, status=Study.Status.LIVE)


def test_it_takes_a_participant_from_the_link_to_the_completion_code(
    demo_study, web_server, celery_worker_process, browser
):
    page = browser.new_page()
    code = complete_session(page, web_server, demo_study.code, query="?PROLIFIC_PID=pid-123&STUDY_ID=s1&SESSION_ID=x")

    assert code == demo_study.completion_code
    participant = ExternalIdentity.objects.get(study=demo_study, external_id="pid-123").participant
    trials = list(participant.trials.all())
    ratings = list(Rating.objects.filter(participant=participant))
    assert len(trials) == demo_study.prompts.count() * len(demo_study.design["pairs"])
    assert len(ratings) == len(trials)
    assert {rating.trial_id for rating in ratings} == {trial.pk for trial in trials}
    assert all(rating.value == "A" for rating in ratings)
    participant.refresh_from_db()
    assert participant.status == Participant.Status.COMPLETED
    # The page kept nothing unconfirmed in its outbox.
    assert page.evaluate("Object.keys(JSON.parse(localStorage.getItem('uxlab.outbox.' + location.pathname.split('/')[2]) || '{}')).length") == 0


def test_it_tells_a_visitor_when_the_study_is_closed(demo_study, web_server, browser):
    Study.objects.filter(pk=demo_study.pk).update(status=Study.Status.CLOSED)
    page = browser.new_page()
    page.goto(f"{web_server}/s/{demo_study.code}/")
    assert "closed" in page.locator("main").inner_text()
    assert Participant.objects.count() == 0
