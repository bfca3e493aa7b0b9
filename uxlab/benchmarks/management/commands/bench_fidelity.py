"""bench_fidelity: how faithfully a real browser presents controlled-mode trials.

Drives Debian's chromium (Playwright, executable_path) through controlled-mode trials — 1,800 vs
15 tokens/s, and 1,800 tokens/s vs a 300-token hidden thinking phase at 15 tokens/s — against a
real uvicorn process, Redis and a Celery worker, in a throwaway database. The browser's telemetry
(receive and paint time of every message) is compared with each trial's schedule. Prints JSON.
"""

import json
import os
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from uxlab.benchmarks.database import ThrowawayDatabase
from uxlab.benchmarks.processes import celery_worker, web_server
from uxlab.processes import CHROMIUM_ARGS
from uxlab.streaming.fidelity import DEFAULT_FRAME_MS
from uxlab.streaming.pacing import percentile

ARMS = {
    "wafer_scale": {"ttft_s": 0.2, "tokens_per_second": 1800},
    "gpu_cloud": {"ttft_s": 1.0, "tokens_per_second": 15},
    "thinking_gpu": {
        "ttft_s": 0.5,
        "tokens_per_second": 15,
        "thinking_tokens": 300,
        "thinking_tokens_per_second": 15,
        "thinking_display": "hidden",
    },
}
PAIRS = [["wafer_scale", "gpu_cloud"], ["wafer_scale", "thinking_gpu"]]
RESPONSE = (
    "Water boils at a lower temperature at altitude because the air pressure is lower, so the molecules "
    "need less energy to escape. At 3,000 metres it boils at about 90 degrees, which is why pasta takes "
    "longer to cook in the mountains."
)


class Command(BaseCommand):
    help = "Measure paint error of controlled-mode trials in headless chromium."

    def add_arguments(self, parser):
        parser.add_argument("--participants", type=int, default=2)
        parser.add_argument("--pairs", type=int, default=len(PAIRS), help="run only the first N pairs (a quick check)")
        parser.add_argument("--chromium", default=os.environ.get("UXLAB_CHROMIUM", "/usr/bin/chromium"))
        parser.add_argument("--database", default="uxlab_bench_fidelity", help="throwaway database to create and drop")
        parser.add_argument("--json", action="store_true")

    def handle(self, participants, pairs, chromium, **options):
        if not settings.REDIS_URL:
            raise CommandError("bench_fidelity needs REDIS_URL (and DATABASE_URL) for the real stack")
        if not os.path.exists(chromium):
            raise CommandError(f"no chromium at {chromium}: install Debian's chromium (make chromium)")
        self.pairs = PAIRS[:pairs]
        with ThrowawayDatabase(options["database"]) as database:
            tokens = self.seed(participants)
            env = database.env(LOG_LEVEL="WARNING")
            logs = settings.BASE_DIR / "var"
            with web_server(env, logs / "bench-web.log") as server, celery_worker(env, logs / "bench-worker.log"):
                self.drive(chromium, server.url, tokens)
            result = self.measure()
        self.stdout.write(json.dumps(result, indent=None if options["json"] else 2))

    def seed(self, participants):
        from uxlab.studies import actions
        from uxlab.studies.models import Arm, Participant, Prompt, Question, Study, Team

        team = Team.objects.create(name="Bench", slug="bench")
        study = Study.objects.create(
            team=team,
            code="bench-fidelity",
            title="bench_fidelity",
            consent_text="-",
            status=Study.Status.LIVE,
            design={"pairs": self.pairs, "seed": "bench", "delivery": "controlled"},
        )
        for position, (name, profile) in enumerate(ARMS.items()):
            Arm.objects.create(study=study, name=name, profile=profile, position=position)
        Prompt.objects.create(study=study, name="boiling", text="Why does water boil at a lower temperature at altitude?", response=RESPONSE)
        Question.objects.create(study=study, name="faster", text="Which response felt faster?")
        tokens = []
        for _ in range(participants):
            participant = Participant.objects.create(study=study)
            actions.record_checks(participant, {"bench": True}, viewport_ok=True, stacked=False)
            participant = actions.give_consent(participant)
            actions.mark_instructions_seen(participant)
            tokens.append(participant.token)
        return tokens

    def drive(self, chromium, base_url, tokens):
        from playwright.sync_api import sync_playwright

        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API keeps a loop here
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            for number, token in enumerate(tokens, 1):
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                for index in range(len(self.pairs)):
                    self.stderr.write(f"participant {number}/{len(tokens)}, trial {index + 1}/{len(self.pairs)}")
                    page.goto(f"{base_url}/p/{token}/trial/")
                    page.locator("#answers[data-allowed=true]").wait_for(timeout=90_000)
                    page.keyboard.press("3")
                    with page.expect_navigation(timeout=60_000):
                        page.keyboard.press("Enter")
                page.close()
            browser.close()
        time.sleep(1)  # the worker confirms the last telemetry batch

    def measure(self):
        from uxlab.studies.actions import trial_targets
        from uxlab.studies.models import TrialTelemetry

        errors, weights, first_frame, trials, same_frame = [], [], [], 0, 0
        frame_intervals = []
        for batch in TrialTelemetry.objects.select_related("trial__prompt", "trial__arm_a", "trial__arm_b", "trial__participant__study"):
            trials += 1
            frame_ms = batch.payload.get("frame_ms") or DEFAULT_FRAME_MS
            frame_intervals.append(frame_ms)
            observed = {seq: paint for seq, _receive, paint in batch.payload["frames"]}
            first_errors = []
            for pane, targets in trial_targets(batch.trial).items():
                pane_errors = []
                for seq, (due_s, tokens, _phase) in sorted(targets.items()):
                    paint = observed.get(seq)
                    if paint is None:
                        continue
                    error = paint - due_s * 1000
                    pane_errors.append(error)
                    errors.append(error)
                    weights.append(tokens)
                    first_frame.append((0 <= error < frame_ms) * tokens)
                if pane_errors:
                    first_errors.append(pane_errors[0])
            if len(first_errors) == 2 and all(0 <= error < frame_ms for error in first_errors):
                same_frame += 1
        if not errors:
            raise CommandError("no telemetry was stored: see var/bench-web.log and var/bench-worker.log")
        return {
            "trials": trials,
            "frames": len(errors),
            "tokens": sum(weights),
            "frame_ms": percentile(frame_intervals, 50),
            "fraction_in_first_frame": sum(first_frame) / sum(weights),
            "p50_paint_error_ms": percentile(errors, 50),
            "p99_paint_error_ms": percentile(errors, 99),
            "max_paint_error_ms": max(errors),
            "min_paint_error_ms": min(errors),
            "t0_same_frame_trials": same_frame,
            "t0_same_frame": same_frame == trials,
        }
