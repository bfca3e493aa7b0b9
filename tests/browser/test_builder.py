"""The study builder in headless chromium against a real web process, worker, Redis and Postgres:
a researcher builds a study from presets, sees the schema's problem beside the field, fixes it,
previews, launches; a participant completes it; its YAML imports to an identical study. An editor
edits a draft; a viewer cannot."""

import re

import pytest
from django.test import Client

from tests.browser.participant_flow import STEP_URL, answer_trial, complete_session, press_enter_on
from tests.conftest import make_user
from uxlab.studies import actions, drafts
from uxlab.studies.actions import builder as build
from uxlab.studies.models import Participant, Study

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def logged_in_page(browser, stack, user):
    """A browser page with the user's session cookie (logged in by the test client)."""
    client = Client()
    client.force_login(user)
    context = browser.new_context(accept_downloads=True)
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": stack.url}])
    return context.new_page()


@pytest.fixture(autouse=True)
def _sync_orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop here


def finish_session_from_checks(page):
    """From the checks page (where a preview starts) through consent and every trial to the end."""
    page.wait_for_url(re.compile(r"/consent/$"), timeout=20_000)
    press_enter_on(page, re.compile("I agree"))
    page.wait_for_url(re.compile(r"/instructions/$"))
    press_enter_on(page, "Begin")
    for _ in range(10):
        page.wait_for_url(STEP_URL)
        if page.url.endswith("/done/"):
            break
        answer_trial(page)
    page.wait_for_url(re.compile(r"/done/$"))


def test_builder_from_preset_to_launch_participant_and_yaml_round_trip(browser, stack, team, alice, tmp_path):
    page = logged_in_page(browser, stack, alice)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # Create from the "compare two presets" template.
    page.goto(f"{stack.url}/studies/new/")
    page.get_by_label("Title").fill("Built in the browser")
    page.get_by_label("Code").fill("built-browser")
    page.get_by_label("First arm's preset").select_option("wafer_scale_8b")
    page.get_by_label("Second arm's preset").select_option("gpu_cloud_70b_one_user")
    assert page.locator("[data-field=file]").is_hidden()  # builder.js shows the template's fields only
    with page.expect_navigation():
        page.get_by_role("button", name="Create draft").click()
    assert page.url == f"{stack.url}/studies/built-browser/build/"
    page.locator("#valid-note").wait_for()

    # An invalid value: the schema's problem beside the field; then fixed.
    page.locator("nav.builder-nav a[data-section=arms]").click()
    page.get_by_role("link", name="Edit").first.click()
    page.locator("#preset-source", has_text="cerebras-2024-08").wait_for()  # the preset's source is shown
    page.get_by_label("Tokens per second", exact=True).fill("0")
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    error = page.locator("[data-field=tokens_per_second] .field-error")
    assert error.inner_text() == "must be >= 0.1"
    assert page.get_by_label("Tokens per second", exact=True).evaluate("el => el === document.activeElement")
    assert Study.objects.get(code="built-browser").arms.get(position=0).profile["tokens_per_second"] == 1800
    page.get_by_label("Tokens per second", exact=True).fill("1200")
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    page.locator(".flash", has_text="Saved").wait_for()
    study = Study.objects.get(code="built-browser")
    assert study.arms.get(position=0).profile["tokens_per_second"] == 1200

    # Preview as a participant: the whole flow, nothing counted.
    page.goto(f"{stack.url}/studies/built-browser/build/")
    with page.expect_navigation():
        page.get_by_role("button", name="Preview as participant").click()
    finish_session_from_checks(page)
    page.locator("#preview-note").wait_for()
    preview = Participant.objects.get(study=study)
    assert preview.mode == "preview" and preview.completed_at is not None
    assert actions.study_counts(study)["participants"] == 0

    # Launch from the builder.
    page.goto(f"{stack.url}/studies/built-browser/build/")
    with page.expect_navigation():
        page.get_by_role("button", name="Launch").click()
    assert Study.objects.get(pk=study.pk).status == Study.Status.LIVE
    page.locator(".flash", has_text="now live").wait_for()

    # A participant completes it.
    participant_page = browser.new_page()
    code = complete_session(participant_page, stack.url, "built-browser")
    study.refresh_from_db()
    assert code == study.completion_code
    assert actions.study_counts(study)["completed"] == 1
    assert Participant.objects.get(study=study, mode="").study_version == 1

    # The researcher downloads the YAML and imports it as a new study: identical but for its code.
    page.goto(f"{stack.url}/studies/built-browser/build/")
    with page.expect_download() as download:
        page.locator("#download-yaml").click()
    path = tmp_path / "study.yaml"
    download.value.save_as(path)
    page.goto(f"{stack.url}/studies/new/")
    page.get_by_label("Upload a YAML study file").check()
    page.get_by_label("Code").fill("built-copy")
    page.locator("input[type=file]").set_input_files(path)
    with page.expect_navigation():
        page.get_by_role("button", name="Create draft").click()
    page.locator("#valid-note").wait_for()
    copy = Study.objects.get(code="built-copy")
    assert drafts.without_code(drafts.study_document(copy)) == drafts.without_code(drafts.study_document(study))
    assert errors == []


def test_builder_lets_an_editor_edit_a_draft_and_not_a_viewer(browser, stack, team, alice, bob):
    study = build.create_study(team, alice, drafts.preset_comparison_document(
        "Team draft", "team-draft", "groq_8b", "groq_70b"))
    editor = make_user("erin", team, "editor")

    page = logged_in_page(browser, stack, editor)
    page.goto(f"{stack.url}/studies/{study.code}/")
    with page.expect_navigation():
        page.locator("#edit-study").click()
    page.locator("nav.builder-nav a[data-section=study]").click()
    page.get_by_label("Title").fill("Team draft, edited")
    with page.expect_navigation():
        page.get_by_role("button", name="Save study details").click()
    page.locator(".flash", has_text="Saved").wait_for()
    assert Study.objects.get(pk=study.pk).title == "Team draft, edited"

    viewer = logged_in_page(browser, stack, bob)
    viewer.goto(f"{stack.url}/studies/{study.code}/")
    viewer.locator("#read-only-note").wait_for()
    assert viewer.locator("#edit-study").count() == 0
    response = viewer.goto(f"{stack.url}/studies/{study.code}/build/study/")
    assert response.status == 404
