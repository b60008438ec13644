"""What the webhooks saw that no message of ours claimed yet: the facts the resolver
(:mod:`mmcore.sending.resolve`) needs to settle a message left ``unknown``.

- An *orphan*: a wamid whose statuses arrived while no message of ours was linked to it, kept under the
  business number and the user it was sent to, with the earliest status timestamp seen (``first_at``: about
  when Meta accepted it). Most orphans are ordinary: the status beat the sender's record by a second, and the
  wamid is linked right after; the resolver checks the link before it uses one. They expire after a week.
- The *stream* of a business number: the newest status timestamp received for it. While it moves past a
  message's send time, the webhooks are flowing, so a message that got no status at all was most likely never
  taken by Meta.

Writes are conditional on moving forward (an earlier ``first_at``, a later ``last_at``), so Meta's retries
and any arrival order end the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mmcore.store import keys
from mmcore.store.codec import from_item

ORPHAN_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Orphan:
    """A wamid sent from ``phone_number_id`` to ``user`` whose statuses named no message of ours."""

    phone_number_id: str
    user: str
    wamid: str
    first_at: int
    category: str | None = None  # pricing category of its statuses (marketing_lite, marketing, utility...)


class Orphans:
    """Orphans and streams on a low-level DynamoDB client (``boto3.client("dynamodb")``)."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def record(self, orphans: Iterable[Orphan], now: int) -> int:
        """Keep each orphan (its earliest timestamp wins); the number written."""
        written = 0
        for o in {
            (o.phone_number_id, o.user, o.wamid): o for o in sorted(orphans, key=_latest_first)
        }.values():
            values = {":at": {"N": str(o.first_at)}, ":exp": {"N": str(now + ORPHAN_SECONDS)}}
            update = "SET first_at = :at, expires_at = :exp"
            if o.category:
                update += ", category = :cat"
                values[":cat"] = {"S": o.category}
            written += self._forward(
                keys.orphan(o.phone_number_id, o.user, o.wamid),
                update,
                "attribute_not_exists(first_at) OR first_at > :at",
                values,
            )
        return written

    def of_user(self, phone_number_id: str, user: str) -> list[Orphan]:
        """The orphans of one user on one number (a handful at most), consistently read."""
        answer = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.orphans(phone_number_id, user)}},
            ConsistentRead=True,
        )
        found = [from_item(item) for item in answer.get("Items", ())]
        return [
            Orphan(phone_number_id, user, item["sk"], int(item["first_at"]), item.get("category"))
            for item in found
        ]

    def forget(self, orphan: Orphan) -> None:
        """Drop an orphan that is one no more (linked to a message)."""
        self.client.delete_item(
            TableName=self.table, Key=keys.orphan(orphan.phone_number_id, orphan.user, orphan.wamid)
        )

    def flowing(self, latest: dict[str, int]) -> int:
        """Move each number's stream forward to its newest status timestamp; the number written."""
        return sum(
            self._forward(
                keys.stream(number),
                "SET last_at = :at",
                "attribute_not_exists(last_at) OR last_at < :at",
                {":at": {"N": str(at)}},
            )
            for number, at in latest.items()
        )

    def last_status_at(self, phone_number_id: str) -> int:
        """The newest status timestamp received for a business number (0: none yet)."""
        item = self.client.get_item(
            TableName=self.table, Key=keys.stream(phone_number_id), ConsistentRead=True
        )
        return int(item.get("Item", {}).get("last_at", {}).get("N", 0))

    def _forward(self, key: dict[str, Any], update: str, condition: str, values: dict[str, Any]) -> int:
        try:
            self.client.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return 0  # what is stored is already further along
        return 1


def _latest_first(orphan: Orphan) -> int:
    return -orphan.first_at  # so the dict keeps each wamid's earliest
