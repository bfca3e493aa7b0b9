"""bench_fidelity: how faithfully a real browser presents controlled-mode trials.

Drives Debian's chromium (Playwright, executable_path) through controlled-mode trials of the
display-probe pairs (display_probe.PROBE_PAIRS: 5,000 vs 1,800 tokens/s, 100 tokens/s with a hidden
and a visible thinking phase, 15 tokens/s) against a real uvicorn process, Redis and a Celery worker,
in a throwaway database, with several browser contexts at once. Two measurements of every trial:

* uxlab's own telemetry (per token: the frame that showed it and the conservative presentation
  estimate) against the schedule: ``fraction_in_first_frame``, paint errors, clock uncertainty;
* an outside probe injected before the page's scripts (display_probe.js): the displayed speed
  over each pane's answer (``displayed_speed_ratio_min``/``max``, displayed / declared) and every
  token shown before its due time (``tokens_shown_early``), overall and per arm.

Prints JSON; docs/benchmarks.md explains the keys and records a run.
"""

import asyncio
import json
import os
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from uxlab.benchmarks.database import ThrowawayDatabase
from uxlab.benchmarks.display_probe import PROBE_PAIRS, SCRIPT, measure_trial, probe_study
from uxlab.benchmarks.processes import celery_worker, web_server
from uxlab.processes import CHROMIUM_ARGS
from uxlab.streaming import fidelity
from uxlab.streaming.pacing import percentile


def default_concurrency():
    """A core for the server, worker and Postgres; one for each browser (up to 3)."""
    return max(1, min(3, (os.cpu_count() or 1) - 1))


class Command(BaseCommand):
    help = "Measure how controlled-mode trials are displayed in headless chromium (telemetry and an outside probe)."

    def add_arguments(self, parser):
        parser.add_argument("--participants", type=int, default=10)
        parser.add_argument(
            "--concurrency",
            type=int,
            default=default_concurrency(),
            help="participants streaming at once, each in a browser of its own (default: one per core "
            "beyond the first, at most 3: the browsers share the cores with the server and worker)",
        )
        parser.add_argument("--pairs", type=int, default=len(PROBE_PAIRS), help="run only the first N pairs (a quick check)")
        parser.add_argument("--chromium", default=os.environ.get("UXLAB_CHROMIUM", "/usr/bin/chromium"))
        parser.add_argument("--database", default="uxlab_bench_fidelity", help="throwaway database to create and drop")
        parser.add_argument("--json", action="store_true")

    def handle(self, participants, concurrency, pairs, chromium, **options):
        if not settings.REDIS_URL:
            raise CommandError("bench_fidelity needs REDIS_URL (and DATABASE_URL) for the real stack")
        if not os.path.exists(chromium):
            raise CommandError(f"no chromium at {chromium}: install Debian's chromium (make chromium)")
        self.pairs = list(PROBE_PAIRS)[:pairs]
        # The pages under test are served from the collected static files (DEBUG off): collect the
        # checkout's own, so the benchmark never measures a stale stream.js.
        call_command("collectstatic", "--noinput", verbosity=0)
        load_before = os.getloadavg()
        with ThrowawayDatabase(options["database"]) as database:
            sessions = self.seed(participants)
            env = database.env(LOG_LEVEL="WARNING")
            logs = settings.BASE_DIR / "var"
            with web_server(env, logs / "bench-web.log") as server, celery_worker(env, logs / "bench-worker.log"):
                probes = asyncio.run(self.drive(chromium, server.url, sessions, concurrency))
            result = self.measure(probes)
        result["participants"], result["concurrency"] = participants, concurrency
        result["participants_failed"] = self.failed
        result["load_average"] = {"before": list(load_before), "after": list(os.getloadavg()), "cpus": os.cpu_count()}
        self.stdout.write(json.dumps(result, indent=None if options["json"] else 2))

    def seed(self, participants):
        """One study per pair; each benchmark participant takes part in every one of them."""
        from uxlab.studies import actions
        from uxlab.studies.models import Team
        from uxlab.studies.study_files import import_study, validate_study_data

        team = Team.objects.create(name="Bench", slug="bench")
        studies = [import_study(validate_study_data(probe_study(name)), team=team, status="live") for name in self.pairs]
        sessions = []
        for _ in range(participants):
            tokens = []
            for study in studies:
                participant = actions.enroll_participant(study)
                actions.record_checks(participant, {"bench": True}, viewport_ok=True, stacked=False)
                participant = actions.give_consent(participant)
                actions.mark_instructions_seen(participant)
                tokens.append(str(participant.token))
            sessions.append(tokens)
        return sessions

    async def drive(self, chromium, base_url, sessions, concurrency):
        """Each participant in a browser of their own (its own compositor, as on their own machine),
        ``concurrency`` at a time; returns
        {(participant token, trial index): the probe's record of that trial page}."""
        from playwright.async_api import TimeoutError as PlaywrightTimeout
        from playwright.async_api import async_playwright

        probes, done = {}, [0]
        self.failed = 0
        limit = asyncio.Semaphore(concurrency)
        async with async_playwright() as playwright:
            async def take_part(tokens):
                async with limit:
                    browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                    context = await browser.new_context(viewport={"width": 1280, "height": 800})
                    page = await context.new_page()
                    await page.add_init_script(SCRIPT)
                    try:
                        for token in tokens:
                            await page.goto(f"{base_url}/p/{token}/trial/")
                            await page.locator("#answers[data-allowed=true]").wait_for(timeout=90_000)
                            index = int(await page.locator("#player").get_attribute("data-trial"))
                            probes[(token, index)] = await page.evaluate("window.__uxlabProbe")
                            await page.keyboard.press("3")
                            async with page.expect_navigation(timeout=60_000):
                                await page.keyboard.press("Enter")
                    except PlaywrightTimeout as error:
                        # Counted and reported (participants_failed), not hidden: see var/bench-web.log.
                        self.failed += 1
                        self.stderr.write(f"a participant did not finish: {error.message.splitlines()[0]}")
                    await context.close()
                    await browser.close()
                    done[0] += 1
                    self.stderr.write(f"participant {done[0]}/{len(sessions)} done")

            await asyncio.gather(*(take_part(tokens) for tokens in sessions))
        time.sleep(1)  # the worker confirms the last telemetry batch
        return probes

    def measure(self, probes):
        from uxlab.studies.actions import trial_targets
        from uxlab.studies.models import TrialTelemetry

        overall, by_arm = Tally(), {}
        trials = same_frame = 0
        frame_intervals, uncertainties = [], []
        batches = TrialTelemetry.objects.select_related(
            "trial__prompt", "trial__arm_a", "trial__arm_b", "trial__participant__study"
        )
        for batch in batches:
            trial, payload = batch.trial, batch.payload
            trials += 1
            frame_ms = payload.get("frame_ms") or fidelity.DEFAULT_FRAME_MS
            frame_intervals.append(frame_ms)
            uncertainty, _ = fidelity.clock_summary(payload.get("clock"), frame_ms)
            if uncertainty is not None:
                uncertainties.append(uncertainty)
            observed = {seq: (receive, paint) for seq, receive, paint in payload["frames"]}
            updates = {}
            for seq, tokens, frame, presented in payload.get("updates") or ():
                updates.setdefault(seq, []).append((tokens, frame, presented))
            record = probes.get((str(trial.participant.token), trial.index))
            seen = measure_trial(record, trial) if record else {}
            first_on_time = []
            for pane, targets in trial_targets(trial).items():
                arm = trial.arm_a if pane == "A" else trial.arm_b
                rows = fidelity.token_times(targets, observed, updates, frame_ms)
                tallies = (overall, by_arm.setdefault(arm.name, Tally()))
                # Each token's message arrival (page ms after t0), in the order of token_times' rows.
                arrivals = [observed.get(seq, (None,))[0] for seq in sorted(targets) for _ in range(targets[seq][1])]
                for tally in tallies:
                    tally.add_telemetry(rows, frame_ms, len(targets), arrivals)
                    if pane in seen:
                        tally.add_probe(seen[pane])
                if rows and rows[0][1] is not None:
                    first_on_time.append(0 <= rows[0][1] - rows[0][0] < frame_ms)
            if len(first_on_time) == 2 and all(first_on_time):
                same_frame += 1
        if not overall.errors:
            raise CommandError("no telemetry was stored: see var/bench-web.log and var/bench-worker.log")
        result = {
            "trials": trials,
            "trials_probed": len(probes),
            "frame_ms": percentile(frame_intervals, 50),
            **overall.summary(),
            "t0_same_frame_trials": same_frame,
            "t0_same_frame": same_frame == trials,
            "clock_uncertainty_ms": {
                "p50": percentile(uncertainties, 50),
                "max": max(uncertainties) if uncertainties else None,
            },
            "arms": {name: tally.summary() for name, tally in sorted(by_arm.items())},
        }
        return result


class Tally:
    """Telemetry and probe figures of a set of panes (all of them, or one arm's)."""

    def __init__(self):
        self.frames = self.tokens = self.on_time = 0
        self.errors, self.presented_errors = [], []
        self.telemetry_early = self.probe_early = self.not_shown = self.onsets = self.onsets_first = 0
        self.ratios = []
        self.misses = {"arrived_after_due": 0, "frame_late": 0, "rendering_late": 0}

    def add_telemetry(self, rows, frame_ms, frames, arrivals):
        self.frames += frames
        for (due, frame, presented, _phase), arrival in zip(rows, arrivals):
            if frame is None:
                continue
            # Why a token missed its first frame (a token may have more than one reason).
            self.misses["arrived_after_due"] += arrival is not None and arrival > due
            self.misses["frame_late"] += frame - due >= frame_ms
            self.misses["rendering_late"] += presented - frame >= frame_ms
            self.errors.append(frame - due)
            self.presented_errors.append(presented - due)
            self.telemetry_early += frame - due < -fidelity.EARLY_TOLERANCE_MS
            self.on_time += -fidelity.EARLY_TOLERANCE_MS <= frame - due < frame_ms and presented - frame < frame_ms
        self.tokens += len(rows)

    def add_probe(self, seen):
        self.probe_early += seen["tokens_shown_early"]
        self.not_shown += seen["tokens_not_shown"]
        if seen["displayed_speed_ratio"] is not None:
            self.ratios.append(seen["displayed_speed_ratio"])
        for onset in ("onset", "answer_onset"):
            self.onsets += 1
            self.onsets_first += bool(seen[f"{onset}_in_first_frame"])

    def summary(self):
        tokens = self.tokens
        return {
            "frames": self.frames,
            "tokens": tokens,
            # uxlab's telemetry, per token: the frame that showed it against its due time.
            "fraction_in_first_frame": self.on_time / tokens if tokens else None,
            "p50_paint_error_ms": percentile(self.errors, 50),
            "p99_paint_error_ms": percentile(self.errors, 99),
            "max_paint_error_ms": max(self.errors) if self.errors else None,
            "min_paint_error_ms": min(self.errors) if self.errors else None,
            "p99_presented_error_ms": percentile(self.presented_errors, 99),
            "telemetry_tokens_early": self.telemetry_early,
            # The outside probe: displayed answer speed / declared, early and missing tokens, onsets.
            "displayed_speed_ratio_min": min(self.ratios) if self.ratios else None,
            "displayed_speed_ratio_max": max(self.ratios) if self.ratios else None,
            "tokens_shown_early": self.probe_early,
            "tokens_not_shown": self.not_shown,
            "onsets_in_first_frame": self.onsets_first / self.onsets if self.onsets else None,
            "first_frame_misses": dict(self.misses),
        }
