"""The rating path under fault injection, on real processes on loopback: uvicorn, a Celery worker,
Redis servers of the test's own (never the machine's shared one) and Postgres.

Each test drives participants whose client behaves like the browser's outbox (keep every answer
until `rating.stored`; resend after a reconnect, after `rating.retry`, and when unconfirmed for a
while), breaks something in the middle, and checks the oracle: every answer a participant was told
is stored is in Postgres exactly once, every row was submitted, nothing is duplicated.
"""

import asyncio
import json
import threading
import time
import uuid

import psycopg
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, WebSocketException

from tests.conftest import import_yaml, mark_trials_shown
from tests.stack import Stack
from uxlab.benchmarks.management.commands.bench_ratings import study_yaml
from uxlab.benchmarks.processes import child_env, redis_server
from uxlab.studies import actions
from uxlab.studies.models import FailedTask, Rating, RatingConflict, Trial

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

WORKER_APP_NAME = "uxlab-fault-worker"


# --- Processes -----------------------------------------------------------------------------------


@pytest.fixture
def redis_servers(tmp_path):
    """redis-servers of the test's own on free ports: each can be killed, paused and restarted."""
    servers = []

    def make():
        servers.append(redis_server(tmp_path / f"redis-{len(servers)}.log").start())
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


def queue_length(redis_url):
    import redis

    return redis.Redis.from_url(redis_url).llen("celery")


@pytest.fixture
def stacks(tmp_path, services_env):
    """A web process and a worker using this test's Redis servers and the test database; the worker
    runs through tests/faulty_worker.py, whose hooks stay off unless a test sets them."""
    made = []

    def make(channel_redis, broker_redis=None, web_env=None, worker_env=None):
        env = services_env | {
            "REDIS_URL": channel_redis.url,
            "CELERY_BROKER_URL": (broker_redis or channel_redis).url,
            "UXLAB_PUBLISH_TIMEOUT_S": "1",
            "CELERY_BROKER_SOCKET_TIMEOUT": "2",
            "UXLAB_STORE_RETRY_BASE_S": "0.05",
            "UXLAB_STORE_RETRY_CAP_S": "1",
            # These clients answer (and ping) far faster than a person: lift the per-socket frame
            # limits, which tests/live/test_hostile_socket.py tests.
            "UXLAB_WS_FRAME_BURST": "100000",
            "UXLAB_WS_FRAMES_PER_S": "100000",
        }
        log_dir = tmp_path / f"stack-{len(made)}"
        log_dir.mkdir()
        made.append(Stack(log_dir, env, web_env=web_env, worker_env=worker_env, worker_module="tests.faulty_worker"))
        return made[-1]

    yield make
    for stack in made:
        stack.close()


# --- Participants that behave like the browser's outbox ----------------------------------------


def socket_url(base_url, token):
    return f"{base_url.replace('http', 'ws', 1)}/ws/p/{token}/"


class OutboxClient:
    """One participant's page: sends answers, keeps each until `rating.stored`, and resends."""

    def __init__(self, base_url, token, answers, interval_s=0.03, resend_after_s=2.0):
        self.url = socket_url(base_url, token)
        self.origin = base_url
        self.to_send = list(answers)
        self.interval_s = interval_s
        self.resend_after_s = resend_after_s
        self.outbox = {}  # key -> [message, last sent at]
        self.confirmed = set()
        self.retry_frames = 0
        self.reconnects = 0
        self.errors = []

    @property
    def done(self):
        return not self.to_send and not self.outbox

    async def run(self, deadline):
        while not self.done and time.monotonic() < deadline:
            try:
                async with connect(self.url, origin=self.origin, open_timeout=3, close_timeout=1) as websocket:
                    await self.converse(websocket, deadline)
            except (OSError, asyncio.TimeoutError, InvalidHandshake, WebSocketException):
                self.reconnects += 1
                await asyncio.sleep(0.2)

    async def converse(self, websocket, deadline):
        for entry in self.outbox.values():  # after a reconnect, resend everything unconfirmed
            entry[1] = time.monotonic()
            await websocket.send(json.dumps(entry[0]))
        next_send = time.monotonic()
        while not self.done and time.monotonic() < deadline:
            now = time.monotonic()
            if self.to_send and now >= next_send:
                message = self.to_send.pop(0)
                self.outbox[message["key"]] = [message, now]
                await websocket.send(json.dumps(message))
                next_send = now + self.interval_s
            for entry in self.outbox.values():
                if now - entry[1] > self.resend_after_s:
                    entry[1] = now
                    await websocket.send(json.dumps(entry[0]))
            try:
                frame = json.loads(await asyncio.wait_for(websocket.recv(), timeout=0.01))
            except asyncio.TimeoutError:
                continue
            self.receive(frame)

    def receive(self, frame):
        if frame["type"] == "rating.stored":
            self.confirmed.add(frame["key"])
            self.outbox.pop(frame["key"], None)
        elif frame["type"] == "rating.retry":
            self.retry_frames += 1
            if frame["key"] in self.outbox:
                self.outbox[frame["key"]][1] = time.monotonic() - self.resend_after_s + 0.3
        elif frame["type"] == "error":
            self.errors.append(frame)
            self.outbox.pop(frame.get("ref"), None)


def make_participants(team, count, prompts=10, questions=3):
    """A study of `team` with `prompts` × `questions` answers per participant, and `count` consented participants."""
    study = import_yaml(study_yaml(prompts, questions, code=f"fault-{uuid.uuid4().hex[:8]}"), team)
    participants = [mark_trials_shown(actions.give_consent(actions.enroll_participant(study))) for _ in range(count)]
    names = list(study.questions.values_list("name", flat=True))
    return participants, names


def answers_for(participant, question_names, values=("A", "B", "tie")):
    trial_count = participant.trials.count()
    return [
        {
            "type": "rating.submit",
            "key": str(uuid.uuid4()),
            "trial": trial,
            "question": name,
            "value": values[(trial + position) % len(values)],
            "response_ms": 100 + trial * 10 + position,
        }
        for trial in range(trial_count)
        for position, name in enumerate(question_names)
    ]


def drive(clients, deadline_s=40, faults=()):
    """Run the clients until every answer is confirmed (or the deadline); a fault is (when, action):
    the action runs in a thread once `when(clients)` holds."""

    async def run_faults():
        for when, action in faults:
            while not when(clients):
                await asyncio.sleep(0.01)
            await asyncio.to_thread(action)

    async def main():
        deadline = time.monotonic() + deadline_s
        fault_task = asyncio.create_task(run_faults())
        await asyncio.gather(*(client.run(deadline) for client in clients))
        if not fault_task.done():
            fault_task.cancel()
            raise AssertionError("the burst ended before every fault was injected")
        fault_task.result()

    asyncio.run(main())


def confirmed_count(clients):
    return sum(len(client.confirmed) for client in clients)


def assert_exactly_once(clients, answers_by_client):
    """The oracle: all confirmed, each stored once, nothing stored that was not submitted."""
    submitted = {answer["key"]: answer for answers in answers_by_client for answer in answers}
    confirmed = set().union(*(client.confirmed for client in clients))
    rows = list(Rating.objects.order_by().values_list("key", "value", "response_ms", "trial__index", "question__name"))
    keys = [str(row[0]) for row in rows]
    assert len(keys) == len(set(keys)), "a rating is stored twice"
    assert set(keys) <= set(submitted), "a row was never submitted"
    assert confirmed <= set(keys), f"{len(confirmed - set(keys))} confirmed ratings are missing"
    for key, value, response_ms, trial, question in rows:
        answer = submitted[str(key)]
        assert (value, response_ms, trial, question) == (
            answer["value"],
            answer["response_ms"],
            answer["trial"],
            answer["question"],
        )
    assert [client.errors for client in clients] == [[] for _ in clients]
    assert confirmed == set(submitted), f"{len(set(submitted) - confirmed)} ratings were never confirmed"


def task_ids(lines, *texts):
    """The Celery task ids of the log lines that contain every one of `texts`."""
    return [
        line.split("store_ratings[", 1)[1].split("]", 1)[0]
        for line in lines
        if "store_ratings[" in line and all(text in line for text in texts)
    ]


# --- 1. The worker is SIGKILLed ------------------------------------------------------------------


def test_it_stores_every_rating_once_when_the_worker_is_killed_after_commit_and_mid_burst(
    tmp_path, team, redis_servers, stacks
):
    marker = tmp_path / "kill-after-next-commit"
    stack = stacks(redis_servers(), worker_env={"UXLAB_FAULT_KILL_AFTER_COMMIT": str(marker)})
    participants, names = make_participants(team, 6)
    answers = [answers_for(participant, names) for participant in participants]
    clients = [OutboxClient(stack.url, p.token, a, resend_after_s=5) for p, a in zip(participants, answers)]
    total = sum(len(a) for a in answers)
    first_worker = stack.worker

    def kill_whole_worker_and_start_another():
        stack.kill_worker()
        stack.worker = stack.start_worker(UXLAB_FAULT_KILL_AFTER_COMMIT="")

    drive(
        clients,
        faults=[
            # The pool process SIGKILLs itself right after committing a batch, before confirming or
            # acknowledging it: the batch is redelivered and finds its rows already there.
            (lambda clients: confirmed_count(clients) >= 10, marker.touch),
            (lambda clients: not marker.exists() and confirmed_count(clients) >= total // 3, kill_whole_worker_and_start_another),
        ],
    )

    first_log = first_worker.log_text().splitlines()
    killed = next((n for n, line in enumerate(first_log) if "exited with 'signal 9 (SIGKILL)'" in line), None)
    assert killed is not None, "the pool process did not kill itself after commit"
    # The batch it had committed is redelivered (reject_on_worker_lost) under the same task id,
    # and finds its rows already there; a client's resend would be a new task.
    before = first_log[:killed]
    unfinished = set(task_ids(before, "received")) - set(task_ids(before, "succeeded"))
    all_logs = [line for process in stack.workers for line in process.log_text().splitlines()]
    redelivered = unfinished & set(task_ids(all_logs, "succeeded in", "'duplicate'"))
    assert redelivered, "the committed batch was not redelivered"
    assert_exactly_once(clients, answers)


# --- 2. Redis restarts ---------------------------------------------------------------------------


def test_it_stores_every_rating_once_when_redis_restarts_during_a_burst(team, redis_servers, stacks):
    redis = redis_servers()
    stack = stacks(redis)
    participants, names = make_participants(team, 6)
    answers = [answers_for(participant, names) for participant in participants]
    clients = [OutboxClient(stack.url, p.token, a) for p, a in zip(participants, answers)]
    total = sum(len(a) for a in answers)

    def restart_redis():
        redis.kill()  # no persistence: whatever was queued is gone, and the outboxes resend it
        time.sleep(0.5)
        redis.start()

    drive(clients, deadline_s=50, faults=[(lambda clients: confirmed_count(clients) >= total // 3, restart_redis)])

    assert stack.web.poll() is None and stack.worker.poll() is None, "a process died instead of reconnecting"
    assert_exactly_once(clients, answers)


# --- 3. The broker is down or hung ---------------------------------------------------------------


def test_it_keeps_sockets_responsive_and_asks_for_a_retry_while_the_broker_is_down(team, redis_servers, stacks):
    broker = redis_servers()
    stack = stacks(redis_servers(), broker_redis=broker)
    participants, names = make_participants(team, 4)
    answers = [answers_for(participant, names)[:12] for participant in participants[:3]]
    clients = [OutboxClient(stack.url, p.token, a, interval_s=0.02) for p, a in zip(participants, answers)]
    watcher = participants[3]
    round_trips = []

    async def watch_responsiveness(stop_at):
        """Another participant pings every 20 ms and streams a trial while the answers fail."""
        async with connect(socket_url(stack.url, watcher.token), origin=stack.url) as websocket:
            assert json.loads(await websocket.recv())["type"] == "hello"
            await websocket.send(json.dumps({"type": "trial.start", "trial": 0}))
            sent = {}
            streamed = False
            while time.monotonic() < stop_at:
                t = time.monotonic()
                sent[t] = t
                await websocket.send(json.dumps({"type": "ping", "t": t}))
                try:
                    while True:
                        frame = json.loads(await asyncio.wait_for(websocket.recv(), timeout=0.02))
                        if frame["type"] == "pong":
                            round_trips.append(time.monotonic() - sent.pop(frame["t"]))
                        streamed = streamed or frame["type"] == "stream.end"
                except asyncio.TimeoutError:
                    pass
            return streamed

    async def phase(clients_in_phase, seconds):
        stop_at = time.monotonic() + seconds
        results = await asyncio.gather(
            watch_responsiveness(stop_at), *(client.run(stop_at) for client in clients_in_phase)
        )
        return results[0]

    # Down: the broker is gone. Hung: it accepts connections and never answers.
    broker.kill()
    streamed_while_down = asyncio.run(phase(clients[:2], 4))
    broker.start()
    broker.pause()
    streamed_while_hung = asyncio.run(phase(clients[1:], 4))
    told_to_retry = [client.retry_frames for client in clients]
    worst_round_trip = max(round_trips)
    broker.resume()
    drive(clients, deadline_s=30)

    assert streamed_while_down and streamed_while_hung, "the other participant's trial did not stream to the end"
    assert all(count > 0 for count in told_to_retry), told_to_retry
    assert len(round_trips) > 100
    assert worst_round_trip < 0.25, f"a ping waited {worst_round_trip * 1000:.0f} ms: the event loop was blocked"
    assert_exactly_once(clients, answers)


# --- 4. Postgres connections are killed ----------------------------------------------------------


def test_it_stores_every_rating_once_when_the_workers_database_connections_are_killed(team, redis_servers, stacks):
    stack = stacks(redis_servers(), worker_env={"PGAPPNAME": WORKER_APP_NAME, "DB_CONN_MAX_AGE": "60"})
    participants, names = make_participants(team, 6)
    answers = [answers_for(participant, names) for participant in participants]
    clients = [OutboxClient(stack.url, p.token, a) for p, a in zip(participants, answers)]
    total = sum(len(a) for a in answers)
    terminated = []
    stop_killing = threading.Event()

    def kill_connections_repeatedly():
        database_url = child_env()["DATABASE_URL"]
        with psycopg.connect(database_url, autocommit=True) as admin:
            while not stop_killing.is_set() and len(terminated) < 40:
                rows = admin.execute(
                    "select pg_terminate_backend(pid) from pg_stat_activity"
                    " where application_name = %s and datname = current_database()",
                    [WORKER_APP_NAME],
                ).fetchall()
                terminated.extend(row for row in rows if row[0])
                time.sleep(0.02)

    killer = threading.Thread(target=kill_connections_repeatedly)
    drive(clients, faults=[(lambda clients: confirmed_count(clients) >= total // 5, killer.start)])
    stop_killing.set()
    killer.join()

    assert len(terminated) >= 5, f"only {len(terminated)} worker connections were killed"
    assert "lost the database connection" in stack.worker.log_text()
    assert stack.worker.poll() is None
    assert_exactly_once(clients, answers)


# --- 5. The browser's socket drops before the confirmation --------------------------------------


def test_it_stores_answers_once_when_the_socket_drops_before_the_confirmation(team, redis_servers, stacks):
    stack = stacks(redis_servers())
    (participant,), names = make_participants(team, 1)
    answers = answers_for(participant, names)[:15]

    async def send_and_drop():
        async with connect(socket_url(stack.url, participant.token), origin=stack.url) as websocket:
            assert json.loads(await websocket.recv())["type"] == "hello"
            for answer in answers:
                await websocket.send(json.dumps(answer))
        # Closed before any confirmation could be read: the page's outbox still holds all of them.

    asyncio.run(send_and_drop())
    client = OutboxClient(stack.url, participant.token, [])
    client.outbox = {answer["key"]: [answer, 0.0] for answer in answers}
    drive([client], deadline_s=20)

    assert_exactly_once([client], [answers])
    assert Rating.objects.count() == 15


# --- 6. The same key comes back with a different answer -----------------------------------------


def test_it_keeps_the_first_answer_and_records_a_conflict_for_a_changed_resend(team, redis_servers, stacks):
    stack = stacks(redis_servers())
    (participant,), names = make_participants(team, 1)
    first, other_question = answers_for(participant, names)[:2]
    first["value"] = "A"
    changed = {**first, "value": "B", "response_ms": first["response_ms"] + 1}
    together = {**other_question, "value": "tie"}
    together_changed = {**together, "value": "A"}

    async def converse():
        async with connect(socket_url(stack.url, participant.token), origin=stack.url) as websocket:
            assert json.loads(await websocket.recv())["type"] == "hello"
            frames = []
            for batch in ([first], [changed], [together, together_changed]):
                for message in batch:
                    await websocket.send(json.dumps(message))
                for _ in batch:
                    frames.append(json.loads(await asyncio.wait_for(websocket.recv(), timeout=15)))
            return frames

    frames = asyncio.run(converse())

    assert [frame["type"] for frame in frames] == ["rating.stored"] * 4
    assert {str(key): value for key, value in Rating.objects.values_list("key", "value")} == {
        first["key"]: "A",
        together["key"]: "tie",
    }
    conflicts = {(str(c.key), c.payload["value"], c.reason) for c in RatingConflict.objects.all()}
    assert conflicts == {
        (first["key"], "B", "same key, different answer"),
        (together["key"], "A", "same key, different answer"),
    }


# --- 7. A poison task ----------------------------------------------------------------------------


def test_it_gives_up_on_a_poison_rating_after_bounded_attempts_and_keeps_a_dead_letter(team, redis_servers, stacks):
    broker = redis_servers()
    stack = stacks(broker, worker_env={"UXLAB_STORE_MAX_ATTEMPTS": "4", "UXLAB_STORE_RETRY_CAP_S": "0.3"})
    (participant,), names = make_participants(team, 1, prompts=2, questions=1)
    good, poison = answers_for(participant, names)

    async def submit_both():
        async with connect(socket_url(stack.url, participant.token), origin=stack.url) as websocket:
            assert json.loads(await websocket.recv())["type"] == "hello"
            # The socket checked this participant's trials when it connected; the second trial
            # is deleted now, so its answer passes the check but can never be stored.
            await asyncio.to_thread(delete_trial, participant, poison["trial"])
            await websocket.send(json.dumps(good))
            await websocket.send(json.dumps(poison))
            frames = [json.loads(await asyncio.wait_for(websocket.recv(), timeout=10))]
            try:
                frames.append(json.loads(await asyncio.wait_for(websocket.recv(), timeout=3)))
            except asyncio.TimeoutError:
                pass
            return frames

    frames = asyncio.run(submit_both())
    deadline = time.monotonic() + 20
    while not FailedTask.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)  # room for any further attempt that should not happen

    assert frames == [{"type": "rating.stored", "key": good["key"]}], "only the good answer is confirmed"
    assert [str(key) for key in Rating.objects.values_list("key", flat=True)] == [good["key"]]
    dead = FailedTask.objects.get()
    assert (dead.task_name, str(dead.key), dead.attempts) == ("uxlab.studies.tasks.store_ratings", poison["key"], 4)
    assert dead.study == participant.study and "IntegrityError" in dead.error
    assert dead.payload["trial_id"] and dead.payload["value"] == poison["value"]
    log = stack.worker.log_text()
    assert log.count("failed for 1 item(s)") == 3, "expected exactly three retries before the dead letter"
    assert queue_length(broker.url) == 0


def delete_trial(participant, index):
    Trial.objects.filter(participant=participant, index=index).delete()
