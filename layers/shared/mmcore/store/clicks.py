"""Click and landing-page-view events of marketing messages, in the single table [CLICK][LPV].

Meta's ``user_actions`` name neither the message nor the recipient (nor the template): an event is stored in
its WABA's UTC day (``keys.clicks_day``), counted there by business phone number and action type, and indexed
under its ``click_id`` and its ``tracking_token`` so a landing page view finds its click (by token, else click
id; either may come first, or alone). One transaction writes all of it, conditioned on the event being new,
so a retried POST counts nothing twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from mmcore.store import keys
from mmcore.store.codec import from_item, to_item
from mmcore.store.messages import RETENTION_SECONDS

CLICK, LANDING_PAGE_VIEW = "marketing_messages_link_click", "landing_page_view"
NO_NUMBER = "-"  # the count's key when the webhook names no business phone number


def day_of(at: int) -> str:
    """The UTC day (``yyyy-mm-dd``) of an epoch time: the partition of an event and of its counts."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


class Clicks:
    """One WABA's click events, on a low-level DynamoDB client."""

    def __init__(self, client: Any, table: str, waba_id: str | None) -> None:
        self.client = client
        self.table = table
        self.waba_id = waba_id or "-"

    def record(self, action: str, at: int, fields: Mapping[str, Any], raw: str, now: int) -> bool:
        """Store and count one event (once); False when it is stored already. ``fields``: the event's
        ``phone_number_id``, ``click_component``, ``product_id``, ``click_id``, ``tracking_token``."""
        day, digest = day_of(at), hashlib.blake2b(f"{action}\n{raw}".encode(), digest_size=12).hexdigest()
        values = {k: v for k, v in fields.items() if v is not None}
        item = {
            "waba_id": self.waba_id,
            "day": day,
            "action_type": action,
            "at": at,
            **values,
            "raw": raw,
            "received_at": now,
            "expires_at": now + RETENTION_SECONDS,
        }
        event = {**keys.plain(keys.click_event(self.waba_id, day, at, digest)), **item}
        refs = [
            {**keys.plain(keys.click_ref(kind, values[name], at, action, digest)), **item}
            for kind, name in ((keys.CLICK_ID, "click_id"), (keys.TRACKING_TOKEN, "tracking_token"))
            if values.get(name)
        ]
        number = values.get("phone_number_id") or NO_NUMBER
        count = {
            "TableName": self.table,
            "Key": keys.click_count(self.waba_id, day, number),
            "UpdateExpression": "ADD #action :one SET phone_number_id = :number, expires_at = :expires",
            "ExpressionAttributeNames": {"#action": action},
            "ExpressionAttributeValues": to_item(
                {":one": 1, ":number": number, ":expires": now + RETENTION_SECONDS}
            ),
        }
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": to_item(event),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    *({"Put": {"TableName": self.table, "Item": to_item(ref)}} for ref in refs),
                    {"Update": count},
                ]
            )
        except self.client.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons") or [{}]
            if reasons[0].get("Code") == "ConditionalCheckFailed":
                return False
            raise
        return True

    def counts(self, day: str) -> dict[str, dict[str, int]]:
        """A day's counts: business phone number id -> action type -> events."""
        out = {}
        for item in self._query(keys.clicks_day(self.waba_id, day), "COUNT#"):
            number = item.pop("phone_number_id", NO_NUMBER)
            out[number] = {
                k: int(v)
                for k, v in item.items()
                if k not in ("pk", "sk", "expires_at") and isinstance(v, int)
            }
        return out

    def events(self, day: str) -> list[dict[str, Any]]:
        """A day's events (plain values, without their keys), oldest first."""
        return self._query(keys.clicks_day(self.waba_id, day), keys.EVT)

    def journey(
        self, *, click_id: str | None = None, tracking_token: str | None = None
    ) -> list[dict[str, Any]]:
        """The events of one click (its click and its landing page views, oldest first), found by tracking
        token, else by click id, as Meta advises [LPV]."""
        for kind, value in ((keys.TRACKING_TOKEN, tracking_token), (keys.CLICK_ID, click_id)):
            if value:
                found = self._query(keys.click_ref(kind, value)["pk"]["S"], keys.EVT)
                if found:
                    return found
        return []

    def _query(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": prefix}},
            "ConsistentRead": True,
        }
        items = []
        while True:
            page = self.client.query(**request)
            items += [
                {k: v for k, v in from_item(item).items() if k not in ("pk", "sk")} for item in page["Items"]
            ]
            if "LastEvaluatedKey" not in page:
                return items
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
