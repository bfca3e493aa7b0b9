"""Recording traces of live arms."""

import asyncio
import logging

from django.utils import timezone

from uxlab.streaming import kinds
from uxlab.studies.models import RecordedTrace, Study

log = logging.getLogger(__name__)


class RecordingRefused(Exception):
    """A trace recording that cannot start (unknown study, arm or prompt; not a live arm)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def cut_off(trace):
    """Whether a recorded answer was cut at max_tokens (finish_reason "length"): not the whole answer."""
    return trace.finish_reason == "length"


async def capture_all(kind, profile, prompts, concurrency, transport, on_progress=None):
    """Each prompt's capture, at most ``concurrency`` requests at once (the backend's load while
    recording shapes its timing, so the number is kept with each trace)."""
    gate = asyncio.Semaphore(concurrency)

    async def capture(prompt):
        async with gate:
            captured = await kind.capture(profile, prompt.text, transport=transport)
        if on_progress is not None:
            await asyncio.to_thread(on_progress, 1)  # a blocking call (a cache write), off the event loop
        return captured

    return await asyncio.gather(*(capture(prompt) for prompt in prompts))


def record_traces(study_code, arm_name, prompt_name=None, *, transport=None, concurrency=1, on_progress=None):
    """Capture a live arm's response to each prompt (or one) and store it as its RecordedTrace.

    Only arms whose kind can be recorded (``recordable``: live backends) are; the kind captures.
    ``on_progress(1)`` is called as each prompt's capture ends (a background job's progress).
    ``concurrency`` prompts are recorded at once and the number is stored with each trace; an
    answer cut at max_tokens (finish_reason "length") is stored and logged as a warning (cut_off).

    Re-recording an arm and prompt replaces the earlier trace, so running this again (a retried
    task, a second command) leaves one trace per arm and prompt. Raises ``BackendError`` when the
    backend fails; prompts recorded before the failure stay stored.
    """
    study = Study.objects.filter(code=study_code).first()
    if study is None:
        raise RecordingRefused("unknown_study", f"no study with code '{study_code}'")
    arm = study.arms.filter(name=arm_name).first()
    if arm is None:
        raise RecordingRefused("unknown_arm", f"study '{study_code}' has no arm '{arm_name}'")
    kind = kinds.get(arm.kind)
    if not kind.recordable:
        raise RecordingRefused("not_live", f"arm '{arm_name}' is {arm.kind}; only live arms can be recorded")
    prompts = list(study.prompts.all())
    if prompt_name is not None:
        prompts = [prompt for prompt in prompts if prompt.name == prompt_name]
        if not prompts:
            raise RecordingRefused("unknown_prompt", f"study '{study_code}' has no prompt '{prompt_name}'")
    recorded = []
    captured = asyncio.run(capture_all(kind, arm.profile, prompts, max(1, concurrency), transport, on_progress))
    for prompt, trace in zip(prompts, captured, strict=True):
        stored, _created = RecordedTrace.objects.update_or_create(
            arm=arm,
            prompt=prompt,
            defaults={
                "study": study,
                "text": trace["text"],
                "reasoning": trace["reasoning"],
                "chunks": trace["chunks"],
                "usage": trace["usage"],
                "finish_reason": trace["finish_reason"] or "",
                "source": trace["source"],
                "concurrency": max(1, concurrency),
                "recorded_at": timezone.now(),
            },
        )
        if cut_off(stored):
            log.warning("the recorded answer of arm %s to prompt %s was cut at max_tokens", arm.name, prompt.name)
        recorded.append(stored)
    return recorded
