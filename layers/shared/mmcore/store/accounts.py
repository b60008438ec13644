"""WABAs' MM API onboarding, as Meta's ``account_update`` webhook reports it (``MM_LITE_TERMS_SIGNED``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mmcore.store import keys
from mmcore.store.codec import from_item, to_item

ONBOARDED = "ONBOARDED"


class Accounts:
    """One onboarding item per WABA, on a low-level DynamoDB client."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def record_onboarding(self, waba_id: str, at: int, now: int, **fields: Any) -> bool:
        """The WABA is onboarded as of ``at``; False when a later event is on record already."""
        values: Mapping[str, Any] = {
            **keys.plain(keys.onboarding(waba_id)),
            "waba_id": waba_id,
            "status": ONBOARDED,
            **fields,
            "event_at": at,
            "updated_at": now,
        }
        try:
            self.client.put_item(
                TableName=self.table,
                Item=to_item(values),
                ConditionExpression="attribute_not_exists(pk) OR event_at <= :at",
                ExpressionAttributeValues=to_item({":at": at}),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def onboarding(self, waba_id: str) -> dict[str, Any] | None:
        """The WABA's onboarding record (plain values), or None."""
        found = self.client.get_item(TableName=self.table, Key=keys.onboarding(waba_id), ConsistentRead=True)
        return from_item(found["Item"]) if "Item" in found else None
