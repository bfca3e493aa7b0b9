"""Controlled delivery in a real browser: thinking display modes and the fidelity record."""

import re

import pytest

from tests.browser.participant_flow import answer_trial, start_session
from tests.conftest import import_yaml
from uxlab.streaming.arms import schedule_for_spec
from uxlab.studies.models import Participant, Trial

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]

THINKING_STUDY_YAML = """
version: 1
code: thinking
title: Thinking display
consent: {text: You agree.}
arms:
  - {name: hidden_thinker, ttft_s: 0.1, tokens_per_second: 80, thinking_tokens: 30, thinking_tokens_per_second: 20, thinking_display: hidden}
  - {name: visible_thinker, ttft_s: 0.1, tokens_per_second: 80, thinking_tokens: 30, thinking_tokens_per_second: 20, thinking_display: visible}
  - {name: silent_thinker, ttft_s: 0.1, tokens_per_second: 80, thinking_tokens: 30, thinking_tokens_per_second: 20, thinking_display: none}
prompts:
  - name: sum
    text: What is 17 + 25?
    reasoning: Seventeen plus twenty-five. Seven plus five is twelve, carry the one; one plus two plus one is four.
    response: The answer is 42. Seventeen plus twenty-five makes forty-two.
questions:
  - {name: faster, kind: forced_choice_tie, text: "Which response felt faster?"}
design:
  pairs: [[hidden_thinker, visible_thinker], [silent_thinker, hidden_thinker]]
  seed: thinking
"""


@pytest.fixture
def thinking_study(monkeypatch, team):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    return import_yaml(THINKING_STUDY_YAML, team)


def visible_reasoning(trial):
    """The reasoning text the visible-thinking arm streams (its thinking tokens, from the prompt)."""
    arm = trial.arm_a if trial.arm_a.name == "visible_thinker" else trial.arm_b
    spec = {"profile": arm.profile, "content": trial.prompt.response, "reasoning": trial.prompt.reasoning, "seed": "x"}
    return "".join(token.text for token in schedule_for_spec(spec) if token.phase == "thinking")


def pane_of(trial, arm_name):
    return "A" if trial.arm_a.name == arm_name else "B"


def test_it_shows_each_thinking_display_mode_and_records_fidelity(
    thinking_study, stack, browser
):
    page = browser.new_page()
    start_session(page, stack.url, thinking_study.code)
    participant = Participant.objects.get(study=thinking_study)

    for index in range(2):
        page.wait_for_url(re.compile(r"/trial/$"))
        trial = Trial.objects.select_related("arm_a", "arm_b").get(participant=participant, index=index)
        names = {trial.arm_a.name, trial.arm_b.name}
        hidden = f"#pane-{pane_of(trial, 'hidden_thinker')}"
        # During the 1.5 s thinking phase: a "Thinking… N s" indicator and no answer yet.
        page.locator(f"{hidden} .thinking").wait_for(state="visible", timeout=10_000)
        assert "Thinking" in page.locator(f"{hidden} .thinking").inner_text()
        assert page.locator(f"{hidden} .answer").inner_text() == ""
        assert page.locator(f"{hidden} .reasoning").is_hidden()
        if "visible_thinker" in names:
            visible = f"#pane-{pane_of(trial, 'visible_thinker')}"
            page.wait_for_function(
                f"document.querySelector('{visible} .reasoning-text').innerText.length > 10", timeout=10_000
            )
            assert page.locator(f"{visible} .thinking").is_hidden()
        if "silent_thinker" in names:
            silent = f"#pane-{pane_of(trial, 'silent_thinker')}"
            assert page.locator(f"{silent} .thinking").is_hidden()
            assert page.locator(f"{silent} .reasoning").is_hidden()
            assert page.locator(f"{silent} .answer").inner_text() == ""
        page.locator("#answers[data-allowed=true]").wait_for(timeout=20_000)
        assert page.locator(f"{hidden} .thinking").is_hidden()
        for pane in "AB":
            assert page.locator(f"#pane-{pane} .answer").inner_text() == thinking_study.prompts.get().response
        if "visible_thinker" in names:
            assert page.locator(f"{visible} .reasoning-text").text_content() == visible_reasoning(trial)
        answer_trial(page, answer_key="3")
    page.wait_for_url(re.compile(r"/done/$"))

    for trial in Trial.objects.filter(participant=participant):
        fidelity = trial.fidelity
        assert set(fidelity["panes"]) == {"A", "B"} and not fidelity["interrupted"]
        for pane in fidelity["panes"].values():
            assert pane["complete"] and pane["frames_painted"] == pane["frames"] > 0
            target, observed = pane["target"], pane["observed"]
            assert observed["answer_tokens"] == target["answer_tokens"] > 0
            # Presented on the frame clock: the first answer token within a few frames of its target.
            assert abs(observed["ttft_answer_s"] - target["ttft_answer_s"]) < 0.1
            assert pane["paint_error_ms"]["p50"] >= -1
        assert trial.server_timing["messages"] > 0
        assert fidelity["clock"]["rounds"] >= 3
