"""Benchmark of the rating path on real processes: websocket participants → uvicorn → Redis →
one Celery worker → Postgres → `rating.stored`, with the exactly-once oracle's counts.

It works in a throwaway database it creates and drops (default `uxlab_bench`, on the server of
DATABASE_URL) and, unless given --redis-url, on a redis-server of its own, so it never touches real
data or the queues of a running deployment. docs/reliability.md shows how to read the figures.
"""

import asyncio
import os
import resource
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import orjson
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from uxlab.benchmarks.database import ThrowawayDatabase, admin_connection, require_postgres
from uxlab.benchmarks.processes import celery_worker, redis_server, web_server
from uxlab.streaming.pacing import percentile

VALUES = ("A", "B", "tie")


def study_yaml(prompt_count, question_count, code="bench"):
    """A study with one pair of arms, `prompt_count` prompts and `question_count` questions, so each
    participant has prompt_count × question_count answers to give."""
    prompts = "\n".join(
        f"  - name: p{index}\n    text: Prompt {index}.\n    response: Response {index}, short and plain."
        for index in range(prompt_count)
    )
    questions = "\n".join(
        f"  - name: q{index}\n    kind: forced_choice_tie\n    text: Question {index}?" for index in range(question_count)
    )
    return f"""
version: 1
code: {code}
title: Rating benchmark
consent:
  version: "1"
  text: Benchmark participants agree.
completion:
  code: BENCH
arms:
  - name: fast
    ttft_s: 0.01
    tokens_per_second: 1000
  - name: slow
    ttft_s: 0.02
    tokens_per_second: 500
prompts:
{prompts}
questions:
{questions}
design:
  pairs: [[fast, slow]]
  seed: bench
"""


class BenchParticipant:
    """One participant's socket with a browser-like outbox: resend on `rating.retry` and when
    unconfirmed for a long time."""

    def __init__(self, url, origin, answers, window, results):
        self.url = url
        self.origin = origin
        self.answers = answers
        self.window = window
        self.results = results
        self.outstanding = {}  # key -> (frame, first sent at, last sent at)
        self.websocket = None
        self.room = asyncio.Event()
        self.room.set()

    async def open(self):
        from websockets.asyncio.client import connect

        self.websocket = await connect(self.url, origin=self.origin, max_queue=None, compression=None)
        hello = orjson.loads(await self.websocket.recv())
        assert hello["type"] == "hello", hello
        self.receiver = asyncio.create_task(self.receive())

    async def send(self, answer):
        frame = orjson.dumps(answer).decode()
        now = time.perf_counter()
        self.outstanding[answer["key"]] = (frame, now, now)
        self.results["first_send"] = self.results["first_send"] or now
        await self.websocket.send(frame)
        if len(self.outstanding) >= self.window:
            self.room.clear()

    async def receive(self):
        async for raw in self.websocket:
            frame = orjson.loads(raw)
            kind = frame["type"]
            if kind == "rating.stored":
                entry = self.outstanding.pop(frame["key"], None)
                if entry is not None:
                    now = time.perf_counter()
                    self.results["latencies"].append(now - entry[1])
                    self.results["confirm_times"].append(now)
                    self.room.set()
            elif kind == "rating.retry":
                self.results["retry_frames"] += 1
                asyncio.get_running_loop().call_later(0.5, self.resend, frame["key"])
            elif kind == "error":
                self.results["errors"].append(frame)
                self.outstanding.pop(frame.get("ref"), None)
                self.room.set()

    def resend(self, key, stale_after=None):
        entry = self.outstanding.get(key)
        now = time.perf_counter()
        if entry is None or (stale_after is not None and now - entry[2] < stale_after):
            return
        self.outstanding[key] = (entry[0], entry[1], now)
        self.results["resends"] += 1
        asyncio.ensure_future(self.websocket.send(entry[0]))

    async def run_closed_loop(self):
        for answer in self.answers:
            await self.room.wait()
            await self.send(answer)

    async def close(self):
        await self.websocket.close()
        self.receiver.cancel()


class Command(BaseCommand):
    help = "Drive websocket participants through the real rating path and print throughput, latency and the oracle's counts."

    def add_arguments(self, parser):
        parser.add_argument("--ratings", type=int, default=20_000, help="answers to submit in all")
        parser.add_argument("--participants", type=int, default=50, help="websocket participants")
        parser.add_argument("--rate", type=float, default=None, help="offer this many answers/s (default: as fast as it goes)")
        parser.add_argument("--window", type=int, default=20, help="unconfirmed answers a participant may have (closed loop)")
        parser.add_argument(
            "--order", choices=["trial", "answer"], default="trial",
            help="with --rate: participants take turns by trial (all its answers at once) or by single answer",
        )  # fmt: skip
        parser.add_argument("--questions", type=int, default=4, help="questions per trial")
        parser.add_argument("--database", default="uxlab_bench", help="throwaway database to create and drop")
        parser.add_argument("--keep-database", action="store_true")
        parser.add_argument("--redis-url", default=None, help="use this Redis instead of starting one")
        parser.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds")
        parser.add_argument("--pool", choices=["prefork", "solo"], default="prefork", help="the worker's pool (one task at a time either way)")
        parser.add_argument("--json", action="store_true", help="print only the JSON result")
        parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs (their folder is printed)")

    def handle(self, **options):
        require_postgres("bench_ratings")
        self.options = options
        self.tmpdir = Path(tempfile.mkdtemp(prefix="uxlab-bench-"))
        self.processes = {}
        database = options["database"]
        # Tables straight from the models (like the test suite's), so the bench runs whatever the
        # migrations' state.
        with ThrowawayDatabase(database, keep=options["keep_database"], tables="models") as throwaway:
            self.say(f"created database {database}")
            try:
                tokens = self.make_participants(options["ratings"], options["participants"], options["questions"])
                redis_url = options["redis_url"] or self.start_redis()
                base_url = self.start_processes(throwaway, redis_url)
                client_before = resource.getrusage(resource.RUSAGE_SELF)
                result = asyncio.run(self.drive(base_url, tokens))
                client_after = resource.getrusage(resource.RUSAGE_SELF)
                result |= self.oracle(result.pop("submitted_keys"), result.pop("confirmed_keys"))
                result["cpu_seconds"] = {name: round(process.cpu_seconds(), 2) for name, process in self.processes.items()}
                result["cpu_seconds"]["bench_client"] = round(
                    client_after.ru_utime + client_after.ru_stime - client_before.ru_utime - client_before.ru_stime, 2
                )
                result["cpu_seconds"]["postgres"] = self.postgres_cpu_seconds(database)
            finally:
                for process in reversed(list(self.processes.values())):
                    process.stop()
                if options["keep_logs"]:
                    self.stderr.write(f"logs kept in {self.tmpdir}")
                else:
                    shutil.rmtree(self.tmpdir, ignore_errors=True)
        text = orjson.dumps(result, option=orjson.OPT_INDENT_2).decode()
        self.stdout.write(text)

    def say(self, message):
        if not self.options["json"]:
            self.stderr.write(message)

    # --- database ------------------------------------------------------------------------------

    def postgres_cpu_seconds(self, name):
        """CPU of the Postgres backends serving the bench database (when Postgres runs here)."""
        with admin_connection() as admin:
            pids = [row[0] for row in admin.execute("select pid from pg_stat_activity where datname = %s", [name])]
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return None
            total += int(fields[11]) + int(fields[12])
        return round(total / tick, 2)

    def make_participants(self, ratings, participant_count, question_count):
        from uxlab.studies import actions
        from uxlab.studies.models import Team
        from uxlab.studies.study_files import import_study, parse_study_yaml

        per_participant = -(-ratings // participant_count)
        prompt_count = -(-per_participant // question_count)
        team = Team.objects.create(name="Bench", slug="bench")
        study = import_study(parse_study_yaml(study_yaml(prompt_count, question_count)), team=team, status="live")
        names = list(study.questions.values_list("name", flat=True))
        plans = []
        remaining = ratings
        for _ in range(participant_count):
            participant = actions.give_consent(actions.enroll_participant(study))
            # Answers are taken only for trials that were shown: these were, as far as the bench goes.
            participant.trials.update(
                stream_t0=time.time() - 60, started_at=timezone.now(), finished_at=timezone.now(), status="finished"
            )
            count = min(per_participant, remaining)
            remaining -= count
            slots = [(trial, name) for trial in range(prompt_count) for name in names][:count]
            answers = [
                {
                    "type": "rating.submit",
                    "key": str(uuid.uuid4()),
                    "trial": trial,
                    "question": name,
                    "value": VALUES[(trial + position) % 3],
                    "response_ms": 500 + trial,
                }
                for position, (trial, name) in enumerate(slots)
            ]
            plans.append((participant.token, answers))
        self.study_id = study.pk
        self.say(f"study with {prompt_count} prompts × {question_count} questions, {participant_count} participants")
        return plans

    # --- processes -----------------------------------------------------------------------------

    def start_redis(self):
        if shutil.which("redis-server") is None:
            raise CommandError("redis-server is not installed: pass --redis-url")
        self.processes["redis"] = redis_server(self.tmpdir / "redis.log").start()
        return self.processes["redis"].url

    def start_processes(self, throwaway, redis_url):
        env = throwaway.env(REDIS_URL=redis_url, CELERY_BROKER_URL=redis_url, LOG_LEVEL="WARNING")
        # Each scripted participant answers far faster than a person: lift the per-socket frame limits.
        web_env = env | {"UXLAB_WS_FRAME_BURST": "1000000", "UXLAB_WS_FRAMES_PER_S": "1000000"}
        web = self.processes["web"] = web_server(web_env, self.tmpdir / "web.log").launch()
        # Workers keep their database connection (tasks are short and many).
        worker_env = env | {"DB_CONN_MAX_AGE": "60"}
        worker = celery_worker(worker_env, self.tmpdir / "worker.log", pool=self.options["pool"])
        self.processes["worker"] = worker.launch()
        web.wait_until_ready()
        worker.wait_until_ready()
        self.say(f"web on port {web.port}, one worker, Redis at {redis_url}")
        return web.url

    # --- load ----------------------------------------------------------------------------------

    async def drive(self, base_url, plans):
        results = {"latencies": [], "confirm_times": [], "retry_frames": 0, "resends": 0, "errors": [], "first_send": None}
        socket_base = base_url.replace("http", "ws", 1)
        window = self.options["window"] if self.options["rate"] is None else 10**9
        participants = [
            BenchParticipant(f"{socket_base}/ws/p/{token}/", base_url, answers, window, results) for token, answers in plans
        ]
        for participant in participants:
            await participant.open()
        self.say(f"{len(participants)} sockets open; submitting")
        submitted = [answer["key"] for participant in participants for answer in participant.answers]
        started = time.perf_counter()
        deadline = started + self.options["timeout"]
        if self.options["rate"] is None:
            senders = [asyncio.create_task(participant.run_closed_loop()) for participant in participants]
        else:
            senders = [asyncio.create_task(self.offer_at_rate(participants, self.options["rate"]))]

        async def resend_stale():
            while True:
                await asyncio.sleep(1.0)
                for participant in participants:
                    for key in list(participant.outstanding):
                        participant.resend(key, stale_after=10.0)

        stale = asyncio.create_task(resend_stale())
        while len(results["latencies"]) + len(results["errors"]) < len(submitted) and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        for task in [*senders, stale]:
            task.cancel()
        confirmed_keys = set(submitted) - {key for participant in participants for key in participant.outstanding}
        for participant in participants:
            await participant.close()
        latencies_ms = [value * 1000 for value in results["latencies"]]
        times = sorted(results["confirm_times"])
        first, last = results["first_send"] or started, (times[-1] if times else started)
        count = len(times)
        steady = None
        if count >= 20:
            low, high = times[count // 10], times[(count * 9) // 10]
            steady = round((count * 8 // 10) / (high - low), 1) if high > low else None
        return {
            "participants": len(participants),
            "offered_rate": self.options["rate"],
            "order": self.options["order"] if self.options["rate"] else None,
            "window": None if self.options["rate"] else self.options["window"],
            "duration_s": round(last - first, 3),
            "ratings_per_second": round(count / (last - first), 1) if last > first else None,
            "steady_ratings_per_second": steady,
            "p50_submit_to_stored_ms": round(statistics.median(latencies_ms), 1) if latencies_ms else None,
            "p90_submit_to_stored_ms": round(percentile(latencies_ms, 90), 1) if latencies_ms else None,
            "p99_submit_to_stored_ms": round(percentile(latencies_ms, 99), 1) if latencies_ms else None,
            "max_submit_to_stored_ms": round(max(latencies_ms), 1) if latencies_ms else None,
            "confirmed": count,
            "retry_frames": results["retry_frames"],
            "resends": results["resends"],
            "errors": results["errors"][:5],
            "submitted_keys": submitted,
            "confirmed_keys": confirmed_keys,
        }

    async def offer_at_rate(self, participants, rate):
        """Open loop: answer i leaves at start + i/rate, from participants in turn: each sends its
        next trial's answers together (as the page's form does), or with --order answer one answer
        each (the worst case: no two answers of a participant are ever confirmed together)."""
        unit = self.options["questions"] if self.options["order"] == "trial" else 1
        longest = max(len(participant.answers) for participant in participants)
        order = [
            (index, answer)
            for turn in range(0, longest, unit)
            for index, participant in enumerate(participants)
            for answer in participant.answers[turn : turn + unit]
        ]
        start = time.perf_counter()
        for sequence, (index, answer) in enumerate(order):
            due = start + sequence / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await participants[index].send(answer)

    # --- oracle --------------------------------------------------------------------------------

    def oracle(self, submitted, confirmed):
        from uxlab.studies.models import FailedTask, Rating, RatingConflict

        time.sleep(1.0)  # let any straggling redelivery land before counting
        rows = list(Rating.objects.filter(participant__study_id=self.study_id).order_by().values_list("key", flat=True))
        keys = [str(key) for key in rows]
        stored = set(keys)
        submitted_set = set(submitted)
        return {
            "submitted": len(submitted_set),
            "stored": len(stored & submitted_set),
            "lost": len(confirmed - stored),
            "unconfirmed": len(submitted_set - confirmed),
            "duplicated": len(keys) - len(stored),
            "unexpected": len(stored - submitted_set),
            "conflicts": RatingConflict.objects.filter(participant__study_id=self.study_id).count(),
            "dead_letters": FailedTask.objects.count(),
        }
