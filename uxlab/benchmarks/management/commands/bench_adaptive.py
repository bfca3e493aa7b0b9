"""Benchmark of adaptive designs against a known truth, end to end: simulated participants, each
with a threshold of their own drawn from a distribution, run an adaptive (QUEST+) study over the
real path (HTTP pages → uvicorn websocket → Redis → a Celery worker that stores each answer and
chooses the next trial → Postgres), and then a fixed-pairs study (method of constant stimuli) with
the same number of trials. Both are scored with the same posterior (same grid, prior, slopes and
lapses), so the comparison isolates where the trials were placed.

A simulated participant answers like a 2AFC observer: P(right) = γ + (1 − γ − λ)(1 − exp(−10^(β
(log10 e − log10 e_t)))), with e the two panes' distance in log10 speed, e_t their own threshold
distance, γ = 0.5, β = --slope and λ = --lapse (3 %). It learns each trial's two speeds from the
server's own pane specs (what the panes streamed), finds its next trial the way the page does (the
page's continue URL), and streams every trial to its end before answering.

Prints `threshold_rmse_log` (log10 estimate minus truth), `median_trials`, `coverage` of the 95 %
intervals, and the same under `fixed_pairs`. It works in a throwaway database and, unless given
--redis-url, on a redis-server of its own. docs/benchmarks.md shows a run.
"""

import asyncio
import logging
import math
import random
import re
import shutil
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import orjson
from django.core.management.base import CommandError

from uxlab.adaptive.questplus import weibull
from uxlab.benchmarks import sessions_load
from uxlab.benchmarks.database import ThrowawayDatabase, require_postgres
from uxlab.benchmarks.management.commands import bench_recovery
from uxlab.benchmarks.simulated_page import FRAME_MS
from uxlab.benchmarks.sockets import recv_within

REFERENCE = 60.0
LOW = 6.0
LEVELS = 8  # the fixed design's comparison speeds, log-spaced from LOW up to (not including) REFERENCE
PROMPTS = 5
CODE_WORD = "BENCHADAPT"

STUDY_HEAD = """
version: 1
code: {code}
title: Adaptive benchmark
consent:
  version: "1"
  text: Simulated participants agree.
completion:
  code: {code_word}
prompts:
{prompts}
questions:
  - name: faster
    kind: forced_choice
    text: Which answer appeared faster?
"""


def prompts_yaml():
    return "\n".join(f"  - name: p{i}\n    text: Prompt {i}.\n    response: Short answer number {i} here."
                     for i in range(PROMPTS))


def fixed_levels():
    return [float(value) for value in np.geomspace(LOW, REFERENCE, LEVELS + 1)[:-1]]


def adaptive_yaml(code, options):
    stop = f"\n    stop:\n      posterior_sd: {options['posterior_sd']}" if options["posterior_sd"] else ""
    return STUDY_HEAD.format(code=code, code_word=CODE_WORD, prompts=prompts_yaml()) + f"""
arms:
  - name: reference
    ttft_s: 0.05
    tokens_per_second: {REFERENCE:g}
design:
  seed: {code}
  adaptive:
    reference: reference
    dimension: tokens_per_second
    question: faster
    procedure: quest_plus
    tracks:
      - name: slower
        range: [{LOW:g}, {REFERENCE:g}]
    max_trials: {options['max_trials']}{stop}
    quest_plus:
      prior:
        threshold: {options['prior_threshold']:g}
        sd_log10: {options['prior_sd_log10']:g}
"""


def fixed_yaml(code, trials):
    arms = [("reference", REFERENCE)] + [(f"level{i}", value) for i, value in enumerate(fixed_levels())]
    arm_text = "\n".join(f"  - name: {name}\n    ttft_s: 0.05\n    tokens_per_second: {value:.6g}" for name, value in arms)
    pairs = ", ".join(f"[reference, {name}]" for name, _ in arms[1:])
    return STUDY_HEAD.format(code=code, code_word=CODE_WORD, prompts=prompts_yaml()) + f"""
arms:
{arm_text}
design:
  seed: {code}
  order: shuffle
  trials_per_participant: {trials}
  pairs: [{pairs}]
"""


def pane_speeds(token, index):
    """The two panes' answer speeds as the server streams them (the simulated eye). Runs in a
    thread of the benchmark's own small pool, and gives its database connection back at once."""
    from django.db import connection

    from uxlab.studies import actions
    from uxlab.studies.models import Trial

    try:
        trial = Trial.objects.select_related("arm_a", "arm_b", "prompt", "participant__study").get(
            participant__token=token, index=index)
        specs = actions.trial_pane_specs(trial)
        return {pane: float(specs[pane]["profile"]["tokens_per_second"]) for pane in "AB"}
    finally:
        connection.close()


EYES = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bench-adaptive-eye")


class Observer:
    """A 2AFC observer with a threshold of its own (log10 tokens/s on the slower side)."""

    def __init__(self, threshold_log10, slope, lapse, rng):
        self.threshold_log10 = threshold_log10
        self.threshold_e = math.log10(REFERENCE) - threshold_log10
        self.slope, self.lapse, self.rng = slope, lapse, rng

    def answer(self, speeds):
        faster = "A" if speeds["A"] > speeds["B"] else "B"
        e = abs(math.log10(speeds["A"]) - math.log10(speeds["B"]))
        p_right = 0.5 if e == 0 else float(weibull(math.log10(e), math.log10(self.threshold_e), self.slope, 0.5,
                                                     self.lapse))
        right = self.rng.random() < p_right
        return faster if right else ("B" if faster == "A" else "A"), right, e


CONNECT_ATTEMPTS = 5


class PageBrowser:
    """One participant as the page behaves: open the participant's link, which leads to the trial
    the server has ready; a socket per trial page, which first sends what the outbox still holds;
    stream the trial to the end, answer, and wait until what the page waits for is stored (its
    answers; every trial's telemetry too unless the page says `data-telemetry-follows`, in which case
    its telemetry stays in the outbox for the next page); then the next page, until the done page."""

    def __init__(self, base_url, token, observer, timeout):
        self.base_url, self.token, self.observer, self.timeout = base_url, token, observer, timeout
        self.result = {"trials": [], "errors": [], "completed": False}
        self.outbox = {}  # key -> (message, type, trial), until the server says it is stored

    async def run(self):
        from websockets.asyncio.client import connect

        ws_url = self.base_url.replace("http", "ws", 1) + f"/ws/p/{self.token}/"
        async with httpx.AsyncClient(base_url=self.base_url, timeout=60, follow_redirects=True) as client:
            path = f"/p/{self.token}/"  # the participant's link; then each trial page's data-continue-url
            while True:
                page = await client.get(path)
                if page.url.path.endswith("/done/"):
                    self.result["completed"] = page.status_code == 200 and CODE_WORD in page.text
                    return self.result
                found = re.search(r'data-trial="(\d+)"', page.text)
                if page.status_code != 200 or found is None:
                    self.result["errors"].append({"code": "no_trial_page", "status": page.status_code})
                    return self.result
                index = int(found[1])
                telemetry_follows = sessions_load.TELEMETRY_FOLLOWS.search(page.text) is not None
                # A page that cannot open its socket tries again, as the participant page does; a
                # loaded machine can keep a handshake waiting past websockets' 10 s default.
                for attempt in range(CONNECT_ATTEMPTS):
                    try:
                        socket = await connect(
                            ws_url, origin=self.base_url, max_queue=None, compression=None, open_timeout=self.timeout
                        )
                        break
                    except (OSError, TimeoutError) as error:
                        if attempt == CONNECT_ATTEMPTS - 1:
                            self.result["errors"].append({"code": "connect_failed", "error": repr(error)[:200]})
                            return self.result
                        await asyncio.sleep(0.5 * (attempt + 1))
                async with socket:
                    await self.trial(socket, index, telemetry_follows)
                path = f"/p/{self.token}/trial/"

    async def trial(self, socket, index, telemetry_follows):
        hello = orjson.loads(await recv_within(socket, self.timeout))
        assert hello["type"] == "hello", hello
        await self.send_outbox(socket)  # earlier trials' telemetry, as the page sends it when its socket opens
        await socket.send(orjson.dumps({"type": "trial.start", "trial": index}).decode())
        t0_ms, frames = None, []
        while True:
            frame = orjson.loads(await recv_within(socket, self.timeout))
            kind = frame["type"]
            if kind == "stream.start":
                t0_ms = frame["t0_ms"]
            elif kind == "stream.delta":
                receive = time.time() * 1000 - t0_ms
                frames.append([frame["seq"], receive, math.ceil(max(receive, frame["due_ms"]) / FRAME_MS) * FRAME_MS])
            elif kind in ("stream.end", "stream.interrupted"):
                break
            elif kind == "error" and frame.get("ref") not in self.outbox:
                self.result["errors"].append(frame)
                return
            else:
                self.note(frame)  # an earlier trial's telemetry stored (or refused)
        speeds = await asyncio.get_running_loop().run_in_executor(EYES, pane_speeds, self.token, index)
        value, right, e = self.observer.answer(speeds)
        self.result["trials"].append({"index": index, "e": e, "right": right})
        telemetry = {"type": "telemetry.submit", "key": str(uuid.uuid4()), "trial": index, "frames": frames,
                     "clock": {"offset_ms": 0.0, "rtt_ms": 1.0, "rounds": 6}, "frame_ms": FRAME_MS}
        rating = {"type": "rating.submit", "key": str(uuid.uuid4()), "trial": index, "question": "faster",
                  "value": value, "response_ms": 800}
        for message in (telemetry, rating):
            self.outbox[message["key"]] = (orjson.dumps(message).decode(), message["type"], index)
            await socket.send(self.outbox[message["key"]][0])
        while any(sessions_load.must_be_stored_first(kind, of_trial, index, telemetry_follows)
                  for _text, kind, of_trial in self.outbox.values()):
            try:
                frame = orjson.loads(await recv_within(socket, bench_recovery.RESEND_AFTER_S))
            except TimeoutError:
                await self.send_outbox(socket)
                continue
            self.note(frame)

    async def send_outbox(self, socket):
        for text, _kind, _trial in list(self.outbox.values()):
            await socket.send(text)

    def note(self, frame):
        if frame["type"] in ("rating.stored", "telemetry.stored"):
            self.outbox.pop(frame["key"], None)
        elif frame["type"] == "error":
            self.result["errors"].append(frame)
            self.outbox.pop(frame.get("ref"), None)


class Command(bench_recovery.Command):
    help = "Adaptive (QUEST+) against fixed pairs with the same trials, over the real path: threshold error and coverage."

    def add_arguments(self, parser):
        parser.add_argument("--participants", type=int, default=40)
        parser.add_argument("--max-trials", type=int, default=40)
        parser.add_argument("--posterior-sd", type=float, default=None, help="QUEST+ stops a track below this SD")
        parser.add_argument("--truth-median", type=float, default=20.0, help="median true threshold, tokens/s")
        parser.add_argument("--truth-sd-log10", type=float, default=0.2, help="spread of true thresholds")
        parser.add_argument("--prior-threshold", type=float, default=20.0)
        parser.add_argument("--prior-sd-log10", type=float, default=0.3)
        parser.add_argument("--slope", type=float, default=3.0)
        parser.add_argument("--lapse", type=float, default=0.03)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--database", default="uxlab_bench_adaptive", help="throwaway database to create and drop")
        parser.add_argument("--redis-url", default=None, help="use this Redis instead of starting one")
        parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for any one message")
        parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
        parser.add_argument("--json", action="store_true", help="print only the JSON result")
        parser.add_argument("--keep-logs", action="store_true")

    def handle(self, **options):
        require_postgres("bench_adaptive")
        if options["participants"] < 1 or not 1 <= options["max_trials"] <= LEVELS * PROMPTS:
            raise CommandError(f"--participants must be >= 1 and --max-trials from 1 to {LEVELS * PROMPTS}")
        if not LOW < options["truth_median"] < REFERENCE:
            raise CommandError(f"--truth-median must lie between {LOW:g} and {REFERENCE:g}")
        self.options = options
        logging.getLogger("httpx").setLevel(logging.WARNING)
        self.tmpdir = Path(tempfile.mkdtemp(prefix="uxlab-bench-adaptive-"))
        self.processes = {}
        rng = random.Random(options["seed"])
        started = time.perf_counter()
        with ThrowawayDatabase(options["database"], tables="models") as throwaway:
            try:
                base_url = self.start_processes(throwaway, options["redis_url"] or self.start_redis())
                observers = [self.draw_observer(rng) for _ in range(options["participants"])]
                adaptive = self.run_design("adaptive", base_url, observers, rng)
                trials = max(1, round(adaptive["median_trials"] or 1))
                fixed = self.run_design("fixed", base_url, observers, rng, fixed_trials=trials)
            finally:
                for process in reversed(list(self.processes.values())):
                    process.stop()
                if options["keep_logs"]:
                    self.stderr.write(f"logs kept in {self.tmpdir}")
                else:
                    shutil.rmtree(self.tmpdir, ignore_errors=True)
        result = {
            "participants": options["participants"],
            "truth": {"median_threshold": options["truth_median"], "sd_log10": options["truth_sd_log10"],
                      "slope": options["slope"], "lapse": options["lapse"], "reference": REFERENCE,
                      "range": [LOW, REFERENCE]},
            **{key: value for key, value in adaptive.items() if key != "per_participant"},
            "fixed_pairs": {key: value for key, value in fixed.items() if key != "per_participant"},
            "adaptive_better": (adaptive["threshold_rmse_log"] is not None and fixed["threshold_rmse_log"] is not None
                                and adaptive["threshold_rmse_log"] < fixed["threshold_rmse_log"]),
            "seconds": round(time.perf_counter() - started, 1),
            "per_participant": [
                {"truth_log10": a["truth_log10"], "adaptive": a["estimate"], "fixed": f["estimate"]}
                for a, f in zip(adaptive["per_participant"], fixed["per_participant"])
            ],
        }
        self.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode())

    def draw_observer(self, rng):
        low, high = math.log10(LOW * 1.1), math.log10(REFERENCE / 1.1)
        value = math.log10(self.options["truth_median"]) + rng.gauss(0, self.options["truth_sd_log10"])
        return Observer(min(high, max(low, value)), self.options["slope"], self.options["lapse"],
                        random.Random(rng.random()))

    def run_design(self, design, base_url, observers, rng, fixed_trials=None):
        from uxlab.studies import actions
        from uxlab.studies.models import Team
        from uxlab.studies.study_files import import_study, parse_study_yaml

        team, _ = Team.objects.get_or_create(slug="bench-adaptive", defaults={"name": "Bench"})
        code = f"adaptive{design}"
        text = adaptive_yaml(code, self.options) if design == "adaptive" else fixed_yaml(code, fixed_trials)
        study = import_study(parse_study_yaml(text), team=team, status="live")
        if design == "adaptive":
            self.adaptive_config = study.design["adaptive"]
        browsers = []
        for observer in observers:
            participant = actions.enroll_participant(study)
            actions.record_checks(participant, {"simulated": True}, viewport_ok=True, stacked=False)
            participant = actions.give_consent(participant)
            actions.mark_instructions_seen(participant)
            browsers.append(PageBrowser(base_url, participant.token, observer, self.options["timeout"]))
        started = time.perf_counter()
        results = asyncio.run(self.drive(browsers))
        self.say(f"{design}: {len(browsers)} participants in {time.perf_counter() - started:.0f} s")
        return self.score(study, observers, results, browsers, design, time.perf_counter() - started)

    def score(self, study, observers, results, browsers, design, seconds):
        from uxlab.adaptive.procedures import QuestPlusProcedure, Track
        from uxlab.adaptive.session import with_defaults
        from uxlab.studies.models import AdaptiveStep

        # The fixed design is scored with the adaptive study's own QUEST+ settings (grid, prior, ...).
        config = with_defaults(self.adaptive_config)
        track = Track("slower", LOW, REFERENCE, REFERENCE, config["grid"])
        procedure = QuestPlusProcedure(config, track)
        rows = []
        for observer, result, browser in zip(observers, results, browsers):
            if design == "adaptive":
                last = (AdaptiveStep.objects.filter(run__participant__token=browser.token, answered_at__isnull=False)
                        .order_by("-number").values_list("summary", flat=True).first()) or {}
                estimate = {key: last.get(key) for key in ("log10", "low_log10", "high_log10", "sd_log10")}
            else:
                history = [[trial["e"], trial["right"]] for trial in result["trials"]]
                summary = procedure.summary({"history": history, "trials": len(history)})
                estimate = {key: summary[key] for key in ("log10", "low_log10", "high_log10", "sd_log10")}
            rows.append({"truth_log10": observer.threshold_log10, "estimate": estimate,
                         "trials": len(result["trials"]), "errors": len(result["errors"]),
                         "completed": result["completed"]})
        scored = [row for row in rows if row["estimate"].get("log10") is not None]
        errors = [row["estimate"]["log10"] - row["truth_log10"] for row in scored]
        covered = [row["estimate"]["low_log10"] <= row["truth_log10"] <= row["estimate"]["high_log10"] for row in scored]
        return {
            "threshold_rmse_log": math.sqrt(statistics.fmean([e * e for e in errors])) if errors else None,
            "threshold_bias_log": statistics.fmean(errors) if errors else None,
            "median_trials": statistics.median(row["trials"] for row in rows) if rows else None,
            "coverage": statistics.fmean(covered) if covered else None,
            "median_interval_width_log": (statistics.median(row["estimate"]["high_log10"] - row["estimate"]["low_log10"]
                                                            for row in scored) if scored else None),
            "estimated": len(scored),
            "completed": sum(row["completed"] for row in rows),
            "errors": sum(row["errors"] for row in rows),
            "drive_seconds": round(seconds, 1),
            "per_participant": rows,
        }

