"""Live arms fit for a real study, end to end on a real local streaming server and real web processes:
failures and restarts end in a skipped trial and a completable session, the live response (text,
reasoning, usage, finish reason, every chunk's arrival) is stored and exported, in-flight limits hold
across processes, and a trial's summary is whole whichever half arrives first."""

import asyncio
import json
import socket
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from websockets.sync.client import connect

from tests.conftest import import_yaml
from tests.live.test_live_delivery import WORDS, ended, messages_until, socket_url, sse_events, wait_for_trial
from tests.streaming.sse_server import ReplayServer
from uxlab.analysis.rows import ExportOptions, export_tables
from uxlab.studies import actions
from uxlab.studies.models import LiveResponse, Participant, Trial

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

USAGE = {"prompt_tokens": 12, "completion_tokens": 40, "total_tokens": 52,
         "completion_tokens_details": {"reasoning_tokens": 3}}


def chunk(delta, **extra):
    return "data: " + json.dumps({"id": "c1", "object": "chat.completion.chunk",
                                  "choices": [{"index": 0, "delta": delta, **extra}]}) + "\n\n"


def reasoning_then_answer(words, finish="length"):
    """A reasoning phase (hidden by the arm), an answer cut at max_tokens, then the usage chunk."""
    return (
        [chunk({"role": "assistant"}), chunk({"reasoning_content": "Let me think. "}), chunk({"reasoning_content": "Done."})]
        + [chunk({"content": word}) for word in words]
        + [chunk({}, finish_reason=finish),
           "data: " + json.dumps({"id": "c1", "choices": [], "usage": USAGE}) + "\n\n", "data: [DONE]\n\n"]
    )


def study_yaml(base_url, code="livearms", live_extra="", design_extra="", prompts=1):
    prompt_lines = "\n".join(
        f"  - {{name: p{i}, text: Say some words., response: A fixed answer for the paced pane.}}" for i in range(prompts)
    )
    return f"""
version: 1
code: {code}
title: Live arms
consent: {{text: You agree.}}
arms:
  - {{name: live_arm, kind: live, base_url: "{base_url}", model: secret-model{live_extra}}}
  - {{name: paced_arm, ttft_s: 0.1, tokens_per_second: 200}}
prompts:
{prompt_lines}
questions:
  - {{name: faster, kind: forced_choice_tie, text: "Which felt faster?"}}
design:
  pairs: [[live_arm, paced_arm]]{design_extra}
"""


@pytest.fixture
def backend():
    server = ReplayServer().start()
    yield server
    server.stop()


def dead_url():
    """A loopback URL where nothing listens: a backend that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def enrol(study):
    participant = actions.give_consent(actions.enroll_participant(study))
    Participant.objects.filter(pk=participant.pk).update(
        checks={"passed": True}, checked_at=participant.consented_at, instructions_seen_at=participant.consented_at
    )
    return participant


def live_pane(participant, index=0):
    trial = participant.trials.select_related("arm_a").get(index=index)
    return "A" if trial.arm_a.name == "live_arm" else "B"


def start_and_wait(url, participant, index=0, stop=ended):
    with connect(socket_url(url, participant.token), origin=url) as websocket:
        websocket.send(json.dumps({"type": "trial.start", "trial": index}))
        return messages_until(websocket, stop)


def table(study, name):
    exported = export_tables()[name]
    return [dict(zip(exported.column_names, row, strict=True)) for row in exported.rows(study, ExportOptions())]


def telemetry_from(messages, trial_index, late_ms=8.0):
    """What a browser reports: each delta received 3 ms and shown `late_ms` after the server sent it."""
    frames = [[m["seq"], m["due_ms"] + 3, m["due_ms"] + late_ms] for m in messages if m["type"] == "stream.delta"]
    return {"type": "telemetry.submit", "key": str(uuid.uuid4()), "trial": trial_index, "frames": frames,
            "frame_ms": 16.7}


def test_it_skips_a_live_trial_whose_backend_is_down_after_its_restarts_and_the_session_completes(team, stack):
    study = import_yaml(study_yaml(dead_url(), design_extra="\n  max_restarts: 2"), team)
    participant = enrol(study)

    reasons = []
    for _attempt in range(3):  # the first try and two restarts, each as a fresh page would ask
        messages = start_and_wait(stack.url, participant)
        reasons.append(messages[-1]["reason"])
    assert reasons == ["backend_failed", "backend_failed", "trial_skipped"]
    # A page that asks again is told the trial is skipped, never streamed a fourth time.
    with connect(socket_url(stack.url, participant.token), origin=stack.url) as websocket:
        websocket.send(json.dumps({"type": "trial.start", "trial": 0}))
        error = messages_until(websocket, lambda m, _: m["type"] == "error")[-1]
    assert error["code"] == "trial_skipped"

    trial = Trial.objects.get(participant=participant, index=0)
    assert trial.status == Trial.Status.SKIPPED and trial.skip_reason == "restart_limit: connect_failed"
    attempts = LiveResponse.objects.filter(trial=trial).order_by("attempt")
    assert [(r.attempt, r.failure) for r in attempts] == [(0, "connect_failed"), (1, "connect_failed"), (2, "connect_failed")]

    # The participant moves on: nothing is pending, and the session completes with the outcome kept.
    participant.refresh_from_db()
    assert actions.pending_trial(participant) is None and actions.participant_step(participant) == "done"
    assert actions.complete_participant(participant)
    [row] = table(study, "trials")
    assert row["status"] == "skipped" and row["skip_reason"] == "restart_limit: connect_failed"
    assert row[f"arm_{live_pane(participant).lower()}_failure"] == "connect_failed"
    [person] = table(study, "participants")
    assert person["status"] == "completed" and person["trials_skipped"] == 1


def test_it_stores_and_exports_a_live_trials_text_reasoning_usage_finish_reason_and_timing(backend, team, stack):
    study = import_yaml(study_yaml(backend.base_url), team)
    participant = enrol(study)
    pane = live_pane(participant)
    backend.play(reasoning_then_answer(WORDS), gap_s=0.02, first_delay_s=0.2)

    with connect(socket_url(stack.url, participant.token), origin=stack.url) as websocket:
        websocket.send(json.dumps({"type": "trial.start", "trial": 0}))
        messages = messages_until(websocket, ended)
        assert messages[-1]["type"] == "stream.end"
        # The hidden reasoning never reaches the browser, only an empty "thinking" marker.
        assert "Let me think" not in json.dumps(messages)
        telemetry = telemetry_from(messages, 0)
        websocket.send(json.dumps(telemetry))
        messages_until(websocket, lambda m, _: m["type"] == "telemetry.stored")

    response = LiveResponse.objects.get(trial__participant=participant)
    assert response.text == "".join(WORDS) and response.reasoning == "Let me think. Done."
    assert response.usage == USAGE and response.finish_reason == "length" and response.failure == ""
    assert response.in_flight == 1 and response.ttft_s >= 0.15 and response.tokens_per_second > 0

    trial = wait_for_trial(participant, lambda trial: bool(trial.fidelity))
    assert trial.fidelity["standard"] == "live"
    live = trial.fidelity["panes"][pane]
    assert live["target"]["ttft_answer_s"] == pytest.approx(response.ttft_s, abs=1e-3)
    assert live["fraction_within_budget"] == 1.0 and live["lateness_ms"]["max"] == pytest.approx(8.0, abs=0.01)

    [row] = table(study, "trials")
    arm = f"arm_{pane.lower()}"
    assert row[f"{arm}_ttft_s"] == response.ttft_s and row[f"{arm}_tokens_per_second"] == response.tokens_per_second
    assert row[f"{arm}_finish_reason"] == "length" and row[f"{arm}_failure"] == "" and row[f"{arm}_in_flight"] == 1
    assert row["low_fidelity"] is False and row["excluded"] is False
    [exported] = table(study, "live_responses")
    assert exported["text"] == "".join(WORDS) and exported["reasoning"] == "Let me think. Done."
    assert (exported["prompt_tokens"], exported["completion_tokens"], exported["reasoning_tokens"]) == (12, 40, 3)
    assert exported["finish_reason"] == "length" and exported["ttft_s"] == response.ttft_s
    chunks = table(study, "live_chunks")
    assert "".join(c["text"] for c in chunks if c["phase"] == "answer") == "".join(WORDS)
    assert [c["shown"] for c in chunks if c["phase"] == "thinking"] == [False, False]
    arrivals = [c["arrival_s"] for c in chunks]
    assert arrivals == sorted(arrivals) and arrivals[0] >= 0.15
    shown = {m["seq"]: m for m in messages if m["type"] == "stream.delta"}
    for c in chunks:
        if c["shown"]:
            assert shown[c["seq"]]["text"] == c["text"] and shown[c["seq"]]["due_ms"] == round(c["arrival_s"] * 1000, 3)


def test_it_refuses_a_second_live_stream_over_the_arms_limit_across_processes_and_skips_it(backend, team, stack):
    study = import_yaml(study_yaml(backend.base_url, live_extra=", max_in_flight: 1, when_full: skip"), team)
    first, second = enrol(study), enrol(study)
    second_url = stack.second_url  # started (once per session) before any stream is in flight
    backend.play(sse_events(WORDS), gap_s=0.04, first_delay_s=0.3)

    with connect(socket_url(stack.url, first.token), origin=stack.url) as one:
        one.send(json.dumps({"type": "trial.start", "trial": 0}))
        messages_until(one, lambda m, received: m["type"] == "stream.delta" and m["phase"] == "answer")
        # The first stream is in flight on one process: the other process must see it through Redis.
        other = start_and_wait(second_url, second)
        rest = messages_until(one, ended)
    assert other[-1]["type"] == "stream.interrupted" and other[-1]["reason"] == "trial_skipped"
    assert rest[-1]["type"] == "stream.end"
    refused = Trial.objects.get(participant=second, index=0)
    assert refused.status == Trial.Status.SKIPPED and refused.skip_reason == "arm_busy"
    assert LiveResponse.objects.get(trial=refused).failure == "arm_busy"
    assert LiveResponse.objects.get(trial__participant=first).in_flight == 1
    assert len(backend.requests) == 1


def test_it_queues_a_live_stream_at_the_arms_limit_and_records_the_wait_and_the_concurrency(backend, team, stack):
    study = import_yaml(study_yaml(backend.base_url, live_extra=", max_in_flight: 1"), team)
    first, second = enrol(study), enrol(study)
    second_url = stack.second_url  # started (once per session) before any stream is in flight
    backend.play(sse_events(WORDS[:10]), gap_s=0.05, first_delay_s=0.2)

    with connect(socket_url(stack.url, first.token), origin=stack.url) as one:
        one.send(json.dumps({"type": "trial.start", "trial": 0}))
        messages_until(one, lambda m, received: m["type"] == "stream.delta")
        other = start_and_wait(second_url, second)
        messages_until(one, ended)
    assert other[-1]["type"] == "stream.end"
    waited = LiveResponse.objects.get(trial__participant=second)
    assert waited.failure == "" and waited.in_flight == 1 and waited.queued_s > 0.2
    assert waited.ttft_s > waited.queued_s  # the participant saw the wait: it is part of the delivered TTFT


def test_it_records_how_many_streams_of_a_live_arm_were_in_flight_when_each_started(backend, team, stack):
    study = import_yaml(study_yaml(backend.base_url), team)
    first, second = enrol(study), enrol(study)
    second_url = stack.second_url  # started (once per session) before any stream is in flight
    backend.play(sse_events(WORDS[:10]), gap_s=0.05, first_delay_s=0.3)

    with connect(socket_url(stack.url, first.token), origin=stack.url) as one:
        one.send(json.dumps({"type": "trial.start", "trial": 0}))
        messages_until(one, lambda m, received: m["type"] == "stream.delta")
        start_and_wait(second_url, second)
        messages_until(one, ended)
    counts = {r.trial.participant_id: r.in_flight for r in LiveResponse.objects.select_related("trial")}
    assert counts == {first.pk: 1, second.pk: 2}


@pytest.mark.asyncio
async def test_it_summarises_a_live_trial_in_full_when_its_telemetry_races_ahead_of_its_timing(
    backend, team, monkeypatch
):
    from uxlab.asgi import application

    study = await sync_to_async(import_yaml)(study_yaml(backend.base_url), team)
    participant = await sync_to_async(enrol)(study)
    pane = await sync_to_async(live_pane)(participant)
    backend.play(sse_events(WORDS), gap_s=0.01, first_delay_s=0.1)
    finish = actions.finish_live_trial

    def telemetry_first(participant_id, index, server_timing, records):
        # The browser's half lands first: it is stored (and cannot be summarised yet) before the timing.
        # (What the browser saw: each relayed message received 3 ms and shown 8 ms after it was sent.)
        frames = [[seq, at_s * 1000 + 3, at_s * 1000 + 8] for seq, _pane, at_s, *_ in server_timing["relayed"]]
        trial = Trial.objects.get(participant_id=participant_id, index=index)
        actions.record_telemetry({"key": str(uuid.uuid4()), "group_name": "nobody", "trial_id": trial.pk,
                                  "telemetry": {"frames": frames, "frame_ms": 16.7},
                                  "received_at": "2030-01-01T00:00:00+00:00"})
        assert Trial.objects.get(pk=trial.pk).fidelity == {}
        finish(participant_id, index, server_timing, records)

    monkeypatch.setattr(actions, "finish_live_trial", telemetry_first)
    communicator = WebsocketCommunicator(application, f"/ws/p/{participant.token}/", headers=[(b"origin", b"http://127.0.0.1")])
    assert (await communicator.connect())[0]
    await communicator.receive_json_from()
    await communicator.send_json_to({"type": "trial.start", "trial": 0})
    while True:
        message = await communicator.receive_json_from(timeout=20)
        if message["type"] in ("stream.end", "stream.interrupted"):
            break
    await communicator.disconnect()
    await asyncio.sleep(0)

    assert message["type"] == "stream.end"
    trial = await Trial.objects.aget(participant=participant, index=0)
    assert trial.fidelity["standard"] == "live" and trial.status == Trial.Status.FINISHED
    for data in trial.fidelity["panes"].values():
        assert data["target"]["ttft_answer_s"] is not None and data["target"]["tokens_per_second"] is not None
        assert data["observed"]["tokens_per_second"] is not None and data["complete"]
    assert trial.fidelity["panes"][pane]["fraction_within_budget"] == 1.0
