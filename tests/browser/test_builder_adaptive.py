"""The builder's adaptive-design section in headless chromium against a real web process, worker,
Redis and Postgres: a researcher makes a fixed study adaptive (staircase, two interleaved tracks,
catch trials), sees the schema's problem beside the field, fixes it, previews the adaptive session
as a participant, and the YAML the builder exports imports to an identical study."""

import re

import pytest

from tests.browser.test_builder import finish_session_from_checks, logged_in_page
from uxlab.studies import drafts
from uxlab.studies.actions import builder as build
from uxlab.studies.models import AdaptiveRun, Participant, Study

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]

FIXED = {
    "version": 1, "code": "made-adaptive", "title": "Made adaptive in the builder",
    "consent": {"version": "1", "text": "You agree to a short test."},
    "arms": [{"name": "reference", "label": "15 tokens/s", "tokens_per_second": 15, "ttft_s": 0.2},
             {"name": "slow", "label": "5 tokens/s", "tokens_per_second": 5, "ttft_s": 0.2}],
    "prompts": [{"name": "hi", "text": "Say hi.", "response": "Hi there."}],
    "questions": [{"name": "faster", "kind": "forced_choice", "text": "Which appeared faster?"}],
    "design": {"pairs": [["reference", "slow"]]},
}


@pytest.fixture(autouse=True)
def _sync_orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop here


def save(page):
    with page.expect_navigation():
        page.get_by_role("button", name="Save adaptive design").click()


def test_builder_makes_a_study_adaptive_with_inline_errors_preview_and_yaml_round_trip(
    browser, stack, team, alice, tmp_path
):
    study = build.create_study(team, alice, FIXED)
    page = logged_in_page(browser, stack, alice)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(f"{stack.url}/studies/{study.code}/build/")
    page.locator("nav.builder-nav a[data-section=adaptive]").click()
    page.wait_for_url(re.compile(r"/build/adaptive/$"))
    settings = page.locator("#adaptive-settings")
    assert settings.is_hidden()  # builder_adaptive.js: nothing to fill until the study is adaptive
    page.get_by_label("This study is adaptive").check()
    assert settings.is_visible()

    # The starting point: the first arm as reference, a track from a tenth of its speed up to it.
    assert page.get_by_label("Reference arm").input_value() == "reference"
    assert page.get_by_label("Track 1: range from").input_value() == "1.5"
    page.get_by_label("Procedure").select_option("staircase")
    assert page.locator("fieldset[data-procedure=quest_plus]").is_hidden()
    assert page.locator("fieldset[data-procedure=staircase]").is_visible()
    assert page.locator("[data-field='stop.posterior_sd']").is_hidden()
    page.get_by_label("Question (forced choice)").select_option("faster")
    page.get_by_label("Track 2: name").fill("faster")
    page.get_by_label("Track 2: range from").fill("15")
    page.get_by_label("Track 2: range to").fill("150")
    page.get_by_label("Most trials per participant").fill("3")
    page.get_by_label("Catch trials (share, 0–0.5)").fill("0.9")
    page.get_by_label("Rule").select_option("1up3down")
    save(page)

    # The schema's problem beside its field, with the focus on it; nothing saved.
    error = page.locator("[data-field=catch_trials] .field-error")
    assert error.inner_text() == "must be <= 0.5"
    assert page.get_by_label("Catch trials (share, 0–0.5)").evaluate("el => el === document.activeElement")
    assert settings.is_visible() and page.get_by_label("Track 2: name").input_value() == "faster"
    assert "adaptive" not in build.draft_of(study).document["design"]

    page.get_by_label("Catch trials (share, 0–0.5)").fill("0.2")
    save(page)
    page.locator(".flash", has_text="The study file is valid").wait_for()
    adaptive = Study.objects.get(pk=study.pk).design["adaptive"]
    assert adaptive["procedure"] == "staircase" and adaptive["staircase"]["rule"] == "1up3down"
    assert [track["name"] for track in adaptive["tracks"]] == ["slower", "faster"]
    assert (adaptive["max_trials"], adaptive["catch_trials"]) == (3, 0.2)

    # The design page no longer offers pairs.
    page.locator("nav.builder-nav a[data-section=design]").click()
    page.locator("#adaptive-note").wait_for()
    assert page.locator("input[name=pairs]").count() == 0

    # Preview the adaptive session as a participant: each trial chosen by the worker as they answer.
    page.goto(f"{stack.url}/studies/{study.code}/build/")
    with page.expect_navigation():
        page.get_by_role("button", name="Preview as participant").click()
    finish_session_from_checks(page)
    preview = Participant.objects.get(study=study, mode="preview")
    run = AdaptiveRun.objects.get(participant=preview)
    assert run.finished_at is not None and run.steps.filter(answered_at__isnull=False).count() == 3

    # The YAML the builder exports, uploaded as a new study: identical but for its code.
    page.goto(f"{stack.url}/studies/{study.code}/build/")
    with page.expect_download() as download:
        page.locator("#download-yaml").click()
    path = tmp_path / "adaptive.yaml"
    download.value.save_as(path)
    page.goto(f"{stack.url}/studies/new/")
    page.get_by_label("Upload a YAML study file").check()
    page.get_by_label("Code").fill("adaptive-copy")
    page.locator("input[type=file]").set_input_files(path)
    with page.expect_navigation():
        page.get_by_role("button", name="Create draft").click()
    page.locator("#valid-note").wait_for()
    copy = Study.objects.get(code="adaptive-copy")
    study.refresh_from_db()
    assert drafts.without_code(drafts.study_document(copy)) == drafts.without_code(drafts.study_document(study))
    assert copy.design["adaptive"] == study.design["adaptive"]
    assert errors == []
