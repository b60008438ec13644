"""What the webhook receives and keeps as received: customers' replies, and every other webhook item it does
not act on (an unknown field, a system error, a user preference other than stop/resume, an item that did not
parse), raw.

Both are written once (their key decides them: a reply's wamid; an item's kind, time and digest), and expire
with the rest of the table's records.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from mmcore.store import keys
from mmcore.store.calls import put_new
from mmcore.store.codec import from_item
from mmcore.store.messages import RETENTION_SECONDS


class Replies:
    """Customers' messages (texts, quick-reply taps...), one item per wamid."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def add(self, wamid: str, fields: Mapping[str, Any], now: int) -> bool:
        """Keep a reply once; False when it is stored already."""
        values = {
            **keys.plain(keys.inbound(wamid)),
            "wamid": wamid,
            **fields,
            "received_at": now,
            "expires_at": now + RETENTION_SECONDS,
        }
        return put_new(self.client, self.table, values)

    def get(self, wamid: str) -> dict[str, Any] | None:
        """A stored reply (plain values), or None."""
        found = self.client.get_item(TableName=self.table, Key=keys.inbound(wamid), ConsistentRead=True)
        return from_item(found["Item"]) if "Item" in found else None


class Unhandled:
    """Webhook items kept raw, by kind (``invalid`` for those that did not parse)."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def keep(self, kind: str, at: int, raw: str, reason: str | None, now: int, **fields: Any) -> bool:
        """Keep one item once (its key: kind, time and a digest of its text), with ``fields`` beside it."""
        digest = hashlib.blake2b(f"{kind}\n{raw}".encode(), digest_size=12).hexdigest()
        values = {
            **keys.plain(keys.webhook_other(kind, at, digest)),
            **{k: v for k, v in fields.items() if v is not None},
            "kind": kind,
            "reason": reason or None,
            "raw": raw,
            "received_at": now,
            "expires_at": now + RETENTION_SECONDS,
        }
        return put_new(self.client, self.table, values)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        """The items kept for ``kind`` (plain values), oldest first."""
        partition = keys.webhook_other(kind, 0, "")["pk"]["S"]
        answer = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": partition}},
            ConsistentRead=True,
        )
        return [from_item(item) for item in answer["Items"]]
