"""Quiet hours at enqueue: which of a campaign's messages go on the queue now and which wait for their window.

A campaign with a ``send_window`` (:mod:`mmcore.meta.quiet_hours` has the rules: time zones from the number,
ALL of them open) puts on the queue only the messages whose window is open when they are due (at create, or
at ``send_at``). Each other message is recorded ``queued`` with its send request in ``body`` and the instant
its window next opens in ``held_until``; one EventBridge Scheduler one-time schedule per (campaign, opening
instant) queues them then (:mod:`.schedule`). Their deadline (``not_after``, or the TTL counted from when
they were due) is written into the body, so waiting does not extend it; a message whose deadline comes before
its window opens is recorded ``expired`` at once, one whose zones never share an open minute ``blocked``
(``no_send_window``).

Why schedules and not SQS delays: SQS holds a message at most 900 s, so 1M messages waiting 10 hours would
take 40 hops each (receive, send again, delete: ~0.3 SQS requests per message per hop in batches of 10, so
~12M requests and 4M Lambda invocations, each hop also a chance to be counted as a receive towards the DLQ),
against one schedule per opening instant (a campaign to one country has a handful) and one SendMessageBatch
per 10 messages when it fires, as without a window.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mmcore.meta.bsuids import bsuid_country, is_bsuid
from mmcore.meta.messages import with_deadline
from mmcore.meta.quiet_hours import SendWindow, next_opening, zones_of_country, zones_of_number
from mmcore.store import messages as L
from mmcore.store.messages import State

NO_WINDOW = "no_send_window"
WINDOW_EXPIRED = "deadline before its send window opens"


def window_of(definition: dict[str, Any] | None) -> SendWindow | None:
    """The send window a campaign item's ``definition`` records, None without one."""
    spec = (definition or {}).get("send_window")
    return SendWindow.parse(spec["start"], spec["end"]) if spec else None


def zones_of(to: str, business_country: str) -> tuple[str, ...]:
    """The time zones a recipient (``to``: E.164 digits or a BSUID) may be in: the number's, a BSUID's
    country's, else the business's country's."""
    if to.isdigit():
        return zones_of_number(to)
    country = bsuid_country(to) if is_bsuid(to) else None
    return zones_of_country(country or business_country) or zones_of_country(business_country)


@dataclass
class Sorting:
    """A batch of a campaign's queued messages sorted by their window at ``due``: the ledger items to write
    (every message), the bodies to queue now (by message id), and the openings to schedule."""

    window: SendWindow
    due: datetime
    business_country: str
    items: list[dict[str, Any]] = field(default_factory=list)
    now: dict[str, str] = field(default_factory=dict)  # message id -> body, to queue at once
    openings: dict[int, int] = field(default_factory=lambda: defaultdict(int))  # instant -> messages held
    expired: int = 0
    closed: int = 0

    def add(self, message_id: str, fields: dict[str, Any], body: str) -> None:
        """Sort one queued message (its ledger fields and send request): now, held, expired or blocked."""
        opening = next_opening(self.window, zones_of(str(fields["to"]), self.business_country), self.due)
        if opening is None:
            self.closed += 1
            details = "its time zones never share an open minute of the send window"
            blocked = {**fields, "reason": NO_WINDOW, "details": details}
            self.items.append(L.message_item(message_id, state=State.BLOCKED, **blocked))
            return
        if opening <= self.due:
            self.now[message_id] = body
            self.items.append(L.message_item(message_id, state=State.QUEUED, **fields))
            return
        body, deadline = with_deadline(body, self.due)
        if deadline is not None and deadline <= opening:
            self.expired += 1
            ended = {**fields, "reason": WINDOW_EXPIRED, "details": f"its window opens at {opening:%FT%TZ}"}
            self.items.append(L.message_item(message_id, state=State.EXPIRED, **ended))
            return
        instant = int(opening.timestamp())
        self.openings[instant] += 1
        self.items.append(
            L.message_item(message_id, state=State.QUEUED, **fields, body=body, held_until=instant)
        )


def sorting(window: SendWindow, due: float, business_country: str) -> Sorting:
    """An empty :class:`Sorting` for messages due at ``due`` (epoch seconds)."""
    return Sorting(window, datetime.fromtimestamp(due, UTC), business_country)


def open_now(window: SendWindow, to: str, business_country: str, now: float) -> datetime | None:
    """When a held message's window opens, from ``now``: ``now`` itself when it is open (queue it); None
    when it never does."""
    return next_opening(window, zones_of(to, business_country), datetime.fromtimestamp(now, UTC))
