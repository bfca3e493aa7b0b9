"""Run a live trial: relayed panes as their backend produces, scheduled panes paced, one t0.

Framework-free: the caller gives the clock, the sleep and `emit`, which receives every message
in order. `emit(pane, kind, phase, text, tokens, at_s, parts=None)` with kind "delta" or "done" and
`at_s` the time after t0 it was produced (live) or due (scheduled); it returns the message's
sequence number. A scheduled pane's delta of several tokens also gives `parts`: each token's due
time after t0 and its text, as a synthetic trial's stream.delta carries them, so the browser shows
each token at its own time (docs/protocol.md) rather than the whole frame at its first token's.

Each relayed pane's whole response is kept in a `PaneRecord` (`responses`, filled as it arrives,
so a failed trial still has what came before the failure): every chunk with its arrival, shown or
withheld, the usage, the finish reason and the failure code. `slot(pane, spec)` is an async
context manager the pane's request runs inside (the in-flight limit of its arm); it yields
`(in_flight, queued_s)` and may raise BackendError ("arm_busy", "queue_timeout").
"""

import asyncio
import contextlib
from dataclasses import dataclass, field

from uxlab.streaming.arms import live_events, schedule_for_spec, tokenizer_for
from uxlab.streaming.backends.openai_compat import ANSWER, THINKING, BackendError, Chunk, Finish, Usage
from uxlab.streaming.fidelity import phase_timing
from uxlab.streaming.kinds import Withheld, kind_of
from uxlab.streaming.pacing import Pacer, coalesce

# The code a relayed pane is recorded with when its partner's failure stopped it.
CANCELLED = "cancelled"


@dataclass
class PaneRecord:
    """What one relayed pane's backend sent. ``chunks``: ``[t_s, phase, text, tokens, seq]`` with
    ``t_s`` the arrival after t0 and ``seq`` the message that showed it (None when withheld)."""

    chunks: list = field(default_factory=list)
    usage: dict | None = None
    finish_reason: str = ""
    failure: str = ""
    request_s: float | None = None
    in_flight: int | None = None
    queued_s: float = 0.0

    def text(self, phase=ANSWER):
        return "".join(chunk[2] for chunk in self.chunks if chunk[1] == phase)

    def as_dict(self):
        """JSON-ready, with the text, the reasoning and the answer's TTFT and speed as delivered."""
        chunks = [[round(t_s, 6), phase, text, tokens, seq] for t_s, phase, text, tokens, seq in self.chunks]
        timing = phase_timing([(t_s, tokens, phase) for t_s, phase, _text, tokens, _seq in chunks])
        return {
            "text": self.text(ANSWER),
            "reasoning": self.text(THINKING),
            "chunks": chunks,
            "usage": self.usage,
            "finish_reason": self.finish_reason,
            "failure": self.failure,
            "request_s": self.request_s,
            "ttft_s": timing["ttft_answer_s"],
            "tokens_per_second": timing["tokens_per_second"],
            "in_flight": self.in_flight,
            "queued_s": round(self.queued_s, 6),
        }


@contextlib.asynccontextmanager
async def unlimited(pane, spec):
    yield None, 0.0


async def run_live_trial(panes, emit, clock, sleep, events=live_events, responses=None, slot=unlimited):
    """Stream both panes from now (t0) until both are done; a backend failure stops the other pane
    and propagates. ``responses`` (a dict) receives each relayed pane's PaneRecord."""
    t0 = clock()
    responses = {} if responses is None else responses

    async def scheduled(pane, spec):
        async def send(frame):
            if frame.tokens:
                parts = None
                if frame.tokens > 1 and frame.token_due_s:
                    parts = tuple(zip(frame.token_due_s, frame.token_texts))
                await emit(pane, "delta", frame.phase, frame.text, frame.tokens, frame.due_s, parts=parts)
            if frame.last:
                await emit(pane, "done", frame.phase, "", 0, frame.due_s)

        await Pacer(coalesce(pane, schedule_for_spec(spec)), clock=clock, sleep=sleep).run(send, start_at=t0)

    async def live(pane, spec):
        record = responses.setdefault(pane, PaneRecord())
        count_tokens = tokenizer_for(spec.get("profile") or {})
        try:
            async with slot(pane, spec) as (in_flight, queued_s):
                record.in_flight, record.queued_s = in_flight, queued_s
                async for event in events(spec):
                    at_s = clock() - t0
                    if isinstance(event, Withheld):
                        chunk = event.chunk
                        record.chunks.append([at_s, chunk.phase, chunk.text, len(count_tokens(chunk.text)), None])
                    elif isinstance(event, Chunk) and (event.text or event.phase == THINKING):
                        if record.request_s is None:
                            record.request_s = max(0.0, at_s - event.arrival_s)
                        tokens = max(1, len(count_tokens(event.text)))
                        seq = await emit(pane, "delta", event.phase, event.text, tokens, at_s)
                        if event.text:
                            record.chunks.append([at_s, event.phase, event.text, tokens, seq])
                    elif isinstance(event, Usage):
                        record.usage = event.raw
                    elif isinstance(event, Finish):
                        record.finish_reason = event.reason
        except BackendError as error:
            record.failure = error.code
            raise
        except asyncio.CancelledError:
            record.failure = record.failure or CANCELLED
            raise
        await emit(pane, "done", "answer", "", 0, clock() - t0)

    tasks = [
        asyncio.ensure_future(live(pane, spec) if kind_of(spec).relayed else scheduled(pane, spec))
        for pane, spec in sorted(panes.items())
    ]
    try:
        await asyncio.gather(*tasks)
    finally:
        # A failed pane stops its partner: nothing more is shown of a trial that cannot be completed.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
