"""The per-socket frame budget (on a fake clock) and the per-participant socket count."""

import pytest

from uxlab.live.limits import FrameBudget, SocketRegistry


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_it_limits_frames_to_the_burst_then_to_the_refill_rate():
    clock = FakeClock()
    budget = FrameBudget(burst=3, per_s=2, clock=clock)
    assert [budget.take() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.5  # one frame's worth
    assert [budget.take(), budget.take()] == [True, False]
    clock.now += 60  # a long pause refills to the burst, never beyond
    assert [budget.take() for _ in range(4)] == [True, True, True, False]


@pytest.mark.asyncio
async def test_it_limits_a_participants_sockets_in_one_process_and_frees_a_closed_ones_place():
    registry = SocketRegistry(redis_url=None)  # the embedded default: counted in this process
    assert [await registry.open("tok", f"channel-{n}", limit=2) for n in range(3)] == [True, True, False]
    assert await registry.open("other", "channel-9", limit=2)  # per participant
    await registry.close("tok", "channel-0")
    await registry.close("tok", "channel-never-opened")  # harmless
    assert await registry.open("tok", "channel-3", limit=2)
    assert not await registry.open("tok", "channel-4", limit=2)


def test_it_counts_bytes_with_the_same_bucket():
    clock = FakeClock()
    budget = FrameBudget(burst=1000, per_s=100, clock=clock)
    assert [budget.take(600), budget.take(600), budget.take(400)] == [True, False, True]
    clock.now += 2  # 200 bytes' worth
    assert [budget.take(201), budget.take(200)] == [False, True]


def test_it_keeps_a_participants_budget_across_their_sockets_and_drops_idle_ones(settings):
    settings.UXLAB_WS_FRAME_BURST = 2
    registry = SocketRegistry(redis_url=None)
    first = registry.budget("tok")
    assert registry.budget("tok") is first  # a second socket, or a reconnect, shares it
    assert [first.frames.take(), first.frames.take(), first.frames.take()] == [True, True, False]
    assert registry.budget("other") is not first
    first.frames.at -= 1_000  # idle for long, with no socket open: dropped when the next one is made
    registry.budget("third")
    assert "tok" not in registry.budgets and registry.budget("tok").frames.take()
