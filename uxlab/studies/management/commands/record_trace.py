"""manage.py record_trace STUDY ARM [--prompt NAME] [--concurrency N] [--queue]: record a live arm's responses."""

from django.core.management.base import BaseCommand, CommandError

from uxlab.streaming.backends.openai_compat import BackendError
from uxlab.studies import actions


class Command(BaseCommand):
    help = (
        "Capture a live arm's streamed response to each prompt of a study (or one, with --prompt) and store "
        "it as a recorded trace that trace arms replay (see docs/study-format.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("study", help="the study's code")
        parser.add_argument("arm", help="the name of a live arm of the study")
        parser.add_argument("--prompt", help="record only this prompt")
        parser.add_argument(
            "--concurrency", type=int, default=1,
            help="record this many prompts at once (kept with each trace: the backend's load shapes its timing)",
        )
        parser.add_argument("--queue", action="store_true", help="hand the recording to a Celery worker")

    def handle(self, *args, study, arm, prompt, queue, concurrency, **options):
        if concurrency < 1:
            raise CommandError("--concurrency must be at least 1")
        if queue:
            from uxlab.studies.tasks import record_trace

            result = record_trace.delay(study, arm, prompt, concurrency)
            self.stdout.write(f"queued recording task {result.id}")
            return
        try:
            traces = actions.record_traces(study, arm, prompt, concurrency=concurrency)
        except actions.RecordingRefused as error:
            raise CommandError(error.message) from None
        except BackendError as error:
            raise CommandError(f"the backend failed ({error.code}): {error.message}") from None
        for trace in traces:
            answer_s = next((c["t"] for c in trace.chunks if c["phase"] == "answer"), None)
            self.stdout.write(
                f"{trace.prompt.name}: {len(trace.chunks)} chunks, {len(trace.text)} characters, "
                f"first answer text at {answer_s:.3f} s, finish {trace.finish_reason or 'unknown'}, "
                f"concurrency {trace.concurrency}"
            )
            if actions.cut_off(trace):
                self.stderr.write(
                    f"warning: {trace.prompt.name}: the answer was cut at max_tokens (finish_reason: length); "
                    "raise the arm's max_tokens and record it again, or the trace replays a truncated answer"
                )
