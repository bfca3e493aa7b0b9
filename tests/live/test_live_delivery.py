"""Live arms end to end: a real local streaming server, relayed through real web processes."""

import json
import time

import pytest
from websockets.sync.client import connect

from tests.conftest import import_yaml
from tests.streaming.sse_server import ReplayServer, fixture_events
from uxlab.studies import actions
from uxlab.studies.models import Trial

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

WORDS = [f"word{i} " for i in range(40)]


def sse_events(words):
    def chunk(delta, **extra):
        return "data: " + json.dumps({"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, **extra}]}) + "\n\n"

    return (
        [chunk({"role": "assistant"})]
        + [chunk({"content": word}) for word in words]
        + [chunk({}, finish_reason="stop"), "data: [DONE]\n\n"]
    )


def study_yaml(base_url):
    return f"""
version: 1
code: live
title: Live study
consent: {{text: You agree.}}
arms:
  - {{name: secret_live_backend, kind: live, base_url: "{base_url}", model: secret-model-name}}
  - {{name: paced_arm, ttft_s: 0.1, tokens_per_second: 200}}
prompts:
  - {{name: p, text: Say some words., response: A fixed answer for the paced pane.}}
questions:
  - {{name: faster, kind: forced_choice_tie, text: "Which felt faster?"}}
design:
  pairs: [[secret_live_backend, paced_arm]]
"""


@pytest.fixture
def backend():
    server = ReplayServer().start()
    yield server
    server.stop()


@pytest.fixture
def live_participant(backend, team):
    study = import_yaml(study_yaml(backend.base_url), team)
    participant = actions.give_consent(actions.enroll_participant(study))
    trial = participant.trials.select_related("arm_a").get()
    return participant, "A" if trial.arm_a.name == "secret_live_backend" else "B"


def socket_url(base_url, token):
    return f"{base_url.replace('http', 'ws', 1)}/ws/p/{token}/"


def messages_until(websocket, stop, timeout=20):
    received = []
    while True:
        message = json.loads(websocket.recv(timeout=timeout))
        if message["type"] != "hello":
            received.append(message)
        if stop(message, received):
            return received


def answer_text(messages, pane):
    return "".join(m["text"] for m in messages if m["type"] == "stream.delta" and m["pane"] == pane and m["phase"] == "answer")


def ended(message, _):
    return message["type"] in {"stream.end", "stream.interrupted"}


def test_it_relays_a_live_backend_as_it_produces_alongside_a_paced_pane_token_by_token(backend, live_participant, stack):
    participant, live_pane = live_participant
    backend.play(sse_events(WORDS), gap_s=0.02, first_delay_s=0.3)
    with connect(socket_url(stack.url, participant.token), origin=stack.url) as websocket:
        websocket.send(json.dumps({"type": "trial.start", "trial": 0}))
        messages = messages_until(websocket, ended)

    start, *stream, end = messages
    assert start["delivery"] == "live" and end["type"] == "stream.end"
    assert [m["seq"] for m in stream] == list(range(1, len(stream) + 1)) and end["seq"] == len(stream) + 1
    assert answer_text(stream, live_pane) == "".join(WORDS)
    paced_pane = "B" if live_pane == "A" else "A"
    assert answer_text(stream, paced_pane) == "A fixed answer for the paced pane."
    live_due = [m["due_ms"] for m in stream if m["type"] == "stream.delta" and m["pane"] == live_pane]
    assert live_due == sorted(live_due) and live_due[0] >= 250  # the backend's 0.3 s first-chunk delay
    wire = json.dumps(messages)
    for secret in ("secret_live_backend", "secret-model-name", "127.0.0.1:"):
        assert secret not in wire
    assert backend.requests[0]["json"]["messages"][-1]["content"] == "Say some words."
    trial = wait_for_trial(participant, lambda trial: trial.status == Trial.Status.FINISHED)
    relayed = trial.server_timing["relayed"]
    assert sum(tokens for _, pane, _, tokens, *_ in relayed if pane == live_pane) >= len(WORDS)
    # The paced pane (200 tokens/s, a few tokens a frame) carries each token's due time, as in a
    # synthetic trial, and the server timing keeps them for its fidelity, token by token.
    paced = [m for m in stream if m["type"] == "stream.delta" and m["pane"] == paced_pane]
    with_parts = [m for m in paced if "parts" in m]
    assert with_parts and all(m["parts"][0][0] == m["due_ms"] for m in with_parts)
    assert all("".join(text for _, text in m["parts"]) == m["text"] for m in with_parts)
    assert all(len(m["parts"]) == m["tokens"] for m in with_parts)
    kept = {entry[0]: [round(due_s * 1000, 3) for due_s in entry[5]] for entry in relayed if len(entry) > 5}
    assert kept == {m["seq"]: [due_ms for due_ms, _ in m["parts"]] for m in with_parts}


def test_it_resumes_a_live_stream_on_another_process_from_the_redis_buffer(
    backend, live_participant, stack
):
    participant, live_pane = live_participant
    backend.play(sse_events(WORDS), gap_s=0.05)
    with connect(socket_url(stack.url, participant.token), origin=stack.url) as websocket:
        websocket.send(json.dumps({"type": "trial.start", "trial": 0}))
        first = messages_until(websocket, lambda m, received: len(received) > 6)
    last_seq = first[-1]["seq"]

    with connect(socket_url(stack.second_url, participant.token), origin=stack.second_url) as websocket:
        websocket.send(json.dumps({"type": "trial.start", "trial": 0, "after_seq": last_seq}))
        rest = messages_until(websocket, ended)

    restart, *resumed = rest
    assert restart["after_seq"] == last_seq and restart["resumed"] and resumed[-1]["type"] == "stream.end"
    stream = first[1:] + resumed
    assert [m["seq"] for m in stream] == list(range(1, len(stream) + 1))
    assert answer_text(stream, live_pane) == "".join(WORDS)
    assert len(backend.requests) == 1  # resumed from the buffer, not asked again


def test_it_marks_the_trial_interrupted_when_the_backend_fails_and_names_nothing(backend, live_participant, stack):
    participant, _ = live_participant
    backend.play(fixture_events("broken_midstream_error.sse"), gap_s=0.01)
    with connect(socket_url(stack.url, participant.token), origin=stack.url) as websocket:
        websocket.send(json.dumps({"type": "trial.start", "trial": 0}))
        messages = messages_until(websocket, ended)
    assert messages[-1]["type"] == "stream.interrupted" and messages[-1]["reason"] == "backend_failed"
    assert "secret" not in json.dumps(messages)
    wait_for_trial(participant, lambda trial: trial.status == Trial.Status.INTERRUPTED)


def wait_for_trial(participant, condition, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        trial = Trial.objects.get(participant=participant, index=0)
        if condition(trial) or time.monotonic() > deadline:
            assert condition(trial), trial.status
            return trial
        time.sleep(0.05)
