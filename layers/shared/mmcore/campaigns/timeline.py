"""A campaign over time: when its messages were taken by Meta, delivered and read, as bucketed counters.

A message adds one to ``at:<step>:<offset>`` for each funnel step it reached (``taken``, ``delivered``,
``read``), ``offset`` being the start, in seconds, of the bucket holding the step's time measured from the
message's ``queued_at`` (when SQS received it: a campaign's messages are queued within seconds of its start or
release, so the offset reads as "time since the campaign started sending"). Pure: a function of the item, so
the counters telescope like every other (:mod:`mmcore.campaigns.tally`).

The buckets are a fixed ladder, so a campaign has at most :data:`MAX_BUCKETS` of them per step, whatever its
size or length: one a minute for the first two hours (a campaign's sending), one an hour to two days (most
deliveries and reads), one a day to thirty days, then one for anything later.

The step times on a message item: ``updated_at`` for ``taken`` (the sender's last write: its record of Meta's
acceptance; the webhook's mirror never changes it) and ``status_at``, the time of the delivery status it has
(mirrored with it, :func:`mmcore.store.statuses.apply_to_message`), for ``delivered`` and ``read``. The mirror
keeps only the current status's time, so that the item ends the same in whatever order the webhooks came: a
read message counts as delivered at its read time (the delivered curve of read messages lags; keeping the
first delivered time needs the per-wamid state to keep it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

STEPS = ("taken", "delivered", "read")
TIMES = ("queued_at", "updated_at", "status_at")  # what a contribution reads
_TIME_OF = {"taken": "updated_at", "delivered": "status_at", "read": "status_at"}
PREFIX = "at:"

MINUTE, HOUR, DAY = 60, 3600, 86400
# (until, width): buckets of ``width`` seconds up to ``until`` seconds after queueing.
LADDER = ((2 * HOUR, MINUTE), (2 * DAY, HOUR), (30 * DAY, DAY))
LATER = 30 * DAY  # the one bucket of everything after the ladder
MAX_BUCKETS = 2 * HOUR // MINUTE + (2 * DAY - 2 * HOUR) // HOUR + (30 * DAY - 2 * DAY) // DAY + 1  # 195


def bucket(offset: float) -> int:
    """The start (seconds after queueing) of the bucket holding ``offset``; a negative one (clock skew) is 0."""
    offset = max(0, int(offset))
    for until, width in LADDER:
        if offset < until:
            return offset - offset % width
    return LATER


def width(start: int) -> int | None:
    """The length in seconds of the bucket starting at ``start`` (None: the open-ended last one)."""
    for until, size in LADDER:
        if start < until:
            return size
    return None


def buckets(item: Mapping[str, Any], reached: Iterable[str]) -> dict[str, int]:
    """The time-bucket counters of a message that reached ``reached`` (steps of :data:`STEPS`); none for a
    step whose time the item lacks (a message recorded before the times were kept)."""
    queued = _epoch(item.get("queued_at"))
    if queued is None:
        return {}
    out = {}
    for step in reached:
        at = _epoch(item.get(_TIME_OF[step]))
        if at is not None:
            out[f"{PREFIX}{step}:{bucket(at - queued)}"] = 1
    return out


def series(counts: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The report's over-time series from counters: every bucket from the first to the last that counts
    anything (gaps as zeros), each with its start and width in seconds, the messages each step reached in it
    and the running totals (which end at the funnel's taken, delivered and read)."""
    found: dict[int, dict[str, int]] = {}
    for name, value in counts.items():
        if not name.startswith(PREFIX) or not value:
            continue
        step, _, start = name.removeprefix(PREFIX).partition(":")
        if step in STEPS and start.isdigit():
            found.setdefault(int(start), dict.fromkeys(STEPS, 0))[step] += int(value)
    if not found:
        return []
    first, last = min(found), max(found)
    rows, running = [], dict.fromkeys(STEPS, 0)
    start: int | None = first
    while start is not None and start <= last:
        counted = found.get(start, dict.fromkeys(STEPS, 0))
        for step in STEPS:
            running[step] += counted[step]
        size = width(start)
        rows.append(
            {
                "from_seconds": start,
                "seconds": size,
                **counted,
                **{f"total_{step}": running[step] for step in STEPS},
            }
        )
        start = None if size is None else start + size
    return rows


def _epoch(value: Any) -> int | None:
    """Epoch seconds as stored (int, or Decimal as the codec reads numbers); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    return int(value)
