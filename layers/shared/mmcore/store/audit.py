"""Audit records: one item per applied change, under its target (``keys.audit``), listed newest first.

The sort key is ``<at>#<audit_id>`` with ``at`` in UTC with microseconds, so it orders by time. No
``expires_at``: audit history is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mmcore.store import keys, paging
from mmcore.store.codec import from_item, to_item

_KEY_ATTRIBUTES = frozenset({"pk", "sk"})


class AuditLog:
    """Audit records in the single table, on a low-level DynamoDB client (``boto3.client("dynamodb")``)."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def put(self, record: Mapping[str, Any]) -> None:
        """Write one record (JSON-ready values with at least ``scope``, ``target_id``, ``at``, ``audit_id``);
        never over another one."""
        key = keys.audit(record["scope"], record["target_id"], record["at"], record["audit_id"])
        self.client.put_item(
            TableName=self.table,
            Item={**to_item(record), **key},
            ConditionExpression="attribute_not_exists(pk)",
        )

    def page(
        self, scope: str, target_id: str, limit: int, next_token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A target's records, newest first, and the ``next_token`` of the following page (None: last)."""
        partition = keys.audit_partition(scope, target_id)
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": partition}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if next_token:
            query["ExclusiveStartKey"] = paging.decode(next_token, _KEY_ATTRIBUTES, {"pk": partition})
        answer = self.client.query(**query)
        records = [
            {k: v for k, v in from_item(item).items() if k not in _KEY_ATTRIBUTES}
            for item in answer.get("Items", [])
        ]
        return records, paging.encode(answer.get("LastEvaluatedKey"))
