"""Template readiness (reference 8.1): a template needs ~10 minutes to sync with its ad account after creation
and after its first use following 7 days of inactivity.

The template's item (:class:`~mmcore.store.templates.Templates`) keeps ``created_at``, ``last_sent_at`` (set
when a campaign releases traffic for it) and ``sync_until`` (epoch seconds); a campaign may say
``template_created_at``. Not ready means: created < 10 min ago -> every message waits until created_at + 10
min; unused > 7 days -> one warm-up message goes at once and the rest wait 10 min. Nothing known -> ready.
The wait is the SQS ``DelaySeconds``, capped at 900 s (the SQS maximum): a longer wait (only with a
``template_created_at`` in the future) is cut to 900 s and the sender's 134101 rule ("still syncing: retry in
10 minutes") covers the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mmcore.campaigns.reports import iso
from mmcore.meta.errors import MAX_SQS_DELAY

SYNC_SECONDS = 600  # a new or re-awakened template syncs with its ad account for up to 10 minutes [MM-SEND]
DORMANT_SECONDS = 7 * 86_400  # unused for longer than 7 days: needs the sync again [MM-SEND]


@dataclass(frozen=True, slots=True)
class Readiness:
    """When a template can take MM API traffic. ``ready_at`` None: now. ``warm_up``: send one message at once
    to wake a dormant template, hold the rest until ``ready_at``."""

    ready_at: int | None = None
    warm_up: bool = False
    reason: str = ""

    @property
    def label(self) -> str:
        """The reason it is not ready, or ``ready``."""
        return self.reason or "ready"

    def stored(self) -> dict[str, Any]:
        """As an audience import's spec keeps it for its chunks (:meth:`from_stored` reads it back)."""
        return {"ready_at": self.ready_at, "warm_up": self.warm_up, "reason": self.reason}

    @classmethod
    def from_stored(cls, fields: Mapping[str, Any] | None) -> Readiness:
        """The readiness :meth:`stored` kept (None or empty: ready)."""
        fields = fields or {}
        ready_at = fields.get("ready_at")
        return cls(
            None if ready_at is None else int(ready_at),
            bool(fields.get("warm_up")),
            str(fields.get("reason") or ""),
        )

    def view(self, now: float) -> dict[str, Any]:
        """As ``POST /campaigns`` answers it, for messages enqueued at ``now``."""
        return {
            "readiness": self.label,
            "ready_at": iso(self.ready_at),
            "delay_seconds": self.delay(now),
            "warm_up": self.warm_up,
        }

    def delay(self, now: float) -> int:
        """The SQS DelaySeconds for a message enqueued at ``now`` (0-900)."""
        if self.ready_at is None:
            return 0
        return max(0, min(int(self.ready_at - now + 0.999), MAX_SQS_DELAY))


def readiness(
    created_at: int | None, last_sent_at: int | None, sync_until: int | None, now: float
) -> Readiness:
    """Apply the sync-delay rules (reference 8.1) to what is known about a template. Unknown means ready."""
    if created_at is not None and now < created_at + SYNC_SECONDS:
        return Readiness(int(created_at + SYNC_SECONDS), False, "template_created_recently")
    if sync_until is not None and now < sync_until:
        return Readiness(int(sync_until), False, "template_syncing")
    if last_sent_at is not None and now - last_sent_at > DORMANT_SECONDS:
        return Readiness(int(now) + SYNC_SECONDS, True, "template_dormant")
    return Readiness()
