"""How much one invocation may claim: chunks sized from its send rate, and the time a chunk needs.

Messages are claimed in chunks right before their POSTs, never the whole batch up front, so what a crash, a
SIGKILL or a Lambda timeout can leave claimed-but-unsent is the chunk being posted and the next one. A chunk
holds about ``CHUNK_SECONDS`` of sending at the invocation's fair share of the number's tier (``ThroughputMps /
SendMaxConcurrency``: what it gets when every container is busy; alone it gets the whole tier, paced by the
number's pacing item, :mod:`mmcore.graph.limiter`), at most ``SEND_CONCURRENCY`` messages and at least one.
The arithmetic below takes the fair share: the slowest a container can be sending.

The arithmetic, for a chunk of ``n`` messages at ``r`` messages per second with Graph timeout ``T``:

    needed(n) = n / r          the token bucket's pacing (its burst only makes it shorter)
              + T              the slowest answer of the chunk (a POST never waits longer)
              + RESERVE        the claim and record writes, the handler's reply (measured: < 0.2 s)

A chunk is claimed only when the invocation's remaining time covers ``needed(n)``; otherwise the rest of the
batch goes back to the queue unclaimed (``deferred``, not failed). At deploy time (the send function's first
batch, :func:`check_capacity`) a full batch of ``B`` must fit the function's timeout ``L``:

    B / r + T + RESERVE <= L
    defaults: 100 / (80 / 5) + 10 + 3 = 19.25 s <= 30 s
    issue 16: 100 / 2 + 10 + 3 = 63 s > 30 s (0 of 200 recorded accepted before this check)

CloudFormation ``Rules`` cannot express it (their assertions compare strings: no division, no arithmetic),
so the check runs where the numbers are: the send function refuses to start, naming them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mmcore.settings import Settings

CHUNK_SECONDS = 1.0  # a chunk is about this much sending: the bound on what a crash leaves claimed
RESERVE_SECONDS = 3.0  # per chunk and per batch: claim + record writes, the reply; cold imports on the first


class CapacityError(ValueError):
    """The configured rate cannot send a full batch within the send function's timeout (a deployment
    error, never a caller's: the send function does not start)."""


@dataclass(frozen=True, slots=True)
class Budget:
    """One invocation's pace: ``rate`` messages per second, ``graph_timeout`` per POST, ``max_chunk``
    concurrent POSTs."""

    rate: float
    graph_timeout: float
    max_chunk: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Budget:
        """The budget the settings give one invocation."""
        return cls(settings.per_invocation_mps, settings.graph_timeout_seconds, settings.send_concurrency)

    @property
    def chunk(self) -> int:
        """Messages per chunk: about ``CHUNK_SECONDS`` of sending, within ``[1, max_chunk]``."""
        return max(1, min(self.max_chunk, math.ceil(self.rate * CHUNK_SECONDS)))

    def needed(self, n: int) -> float:
        """Seconds that sending and recording ``n`` messages may take at worst (the module's arithmetic)."""
        return n / self.rate + self.graph_timeout + RESERVE_SECONDS

    def fits(self, n: int, remaining: float | None) -> bool:
        """Whether ``n`` more messages can be claimed with ``remaining`` seconds left (None: no deadline)."""
        return remaining is None or self.needed(n) <= remaining


def check_capacity(settings: Settings) -> None:
    """Raise :class:`CapacityError` with the numbers when a full batch cannot finish within the timeout."""
    budget = Budget.from_settings(settings)
    batch, limit = settings.send_batch_size, settings.send_timeout_seconds
    needed = budget.needed(batch)
    if needed > limit:
        raise CapacityError(
            f"a batch of {batch} needs {needed:.2f} s ({batch} / {budget.rate:g} msg/s"
            f" [ThroughputMps {settings.throughput_mps} / SendMaxConcurrency {settings.send_max_concurrency}]"
            f" + Graph timeout {budget.graph_timeout:g} s + {RESERVE_SECONDS:g} s reserve), more than the"
            f" send function's {limit:g} s timeout: raise ThroughputMps, lower SendMaxConcurrency or the"
            f" batch size, or lengthen the timeout"
        )
