"""Replies handed on to the business's bot: EventBridge ``PutEvents`` on the stack's bus, at least once (a
consumer dedupes on ``detail.message.id``). A reply too big for an event points to its stored copy."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from mmcore.exceptions import Unavailable
from mmcore.observability import logger
from mmcore.store import keys
from mmcore.webhooks.batch import Inbound
from mmcore.webhooks.replies import Links

EVENT_SOURCE = "whatsapp.mm"
EVENT_DETAIL_TYPE = "WhatsApp Message Received"
_EVENT_MAX_BYTES = 250_000  # PutEvents: 256 KB per entry, envelope included
_PUT_EVENTS_MAX = 10
_ATTEMPTS = 3


class Publisher:
    """Publishes replies on ``bus_name`` with the EventBridge client ``events()`` returns (built on first use;
    no bus: replies are stored, not published)."""

    def __init__(self, events: Callable[[], Any] | None, bus_name: str) -> None:
        self.events = events
        self.bus_name = bus_name

    def publish(self, messages: Sequence[Inbound], links: Links) -> int:
        """PutEvents in tens; an entry that keeps failing raises Unavailable (Meta retries the POST, and the
        consumer dedupes what was already delivered). Returns how many were published."""
        if not messages:
            return 0
        if not self.bus_name or self.events is None:
            logger.debug("no event bus configured: replies stored, not published")
            return 0
        entries = [self._entry(m, links) for m in messages]
        events = self.events()
        for start in range(0, len(entries), _PUT_EVENTS_MAX):
            pending = entries[start : start + _PUT_EVENTS_MAX]
            for _attempt in range(_ATTEMPTS):
                answer = events.put_events(Entries=pending)
                if not answer.get("FailedEntryCount"):
                    break
                pending = [e for e, r in zip(pending, answer["Entries"], strict=True) if r.get("ErrorCode")]
            else:
                raise Unavailable(f"EventBridge refused {len(pending)} events")
        return len(entries)

    def _entry(self, m: Inbound, links: Links) -> dict[str, Any]:
        link = links.get(m.context_id or "") or {}
        detail: dict[str, Any] = {
            "message": m.message,
            "contact": m.contact,
            "metadata": m.metadata,
            "waba_id": m.waba_id,
            "in_reply_to": {"wamid": m.context_id, **link} if m.context_id else None,
        }
        try:
            text = json.dumps(detail, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except ValueError:
            text = ""
        if (
            not text or len(text.encode()) > _EVENT_MAX_BYTES
        ):  # too big for an event: point to the stored copy
            text = json.dumps(
                {
                    "message": {"id": m.wamid, "from": m.sender, "type": m.type, "timestamp": m.timestamp},
                    "truncated": True,
                    "stored": keys.plain(keys.inbound(m.wamid)),
                    "waba_id": m.waba_id,
                    "in_reply_to": detail["in_reply_to"],
                },
                ensure_ascii=False,
                default=str,
            )
        entry = {
            "Source": EVENT_SOURCE,
            "DetailType": EVENT_DETAIL_TYPE,
            "Detail": text,
            "EventBusName": self.bus_name,
        }
        if m.timestamp:
            entry["Time"] = datetime.fromtimestamp(m.timestamp, UTC)
        return entry
