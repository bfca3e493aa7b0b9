"""An adaptive session over the real processes (web, Redis, worker): the next stimulus is chosen by
the worker as each answer is stored; a reload mid-trial and the next pages on another web process
carry on the same staircase; and nothing the browser receives names the procedure or its stimuli."""

import json
import re

import httpx
import pytest
from websockets.sync.client import connect

from tests.conftest import import_yaml
from uxlab.adaptive.session import AdaptiveSession
from uxlab.studies import actions
from uxlab.studies.models import AdaptiveRun, AdaptiveStep, Trial

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

ADAPTIVE_YAML = """
version: 1
code: adaptresume
title: Adaptive resume
consent:
  text: You agree.
arms:
  - name: anchor_arm
    label: Secret anchor label
    ttft_s: 0.05
    tokens_per_second: 40
prompts:
  - name: p0
    text: Prompt zero.
    response: A short answer of a few words for the panes to show.
questions:
  - name: faster
    kind: forced_choice
    text: Which answer appeared faster?
design:
  adaptive:
    reference: anchor_arm
    dimension: tokens_per_second
    question: faster
    procedure: staircase
    tracks:
      - name: slowside
        range: [8, 40]
        start: 10
    max_trials: 5
    staircase:
      rule: 1up2down
      steps: [0.15]
"""
SECRETS = ["anchor_arm", "Secret anchor label", "slowside", "tokens_per_second", "staircase", "1up2down",
           "quest_plus", "adaptive", "dimension"]


def socket_url(base_url, token):
    return f"{base_url.replace('http', 'ws', 1)}/ws/p/{token}/"


def receive(websocket, timeout=20):
    return json.loads(websocket.recv(timeout=timeout))


@pytest.fixture
def participant(team):
    study = import_yaml(ADAPTIVE_YAML, team)
    participant = actions.enroll_participant(study)
    actions.record_checks(participant, {"simulated": True}, viewport_ok=True, stacked=False)
    participant = actions.give_consent(participant)
    actions.mark_instructions_seen(participant)
    return participant


def right_pane(participant, index):
    step = AdaptiveStep.objects.select_related("run").get(trial__participant=participant, trial__index=index)
    return actions.faster_pane(step.value, step.run.reference_value, step.test_pane, "tokens_per_second")


def test_it_carries_on_the_staircase_after_a_reload_and_on_another_process(participant, stack):
    urls = [stack.url, stack.second_url]
    received = []  # every page body and socket frame the "browser" got
    answers = []
    for number in range(10):
        base = urls[number % 2]  # each page from the other web process
        page = httpx.get(f"{base}/p/{participant.token}/", follow_redirects=True, timeout=20)
        received.append(page.text)
        if page.url.path.endswith("/done/"):
            break
        index = int(re.search(r'data-trial="(\d+)"', page.text)[1])
        assert index == number  # the trial the worker made when the last answer was stored
        with connect(socket_url(base, participant.token), origin=base) as websocket:
            assert receive(websocket)["type"] == "hello"
            websocket.send(json.dumps({"type": "trial.start", "trial": index}))
            if number == 2:
                # A reload mid-stream: the page goes away after a few messages ...
                for _ in range(3):
                    received.append(json.dumps(receive(websocket)))
        if number == 2:
            # ... and the fresh page comes back on the other process and streams the same trial.
            base = urls[(number + 1) % 2]
            page = httpx.get(f"{base}/p/{participant.token}/", follow_redirects=True, timeout=20)
            assert re.search(r'data-trial="(\d+)"', page.text)[1] == str(index)
        with connect(socket_url(base, participant.token), origin=base) as websocket:
            assert receive(websocket)["type"] == "hello"
            websocket.send(json.dumps({"type": "trial.start", "trial": index}))
            while (message := receive(websocket))["type"] != "stream.end":
                received.append(json.dumps(message))
            value = right_pane(participant, index) if number % 3 else ("B" if right_pane(participant, index) == "A" else "A")
            answers.append(value == right_pane(participant, index))
            websocket.send(json.dumps({"type": "rating.submit", "key": f"00000000-0000-4000-8000-00000000000{number}",
                                       "trial": index, "question": "faster", "value": value, "response_ms": 500}))
            while (message := receive(websocket))["type"] != "rating.stored":
                received.append(json.dumps(message))
    else:
        pytest.fail("the session never reached its done page")

    run = AdaptiveRun.objects.get(participant=participant)
    steps = list(run.steps.order_by("number"))
    assert run.finished_at is not None and len(steps) == 5 == len(answers)
    assert [step.correct for step in steps] == answers
    assert Trial.objects.get(participant=participant, index=2).restarts == 1
    # The stimuli are exactly what the procedure chooses for these answers, from the same seed:
    # the server-side choice did not depend on which process served which page.
    session = AdaptiveSession(participant.study.design["adaptive"], run.reference_value)
    state = session.start(participant.assignment_seed)
    for step, correct in zip(steps, answers):
        chosen = session.next_trial(state)
        assert (chosen["value"], chosen["test_pane"]) == pytest.approx((step.value, step.test_pane))
        state, _summary = session.record(state, chosen, correct)
    assert state == run.state

    # Blinding: no page or frame names the arm, the procedure, the track or the dimension, and no
    # page carries a stimulus value (frames carry due times in ms, where any number may occur).
    text = "\n".join(received)
    assert [secret for secret in SECRETS if secret in text] == []
    pages = [body for body in received if not body.startswith("{")]
    for step in steps:
        # Small whole numbers (8, 10) occur in any page ("utf-8"); the value's written forms must not.
        forms = {f"{step.value:.2f}", f"{step.value:.1f}"} | ({f"{step.value:g}"} if step.value >= 10 else set())
        for shown in forms:
            pattern = rf"(?<![\d.]){re.escape(shown)}(?![\d])"
            assert [page for page in pages if re.search(pattern, page)] == [], shown
