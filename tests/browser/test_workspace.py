"""The researcher workspace in headless chromium against a real web process (and, for exports, the
real Celery worker): an invited user joins a team, a viewer cannot change the team, the sharing
page's copy buttons copy the Prolific URL, and a background export's progress bar completes."""

import re

import pytest
from django.test import Client

from uxlab.studies.models import Job, Membership

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _sync_playwright_in_tests(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop here


def page_as(user, stack, browser, **context_options):
    """A browser page logged in as `user` (their session cookie from the test client)."""
    client = Client()
    client.force_login(user)
    context = browser.new_context(**context_options)
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": stack.url}])
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    return page


def test_workspace_invited_user_creates_an_account_and_joins_the_team(alice, team, stack, browser):
    owner = page_as(alice, stack, browser)
    owner.goto(f"{stack.url}/teams/{team.slug}/")
    owner.get_by_label("Email address").fill("dana@example.org")
    owner.get_by_label("Role", exact=True).select_option("editor")
    with owner.expect_navigation():
        owner.get_by_role("button", name="Send invitation").click()
    link = owner.locator("#invite-link").inner_text()
    assert link.startswith(f"{stack.url}/invites/")

    invited = browser.new_page()  # someone with no account yet
    invited.goto(link)
    invited.get_by_role("heading", name=f"Join {team.name}").wait_for()
    invited.get_by_label("Username").fill("dana")
    invited.get_by_label("Password").fill("a-long-enough-passphrase")
    with invited.expect_navigation():
        invited.get_by_role("button", name="Create account and join").click()
    assert invited.url == f"{stack.url}/teams/{team.slug}/"
    assert invited.locator('#members tr[data-member="dana"]').inner_text().split("\t")[2].strip() == "editor"
    assert Membership.objects.get(team=team, user__username="dana").role == "editor"

    # The link is spent: opening it again says so and joins no one.
    again = browser.new_page()
    again.goto(link)
    assert "has been accepted" in again.locator("#invite-state").inner_text()
    assert owner.errors == []


def test_workspace_viewer_cannot_change_the_team_or_add_studies(alice, bob, team, study, stack, browser):
    viewer = page_as(bob, stack, browser)
    viewer.goto(f"{stack.url}/teams/{team.slug}/")
    assert viewer.locator("#members").inner_text().count("viewer") == 1
    assert viewer.get_by_role("button", name="Send invitation").count() == 0
    assert viewer.get_by_role("button", name="Set role").count() == 0
    viewer.goto(f"{stack.url}/import/")
    assert team.name not in viewer.locator("#import-team").inner_text()  # not a team a viewer may add to
    viewer.goto(f"{stack.url}/studies/{study.code}/jobs/")
    assert viewer.get_by_role("button", name="Record").count() == 0

    # A hand-made request fares no better: refused, and nothing changes.
    status = viewer.evaluate(
        """async (url) => {
            const token = document.querySelector("input[name=csrfmiddlewaretoken]").value;
            const body = new URLSearchParams({role: "owner", csrfmiddlewaretoken: token});
            return (await fetch(url, {method: "POST", body})).status;
        }""",
        f"{stack.url}/teams/{team.slug}/members/bob/role/",
    )
    assert status == 403 and Membership.objects.get(user=bob).role == "viewer"


def test_workspace_sharing_page_shows_and_copies_the_prolific_link(alice, study, stack, browser):
    page = page_as(alice, stack, browser, permissions=["clipboard-read", "clipboard-write"])
    page.goto(f"{stack.url}/studies/{study.code}/")
    assert page.locator("#participant-link").inner_text() == f"{stack.url}/s/{study.code}/"
    page.get_by_role("link", name="Set up on Prolific").first.click()
    page.get_by_role("heading", name="Set up on Prolific").wait_for()
    expected = f"{stack.url}/s/{study.code}/?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}&STUDY_ID={{{{%STUDY_ID%}}}}&SESSION_ID={{{{%SESSION_ID%}}}}"
    assert page.locator("#prolific-url").inner_text() == expected
    assert page.locator('#completion-codes tr[data-outcome="completed"] #code-completed').inner_text() == "QUICK123"

    page.get_by_role("button", name="Copy URL").click()
    page.get_by_role("button", name="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == expected
    assert "Copied" in page.locator("[role=status]").first.inner_text()
    assert page.errors == []


def test_workspace_export_progress_completes_and_downloads(alice, study, stack, browser):
    from tests.web.conftest import run_participant

    for values in (["A"], ["B"], ["tie"]):
        run_participant(study, values)
    page = page_as(alice, stack, browser)
    page.goto(f"{stack.url}/studies/{study.code}/jobs/")
    assert page.locator("#no-jobs").count() == 1
    page.get_by_label("Table").select_option("ratings")
    page.get_by_label("Format").select_option("csv")
    with page.expect_navigation():
        page.get_by_role("button", name="Start export").click()
    assert re.search(r"/jobs/[0-9a-f-]{36}/$", page.url)

    download_link = page.locator("#job-download")
    download_link.wait_for(state="visible", timeout=30_000)  # jobs.js saw the worker finish
    assert page.locator("#job").get_attribute("data-status") == "done"
    assert page.locator("#job-progress").evaluate("bar => bar.value") == 1
    assert page.locator("#job-progress-label").inner_text().startswith("100%")
    with page.expect_download() as caught:
        download_link.click()
    download = caught.value
    assert download.suggested_filename == f"study-{study.code}_table-ratings_data.csv"
    with open(download.path(), "rb") as handle:
        assert handle.read().count(b"\n") == 4  # the header and three ratings
    assert Job.objects.get().status == "done"
    assert page.errors == []


def test_workspace_job_cancel_button_shows_cancelled(alice, study, stack, browser):
    """A queued job (never handed to the worker here) cancelled from its page: the page says
    cancelled, the button goes, and the worker would leave it alone."""
    from uxlab.studies.tasks import run_job

    job = Job.objects.create(study=study, created_by=alice, kind="export",
                             params={"target": "table", "table": "ratings", "format": "csv", "rules": []})
    page = page_as(alice, stack, browser)
    page.goto(f"{stack.url}/jobs/{job.key}/")
    assert page.locator("#job-state").inner_text() == "queued"
    with page.expect_navigation():
        page.get_by_role("button", name="Cancel this job").click()
    assert page.locator("#job-state").inner_text() == "cancelled"
    assert "cancelled" in page.locator(".flash").inner_text()
    assert page.get_by_role("button", name="Cancel this job").count() == 0
    assert page.locator("#job-download").is_hidden()
    job.refresh_from_db()
    assert job.status == "cancelled" and run_job(str(job.key)) is None
    assert page.errors == []
