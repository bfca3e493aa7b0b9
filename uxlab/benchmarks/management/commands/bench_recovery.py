"""Benchmark of the analysis against a known truth, end to end: N simulated studies, each run by
simulated participants over the real websocket protocol (uvicorn → Redis → a Celery worker →
Postgres), analysed by the code the results page uses, and compared with the truth.

Participants follow analysis/simulation.py's response model: a logistic psychometric function on
the log speed ratio (75% point at --threshold, lapses, a position bias, "no difference" where the
arms are hard to tell apart). About --inattentive of them answer at random, fail the attention
check and leave before the done page (the rating path scores the check as it stores the answer, and
the `failed_attention_check` exclusion rule leaves them out). Everyone else answers every trial,
sends its telemetry like the browser, and opens the done page. The command prints `threshold_bias_log` (mean estimate minus
truth), `threshold_ci_coverage`, `lapse_bias`, `slope_bias` and per-repetition figures.

It works in a throwaway database it creates and drops and, unless given --redis-url, on a
redis-server of its own. docs/analysis.md shows how to read the figures.
"""

import asyncio
import logging
import random
import shutil
import statistics
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import orjson
from django.core.management.base import BaseCommand, CommandError

from uxlab.analysis.planning import covers
from uxlab.benchmarks.database import ThrowawayDatabase, require_postgres
from uxlab.benchmarks.processes import celery_worker, redis_server, web_server
from uxlab.benchmarks.simulated_page import SimulatedPage
from uxlab.benchmarks.sockets import recv_within

RATIOS = (1.1, 1.25, 1.5, 2.0, 3.0, 8.0)
BASE_SPEED = 50.0
RESEND_AFTER_S = 15.0  # the page's outbox resends unconfirmed items this often


def study_yaml(code, prompts=4, attention_after=12):
    """Arms at BASE_SPEED × each ratio, each paired with the base arm; `prompts` short prompts; one
    forced choice with "no difference"; one attention check (instructed answer: "tie")."""
    arms = "\n".join(
        f"  - name: x{str(ratio).replace('.', '_')}\n    ttft_s: 0.05\n    tokens_per_second: {BASE_SPEED * ratio:g}"
        for ratio in (1.0, *RATIOS)
    )
    pairs = ", ".join(f"[x1_0, x{str(ratio).replace('.', '_')}]" for ratio in RATIOS)
    prompt_text = "\n".join(f"  - name: p{i}\n    text: Prompt {i}.\n    response: Short answer number {i}."
                            for i in range(prompts))
    return f"""
version: 1
code: {code}
title: Recovery benchmark
consent:
  version: "1"
  text: Simulated participants agree.
completion:
  code: RECOVERY
arms:
{arms}
prompts:
{prompt_text}
questions:
  - name: faster
    kind: forced_choice_tie
    text: Which response felt faster?
attention_checks:
  - name: attention
    text: Attention check.
    response: Please choose no difference.
    question: faster
    expected: tie
    after_trial: {attention_after}
design:
  pairs: [{pairs}]
  seed: {code}
"""


class SimulatedBrowser:
    """One participant's page, reduced to its protocol: start each trial, read its stream to the end,
    send the telemetry and the answer, and wait until the server confirms both are stored."""

    def __init__(self, base_url, token, plan, timeout, settle_timeout):
        self.base_url = base_url
        self.token = token
        self.plan = plan  # [(trial index, value, leave_after_this_trial)]
        self.timeout = timeout
        self.settle_timeout = settle_timeout
        self.pending = {}
        self.confirmed = asyncio.Event()
        self.result = {"trials": 0, "interrupted": 0, "errors": [], "left": False, "completed": False}

    async def run(self):
        """Every planned trial, reconnecting as the page does when the socket fails (the outbox is
        resent and an unfinished trial started again); then the done page, unless the plan leaves."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake, WebSocketException

        url = self.base_url.replace("http", "ws", 1) + f"/ws/p/{self.token}/"
        position, failures = 0, 0
        while True:
            try:
                async with connect(url, origin=self.base_url, max_queue=None, compression=None) as socket:
                    hello = orjson.loads(await recv_within(socket, self.timeout))
                    assert hello["type"] == "hello", hello
                    for text in list(self.pending.values()):
                        await socket.send(text)
                    while position < len(self.plan):
                        index, value, leave = self.plan[position]
                        await self.trial(socket, index, value)
                        position += 1
                        if leave:
                            await self.wait_confirmed(socket)
                            self.result["left"] = True
                            return self.result
                    await self.wait_confirmed(socket)
                break
            except (OSError, TimeoutError, InvalidHandshake, WebSocketException) as error:
                failures += 1
                self.result["reconnects"] = failures
                if failures > 10:
                    self.result["errors"].append({"code": "gave_up", "message": str(error)[:200]})
                    return self.result
                await asyncio.sleep(min(10.0, 0.5 * 2 ** failures))
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as client:
            for attempt in range(5):  # a server error is met with a reload, as a person would
                done = await client.get(f"/p/{self.token}/done/")
                if done.status_code < 500:
                    break
                await asyncio.sleep(1.0 + attempt)
            self.result["completed"] = done.status_code == 200 and "RECOVERY" in done.text
            self.result["done_status"] = done.status_code
        return self.result

    async def trial(self, socket, index, value):
        await socket.send(orjson.dumps({"type": "trial.start", "trial": index}).decode())
        t0_ms, page = None, SimulatedPage()
        while True:
            frame = orjson.loads(await recv_within(socket, self.timeout))
            kind = frame["type"]
            now_ms = time.time() * 1000
            if kind == "stream.start":
                t0_ms = frame["t0_ms"]
            elif kind == "stream.delta":
                page.show(frame, now_ms - t0_ms)
            elif kind == "stream.end":
                break
            elif kind == "stream.interrupted":
                self.result["interrupted"] += 1
                break
            else:
                self.note(frame)
        self.result["trials"] += 1
        telemetry = {"type": "telemetry.submit", "key": str(uuid.uuid4()), "trial": index, **page.telemetry()}
        rating = {"type": "rating.submit", "key": str(uuid.uuid4()), "trial": index, "question": "faster",
                  "value": value, "response_ms": 900}
        for message in (telemetry, rating):
            self.pending[message["key"]] = orjson.dumps(message).decode()
            await socket.send(self.pending[message["key"]])

    def note(self, frame):
        if frame["type"] in ("rating.stored", "telemetry.stored"):
            self.pending.pop(frame["key"], None)
        elif frame["type"] == "rating.retry":
            self.result.setdefault("retries", 0)
            self.result["retries"] += 1
        elif frame["type"] == "error":
            self.result["errors"].append(frame)
            self.pending.pop(frame.get("ref"), None)

    async def wait_confirmed(self, socket):
        """Read confirmations until nothing is pending, resending what stays unconfirmed every 15 s
        as the page's outbox does (sooner would only queue duplicates behind a busy worker)."""
        deadline = time.monotonic() + self.settle_timeout
        while self.pending and time.monotonic() < deadline:
            try:
                self.note(orjson.loads(await recv_within(socket, RESEND_AFTER_S)))
            except TimeoutError:
                for text in list(self.pending.values()):
                    await socket.send(text)
        if self.pending:
            self.result["errors"].append({"code": "unconfirmed", "count": len(self.pending)})


class Command(BaseCommand):
    help = "Simulated studies over the real websocket protocol, analysed as the results page does: bias and coverage."

    def add_arguments(self, parser):
        parser.add_argument("--repetitions", type=int, default=10, help="simulated studies")
        parser.add_argument("--participants", type=int, default=40, help="participants per study")
        parser.add_argument("--prompts", type=int, default=4, help="trials per pair per participant")
        parser.add_argument("--threshold", type=float, default=1.5, help="true 75%% speed ratio")
        parser.add_argument("--lapse", type=float, default=0.05)
        parser.add_argument("--position-bias", type=float, default=0.58, help="P(left) between equal arms")
        parser.add_argument("--tie-tendency", type=float, default=0.3)
        parser.add_argument("--inattentive", type=float, default=0.1, help="share who fail the check and leave")
        parser.add_argument("--n-boot", type=int, default=None, help="bootstrap resamples (default: the page's)")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--database", default="uxlab_bench_recovery", help="throwaway database to create and drop")
        parser.add_argument("--redis-url", default=None, help="use this Redis instead of starting one")
        parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for any one stream message")
        parser.add_argument("--settle-timeout", type=float, default=900.0,
                            help="seconds to wait for every answer and telemetry batch to be confirmed")
        parser.add_argument("--workers", type=int, default=2, help="Celery worker processes (one task at a time each)")
        parser.add_argument("--json", action="store_true", help="print only the JSON result")
        parser.add_argument("--keep-logs", action="store_true")

    def handle(self, **options):
        from uxlab.analysis.simulation import ResponseModel

        require_postgres("bench_recovery")
        self.options = options
        logging.getLogger("httpx").setLevel(logging.WARNING)
        try:
            self.model = ResponseModel(threshold_ratio=options["threshold"], lapse=options["lapse"],
                                       position_bias=options["position_bias"], tie_tendency=options["tie_tendency"],
                                       inattentive=options["inattentive"])
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.tmpdir = Path(tempfile.mkdtemp(prefix="uxlab-bench-recovery-"))
        self.processes = {}
        rng = random.Random(options["seed"])
        repetitions = []
        with ThrowawayDatabase(options["database"], tables="models") as throwaway:
            try:
                redis_url = options["redis_url"] or self.start_redis()
                base_url = self.start_processes(throwaway, redis_url)
                for repetition in range(options["repetitions"]):
                    repetitions.append(self.run_study(repetition, base_url, rng))
                    self.say(f"study {repetition}: {repetitions[-1]}")
            finally:
                for process in reversed(list(self.processes.values())):
                    process.stop()
                if options["keep_logs"]:
                    self.stderr.write(f"logs kept in {self.tmpdir}")
                else:
                    shutil.rmtree(self.tmpdir, ignore_errors=True)
        self.stdout.write(orjson.dumps(self.summary(repetitions),
                                       option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode())

    def say(self, message):
        if not self.options["json"]:
            self.stderr.write(message)

    # --- processes -----------------------------------------------------------------------------

    def start_redis(self):
        if shutil.which("redis-server") is None:
            raise CommandError("redis-server is not installed: pass --redis-url")
        self.processes["redis"] = redis_server(self.tmpdir / "redis.log").start()
        return self.processes["redis"].url

    def start_processes(self, throwaway, redis_url):
        env = throwaway.env(REDIS_URL=redis_url, CELERY_BROKER_URL=redis_url, LOG_LEVEL="WARNING", DB_CONN_MAX_AGE="60")
        web = self.processes["web"] = web_server(env, self.tmpdir / "web.log").launch()
        workers = []
        for number in range(self.options["workers"]):
            # Each worker its own node name, so two on one host do not clash.
            worker = celery_worker(env, self.tmpdir / f"worker{number}.log")
            worker.argv += ["--hostname", f"recovery{number}@%h"]
            workers.append(worker.launch())
            self.processes[f"worker{number}"] = worker
        web.wait_until_ready()
        for worker in workers:
            worker.wait_until_ready()
        return web.url

    # --- one simulated study -------------------------------------------------------------------

    def run_study(self, repetition, base_url, rng):
        from uxlab.analysis.results import declared_timing, study_results
        from uxlab.analysis.rows import StudyContext
        from uxlab.analysis.simulation import answer, draw_participant
        from uxlab.analysis.summaries import AnalysisOptions
        from uxlab.studies import actions
        from uxlab.studies.models import Team
        from uxlab.studies.study_files import import_study, parse_study_yaml

        team, _ = Team.objects.get_or_create(slug="bench-recovery", defaults={"name": "Bench"})
        code = f"recovery{repetition}"
        study = import_study(parse_study_yaml(study_yaml(code, self.options["prompts"])), team=team, status="live")
        browsers, people = [], []
        for _ in range(self.options["participants"]):
            participant = actions.enroll_participant(study)
            actions.record_checks(participant, {"simulated": True}, viewport_ok=True, stacked=False)
            participant = actions.give_consent(participant)
            actions.mark_instructions_seen(participant)
            trials = list(participant.trials.select_related("arm_a", "arm_b").order_by("index"))
            person = draw_participant(self.model, rng, len(trials))
            plan = []
            for trial in trials:
                timing = declared_timing(trial.arm_a.profile, trial.arm_b.profile)
                attention = trial.kind == "attention"
                value = answer(self.model, rng, person, "forced_choice_tie", {}, timing,
                               expected="tie" if attention else None)
                # An inattentive participant fails the check and leaves before the done page.
                plan.append((trial.index, value, attention and not person.attentive))
                if attention and not person.attentive:
                    break
            people.append((participant, person))
            browsers.append(SimulatedBrowser(base_url, participant.token, plan, self.options["timeout"],
                                             self.options["settle_timeout"]))
        started = time.perf_counter()
        results = asyncio.run(self.drive(browsers))
        elapsed = time.perf_counter() - started
        self.wait_for_worker(study, browsers, self.options["settle_timeout"])
        # The rating path scored the attention checks as it stored their answers; nothing is scored here.
        n_boot = self.options["n_boot"]
        options = AnalysisOptions() if n_boot is None else AnalysisOptions(n_boot=n_boot)
        summary = study_results(study, options=options)
        fit = next(q for q in summary["questions"] if q["question"] == "faster")["psychometric_speed"]
        truth = self.model.speed_threshold_log
        row = {
            "status": fit["status"],
            "participants": len(people),
            "inattentive": sum(not person.attentive for _p, person in people),
            "completed": sum(r["completed"] for r in results),
            "left_before_done": sum(r["left"] for r in results),
            # Why a participant who answered everything did not complete: the done page's HTTP status
            # (5xx when the database refused connections, 302 when answers were still missing).
            "done_not_completed": dict(Counter(str(r.get("done_status")) for r in results
                                               if not r["left"] and not r["completed"])),
            "trials": sum(r["trials"] for r in results),
            "interrupted": sum(r["interrupted"] for r in results),
            "errors": sum(len(r["errors"]) for r in results),
            "reconnects": sum(r.get("reconnects", 0) for r in results),
            "excluded_trials": summary["exclusions"]["excluded"],
            # What each exclusion rule matches on its own: only the failed attention checks should.
            "excluded_by_rule": {rule["name"]: rule["matches"] for rule in summary["exclusions"]["rules"]},
            "failed_attention_check": len(StudyContext(study).failed_attention),
            "drive_seconds": round(elapsed, 1),
        }
        if fit["status"] == "ok":
            threshold = fit["threshold_75"]
            low, high = threshold["ci_log"]
            row.update(
                threshold_log=threshold["log"], threshold_ci_log=[low, high],
                # An unbounded end (None) holds everything on its side (planning.covers, as plan_study).
                covered=covers([low, high], truth),
                slope=fit["fit"]["slope"], lapse=fit["fit"]["lapse"], position_bias_logit=fit["fit"]["bias"],
            )
        return row

    async def drive(self, browsers):
        return await asyncio.gather(*(browser.run() for browser in browsers))

    def wait_for_worker(self, study, browsers, timeout):
        """Until every answer is in the database (confirmed ones already are; this covers the rest)."""
        from uxlab.studies.models import Rating

        expected = sum(len(browser.plan) for browser in browsers)
        deadline = time.monotonic() + timeout
        while Rating.objects.filter(participant__study=study).count() < expected and time.monotonic() < deadline:
            time.sleep(0.2)

    # --- figures -------------------------------------------------------------------------------

    def summary(self, repetitions):
        fitted = [row for row in repetitions if row["status"] == "ok"]
        truth = self.model.speed_threshold_log

        def mean(values):
            return statistics.fmean(values) if values else None

        return {
            "truth": {"threshold_ratio": self.model.threshold_ratio, "threshold_log": truth,
                      "slope": self.model.speed_slope, "lapse": self.model.lapse,
                      "position_bias_logit": self.model.bias, "tie_tendency": self.model.tie_tendency,
                      "inattentive": self.model.inattentive},
            "repetitions": len(repetitions),
            "fitted": len(fitted),
            "threshold_bias_log": None if not fitted else mean([r["threshold_log"] for r in fitted]) - truth,
            "threshold_ci_coverage": None if not fitted else mean([float(r["covered"]) for r in fitted]),
            "lapse_bias": None if not fitted else mean([r["lapse"] for r in fitted]) - self.model.lapse,
            "slope_bias": None if not fitted else mean([r["slope"] for r in fitted]) - self.model.speed_slope,
            "per_repetition": repetitions,
        }
