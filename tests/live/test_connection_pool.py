"""A real web process keeps its Postgres connections within its pool, however many requests and
sockets it serves at once, and runs sockets' database calls side by side when the pool has room."""

import asyncio
import json
import threading
import time

import httpx
import psycopg
import pytest
from websockets.asyncio.client import connect

from tests.conftest import QUICK_STUDY_YAML, import_yaml
from uxlab.benchmarks.processes import child_env, web_server
from uxlab.studies import actions
from uxlab.studies.models import Trial

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

APP_NAME = "uxlab-pool-test"
POOL_SIZE = 4


class ConnectionCounter:
    """Samples how many connections the web process holds (pg_stat_activity) until stopped."""

    def __init__(self):
        self.samples = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def count(self, admin):
        return admin.execute(
            "select count(*) from pg_stat_activity where application_name = %s", [APP_NAME]
        ).fetchone()[0]

    def run(self):
        with psycopg.connect(child_env()["DATABASE_URL"], autocommit=True) as admin:
            while not self.stopping.is_set():
                self.samples.append(self.count(admin))
                time.sleep(0.005)
            self.samples.append(self.count(admin))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join()


@pytest.fixture
def pooled_web(services_env, tmp_path):
    env = services_env | {
        "PGAPPNAME": APP_NAME,
        "DB_POOL_MAX_SIZE": str(POOL_SIZE),
        "DB_POOL_MIN_SIZE": "0",  # the pool grows only when calls overlap
    }
    with web_server(env, tmp_path / "web.log") as web:
        yield web


@pytest.fixture
def participants(team):
    study = import_yaml(QUICK_STUDY_YAML, team)
    return [actions.give_consent(actions.enroll_participant(study)) for _ in range(40)]


async def start_trials(base_url, tokens):
    """Open a socket per participant and start its first trial, all at once."""

    async def one(token):
        async with connect(f"{base_url.replace('http', 'ws', 1)}/ws/p/{token}/", origin=base_url) as socket:
            assert json.loads(await socket.recv())["type"] == "hello"
            await socket.send(json.dumps({"type": "trial.start", "trial": 0}))
            while json.loads(await asyncio.wait_for(socket.recv(), 20))["type"] != "stream.start":
                pass

    await asyncio.gather(*(one(token) for token in tokens))


async def get_pages(base_url, tokens, rounds=3):
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        responses = await asyncio.gather(*(client.get(f"/p/{token}/") for token in tokens * rounds))
    return [response.status_code for response in responses]


def test_it_runs_socket_database_calls_side_by_side_within_the_pool(pooled_web, participants):
    with ConnectionCounter() as counter:
        asyncio.run(start_trials(pooled_web.url, [p.token for p in participants]))

    # One thread would have needed one connection only; the pool grew because calls overlapped.
    assert 2 <= max(counter.samples) <= POOL_SIZE, counter.samples
    assert Trial.objects.filter(participant__in=participants, index=0, stream_t0__isnull=False).count() == 40


def test_it_keeps_connections_within_the_pool_under_a_burst_of_requests_and_sockets(pooled_web, participants):
    tokens = [p.token for p in participants]

    async def burst():
        statuses, _ = await asyncio.gather(get_pages(pooled_web.url, tokens), start_trials(pooled_web.url, tokens))
        return statuses

    with ConnectionCounter() as counter:
        statuses = asyncio.run(burst())
        settled = time.monotonic() + 1
        while time.monotonic() < settled:
            time.sleep(0.05)

    assert len(statuses) == 120 and set(statuses) <= {200, 302}, statuses
    assert max(counter.samples) <= POOL_SIZE, max(counter.samples)
    # Nothing leaks: after the burst the process holds no more than its pool.
    assert counter.samples[-1] <= POOL_SIZE
