"""A business number's throughput, shared by every send container: one pacing item per phone number.

Meta paces a number, not a container: 130429 answers every send above the number's tier, whichever container
sent it. So the containers take their POSTs' times from one item, ``PACE#<phone_number_id>`` (GCRA's virtual
scheduling, the cursor in DynamoDB). The item's ``next_us`` is the epoch microsecond from which the number's
time is free. A *lease* of ``n`` tokens moves it ``n / rate`` seconds on in one conditional UpdateItem; the
lease is the interval it moved over, one token every ``1 / rate`` seconds. Leases never overlap, whoever holds
them, so the number's POSTs are spaced ``1 / rate`` apart across all containers, and one container alone gets
the whole tier (no static share idling when fewer containers run):

- cursor ahead of now (the number busy): ``SET next_us = next_us + :d`` if now <= next_us <= now + horizon. No
  read first: concurrent takers never conflict, each lands after the other;
- cursor behind now (the number idle): ``SET next_us = :now + :d`` if it is still behind: an idle number
  does not get the seconds it missed as a burst;
- cursor beyond the horizon (others hold the next seconds): no lease; wait until it is within reach.

A 130429 slows the whole number: ``factor`` (the share of the tier paced at) is cut to ``factor * DECREASE``
(at most once per ``DEBOUNCE_SECONDS``, however many POSTs and containers saw it), ``slowed_us`` stamped and
the cursor pushed ``PAUSE_SECONDS`` on, so every container's next lease starts after the pause at the lower
pace. The factor recovers linearly, ``RECOVERY_PER_SECOND`` of the tier per second since ``slowed_us``
(Meta counts inbound messages in the tier too: a busy inbound number needs the lower pace for a while).
Every lease returns the item, so each container paces its next lease at the factor in force.

Write units (the item is < 1 KB: 1 WCU per write, conditional failures included): one lease per chunk of
``n`` messages. At 1,000 msg/s with chunks of 100: 10 leases/s = 10 WCU/s on the key (at most 20 with a
missed condition per lease), 0.01-0.02 WCU per message, 1-2% of a partition's 1,000 WCU/s. At the default 80
msg/s shared by 5 containers (chunks of 16): 5 leases/s.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from mmcore.store import keys

DECREASE = 0.8  # a 130429 paces the number at this share of what it was
FLOOR = 0.1  # never below this share of the tier
RECOVERY_PER_SECOND = 0.05  # back to the full tier in <= 18 s after the last 130429
DEBOUNCE_SECONDS = 1.0  # the 130429s of one over-full second slow the number once
# Meta answers 130429 "until you are within your allowed level again" [THRU]: a pause lets the excess of a
# stalled moment (POSTs bunched after a busy loop) leave the one-second window; a full second idles the number.
PAUSE_SECONDS = 0.25
_KEPT_SECONDS = 86400  # an idle number's item goes after a day (DynamoDB TTL)
_US = 1_000_000


@dataclass(frozen=True, slots=True)
class Seen:
    """What the item said: the cursor and the pace factor (at ``slowed``; it recovers from then)."""

    next_at: float = 0.0
    factor: float = 1.0
    slowed: float = 0.0

    def factor_at(self, now: float) -> float:
        """The share of the tier the number is paced at ``now``."""
        if self.factor >= 1:
            return 1.0
        return min(1.0, self.factor + RECOVERY_PER_SECOND * max(0.0, now - self.slowed))


@dataclass(frozen=True, slots=True)
class Granted:
    """``count`` tokens, the first at ``start`` (epoch seconds), one every ``interval`` seconds."""

    start: float
    interval: float
    count: int
    seen: Seen

    @property
    def end(self) -> float:
        """When the last token is due."""
        return self.start + self.interval * max(0, self.count - 1)

    def due(self, i: int) -> float:
        """When the ``i``-th token is due."""
        return self.start + self.interval * i


def _seen(item: dict[str, Any] | None) -> Seen:
    if not item:
        return Seen()
    number = lambda name, default: float(item[name]["N"]) if name in item else default  # noqa: E731
    return Seen(number("next_us", 0) / _US, number("factor", 1.0), number("slowed_us", 0) / _US)


def lease(
    client: Any,
    table: str,
    phone_number_id: str,
    count: int,
    rate: float,
    now: float,
    horizon: float,
    last: Seen,
) -> Granted | Seen:
    """Take ``count`` tokens of the number at ``rate`` msg/s times its pace factor (as ``last`` saw it); the
    lease starts at most ``horizon`` seconds from ``now``. Returns the grant, or what the item says when its
    cursor is beyond the horizon (wait until ``seen.next_at - horizon``, then ask again)."""
    key = keys.pace(phone_number_id)
    step = round(count / (rate * last.factor_at(now)) * _US)
    now_us = round(now * _US)
    values = {
        ":d": {"N": str(step)},
        ":now": {"N": str(now_us)},
        ":exp": {"N": str(int(now) + _KEPT_SECONDS)},
    }
    busy = last.next_at >= now  # the cursor was ahead when last seen: most likely still
    for _ in range(3):
        if busy:
            update, condition = (
                "SET next_us = next_us + :d, expires_at = :exp",
                "next_us BETWEEN :now AND :far",
            )
            extra = {":far": {"N": str(now_us + round(horizon * _US))}}
        else:
            update = "SET next_us = :now + :d, expires_at = :exp"
            condition, extra = "attribute_not_exists(next_us) OR next_us < :now", {}
        try:
            answer = client.update_item(
                TableName=table,
                Key=key,
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues={**values, **extra},
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except client.exceptions.ConditionalCheckFailedException as exc:
            seen = _seen(exc.response.get("Item"))
            if seen.next_at > now + horizon:
                return seen
            busy = seen.next_at >= now
            continue
        seen = _seen(answer["Attributes"])
        return Granted((seen.next_at * _US - step) / _US, step / _US / count, count, seen)
    return Seen(now + horizon, last.factor, last.slowed)  # contended three times: wait a horizon's length


def slow_down(client: Any, table: str, phone_number_id: str, now: float, last: Seen) -> Seen | None:
    """A 130429: cut the number's pace factor and push its cursor past a pause, for every container. Once
    per ``DEBOUNCE_SECONDS``: returns what the item now says, None when another POST or container already
    slowed it."""
    factor = max(FLOOR, last.factor_at(now) * DECREASE)
    now_us = round(now * _US)
    try:
        answer = client.update_item(
            TableName=table,
            Key=keys.pace(phone_number_id),
            UpdateExpression="SET factor = :f, slowed_us = :now, expires_at = :exp",
            ConditionExpression="attribute_not_exists(slowed_us) OR slowed_us < :recent",
            ExpressionAttributeValues={
                ":f": {"N": f"{factor:.4f}"},
                ":now": {"N": str(now_us)},
                ":recent": {"N": str(now_us - round(DEBOUNCE_SECONDS * _US))},
                ":exp": {"N": str(int(now) + _KEPT_SECONDS)},
            },
            ReturnValues="ALL_NEW",
        )
    except client.exceptions.ConditionalCheckFailedException:
        return None
    cursor = _seen(answer["Attributes"]).next_at
    resume = max(cursor, now) + PAUSE_SECONDS
    # only if no lease moved it meanwhile (a lease that did already starts later)
    with contextlib.suppress(client.exceptions.ConditionalCheckFailedException):
        client.update_item(
            TableName=table,
            Key=keys.pace(phone_number_id),
            UpdateExpression="SET next_us = :resume",
            ConditionExpression="attribute_not_exists(next_us) OR next_us = :seen",
            ExpressionAttributeValues={
                ":resume": {"N": str(round(resume * _US))},
                ":seen": {"N": str(round(cursor * _US))},
            },
        )
    return Seen(resume, factor, now)


def read(client: Any, table: str, phone_number_id: str) -> Seen:
    """The item as it stands (strongly consistent)."""
    answer = client.get_item(TableName=table, Key=keys.pace(phone_number_id), ConsistentRead=True)
    return _seen(answer.get("Item"))
