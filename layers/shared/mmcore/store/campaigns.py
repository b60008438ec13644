"""Campaigns in the single table: the campaign item (``keys.campaign``) and the reads its listings need, the
campaign's messages through ``gsi2`` (``keys.campaign_messages``: :data:`~mmcore.store.keys.CAMPAIGN_SHARDS`
partitions, each by status then message id; the index holds keys only, the items are read from the table)
and one message with the status events the webhook stored for its wamid."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from mmcore.exceptions import InvalidInput
from mmcore.store import keys, paging
from mmcore.store.calls import batch_get, put_new
from mmcore.store.codec import from_item, to_item
from mmcore.store.messages import RETENTION_SECONDS

# The attributes a page token of a campaign's messages carries: the item's key and its gsi2 key.
_PAGE_KEY = frozenset({"pk", "sk", "gsi2pk", "gsi2sk"})


class CampaignStatus(StrEnum):
    """Where a campaign's enqueue stands (the ``status`` attribute of its item)."""

    ENQUEUING = "enqueuing"
    ENQUEUED = "enqueued"
    AWAITING_UPLOAD = "awaiting_upload"  # an audience import waiting for its CSV (a presigned PUT)
    INCOMPLETE = "incomplete"  # stopped halfway (an error, Ctrl-C): the counts are those so far
    HELD = "held"  # recorded, nothing queued: waits for a passing test send and a release
    RELEASING = "releasing"  # being released: its messages are going on the queue
    COMPLETED = "completed"  # enqueued, and every message final for the sender (seen by its report)
    # Issue 14's lifecycle (named here once so its parts agree; what sets and honours each is in its part):
    SCHEDULED = "scheduled"  # recorded, nothing queued: an EventBridge Scheduler one-time schedule starts it
    RUNNING = "running"  # being sent
    PAUSED = "paused"  # nothing more is POSTed until resumed (``paused_reason``: ``operator`` or ``budget``)
    CANCELLED = "cancelled"  # stopped for good: its unsent messages end ``cancelled``, never POSTed


class CampaignRecords:
    """The campaigns of one table, on a low-level DynamoDB client (``boto3.client("dynamodb")``)."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    # -------------------------------------------------------------- the campaign item

    def create(self, campaign_id: str, values: Mapping[str, Any], now: int) -> bool:
        """Write the campaign item unless one with this id exists (False then: nothing is written)."""
        item = {
            **keys.plain(keys.campaign(campaign_id)),
            "campaign_id": campaign_id,
            **values,
            "expires_at": now + RETENTION_SECONDS,
        }
        return put_new(self.client, self.table, item)

    def finish(self, campaign_id: str, status: CampaignStatus, counts: Mapping[str, Any], now: int) -> None:
        """Store the enqueue's outcome on the campaign item."""
        self.client.update_item(
            TableName=self.table,
            Key=keys.campaign(campaign_id),
            UpdateExpression="SET #s = :s, counts = :c, finished_at = :now",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=to_item({":s": status, ":c": counts, ":now": now}),
        )

    def move(self, campaign_id: str, before: CampaignStatus, after: CampaignStatus, now: int) -> bool:
        """Change the campaign's status from ``before`` to ``after``; False (nothing written) when it is not
        ``before`` (another release won, or it never was held)."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=keys.campaign(campaign_id),
                UpdateExpression="SET #s = :after, status_at = :now",
                ConditionExpression="#s = :before",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=to_item({":after": after, ":before": before, ":now": now}),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def pause_from(self, campaign_id: str, before: Sequence[CampaignStatus], reason: str, now: int) -> bool:
        """Pause the campaign (``paused``, ``paused_reason``, ``paused_at``) if its status is one of ``before``;
        False (nothing written) when it is not (already paused, cancelled, completed, or no such campaign)."""
        names = {f":b{i}": status for i, status in enumerate(before)}
        try:
            self.client.update_item(
                TableName=self.table,
                Key=keys.campaign(campaign_id),
                UpdateExpression="SET #s = :after, paused_reason = :reason, paused_at = :now, status_at = :now",
                ConditionExpression=f"#s IN ({', '.join(names)})",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=to_item(
                    {":after": CampaignStatus.PAUSED, ":reason": reason, ":now": now, **names}
                ),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def complete(self, campaign_id: str, now: int) -> dict[str, Any] | None:
        """Mark an ``enqueued`` campaign ``completed`` at ``now`` (``finished_at``; the enqueue's end moves to
        ``enqueued_at``). Returns the item as it now is; None (nothing written) when it was not enqueued."""
        try:
            answer = self.client.update_item(
                TableName=self.table,
                Key=keys.campaign(campaign_id),
                UpdateExpression="SET #s = :after, enqueued_at = finished_at, finished_at = :now",
                ConditionExpression="#s = :before AND attribute_exists(finished_at)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=to_item(
                    {":after": CampaignStatus.COMPLETED, ":before": CampaignStatus.ENQUEUED, ":now": now}
                ),
                ReturnValues="ALL_NEW",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        return from_item(answer["Attributes"])

    def add_test(self, campaign_id: str, test_id: str, values: Mapping[str, Any], now: int) -> None:
        """Record a test send of the campaign (its id is new: a random one)."""
        item = {
            **keys.plain(keys.campaign_test(campaign_id, test_id)),
            "campaign_id": campaign_id,
            "test_id": test_id,
            **values,
            "created_at": now,
            "expires_at": now + RETENTION_SECONDS,
        }
        put_new(self.client, self.table, item)

    def tests(self, campaign_id: str) -> list[dict[str, Any]]:
        """The campaign's test sends, newest first."""
        found = self._all(
            {
                "TableName": self.table,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :test)",
                "ExpressionAttributeValues": {
                    ":pk": keys.campaign(campaign_id)["pk"],
                    ":test": {"S": keys.TEST_PREFIX},
                },
                "ConsistentRead": True,
            }
        )
        return sorted(found, key=lambda t: (int(t.get("created_at") or 0), str(t["test_id"])), reverse=True)

    def get(self, campaign_id: str) -> dict[str, Any] | None:
        """The campaign item (plain values), None when there is none."""
        answer = self.client.get_item(
            TableName=self.table, Key=keys.campaign(campaign_id), ConsistentRead=True
        )
        return from_item(answer["Item"]) if "Item" in answer else None

    # -------------------------------------------------------------- its messages

    def by_ids(self, message_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Messages by id (plain values), read consistently; an id with no item is left out."""
        found = batch_get(self.client, self.table, [keys.message(m) for m in message_ids])
        return {str(item["message_id"]): item for item in map(from_item, found)}

    def messages(self, campaign_id: str, attributes: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Every message of the campaign (plain values), ``attributes`` only when given: every shard's keys,
        then the items (O(messages): for the audit, never for a report)."""
        found = []
        for partition in keys.campaign_partitions(campaign_id):
            found += self._all(self._by_campaign(partition, None))
        return self._items(found, attributes)

    def page(
        self, campaign_id: str, status: str | None, limit: int, next_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the campaign's messages (of one ``status`` when given) and the token of the next one:
        the shards one after the other, one token over all of them (a page may end inside a shard or right
        at its end). A token of another listing is :class:`~mmcore.exceptions.InvalidInput` naming
        ``next_token``. A message whose status moved on since the index listed it is left out."""
        partitions = keys.campaign_partitions(campaign_id)
        shard, start = 0, None
        if next_token:
            start = paging.decode(next_token, _PAGE_KEY, {})
            if start["gsi2pk"]["S"] not in partitions:
                raise InvalidInput.fields([("next_token", "not a next_token of this listing")])
            shard = partitions.index(start["gsi2pk"]["S"])
            if not start["pk"]["S"]:  # the start of a shard
                start = None
        found: list[dict[str, Any]] = []
        last = None
        while shard < len(partitions) and len(found) < limit:
            query = self._by_campaign(partitions[shard], status)
            query["Limit"] = limit - len(found)
            answer = self.client.query(**query, **({"ExclusiveStartKey": start} if start else {}))
            found += [from_item(item) for item in answer.get("Items", [])]
            last = answer.get("LastEvaluatedKey")
            start = None
            if not last:
                shard, last = shard + 1, None
            else:
                start = last
        if last is None and shard < len(partitions) and found:
            last = {"gsi2pk": {"S": partitions[shard]}, **{k: {"S": ""} for k in _PAGE_KEY - {"gsi2pk"}}}
        items = self._items(found)
        if status:
            items = [item for item in items if item.get("status") == status]
        return items, paging.encode(last)

    def message(self, message_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """One message (None when there is none) and its status events, oldest first (none until Meta gave it
        a wamid): the statuses its ``history`` remembers, and the event items stored beside its wamid (statuses
        outside the precedence table; every status before issue 15)."""
        answer = self.client.get_item(TableName=self.table, Key=keys.message(message_id), ConsistentRead=True)
        if "Item" not in answer:
            return None, []
        item = from_item(answer["Item"])
        if not item.get("wamid"):
            return item, []
        stored = self._all(
            {
                "TableName": self.table,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :evt)",
                "ExpressionAttributeValues": {
                    ":pk": keys.wamid_state(item["wamid"])["pk"],
                    ":evt": {"S": keys.EVT},
                },
            }
        )
        return item, _events(item, stored)

    # -------------------------------------------------------------- queries

    def _by_campaign(self, partition: str, status: str | None) -> dict[str, Any]:
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": keys.CAMPAIGN_INDEX,
            "KeyConditionExpression": "gsi2pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": partition}},
        }
        if status:
            query["KeyConditionExpression"] += " AND begins_with(gsi2sk, :status)"
            query["ExpressionAttributeValues"][":status"] = {"S": keys.campaign_status(status)["gsi2sk"]}
        return query

    def _items(self, listed: list[dict[str, Any]], attributes: Sequence[str] = ()) -> list[dict[str, Any]]:
        """The items the index listed (keys only), in its order, read from the table (consistently)."""
        wanted = [keys.message(str(item["pk"]).removeprefix(keys.MESSAGE_PREFIX)) for item in listed]
        got = {
            keys.of(item): from_item(item) for item in batch_get(self.client, self.table, wanted, attributes)
        }
        return [got[key] for item in listed if (key := keys.of(item)) in got]

    def _all(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        items, start = [], None
        while True:
            answer = self.client.query(**query, **({"ExclusiveStartKey": start} if start else {}))
            items.extend(from_item(item) for item in answer.get("Items", []))
            start = answer.get("LastEvaluatedKey")
            if not start:
                return items


def _events(item: Mapping[str, Any], stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A message's status events, oldest first: its history's, and the stored ones not already in it."""
    seen = {f"{e.get('timestamp')}#{e.get('status')}" for e in stored}
    remembered = []
    for entry in item.get("history") or ():
        timestamp, _, status = str(entry).partition("#")
        if entry not in seen and timestamp.isdigit():
            remembered.append({"wamid": item["wamid"], "status": status, "timestamp": int(timestamp)})
    return sorted([*stored, *remembered], key=lambda e: (int(e.get("timestamp") or 0), str(e.get("status"))))
