"""Hostile participants on the websocket (issue 11, the socket's half): a script that answers
without streaming, resumes past the end, floods frames, opens sockets by the hundred, resends
conflicting answers and telemetry without end, keeps using a session that is over, or sends loose
types and paths that name nothing. Each is played through the real websocket path on Postgres:
in-process through Channels' communicator, or against the real uvicorn + Celery worker of the
`stack` fixture, whose web log must stay free of tracebacks."""

import asyncio
import json
import time
import uuid
from contextlib import ExitStack, contextmanager
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.utils import timezone
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.conftest import import_yaml, mark_trials_shown
from uxlab.asgi import application
from uxlab.live import consumers, protocol
from uxlab.streaming.delivery import plan_messages
from uxlab.streaming.trial import trial_frames
from uxlab.studies import actions
from uxlab.studies.models import Participant, Rating, RatingConflict, Trial, TrialTelemetry

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = [(b"origin", b"http://127.0.0.1")]

# Four prompts × three questions: twelve answers and four telemetry batches complete a session.
# The arms are slow enough that a trial streams for a couple of seconds.
CHEAT_STUDY_YAML = """
version: 1
code: cheat
title: Cheating test study
consent:
  version: "1"
  text: You agree to take part in a short test.
completion:
  code: CHEAT123
arms:
  - name: quick
    ttft_s: 0.6
    tokens_per_second: 20
  - name: slower
    ttft_s: 0.9
    tokens_per_second: 15
prompts:
{prompts}
questions:
{questions}
design:
  pairs: [[quick, slower]]
  seed: cheat
""".format(
    prompts="\n".join(f"  - name: p{i}\n    text: Prompt {i}.\n    response: Answer {i}, short." for i in range(4)),
    questions="\n".join(f"  - name: q{i}\n    kind: forced_choice_tie\n    text: Question {i}?" for i in range(3)),
)


def rating(trial, question="faster", value="A", key=None):
    return {
        "type": "rating.submit",
        "key": key or str(uuid.uuid4()),
        "trial": trial,
        "question": question,
        "value": value,
        "response_ms": 900,
    }


def telemetry(trial, entries=0, key=None):
    return {
        "type": "telemetry.submit",
        "key": key or str(uuid.uuid4()),
        "trial": trial,
        "frames": [[seq, 100.125 + seq, 116.5 + seq] for seq in range(1, entries + 1)],
    }


# --- in-process: Channels' communicator on the real ASGI application -----------------------------


async def connect_in_process(token):
    communicator = WebsocketCommunicator(application, f"/ws/p/{token}/", headers=ORIGIN)
    connected, _ = await communicator.connect()
    assert connected
    assert await communicator.receive_json_from() == {"type": "hello", "protocol": 1}
    return communicator


async def receive_in_process_until(communicator, message_type, timeout=10):
    while True:
        message = await communicator.receive_json_from(timeout=timeout)
        if message["type"] == message_type:
            return message


async def assert_refused_and_closed(communicator, code, close_code):
    """The next frames are the error `code` and the socket's close with `close_code`."""
    error = await communicator.receive_json_from()
    assert error["type"] == "error" and error["code"] == code and error["message"]
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": close_code}
    # The server then reports the closed connection to the consumer, as uvicorn does: without it
    # the consumer's application instance (and its channel-layer receive) outlives the test.
    await communicator.disconnect()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "frame, code",
    [
        ('{"type": "trial.start", "trial": "0"}', "bad_message"),
        ('{"type": "trial.start", "trial": 0.0}', "bad_message"),
        ('{"type": "trial.start", "trial": true}', "bad_message"),
        ('{"type": "trial.start", "trial": 0, "after_seq": "5"}', "bad_message"),
        ('{"type": "trial.start", "trial": 0, "after_seq": 1e18}', "bad_message"),
        ('{"type": "trial.start", "trial": 0, "after_seq": 1000000000000000000}', "bad_message"),
        ('{"type": "ping", "t": true}', "bad_message"),
        ('{"type": "ping", "t": "12"}', "bad_message"),
        (json.dumps(rating(0) | {"response_ms": "5"}), "bad_message"),
        (json.dumps(telemetry(0) | {"frames": [["1", 2, 3]]}), "bad_message"),
        # 5,000 "€" are 15,000 bytes: under 16 KiB, refused only for the unknown field.
        (json.dumps({"type": "ping", "t": 1, "padding": "€" * 5_000}, ensure_ascii=False), "bad_message"),
        # 6,000 "€" are 6,000 characters but 18,000 bytes: over 16 KiB.
        (json.dumps({"type": "ping", "t": 1, "padding": "€" * 6_000}, ensure_ascii=False), "too_large"),
        # Postgres keeps no NUL in text: an answer holding one would fail in the worker, forever.
        (json.dumps(rating(0, value="a\u0000b")), "bad_message"),
        (json.dumps(rating(0, value="a\u0000b"), ensure_ascii=False), "bad_message"),
    ],
)
async def test_it_refuses_the_loose_types_a_hostile_client_sends(participant, frame, code):
    communicator = await connect_in_process(participant.token)
    await communicator.send_to(text_data=frame)
    error = await communicator.receive_json_from()
    assert error["type"] == "error" and error["code"] == code, error
    await communicator.send_json_to({"type": "ping", "t": 1.5})
    assert (await communicator.receive_json_from())["type"] == "pong"
    await communicator.disconnect()
    trial = await Trial.objects.aget(participant=participant, index=0)
    assert trial.stream_t0 is None and trial.status == Trial.Status.ASSIGNED


def oversized(message, padding_field):
    """`message` padded past its frame limit, with `key` second as the page sends it."""
    limit = protocol.MAX_TELEMETRY_BYTES if message["type"] == "telemetry.submit" else protocol.MAX_FRAME_BYTES
    if padding_field == "frames":
        message = {**message, "frames": [[seq, 100.125 + seq, 116.5 + seq] for seq in range(1, limit // 20)]}
    else:
        message = {**message, padding_field: "x" * (limit + 1)}
    text = json.dumps(message)
    assert len(text.encode()) > limit
    return text


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "message, padding_field",
    [(telemetry(0), "frames"), (rating(0), "value")],
    ids=["telemetry over 1 MiB", "answer over 16 KiB"],
)
async def test_it_names_the_key_of_a_keyed_frame_it_refuses_as_too_large(participant, message, padding_field):
    """A frame over its limit is refused before it is parsed, yet its refusal names the key the page
    put near its start (`ref`), so the page's outbox drops the message instead of resending it on
    every reconnect, for ever."""
    communicator = await connect_in_process(participant.token)
    await communicator.send_to(text_data=oversized(message, padding_field))
    error = await communicator.receive_json_from()
    assert error == {"type": "error", "code": "too_large", "message": error["message"], "ref": message["key"]}
    await communicator.send_json_to({"type": "ping", "t": 1.5})
    assert (await communicator.receive_json_from())["type"] == "pong"
    await communicator.disconnect()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "text",
    [
        # The key after a megabyte: looking for it would cost what the limit saves.
        '{"type": "telemetry.submit", "frames": [' + "[1, 2.5, 3.5], " * 80_000 + '[1, 2, 3]], "key": "%s"}' % uuid.uuid4(),
        # Not a key: only a UUID is named.
        '{"type": "rating.submit", "key": "not-a-uuid", "value": "' + "x" * 20_000 + '"}',
        '{"type": "ping", "t": 1, "padding": "' + "x" * 20_000 + '"}',
    ],
    ids=["key far from the start", "key not a UUID", "no key"],
)
async def test_it_refuses_a_frame_too_large_without_a_ref_when_no_key_is_near_its_start(participant, text):
    communicator = await connect_in_process(participant.token)
    await communicator.send_to(text_data=text)
    error = await communicator.receive_json_from()
    assert error["type"] == "error" and error["code"] == "too_large" and "ref" not in error
    await communicator.disconnect()


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/ws/zzz/", "/ws/p/a%00b/", "/ws/p/", "/ws/p/a/b/", "/ws/p/%2e%2e/x/", "/zzz"])
async def test_it_closes_the_unknown_paths_a_hostile_client_probes(db, path):
    communicator = WebsocketCommunicator(application, path, headers=ORIGIN)
    connected, code = await communicator.connect()
    assert (connected, code) == (False, 4404)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "status, code",
    [(Participant.Status.EXPIRED, "session_expired"), (Participant.Status.COMPLETED, "session_completed")],
)
async def test_it_refuses_a_hostile_socket_of_a_session_that_is_over(participant, status, code):
    await Participant.objects.filter(pk=participant.pk).aupdate(status=status, completed_at=None)
    communicator = WebsocketCommunicator(application, f"/ws/p/{participant.token}/", headers=ORIGIN)
    connected, _ = await communicator.connect()
    assert connected
    await assert_refused_and_closed(communicator, code, 4410)


@pytest.mark.asyncio
async def test_it_refuses_a_hostile_trial_start_once_the_session_expired_and_keeps_the_trial_as_it_was(participant):
    communicator = await connect_in_process(participant.token)
    await Participant.objects.filter(pk=participant.pk).aupdate(status=Participant.Status.EXPIRED)
    await communicator.send_json_to({"type": "trial.start", "trial": 0})
    await assert_refused_and_closed(communicator, "session_expired", 4410)
    trial = await Trial.objects.aget(participant=participant, index=0)
    assert (trial.status, trial.stream_t0, trial.started_at) == (Trial.Status.ASSIGNED, None, None)


@pytest.mark.asyncio
async def test_it_never_rewrites_a_completed_hostile_sessions_trial(participant):
    await database_sync_to_async(mark_trials_shown)(participant)
    before = await Trial.objects.aget(participant=participant, index=0)
    communicator = await connect_in_process(participant.token)
    await Participant.objects.filter(pk=participant.pk).aupdate(
        status=Participant.Status.COMPLETED, completed_at=timezone.now()
    )
    await communicator.send_json_to({"type": "trial.start", "trial": 0})
    await assert_refused_and_closed(communicator, "session_completed", 4410)
    after = await Trial.objects.aget(pk=before.pk)
    assert (after.status, after.stream_t0, after.finished_at, after.restarts, after.resumes) == (
        before.status, before.stream_t0, before.finished_at, before.restarts, before.resumes,
    )  # fmt: skip


@pytest.mark.asyncio
async def test_it_refuses_a_hostile_answer_on_a_socket_whose_session_expired_meanwhile(participant, monkeypatch):
    monkeypatch.setattr(consumers, "STATE_RECHECK_S", 0.0)  # read the state back on every answer
    await database_sync_to_async(mark_trials_shown)(participant)
    communicator = await connect_in_process(participant.token)
    await Participant.objects.filter(pk=participant.pk).aupdate(status=Participant.Status.EXPIRED)
    answer = rating(0)
    await communicator.send_json_to(answer)
    error = await communicator.receive_json_from()
    assert (error["code"], error["ref"]) == ("session_expired", answer["key"])
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4410}
    await communicator.disconnect()
    assert not await Rating.objects.filter(participant=participant).aexists()


@pytest.mark.asyncio
async def test_it_refuses_a_hostile_answer_at_once_when_the_expiry_job_ends_the_session(participant):
    # No shortcut: the socket read its state a moment ago and would not read it again for 10 s.
    await database_sync_to_async(mark_trials_shown)(participant)
    communicator = await connect_in_process(participant.token)
    await communicator.send_json_to({"type": "ping", "t": 1})
    assert (await communicator.receive_json_from())["type"] == "pong"
    expired = await database_sync_to_async(actions.expire_sessions)(now=timezone.now() + timedelta(days=1))
    assert expired == 1
    await asyncio.sleep(0.3)  # the announcement travels through Redis
    answer = rating(0)
    await communicator.send_json_to(answer)
    error = await communicator.receive_json_from()
    assert (error["code"], error["ref"]) == ("session_expired", answer["key"])
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4410}
    await communicator.disconnect()
    assert not await Rating.objects.filter(participant=participant).aexists()


@pytest.mark.asyncio
async def test_it_streams_a_hostile_first_start_with_a_resume_point_from_the_beginning(participant):
    communicator = await connect_in_process(participant.token)
    await communicator.send_json_to({"type": "trial.start", "trial": 0, "after_seq": 500})
    start = await receive_in_process_until(communicator, "stream.start")
    first = await communicator.receive_json_from()
    assert (start["after_seq"], start["resumed"], first["seq"]) == (0, False, 1)
    await receive_in_process_until(communicator, "stream.end")
    await communicator.disconnect()


@pytest.mark.asyncio
async def test_it_refuses_a_hostile_resume_point_past_the_end_of_the_stream(participant):
    communicator = await connect_in_process(participant.token)
    await communicator.send_json_to({"type": "trial.start", "trial": 0})
    await receive_in_process_until(communicator, "stream.start")
    await communicator.send_json_to({"type": "trial.start", "trial": 0, "after_seq": 999_999})
    error = await receive_in_process_until(communicator, "error")
    assert error["code"] == "bad_message" and "after_seq" in error["message"]
    await communicator.disconnect()
    trial = await Trial.objects.aget(participant=participant, index=0)
    assert trial.finished_at is None and trial.status != Trial.Status.FINISHED


@pytest.mark.asyncio
async def test_it_limits_a_flood_of_trial_starts_before_any_database_work_and_then_closes(participant):
    communicator = await connect_in_process(participant.token)
    frame = json.dumps({"type": "trial.start", "trial": 0})
    began = time.monotonic()
    for _ in range(10_000):
        await communicator.send_to(text_data=frame)
    codes = []
    while True:
        output = await communicator.receive_output(timeout=30)
        if output["type"] == "websocket.close":
            break
        message = json.loads(output["text"])
        if message["type"] == "error":
            codes.append(message["code"])
    elapsed = time.monotonic() - began
    assert output["code"] == 4429
    assert codes.count("rate_limited") == settings.UXLAB_WS_REFUSED_FRAMES_MAX and codes[-1] == "too_many_frames"
    trial = await Trial.objects.aget(participant=participant, index=0)
    # Only frames within the budget reached start_trial (the first start, then restarts).
    assert 1 + trial.restarts + trial.resumes <= settings.UXLAB_WS_FRAME_BURST + settings.UXLAB_WS_FRAMES_PER_S * elapsed


@pytest.mark.asyncio
async def test_it_keeps_a_hostile_participant_within_the_socket_limit(participant, settings):
    settings.UXLAB_WS_SOCKETS_PER_PARTICIPANT = 2
    first, second = await connect_in_process(participant.token), await connect_in_process(participant.token)
    third = WebsocketCommunicator(application, f"/ws/p/{participant.token}/", headers=ORIGIN)
    assert (await third.connect())[0]
    await assert_refused_and_closed(third, "too_many_sockets", 4429)
    await first.disconnect()
    fourth = await connect_in_process(participant.token)  # a closed socket frees its place
    await second.disconnect()
    await fourth.disconnect()


@pytest.mark.asyncio
async def test_it_answers_frames_past_the_budget_with_rate_limited_and_recovers(participant, settings):
    settings.UXLAB_WS_FRAME_BURST = 5
    settings.UXLAB_WS_FRAMES_PER_S = 10
    communicator = await connect_in_process(participant.token)
    for t in range(8):
        await communicator.send_json_to({"type": "ping", "t": t})
    replies = [await communicator.receive_json_from() for _ in range(8)]
    assert [reply["type"] for reply in replies].count("pong") == 5
    assert [reply.get("code") for reply in replies if reply["type"] == "error"] == ["rate_limited"] * 3
    await asyncio.sleep(0.25)  # the bucket refills at 10 frames a second
    await communicator.send_json_to({"type": "ping", "t": 99})
    pong = await communicator.receive_json_from()
    assert (pong["type"], pong["t"]) == ("pong", 99)
    await communicator.disconnect()


@pytest.mark.asyncio
async def test_it_limits_a_hostile_participants_bytes_and_a_reconnect_starts_no_new_budget(participant, settings):
    settings.UXLAB_WS_BYTES_BURST = 64 * 1024  # raised to 1 MiB: the largest telemetry frame must pass
    settings.UXLAB_WS_BYTES_PER_S = 1024
    settings.UXLAB_WS_FRAME_BURST = 1_000  # the frame count is not what stops this flood
    batch = json.dumps(telemetry(0) | {"frames": [[seq, 1.5, 2.5] for seq in range(1, 25_000)]})
    assert 400_000 < len(batch) < 520_000  # two fit in the 1 MiB burst, the third does not
    communicator = await connect_in_process(participant.token)
    for _ in range(3):
        await communicator.send_to(text_data=batch)
    codes = [(await communicator.receive_json_from()).get("code") for _ in range(3)]
    assert codes.count("rate_limited") == 1  # the first two are handled (trial_not_streamed here)
    await communicator.disconnect()
    again = await connect_in_process(participant.token)  # a fresh socket, the same budget
    await again.send_to(text_data=batch)
    assert (await again.receive_json_from())["code"] == "rate_limited"
    await again.send_json_to({"type": "ping", "t": 1})  # small frames still pass
    assert (await again.receive_json_from())["type"] == "pong"
    await again.disconnect()


def test_it_stops_keeping_a_hostile_participants_telemetry_past_the_per_trial_limit(participant, settings):
    settings.UXLAB_TELEMETRY_BYTES_PER_TRIAL = 3_000
    mark_trials_shown(participant)
    context = actions.load_participant_context(participant.token)
    trial_id = context.trial_ids[0]

    def payload(entries):
        return {
            "key": str(uuid.uuid4()),
            "group_name": context.group_name,
            "trial_id": trial_id,
            "telemetry": {"frames": [[seq, 100.0 + seq, 116.0 + seq] for seq in range(1, entries + 1)]},
            "received_at": timezone.now().isoformat(),
        }

    # The first batch is kept whatever its size; later ones while the trial's total stays in bounds.
    first, second, third = payload(200), payload(5), payload(5)
    for item in (first, second, third):
        actions.record_telemetry(item)
    assert TrialTelemetry.objects.filter(trial_id=trial_id).count() == 1
    assert actions.stored_telemetry_bytes(trial_id) > 3_000


# --- the real stack: uvicorn, Redis, a Celery worker, Postgres -----------------------------------


def socket_url(base_url, token):
    return f"{base_url.replace('http', 'ws', 1)}/ws/p/{token}/"


@contextmanager
def open_socket(stack, token, base_url=None):
    base_url = base_url or stack.url  # the page that opens a socket is served by the same process
    with connect(socket_url(base_url, token), origin=base_url, max_size=None) as websocket:
        assert json.loads(websocket.recv(timeout=10)) == {"type": "hello", "protocol": 1}
        yield websocket


def receive_until(websocket, predicate, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(websocket.recv(timeout=max(0.01, deadline - time.monotonic())))
        if predicate(message):
            return message


def replies_by_key(websocket, keys, timeout=20):
    """{key: the frame that answered it (stored, error or retry)} for every key."""
    replies = {}
    deadline = time.monotonic() + timeout
    while set(keys) - set(replies):
        message = json.loads(websocket.recv(timeout=max(0.01, deadline - time.monotonic())))
        key = message.get("key") or message.get("ref")
        if key in keys and key not in replies:
            replies[key] = message
    return replies


class WebLog:
    """What the stack's web process logged since this test began."""

    def __init__(self, stack):
        self.path = stack.web.log_path
        self.start = self.path.stat().st_size

    def new_text(self):
        with open(self.path, "rb") as log:
            log.seek(self.start)
            return log.read().decode(errors="replace")

    def assert_no_tracebacks(self):
        text = self.new_text()
        assert "Traceback" not in text and " ERROR " not in text and "Exception in ASGI" not in text, text[-3000:]


def stream_length(participant, index):
    trial = Trial.objects.select_related("prompt", "arm_a", "arm_b", "participant__study").get(
        participant=participant, index=index
    )
    frames = trial_frames(actions.trial_pane_specs(trial), **actions.trial_layout(trial))
    return len(plan_messages(frames, trial.delivery))


@pytest.mark.services
def test_it_never_completes_a_cheater_who_answers_without_streaming(stack, team):
    study = import_yaml(CHEAT_STUDY_YAML, team)
    cheater = actions.give_consent(actions.enroll_participant(study))
    log = WebLog(stack)
    assert cheater.trials.count() == 4

    with open_socket(stack, cheater.token) as websocket:
        frames = [telemetry(index) for index in range(4)]
        frames += [rating(index, f"q{q}", "A") for index in range(4) for q in range(3)]
        for frame in frames:
            websocket.send(json.dumps(frame))
        replies = replies_by_key(websocket, [frame["key"] for frame in frames])
    codes = [replies[frame["key"]].get("code") for frame in frames]
    assert codes == ["trial_not_streamed"] * 4 + ["trial_not_shown"] * 12

    time.sleep(1)  # anything wrongly queued would be stored by now
    assert not Rating.objects.filter(participant=cheater).exists()
    assert not TrialTelemetry.objects.filter(trial__participant=cheater).exists()
    cheater.refresh_from_db()
    assert actions.complete_participant(cheater) is False and cheater.completed_at is None
    log.assert_no_tracebacks()


@pytest.mark.services
def test_it_makes_a_cheater_wait_for_the_stream_even_when_resuming_at_its_end(stack, team):
    study = import_yaml(CHEAT_STUDY_YAML.replace("code: cheat", "code: cheat2"), team)
    participant = actions.give_consent(actions.enroll_participant(study))
    log = WebLog(stack)

    with open_socket(stack, participant.token) as websocket:
        for index in range(4):
            websocket.send(json.dumps({"type": "trial.start", "trial": index}))
            start = receive_until(websocket, lambda message: message["type"] == "stream.start")
            total = stream_length(participant, index)
            # Claim to have every message already, then answer at once: not shown yet.
            websocket.send(json.dumps({"type": "trial.start", "trial": index, "after_seq": total}))
            receive_until(websocket, lambda message: message["type"] == "stream.start" and message["resumed"])
            early = rating(index, "q0")
            websocket.send(json.dumps(early))
            assert replies_by_key(websocket, [early["key"]])[early["key"]]["code"] == "trial_not_shown"
            assert time.time() * 1000 < start["t0_ms"] + 1000  # well before the stream could end

            # The honest path on the same socket: once the stream has ended, answers are taken.
            receive_until(websocket, lambda message: message["type"] == "stream.end")
            frames = [telemetry(index, entries=3)] + [rating(index, f"q{q}", "B") for q in range(3)]
            for frame in frames:
                websocket.send(json.dumps(frame))
            replies = replies_by_key(websocket, [frame["key"] for frame in frames])
            assert {reply["type"] for reply in replies.values()} == {"rating.stored", "telemetry.stored"}

    assert Rating.objects.filter(participant=participant).count() == 12
    participant.refresh_from_db()
    assert actions.complete_participant(participant) is True
    log.assert_no_tracebacks()


@pytest.mark.services
def test_it_limits_a_hostile_participants_sockets_across_web_processes(stack, participant):
    log = WebLog(stack)
    limit = settings.UXLAB_WS_SOCKETS_PER_PARTICIPANT
    urls = [stack.url, stack.second_url] * limit
    with ExitStack() as sockets:
        opened = [sockets.enter_context(open_socket(stack, participant.token, urls[index])) for index in range(limit)]
        for url in (stack.url, stack.second_url):
            with connect(socket_url(url, participant.token), origin=url) as extra:
                error = json.loads(extra.recv(timeout=10))
                assert error["type"] == "error" and error["code"] == "too_many_sockets"
                with pytest.raises(ConnectionClosed) as closed:
                    extra.recv(timeout=10)
                assert closed.value.rcvd.code == 4429
        opened[0].close()
        time.sleep(0.3)  # the server hears of the close
        sockets.enter_context(open_socket(stack, participant.token, stack.second_url))  # its place is free again
    log.assert_no_tracebacks()


@pytest.mark.services
def test_it_keeps_other_participants_responsive_while_a_hostile_one_floods_trial_starts(stack, study):
    attacker = actions.give_consent(actions.enroll_participant(study))
    bystander = actions.give_consent(actions.enroll_participant(study))
    log = WebLog(stack)
    from websockets.asyncio.client import connect as connect_async

    async def flood():
        async with connect_async(socket_url(stack.url, attacker.token), origin=stack.url) as websocket:
            await websocket.recv()
            frame = json.dumps({"type": "trial.start", "trial": 0})
            try:
                for _ in range(10_000):
                    await websocket.send(frame)
                while True:
                    await websocket.recv()
            except ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None

    async def bystand():
        round_trips, streamed = [], False
        async with connect_async(socket_url(stack.url, bystander.token), origin=stack.url) as websocket:
            await websocket.recv()
            await websocket.send(json.dumps({"type": "trial.start", "trial": 0}))
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:
                sent = time.monotonic()
                await websocket.send(json.dumps({"type": "ping", "t": sent}))
                while True:
                    message = json.loads(await websocket.recv())
                    streamed = streamed or message["type"] == "stream.end"
                    if message["type"] == "pong":
                        round_trips.append(time.monotonic() - message["t"])
                        break
                await asyncio.sleep(0.1)
        return round_trips, streamed

    async def both():
        return await asyncio.gather(flood(), bystand())

    began = time.monotonic()
    close_code, (round_trips, streamed) = asyncio.run(both())
    elapsed = time.monotonic() - began
    assert close_code == 4429
    assert streamed and len(round_trips) >= 20
    print("bystander round trips (ms):", sorted(round(rtt * 1000, 1) for rtt in round_trips))
    assert sorted(round_trips)[len(round_trips) // 2] < 0.1 and max(round_trips) < 1.0, round_trips
    trial = Trial.objects.get(participant=attacker, index=0)
    assert 1 + trial.restarts + trial.resumes <= settings.UXLAB_WS_FRAME_BURST + settings.UXLAB_WS_FRAMES_PER_S * elapsed
    time.sleep(0.5)
    log.assert_no_tracebacks()


@pytest.mark.services
def test_it_keeps_a_limited_number_of_a_hostile_participants_conflicts_but_confirms_them_all(stack, participant):
    mark_trials_shown(participant)
    log = WebLog(stack)
    cap = settings.UXLAB_RATING_CONFLICTS_MAX
    first = rating(0, value="A")
    resends = [rating(0, value=("B", "tie")[index % 2]) for index in range(cap + 20)]
    with open_socket(stack, participant.token) as websocket:
        websocket.send(json.dumps(first))
        assert replies_by_key(websocket, [first["key"]])[first["key"]]["type"] == "rating.stored"
        for frame in resends:
            websocket.send(json.dumps(frame))
        replies = replies_by_key(websocket, [frame["key"] for frame in resends], timeout=30)
    assert {reply["type"] for reply in replies.values()} == {"rating.stored"}
    assert list(Rating.objects.filter(participant=participant).values_list("value", flat=True)) == ["A"]
    assert RatingConflict.objects.filter(participant=participant).count() == cap
    log.assert_no_tracebacks()


@pytest.mark.services
def test_it_limits_a_hostile_participants_telemetry_per_trial_across_sockets(stack, participant):
    mark_trials_shown(participant)
    log = WebLog(stack)
    entries = 30_000  # about 0.7 MB of JSON each: three of them are past the 2 MiB limit
    batches = [telemetry(0, entries) for _ in range(4)]
    with open_socket(stack, participant.token) as websocket:
        for batch in batches[:3]:
            websocket.send(json.dumps(batch))
        replies = replies_by_key(websocket, [batch["key"] for batch in batches[:3]], timeout=60)
    assert [replies[batch["key"]]["type"] for batch in batches[:2]] == ["telemetry.stored"] * 2
    assert replies[batches[2]["key"]].get("code") == "telemetry_limit"
    # A new socket does not know what the last one took; the worker does: confirmed, not kept.
    with open_socket(stack, participant.token) as websocket:
        websocket.send(json.dumps(batches[3]))
        assert replies_by_key(websocket, [batches[3]["key"]], timeout=60)[batches[3]["key"]]["type"] == "telemetry.stored"
    kept = set(TrialTelemetry.objects.filter(trial__participant=participant).values_list("key", flat=True))
    assert {str(key) for key in kept} == {batches[0]["key"], batches[1]["key"]}
    assert actions.stored_telemetry_bytes(participant.trials.get(index=0).pk) <= settings.UXLAB_TELEMETRY_BYTES_PER_TRIAL
    log.assert_no_tracebacks()


@pytest.mark.services
def test_it_closes_hostile_paths_and_floods_without_a_traceback_in_the_log(stack, participant):
    log = WebLog(stack)
    for path in ("/ws/zzz/", "/ws/p/a%00b/", "/ws/p/..%2f..%2fsettings.py/"):
        with pytest.raises(InvalidStatus):
            connect(f"{stack.url.replace('http', 'ws', 1)}{path}", origin=stack.url).close()
    # Start flood, then gone: nothing may be sent to the closed socket without being caught.
    for _ in range(3):
        with open_socket(stack, participant.token) as websocket:
            for _ in range(300):
                websocket.send(json.dumps({"type": "trial.start", "trial": 0}))
    with open_socket(stack, participant.token) as websocket:  # the web process is fine
        websocket.send(json.dumps({"type": "ping", "t": 1}))
        assert receive_until(websocket, lambda message: message["type"] == "pong")["t"] == 1
    time.sleep(1.5)  # the streams of the closed sockets would be sending by now
    log.assert_no_tracebacks()
