"""Run a live trial: relayed panes as their backend produces, scheduled panes paced, one t0.

Framework-free: the caller gives the clock, the sleep and `emit`, which receives every message
in order. `emit(pane, kind, phase, text, tokens, at_s)` with kind "delta" or "done" and `at_s` the
time after t0 it was produced (live) or due (scheduled).
"""

import asyncio

from uxlab.streaming.arms import live_events, schedule_for_spec, tokenizer_for
from uxlab.streaming.backends.openai_compat import Chunk
from uxlab.streaming.kinds import kind_of
from uxlab.streaming.pacing import Pacer, coalesce


async def run_live_trial(panes, emit, clock, sleep, events=live_events):
    """Stream both panes from now (t0) until both are done; a backend failure propagates."""
    t0 = clock()

    async def scheduled(pane, spec):
        async def send(frame):
            if frame.tokens:
                await emit(pane, "delta", frame.phase, frame.text, frame.tokens, frame.due_s)
            if frame.last:
                await emit(pane, "done", frame.phase, "", 0, frame.due_s)

        await Pacer(coalesce(pane, schedule_for_spec(spec)), clock=clock, sleep=sleep).run(send, start_at=t0)

    async def live(pane, spec):
        count_tokens = tokenizer_for(spec.get("profile") or {})
        async for event in events(spec):
            if isinstance(event, Chunk) and (event.text or event.phase == "thinking"):
                tokens = max(1, len(count_tokens(event.text)))
                await emit(pane, "delta", event.phase, event.text, tokens, clock() - t0)
        await emit(pane, "done", "answer", "", 0, clock() - t0)

    await asyncio.gather(
        *(live(pane, spec) if kind_of(spec).relayed else scheduled(pane, spec) for pane, spec in sorted(panes.items()))
    )
