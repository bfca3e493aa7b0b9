"""bench_sessions: N simulated participants run whole sessions of the demo study against the
production process model — `manage.py serve` with P web processes behind a real nginx, the Redis
channel layer, a Celery worker and beat — on a throwaway database and a redis-server of its own.

    python manage.py bench_sessions --participants 500 --ramp 30 --json
    python manage.py bench_sessions --participants 1000 --seconds 60 --processes 1,2 --json
    python manage.py bench_sessions --participants 500 --ramp 30 --find-capacity --json

Participants arrive over --ramp seconds (0: all at once) and each runs one session, or sessions
back to back until --seconds have passed (uxlab/benchmarks/sessions_load.py). With two or more web
processes and --seconds, one is restarted halfway (or at --restart-web-at) so its participants'
sockets move to another process and resume; --kill-worker-at kills the worker (serve restarts it).
--find-capacity searches for the most participants (up to --participants) whose run stays within the
p99 trial-start and answer-confirmed bounds, each step a run of its own. Every run also says how busy
the whole machine was (uxlab/benchmarks/machine.py). Prints JSON; see
docs/benchmarks.md. Needs Debian's nginx (`make bench`): without it the benchmark stops.
"""

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from uxlab.benchmarks.database import ThrowawayDatabase, admin_connection, require_postgres
from uxlab.benchmarks.machine import MachineSampler, reference_loop_ms
from uxlab.benchmarks.processes import (
    REPO,
    Process,
    database_url,
    free_port,
    free_port_range,
    group_cpu_seconds,
    parent_pid,
    process_name,
    python,
    redis_server,
    server_cpu_seconds,
    wait_for_port,
)
from uxlab.processes import find_nginx

DEMO_STUDY = REPO / "uxlab" / "studies" / "examples" / "demo.yaml"
# --find-capacity: the first step's participants, and how close the search gets.
CAPACITY_START = 50
CAPACITY_STEP = 25
STARTED = re.compile(r"(\S+) started \(pid (\d+)\)")
EXITED = re.compile(r"(\S+) \(pid (\d+)\) exited")


class ConnectionSampler(threading.Thread):
    """The most client connections the database had at once, sampled every 50 ms, in all and by
    the process that holds them (serve names each child's connections: `uxlab-web-1`, …).

    Only client backends count (what a pool bounds and max_connections limits): autovacuum workers
    also appear in pg_stat_activity under the database's name while the run writes."""

    def __init__(self, database):
        super().__init__(daemon=True)
        self.database, self.most, self.by_process, self.stopping = database, 0, {}, threading.Event()

    def run(self):
        with admin_connection() as admin:
            while not self.stopping.is_set():
                rows = admin.execute(
                    "select coalesce(nullif(application_name, ''), '(unnamed)'), count(*) from pg_stat_activity"
                    " where datname = %s and backend_type = 'client backend' and application_name <> %s group by 1",
                    [self.database, BENCHMARK_APPLICATION],
                ).fetchall()
                self.most = max(self.most, sum(count for _name, count in rows))
                for name, count in rows:
                    self.by_process[name] = max(self.by_process.get(name, 0), count)
                time.sleep(0.05)

    def stop(self):
        self.stopping.set()
        self.join()
        return self.most


def postgres_server_pid():
    """The pid of the Postgres server (the postmaster: a backend's parent) when it runs on this
    machine; None otherwise (a server elsewhere, or in a container, whose pids are not this
    machine's)."""
    with admin_connection() as admin:
        backend = admin.execute("SELECT pg_backend_pid()").fetchone()[0]
        server = parent_pid(backend)  # read while the backend is alive
        if server is None or not all(process_name(pid) == "postgres" for pid in (backend, server)):
            return None
    return server


# The benchmark's own connection to the run's database (wait_for_streaming_trials), left out of the count.
BENCHMARK_APPLICATION = "uxlab-benchmark-probe"
# A web restart waits for this many streaming trials (a tenth of the participants, 1 to 20), for at
# most RESTART_WAIT_S after its planned moment.
RESTART_WAIT_S = 120.0


def restart_when_streaming(participants):
    return max(1, min(20, participants // 10))


def wait_for_streaming_trials(database, study_id, at_least, timeout_s, stop, poll_s=0.1):
    """How many of the study's trials are streaming, once at least `at_least` are (or the timeout
    passes); None if `stop` (an Event: the load is over) is set first. On a connection of its own, named BENCHMARK_APPLICATION so that the connection count
    (ConnectionSampler) leaves it out: it is the benchmark's, not the stack's."""
    from uxlab.studies.models import Participant, Trial

    sql = (
        f"select count(*) from {Trial._meta.db_table} t join {Participant._meta.db_table} p"
        " on p.id = t.participant_id where p.study_id = %s and t.status = %s"
    )
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(database_url(database), application_name=BENCHMARK_APPLICATION, autocommit=True) as own:
        while True:
            streaming = own.execute(sql, [study_id, Trial.Status.STREAMING]).fetchone()[0]
            if streaming >= at_least or time.monotonic() > deadline:
                return streaming
            if stop.wait(poll_s):
                return None


def worker_processes():
    """The Celery worker's pool processes (its default: one per core), one connection each."""
    return getattr(settings, "CELERY_WORKER_CONCURRENCY", None) or os.cpu_count() or 1


class Command(BaseCommand):
    help = "Whole participant sessions through nginx, several web processes, Redis and a Celery worker."

    def add_arguments(self, parser):
        parser.add_argument("--participants", type=int, default=500)
        parser.add_argument("--seconds", type=float, default=0, help="run sessions back to back this long (0: one session each)")
        parser.add_argument("--ramp", type=float, default=0, help="spread arrivals over this many seconds (0: all at once)")
        parser.add_argument(
            "--processes", default=str(os.cpu_count() or 1),
            help="web processes (default: one per core, as serve); a comma-separated list runs each in turn",
        )  # fmt: skip
        parser.add_argument("--kill-worker-at", type=float, default=None, help="SIGKILL the worker this many seconds in")
        parser.add_argument(
            "--restart-web-at", type=float, default=None,
            help="with 2+ web processes, restart web-1 this many seconds in (default with --seconds: halfway; negative: never)",
        )  # fmt: skip
        parser.add_argument("--think", type=float, default=1.0, help="mean seconds between a trial's end and its answers")
        parser.add_argument(
            "--load-nice", type=int, default=0,
            help="the load generator's CPU priority (nice; below 0 needs root, else it stays at 0), to see how much "
            "of a latency is the load generator waiting for a core behind the server (docs/benchmarks.md)",
        )  # fmt: skip
        parser.add_argument(
            "--find-capacity", action="store_true",
            help="the most participants arriving over --ramp seconds (at most --participants) whose run meets the "
            "bounds below: doubling from 50, then halving the gap to within 25",
        )  # fmt: skip
        parser.add_argument("--start-bound-ms", type=float, default=250.0, help="p99 trial start bound for --find-capacity")
        parser.add_argument("--stored-bound-ms", type=float, default=1000.0, help="p99 answer confirmed bound for --find-capacity")
        parser.add_argument("--database", default="uxlab_bench_sessions", help="throwaway database to create and drop")
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--keep-logs", action="store_true")

    def handle(self, **options):
        self.options = options
        if options["participants"] < 1:
            raise CommandError("--participants must be at least 1")
        if not all(math.isfinite(options[name]) and options[name] > 0 for name in ("start_bound_ms", "stored_bound_ms")):
            raise CommandError("--start-bound-ms and --stored-bound-ms must be above 0")
        for name in ("ramp", "seconds", "think"):
            if not (math.isfinite(options[name]) and options[name] >= 0):
                raise CommandError(f"--{name} must be a number of seconds, 0 or more")
        try:
            counts = [int(value) for value in str(options["processes"]).split(",")]
        except ValueError:
            raise CommandError("--processes takes a number or a comma-separated list of numbers") from None
        if min(counts) < 1:
            raise CommandError("--processes must be at least 1 (each number of a list)")
        # Absurd options are refused first, whatever is installed; then what the run needs.
        self.nginx = find_nginx()
        if self.nginx is None:
            raise CommandError(
                "bench_sessions measures through a real reverse proxy and nginx is not installed: run "
                "`make bench` (it installs Debian's nginx-light), then run this again"
            )
        require_postgres("bench_sessions")
        self.tmpdir = Path(tempfile.mkdtemp(prefix="uxlab-bench-sessions-"))
        runs = []
        with redis_server(self.tmpdir / "redis.log") as redis, ThrowawayDatabase(options["database"], tables="models") as database:
            self.study_id = self.seed()
            # This process's own pool would hold DB_POOL_MIN_SIZE connections through the run and
            # count against the stack's (it was the unexplained +2 over the bound): close it.
            database.release_connections()
            for count in counts:
                if options["find_capacity"]:
                    runs.append(self.find_capacity(database, redis, count))
                else:
                    runs.append(self.run(database, redis, count, options["participants"]))
        if options["keep_logs"]:
            self.stderr.write(f"logs kept in {self.tmpdir}")
        else:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        result = runs[0] if len(runs) == 1 else {"by_processes": {str(run["processes"]): run for run in runs}}
        self.stdout.write(json.dumps(result, indent=None if options["json"] else 2))

    def say(self, text):
        if not self.options["json"]:
            self.stderr.write(text)

    def seed(self):
        from uxlab.studies.models import Team
        from uxlab.studies.study_files import import_study, parse_study_yaml

        team = Team.objects.create(name="Bench", slug="bench")
        study = import_study(parse_study_yaml(DEMO_STUDY.read_text()), team=team, status="live")
        return study.pk

    # --- one run ------------------------------------------------------------------------------

    def run(self, database, redis, count, participants):
        port, base_port = free_port(), free_port_range(count)
        queue = f"bench-sessions-{uuid.uuid4().hex[:8]}"
        env = database.env(
            REDIS_URL=redis.url, CELERY_BROKER_URL=redis.url, CELERY_TASK_DEFAULT_QUEUE=queue, LOG_LEVEL="INFO",
            PATH=os.environ.get("PATH", "") + os.pathsep + "/usr/sbin",
            # Every simulated participant arrives from 127.0.0.1: the per-client enrolment limit
            # (20 per 10 minutes) would refuse all but the first twenty.
            UXLAB_ENROL_LIMIT="0",
        )  # fmt: skip
        log_path = self.tmpdir / f"serve-{count}.log"
        argv = [
            sys.executable, "manage.py", "serve", "--port", str(port), "--web-processes", str(count),
            "--web-base-port", str(base_port), "--runtime-dir", str(self.tmpdir / f"serve-{count}"),
        ]  # fmt: skip
        if count > 1:
            argv += ["--proxy", "nginx"]
        serve = Process(argv, env, log_path, ready=port, timeout=120, cwd=REPO)
        self.say(f"{count} web process(es) behind nginx on port {port}; {participants} participants")
        run_started = time.time()
        with serve:
            deadline = time.monotonic() + 120
            while "ready." not in serve.log_text():
                if time.monotonic() > deadline:
                    raise CommandError(f"the worker did not start:\n{serve.log_text()[-3000:]}")
                time.sleep(0.2)
            web_ports = [base_port + index for index in range(count)] if count > 1 else [port]
            for web_port in web_ports:
                wait_for_port(web_port, timeout=60)
            children = self.children(serve.log_text())
            cpu_before = {name: group_cpu_seconds(pid) for name, pid in children.items()}
            cpu_before["redis"] = group_cpu_seconds(redis.pid)
            postgres = postgres_server_pid()
            cpu_before["postgres"] = server_cpu_seconds(postgres) if postgres else None
            sampler = ConnectionSampler(database.name)
            sampler.start()
            reference_before = reference_loop_ms()  # the stack is up and idle
            machine = MachineSampler()
            machine.start()
            faults = self.schedule_faults(count, children, web_ports, participants, database.name)
            load, wall = self.load(port, participants)
            self.load_over.set()
            for fault in faults:
                fault.cancel()
                fault.join(timeout=RESTART_WAIT_S)  # a restart under way finishes; its probe connection closes
            max_connections = sampler.stop()
            self.machine = machine.stop() | {"cpu_reference_ms": [reference_before, reference_loop_ms()]}
            self.connections_by_process = dict(sorted(sampler.by_process.items()))
            children_now = self.children(serve.log_text())
            cpu = {
                name: round(group_cpu_seconds(pid) - cpu_before.get(name, 0.0), 2)
                for name, pid in children_now.items()
                if pid == children.get(name)
            }
            cpu["redis"] = round(group_cpu_seconds(redis.pid) - cpu_before["redis"], 2)
            cpu["load_generator"] = round(load["load_cpu_seconds"], 2)
            if cpu_before["postgres"] is not None and (postgres_now := server_cpu_seconds(postgres)) is not None:
                # The whole server's, every database's: this run's and whatever else ran meanwhile.
                cpu["postgres"] = round(postgres_now - cpu_before["postgres"], 2)
            log = serve.log_text()
        return self.report(count, load, wall, cpu, max_connections, log, run_started)

    @staticmethod
    def children(log):
        """The current pid of each of serve's children, from its log."""
        return {name: int(pid) for name, pid in STARTED.findall(log)}

    def schedule_faults(self, count, children, web_ports, count_participants, database_name):
        options = self.options
        self.caused_web_restarts, self.web_back_at, self.web_restarted_at = 0, None, None
        self.streaming_at_web_restart = None
        self.load_over = threading.Event()
        timers = []
        # The load process begins one second after it starts (sessions_load.main).
        if options["kill_worker_at"] is not None:
            worker = children["worker"]
            timers.append(threading.Timer(1.0 + options["kill_worker_at"], lambda: os.killpg(worker, signal.SIGKILL)))
        restart_at = options["restart_web_at"]
        if restart_at is None and count > 1 and options["seconds"]:
            restart_at = (options["ramp"] + options["seconds"]) / 2
        if count > 1 and restart_at is not None and restart_at >= 0:
            web = children["web-1"]

            def restart_web():
                # At the planned moment a slow machine may still have every participant on the
                # pages before the trials, and a restart then moves no socket: it waits (a while at
                # most) until trials are streaming, so it lands mid-trial.
                streaming = wait_for_streaming_trials(
                    database_name, self.study_id, restart_when_streaming(count_participants), RESTART_WAIT_S,
                    self.load_over,
                )
                if streaming is None:
                    return  # the participants finished first: nothing left to move
                self.streaming_at_web_restart = streaming
                self.caused_web_restarts += 1
                self.web_restarted_at = time.time()
                os.kill(web, signal.SIGTERM)  # uvicorn closes its sockets (1012) and exits; serve restarts it
                time.sleep(0.3)
                wait_for_port(web_ports[0], timeout=120)
                self.web_back_at = time.time()

            timers.append(threading.Timer(1.0 + restart_at, restart_web))
        for timer in timers:
            timer.daemon = True
            timer.start()
        return timers

    def load(self, port, participants):
        options = self.options
        spec = {
            "base_url": f"http://127.0.0.1:{port}", "code": "demo", "participants": participants,
            "ramp_s": options["ramp"], "seconds": options["seconds"], "think_s": options["think"],
            "nice": options["load_nice"],
        }  # fmt: skip
        spec_path = self.tmpdir / "spec.json"
        spec_path.write_text(json.dumps(spec))
        output_path = self.tmpdir / "load.json"
        output_path.unlink(missing_ok=True)
        started = time.monotonic()
        done = subprocess.run(
            python("uxlab.benchmarks.sessions_load", str(spec_path), str(output_path)), cwd=REPO, capture_output=True, text=True,
            timeout=options["ramp"] + options["seconds"] + 600,
        )  # fmt: skip
        if done.returncode != 0:
            raise CommandError(f"the load process failed:\n{done.stderr[-3000:]}")
        return json.loads(output_path.read_text()), time.monotonic() - started

    # --- capacity ----------------------------------------------------------------------------

    def passes(self, run):
        """A run within the bounds: every participant completed with nothing lost, duplicated, left
        unconfirmed or left streaming, no error, and p99 trial start and answer confirmed within them."""
        options = self.options
        return (
            run["completed"] == run["participants"] and run["errors"] == 0
            and (run["lost"], run["duplicated"], run["unconfirmed"], run["trials_left_streaming"]) == (0, 0, 0, 0)
            and run["p99_trial_start_ms"] is not None and run["p99_trial_start_ms"] <= options["start_bound_ms"]
            and run["p99_submit_to_stored_ms"] is not None and run["p99_submit_to_stored_ms"] <= options["stored_bound_ms"]
        )  # fmt: skip

    def find_capacity(self, database, redis, count):
        """The largest number of participants arriving over --ramp whose run passes: doubling from
        CAPACITY_START, then halving the gap until it is within CAPACITY_STEP; never above --participants.
        Each step is a whole run of its own (a fresh serve), summarised with its concurrency and how
        busy the machine was."""
        options = self.options
        ceiling = options["participants"]
        steps, good, bad, n = [], 0, None, min(CAPACITY_START, ceiling)
        while True:
            run = self.run(database, redis, count, n)
            steps.append(step_summary(run, self.passes(run)))
            if not steps[-1]["passed"]:
                bad = n
                break
            good = n
            if n >= ceiling:
                break
            n = min(n * 2, ceiling)
        while bad is not None and bad - good > CAPACITY_STEP:
            n = (good + bad) // 2
            run = self.run(database, redis, count, n)
            steps.append(step_summary(run, self.passes(run)))
            if steps[-1]["passed"]:
                good = n
            else:
                bad = n
        ramp = options["ramp"]
        return {
            "processes": count,
            "capacity": good,
            "capacity_is_ceiling": bad is None,
            "ramp_s": ramp,
            "arrivals_per_second": round(good / ramp, 2) if ramp else None,
            "bounds": {"p99_trial_start_ms": options["start_bound_ms"], "p99_submit_to_stored_ms": options["stored_bound_ms"]},
            "capacity_runs": steps,
        }

    # --- figures -----------------------------------------------------------------------------

    def report(self, count, load, wall, cpu, max_connections, log, run_started):
        from uxlab.studies.models import Rating, Trial

        submitted, confirmed = set(load.pop("submitted")), set(load.pop("confirmed"))
        since = datetime.fromtimestamp(run_started, tz=UTC)
        time.sleep(1.0)  # a straggling redelivery lands before counting
        ratings = Rating.objects.filter(participant__study_id=self.study_id, participant__created_at__gte=since)
        keys = [str(key) for key in ratings.values_list("key", flat=True)]
        stored = set(keys)
        trials = Trial.objects.filter(participant__study_id=self.study_id, participant__created_at__gte=since)
        connections["default"].close()
        restarts = EXITED.findall(log)
        web_exits = sum(1 for name, _pid in restarts if name.startswith("web"))
        resumes = load.pop("resumes")
        across = [
            resume for resume in resumes
            if resume[1] and self.web_restarted_at and self.web_restarted_at <= resume[0] <= (self.web_back_at or resume[0])
        ]  # fmt: skip
        duration = load["duration_s"]
        streams = load["concurrent_streams"]
        with open("/proc/loadavg") as loadavg:
            load_average = [float(value) for value in loadavg.read().split()[:3]]
        return {
            "participants": load["participants"],
            "processes": count,
            "completed": load["completed"],
            "sessions_completed": load["sessions_completed"],
            "trials": load["trials"],
            "p50_trial_start_ms": rounded(load["trial_start_ms"]["p50"]),
            "p99_trial_start_ms": rounded(load["trial_start_ms"]["p99"]),
            "p50_submit_to_stored_ms": rounded(load["submit_to_stored_ms"]["p50"]),
            "p99_submit_to_stored_ms": rounded(load["submit_to_stored_ms"]["p99"]),
            "ratings": len(submitted),
            "ratings_per_second": round(len(submitted) / duration, 1) if duration else None,
            "p99_receive_lateness_ms": rounded(load["receive_lateness_ms"]["p99"]),
            "max_receive_lateness_ms": rounded(load["receive_lateness_ms"]["max"]),
            "deltas": load["deltas"],
            "deltas_after_due": load["deltas_after_due"],
            "concurrent_streams_min": streams["min"],
            "concurrent_streams_median": streams["median"],
            "concurrent_streams_max": streams["max"],
            "concurrency_window_s": [round(value, 1) for value in streams["window_s"]],
            "max_db_connections": max_connections,
            # The bound across the stack: each web process's pool, one connection per worker
            # process; beat, the worker's parent process and nginx hold none.
            "db_pool_size": count * settings.DB_POOL_MAX_SIZE + worker_processes(),
            "db_connections_by_process": self.connections_by_process,
            "trials_left_streaming": trials.filter(status=Trial.Status.STREAMING).count(),
            "lost": len(confirmed - stored),
            "unconfirmed": len(submitted - confirmed),
            "duplicated": len(keys) - len(stored),
            "web_restarts": web_exits - self.caused_web_restarts,
            "web_restarts_caused": self.caused_web_restarts,
            "streaming_at_web_restart": self.streaming_at_web_restart,
            "worker_restarts": sum(1 for name, _pid in restarts if name == "worker"),
            "resumed": sum(1 for resume in resumes if resume[1]),
            "resumes_with_gap": sum(1 for resume in resumes if resume[1] is False),
            "resumed_across_processes": len(across),
            "cpu_seconds": cpu,
            "cpu_percent": {name: round(100 * value / wall, 1) for name, value in cpu.items()},
            "cpu_ms_per_session": per_session(cpu, load["sessions_completed"]),
            **self.machine,
            "load_generator_nice": load["nice"],
            "duration_s": round(duration, 1),
            "http_requests": load["http_requests"],
            "errors": load["errors"],
            "error_samples": load["error_samples"],
            "load_average": load_average,
        }


STEP_KEYS = (
    "participants", "completed", "p50_trial_start_ms", "p99_trial_start_ms", "p50_submit_to_stored_ms",
    "p99_submit_to_stored_ms", "p99_receive_lateness_ms", "concurrent_streams_min", "concurrent_streams_median",
    "lost", "duplicated", "unconfirmed", "trials_left_streaming", "errors", "duration_s", "machine_busy_percent",
    "machine_saturated_s", "run_queue_median", "cpu_reference_ms",
)  # fmt: skip


def step_summary(run, passed):
    return {key: run[key] for key in STEP_KEYS} | {"cpu_ms_per_session": run["cpu_ms_per_session"].get("total"), "passed": passed}


def per_session(cpu, sessions):
    """Each process's CPU per completed session (ms), and the whole stack's as `total`: at its peak a
    launch of N sessions arriving over S seconds, each lasting L seconds, asks of the machine about
    N x total / max(S, L) core-milliseconds a second (docs/deployment.md, "Sizing a launch")."""
    if not sessions:
        return {}
    figures = {name: round(1000 * value / sessions, 1) for name, value in cpu.items()}
    return figures | {"total": round(1000 * sum(cpu.values()) / sessions, 1)}


def rounded(value):
    return None if value is None else round(value, 1)
