"""The number's pace, shared by every send container through its pacing item (moto): leases never overlap
and never exceed the tier, one container alone gets the whole tier, a 130429 slows every container down and
the pace recovers."""

from __future__ import annotations

import asyncio
import time

import pytest
from aws import create_stack

from mmcore.graph import NumberPacer
from mmcore.graph.limiter import HEADROOM
from mmcore.store import pacing

NUMBER = "106540352242922"


@pytest.fixture
def table(aws):
    stack = create_stack(aws, "p", access_token="t", app_secret="s")
    return aws.client("dynamodb"), stack.table


class Clock:
    """Wall time that a test can move on (the pace recovers over seconds)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def pacers(table, n: int, rate: float, clock=time.time) -> list[NumberPacer]:
    client, name = table
    return [NumberPacer(client, name, rate, clock=clock) for _ in range(n)]


async def take(pacer: NumberPacer, until: float, chunk: int, due: list[float]) -> None:
    """A container's loop: lease a chunk, wait until its last POST is due (its POSTs go out), again."""
    while pacer.clock() < until:
        lease = await pacer.lease(NUMBER, chunk)
        due.extend(lease.due(i) for i in range(lease.count))
        await pacer.wait(lease.end)


def most_in_one_second(times: list[float]) -> int:
    times, best, j = sorted(times), 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_concurrent_containers_never_exceed_the_number_rate_together(table):
    # Given four containers pacing one number of 200 msg/s, each leasing chunks of 10
    rate, containers = 200, pacers(table, 4, 200)
    due: list[float] = []

    async def main() -> None:
        until = time.time() + 1.5
        await asyncio.gather(*(take(p, until, 10, due) for p in containers))

    asyncio.run(main())
    # Then no two POST times coincide and no second holds more than the tier (paced at HEADROOM of it)
    assert len(set(due)) == len(due)
    gaps = [b - a for a, b in zip(sorted(due), sorted(due)[1:], strict=False)]
    assert min(gaps) >= 1 / (rate * HEADROOM) - 1e-6
    assert most_in_one_second(due) <= rate
    # And together they used the tier, not a quarter of it each idling
    assert most_in_one_second(due) >= 0.9 * rate * HEADROOM


def test_one_container_alone_gets_the_whole_tier(table):
    # Given one container of a number paced at 200 msg/s (no static share: SendMaxConcurrency plays no part)
    (alone,) = pacers(table, 1, 200)
    due: list[float] = []
    asyncio.run(take(alone, time.time() + 1.2, 20, due))
    # Then it sends at the number's rate
    assert most_in_one_second(due) >= 0.9 * 200 * HEADROOM


def test_an_idle_number_gets_no_burst_for_the_time_it_missed(table):
    (pacer,) = pacers(table, 1, 100)

    async def two() -> tuple[float, float]:
        first = await pacer.lease(NUMBER, 10)
        await asyncio.sleep(0.5)  # the number idle past its cursor
        second = await pacer.lease(NUMBER, 10)
        return first.end, second.start

    end, start = asyncio.run(two())
    # Then the next lease starts now, not back where the cursor was left
    assert start >= end + 0.3 and start >= time.time() - 0.5


def test_a_130429_slows_every_container_and_the_pace_recovers(table):
    clock = Clock()
    a, b = pacers(table, 2, 100, clock)

    async def main() -> None:
        await a.lease(NUMBER, 10)
        await b.lease(NUMBER, 10)
        # When container a gets a 130429
        assert await a.throttled(NUMBER)
        # Then container b, which saw nothing, starts its next POSTs after the pause, at the lower pace
        now = clock()
        paused = await b.lease(NUMBER, 10)
        assert paused.start >= now + pacing.PAUSE_SECONDS - 0.05
        slower = await b.lease(NUMBER, 10)
        # (recovering from the moment it slowed: a little faster than DECREASE by now)
        assert slower.interval == pytest.approx(1 / (100 * HEADROOM * pacing.DECREASE), rel=0.05)
        # And the same second's other 130429s (from b too) slow it once, not once per answer
        assert not await b.throttled(NUMBER)
        assert pacing.read(*table, NUMBER).factor == pytest.approx(pacing.DECREASE)
        # When the number's time passes without another 130429
        clock.offset += (1 - pacing.DECREASE) / pacing.RECOVERY_PER_SECOND + 1
        await b.lease(NUMBER, 10)
        recovered = await b.lease(NUMBER, 10)
        # Then the pace is the tier's again
        assert recovered.interval == pytest.approx(1 / (100 * HEADROOM), rel=0.01)

    asyncio.run(main())


def test_a_130429_every_second_keeps_the_number_at_a_fraction_of_its_tier(table):
    clock = Clock()
    (pacer,) = pacers(table, 1, 100, clock)

    async def main() -> float:
        for _ in range(15):
            await pacer.throttled(NUMBER)
            clock.offset += pacing.DEBOUNCE_SECONDS + 0.01
        return pacing.read(*table, NUMBER).factor

    factor = asyncio.run(main())
    # (each second: +RECOVERY_PER_SECOND, then x DECREASE: it settles where they balance, 0.2 of the tier)
    assert pacing.FLOOR <= factor < 0.25
