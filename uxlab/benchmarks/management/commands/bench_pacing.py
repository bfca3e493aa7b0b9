"""bench_pacing: how many participants one uxlab web process paces on time, against a bare consumer.

Starts a real uvicorn process (uxlab's ASGI app on a throwaway Postgres database and the Redis
channel layer) and a separate load process of N websocket participants, each with a fast
(1,800 tokens/s) and a slow (15 tokens/s) pane in server_paced mode (or `--delivery controlled`),
all started together. The same load then runs against a bare Channels consumer doing the same
pacing (uxlab.benchmarks.bare; server_paced only). Every run reports how many participants were
streaming at once (`concurrent_streams_min`/`_median`) and the trial-start latency; a capacity step
passes only if its p99 lateness is within the bound and all its participants were streaming
together for most of the run. Prints JSON; see docs/benchmarks.md.
"""

import json
import os
import subprocess
import tempfile
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.db.models import Max, Min

from uxlab.benchmarks.database import ThrowawayDatabase, require_postgres
from uxlab.benchmarks.processes import python, web_server
from uxlab.streaming.pacing import percentile

BENCH_DATABASE = "uxlab_bench_pacing"
FAST_TOKENS_PER_SECOND = 1800
SLOW_TOKENS_PER_SECOND = 15
# A capacity step counts only if all its participants were streaming at once this much of the run.
ALL_STREAMING_FRACTION = 0.5


def content_for(seconds):
    """A response long enough that the slow pane streams for the whole run."""
    words = int(SLOW_TOKENS_PER_SECOND * seconds) + 40
    return " ".join(f"word{i % 97}" for i in range(words))


def pane_profile(tokens_per_second, ttft_s):
    return {"ttft_s": ttft_s, "tokens_per_second": tokens_per_second, "jitter": "none", "jitter_cv": 0.0}


class Command(BaseCommand):
    help = "Measure pacing lateness and capacity of the real stack against a bare Channels consumer."

    def add_arguments(self, parser):
        parser.add_argument("--participants", type=int, default=1000)
        parser.add_argument("--seconds", type=float, default=15.0)
        parser.add_argument("--bound-ms", type=float, default=10.0, help="p99 receive lateness bound for --find-capacity")
        parser.add_argument("--find-capacity", action="store_true")
        parser.add_argument("--max-participants", type=int, default=3000)
        parser.add_argument("--skip-bare", action="store_true")
        parser.add_argument(
            "--delivery", choices=["server_paced", "controlled"], default="server_paced",
            help="controlled: each message sent 250 ms ahead of its due time (the bare consumer is skipped)",
        )  # fmt: skip
        parser.add_argument("--database", default=BENCH_DATABASE, help="throwaway database to create and drop")
        parser.add_argument("--json", action="store_true")

    def handle(self, participants, seconds, bound_ms, find_capacity, max_participants, skip_bare, **options):
        require_postgres("bench_pacing", redis=True)
        self.seconds = seconds
        self.quiet = options["json"]
        self.delivery = options["delivery"]
        skip_bare = skip_bare or self.delivery == "controlled"
        largest = max(participants, max_participants if find_capacity else participants)
        with ThrowawayDatabase(options["database"]) as database:
            self.database = database
            self.log(f"seeding {largest} participants")
            self.seed(largest)
            connections["default"].close()
            result = self.measure(participants, bound_ms, find_capacity, max_participants, skip_bare)
        self.stdout.write(json.dumps(result, indent=None if options["json"] else 2))

    def measure(self, participants, bound_ms, find_capacity, max_participants, skip_bare):
        result = {"participants": participants, "seconds": self.seconds, "mode": self.delivery}
        with self.server("uxlab") as server:
            uxlab_run = self.run_load(server, participants, bare=False)
        result.update(self.flatten(uxlab_run, ""))
        if not skip_bare:
            with self.server("bare") as server:
                result.update(self.flatten(self.run_load(server, participants, bare=True), "bare_"))
        if find_capacity:
            result["bound_ms"] = bound_ms
            with self.server("uxlab") as server:
                result["capacity"], result["capacity_runs"] = self.find_capacity(server, bound_ms, max_participants, False)
            if not skip_bare:
                with self.server("bare") as server:
                    result["bare_capacity"], result["bare_capacity_runs"] = self.find_capacity(
                        server, bound_ms, max_participants, True
                    )
                if result["bare_capacity"]:
                    result["capacity_ratio"] = result["capacity"] / result["bare_capacity"]
        return result

    def server(self, which):
        """uxlab's web process, or the bare consumer's, with the same flags; its log in var/."""
        app = "uxlab.benchmarks.bare:application" if which == "bare" else None
        log_path = settings.BASE_DIR / "var" / f"bench_pacing-{which}.log"
        return web_server(self.database.env(LOG_LEVEL="WARNING"), log_path, app=app)

    def seed(self, participants):
        from uxlab.studies import actions
        from uxlab.studies.models import Arm, Participant, Prompt, Question, Study, Team

        team = Team.objects.create(name="Bench", slug="bench")
        study = Study.objects.create(
            team=team, code="bench-pacing", title="bench_pacing", consent_text="-", status=Study.Status.LIVE,
            design={"pairs": [["fast", "slow"]], "seed": "bench", "delivery": self.delivery},
        )
        Arm.objects.create(study=study, name="fast", profile=pane_profile(FAST_TOKENS_PER_SECOND, 0.2), position=0)
        Arm.objects.create(study=study, name="slow", profile=pane_profile(SLOW_TOKENS_PER_SECOND, 1.0), position=1)
        Prompt.objects.create(study=study, name="long", text="-", response=content_for(self.seconds))
        Question.objects.create(study=study, name="faster", text="Which response felt faster?")
        self.tokens = []
        for _ in range(participants):
            participant = actions.give_consent(Participant.objects.create(study=study))
            self.tokens.append(participant.token)
        self.study_id = study.pk

    # --- one run -----------------------------------------------------------------------------

    def bare_request(self):
        content = content_for(self.seconds)
        return json.dumps(
            {
                "panes": {
                    "A": {"profile": pane_profile(FAST_TOKENS_PER_SECOND, 0.2), "content": content, "seed": "A"},
                    "B": {"profile": pane_profile(SLOW_TOKENS_PER_SECOND, 1.0), "content": content, "seed": "B"},
                }
            }
        )

    def run_load(self, server, participants, bare):
        base = f"ws://127.0.0.1:{server.port}"
        if bare:
            urls = [f"{base}/ws/bare/"] * participants
            first = [self.bare_request()] * participants
        else:
            urls = [f"{base}/ws/p/{token}/" for token in self.tokens[:participants]]
            first = [json.dumps({"type": "trial.start", "trial": 0})] * participants
        spec = {"urls": urls, "first_messages": first, "seconds": self.seconds, "origin": f"http://127.0.0.1:{server.port}"}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as spec_file:
            json.dump(spec, spec_file)
        self.log(f"{'bare' if bare else 'uxlab'}: {participants} participants for {self.seconds:.0f} s")
        cpu_before, wall_before = server.cpu_seconds(), time.monotonic()
        done = subprocess.run(
            python("uxlab.benchmarks.pacing_load", spec_file.name),
            cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=self.seconds + participants / 20 + 120,
        )
        cpu_after, wall_after = server.cpu_seconds(), time.monotonic()
        os.unlink(spec_file.name)
        if done.returncode != 0:
            raise CommandError(f"the load process failed:\n{done.stderr[-3000:]}")
        run = json.loads(done.stdout.strip().splitlines()[-1])
        run["server_cpu_percent"] = 100 * (cpu_after - cpu_before) / (wall_after - wall_before)
        run["participants"] = participants
        if not bare:
            run["send_lateness_ms"] = self.send_lateness(participants)
        return run

    def send_lateness(self, participants):
        """The server's own send lateness, recorded per trial when each socket closes."""
        from uxlab.studies.models import Trial

        trials = Trial.objects.filter(participant__study_id=self.study_id, started_at__isnull=False)
        deadline = time.monotonic() + 15
        while True:
            timings = [
                timing["send_lateness_ms"]
                for timing in trials.values_list("server_timing", flat=True)
                if timing and "send_lateness_ms" in timing
            ]
            if len(timings) >= participants or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        # How far apart the trials actually started: uxlab's starts pass through the database one
        # at a time, which spreads a synchronised start; the bare consumer's do not.
        spread = trials.aggregate(first=Min("started_at"), last=Max("started_at"))
        start_spread_s = (spread["last"] - spread["first"]).total_seconds() if spread["first"] else None
        Trial.objects.filter(participant__study_id=self.study_id).update(
            server_timing={}, started_at=None, stream_t0=None, finished_at=None, status=Trial.Status.ASSIGNED
        )
        connections["default"].close()
        return {
            "trials": len(timings),
            "p50_of_trial_p50": percentile([t["p50"] for t in timings], 50),
            "p99_of_trial_p99": percentile([t["p99"] for t in timings], 99),
            "max": max((t["max"] for t in timings), default=None),
            "start_spread_s": start_spread_s,
        }

    def flatten(self, run, prefix):
        lateness = run["receive_lateness_ms"]
        flat = {
            f"{prefix}p50_receive_lateness_ms": lateness["p50"],
            f"{prefix}p99_receive_lateness_ms": lateness["p99"],
            f"{prefix}max_receive_lateness_ms": lateness["max"],
            f"{prefix}p99_receive_lateness_after_start_ms": run["receive_lateness_after_start_ms"]["p99"],
            f"{prefix}messages_per_second": run["messages_per_second"],
            f"{prefix}server_cpu_percent": run["server_cpu_percent"],
            f"{prefix}load_cpu_seconds": run["load_cpu_seconds"],
            f"{prefix}errors": run["errors"],
            f"{prefix}p50_trial_start_ms": run["trial_start_ms"]["p50"],
            f"{prefix}p99_trial_start_ms": run["trial_start_ms"]["p99"],
            f"{prefix}concurrent_streams_min": run["concurrent_streams_min"],
            f"{prefix}concurrent_streams_median": run["concurrent_streams_median"],
            f"{prefix}all_streaming_fraction": run["all_streaming_fraction"],
        }
        if run.get("error_samples"):
            flat[f"{prefix}error_samples"] = run["error_samples"]
        if "send_lateness_ms" in run:
            flat[f"{prefix}send_lateness_ms"] = run["send_lateness_ms"]
        return flat

    def passes(self, run, bound_ms):
        """On time, and a real load: every participant streaming together for most of the run
        (starts spread out by a slow trial start would otherwise pass with few streams at once)."""
        p99 = run["receive_lateness_ms"]["p99"]
        on_time = run["errors"] == 0 and p99 is not None and p99 <= bound_ms
        return on_time and run["all_streaming_fraction"] >= ALL_STREAMING_FRACTION

    def step_summary(self, n, run, bound_ms):
        return {
            "participants": n,
            "p99_receive_lateness_ms": run["receive_lateness_ms"]["p99"],
            "p99_trial_start_ms": run["trial_start_ms"]["p99"],
            "concurrent_streams_min": run["concurrent_streams_min"],
            "concurrent_streams_median": run["concurrent_streams_median"],
            "all_streaming_fraction": round(run["all_streaming_fraction"], 3),
            "errors": run["errors"],
            "passed": self.passes(run, bound_ms),
        }

    def find_capacity(self, server, bound_ms, max_participants, bare):
        """Largest N whose p99 receive lateness stays within the bound: doubling, then bisection."""
        runs, good, bad, n = [], 0, None, 250
        while n <= max_participants:
            run = self.run_load(server, n, bare)
            runs.append(self.step_summary(n, run, bound_ms))
            if not self.passes(run, bound_ms):
                bad = n
                break
            good, n = n, n * 2
        if bad is None:
            return good, runs
        for _ in range(3):
            n = (good + bad) // 2
            if bad - good <= 50:
                break
            run = self.run_load(server, n, bare)
            runs.append(self.step_summary(n, run, bound_ms))
            if self.passes(run, bound_ms):
                good = n
            else:
                bad = n
        return good, runs

    def log(self, text):
        self.stderr.write(text)
