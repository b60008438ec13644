"""Pacing a container's POSTs against the number's throughput tier, shared by every send container.

The tier is the number's (Meta answers 130429 above it, whichever container sent), so the pace is taken from
the number's pacing item (:mod:`mmcore.store.pacing`), one lease of tokens per chunk: a container alone gets the
whole tier, several share it as they come, and a 130429 slows them all. The item's calls are synchronous
boto3 calls; they run in a thread so that the POSTs in flight keep their pace meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from mmcore.store import pacing

# Paced at this share of the tier: a POST late by a few ms (a busy event loop, the network) bunches with the
# next ones, and Meta's one-second window counts the bunch; 5% absorbs a 50 ms stall a second.
HEADROOM = 0.95
HORIZON_SECONDS = 1.0  # a lease starts at most this far ahead: what a container waits for its turn


class NumberPacer:
    """Leases of the number's time from its pacing item. Build one per warm container (it remembers, per
    number, what the item last said: the pace factor after a 130429 and whether the number is busy)."""

    def __init__(
        self,
        client: Any,
        table: str,
        rate: float,
        clock: Callable[[], float] = time.time,
        horizon: float = HORIZON_SECONDS,
    ) -> None:
        self.client = client
        self.table = table
        self.rate = rate * HEADROOM
        self.clock = clock  # wall time: the item is shared with other hosts
        self.horizon = horizon
        self._seen: dict[str, pacing.Seen] = {}

    async def lease(self, phone_number_id: str, count: int) -> pacing.Granted:
        """Wait for the number's next ``count`` POST times (the first at most ``horizon`` seconds away): the
        ``i``-th is due at ``granted.due(i)``."""
        while True:
            last = self._seen.get(phone_number_id, pacing.Seen())
            granted = await asyncio.to_thread(
                pacing.lease,
                self.client,
                self.table,
                phone_number_id,
                count,
                self.rate,
                self.clock(),
                self.horizon,
                last,
            )
            if isinstance(granted, pacing.Granted):
                self._seen[phone_number_id] = granted.seen
                return granted
            self._seen[phone_number_id] = granted
            await asyncio.sleep(max(0.0, granted.next_at - self.horizon - self.clock()))

    async def throttled(self, phone_number_id: str) -> bool:
        """Meta answered 130429: slow the number down for every container (False: already slowed)."""
        last = self._seen.get(phone_number_id, pacing.Seen())
        seen = await asyncio.to_thread(
            pacing.slow_down, self.client, self.table, phone_number_id, self.clock(), last
        )
        if seen is not None:
            self._seen[phone_number_id] = seen
        return seen is not None

    async def wait(self, at: float) -> None:
        """Sleep until ``at`` (epoch seconds, the pacer's clock)."""
        delay = at - self.clock()
        if delay > 0:
            await asyncio.sleep(delay)
