"""An audience import's writes: each row's message recorded once per campaign and user, each chunk counted once.

A row is recorded by two conditional puts, in this order: the member item of the user it names
(``keys.audience_member``, holding the row's message id), then its message item, each only if absent. A second
row naming the same user loses on the member item (a duplicate: nothing more is written). A retried chunk
finds its own member (the same message id) and goes on to the message: written now if the first attempt died
between the two puts, else already recorded (nothing is written twice; the message as it stands is returned so
the caller can tell whether it still waits for the queue). Plain conditional puts rather than a transaction
per 50 rows: 1 WCU each instead of 2, and no all-or-nothing retries of the rows a loser rolled back.

A chunk's counts go on the campaign item (``ADD``) in one transaction with the chunk's marker
(``keys.import_chunk``), put only if absent: a retried chunk that had been counted is refused whole.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mmcore.store import keys
from mmcore.store.calls import in_parallel
from mmcore.store.codec import from_item, to_item
from mmcore.store.messages import RETENTION_SECONDS

_WRITERS = 8  # concurrent conditional puts (the layer's DynamoDB pool)


@dataclass(frozen=True, slots=True)
class Row:
    """One row to record: its message item (attribute values) and the user it names (None: not claimed)."""

    message_id: str
    item: dict[str, Any]
    user: str | None


@dataclass
class Recorded:
    """What recording rows did: written now, duplicates of another row, or recorded by an earlier attempt
    (message id -> the message as it stands)."""

    written: set[str] = field(default_factory=set)
    duplicates: set[str] = field(default_factory=set)
    earlier: dict[str, dict[str, Any]] = field(default_factory=dict)


class Imports:
    """The import's items of one table, on a low-level DynamoDB client."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def begin(self, campaign_id: str, spec: Mapping[str, Any]) -> None:
        """Put what a chunk needs to plan its rows (``spec``) on the campaign item, with zeroed counts."""
        self.client.update_item(
            TableName=self.table,
            Key=keys.campaign(campaign_id),
            UpdateExpression="SET #i = :spec, imported = :zero, import_rows = :zero, rejected = :none",
            ExpressionAttributeNames={"#i": "import"},
            ExpressionAttributeValues=to_item({":spec": spec, ":zero": 0, ":none": {}}),
        )

    def set_readiness(self, campaign_id: str, ready: Mapping[str, Any]) -> None:
        """Replace the template readiness the chunks plan with (an import started later than its creation)."""
        self.client.update_item(
            TableName=self.table,
            Key=keys.campaign(campaign_id),
            UpdateExpression="SET #i.readiness = :ready",
            ExpressionAttributeNames={"#i": "import"},
            ExpressionAttributeValues=to_item({":ready": dict(ready)}),
        )

    def applied(self, campaign_id: str, first_row: int) -> bool:
        """Whether the chunk starting at ``first_row`` was recorded and counted."""
        key = keys.import_chunk(campaign_id, first_row)
        answer = self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True)
        return "Item" in answer

    def record(self, campaign_id: str, rows: Sequence[Row]) -> Recorded:
        """Record each row unless its user is already a member or the row was recorded before."""
        recorded = Recorded()
        parts = [list(rows[i::_WRITERS]) for i in range(min(_WRITERS, len(rows)))]
        for part in in_parallel(lambda p: self._record(campaign_id, p), parts):
            recorded.written |= part.written
            recorded.duplicates |= part.duplicates
            recorded.earlier.update(part.earlier)
        return recorded

    def _record(self, campaign_id: str, rows: list[Row]) -> Recorded:
        recorded = Recorded()
        for row in rows:
            if row.user:
                member = {
                    **keys.plain(keys.audience_member(campaign_id, row.user)),
                    "message_id": row.message_id,
                    "expires_at": int(from_item({"e": row.item["expires_at"]})["e"]),
                }
                old = self._put_new(to_item(member))
                if old is not None and old.get("message_id") != row.message_id:
                    recorded.duplicates.add(row.message_id)
                    continue
            old = self._put_new(row.item)
            if old is None:
                recorded.written.add(row.message_id)
            else:
                recorded.earlier[row.message_id] = old
        return recorded

    def _put_new(self, item: dict[str, Any]) -> dict[str, Any] | None:
        """Put ``item`` unless its key exists: None when written, else the item that was there."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            return from_item(exc.response.get("Item") or {"pk": item["pk"]})
        return None

    def count(
        self,
        campaign_id: str,
        first_row: int,
        rows: int,
        imported: int,
        rejected: Counter[str],
        now: int,
        waiting: int = 0,
    ) -> bool:
        """Add a chunk's counts to the campaign, once: False when the chunk had been counted already.
        ``waiting``: those of the ``imported`` rows held for their send window's opening."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {":rows": rows, ":imported": imported}
        adds = "ADD import_rows :rows, imported :imported"
        if waiting:
            values[":waiting"] = waiting
            adds += ", waiting_for_window :waiting"
        sets = []
        for n, (reason, number) in enumerate(sorted(rejected.items())):
            names[f"#r{n}"] = reason
            values[f":r{n}"] = number
            sets.append(f"#r.#r{n} = if_not_exists(#r.#r{n}, :zero) + :r{n}")
        if sets:
            names["#r"], values[":zero"] = "rejected", 0
        marker = {
            **keys.plain(keys.import_chunk(campaign_id, first_row)),
            "rows": rows,
            "expires_at": now + RETENTION_SECONDS,
        }
        update = {
            "TableName": self.table,
            "Key": keys.campaign(campaign_id),
            "UpdateExpression": ("SET " + ", ".join(sets) + " " if sets else "") + adds,
            "ExpressionAttributeValues": to_item(values),
        }
        if names:
            update["ExpressionAttributeNames"] = names
        try:
            self.client.transact_write_items(
                TransactItems=[_put_new(self.table, to_item(marker)), {"Update": update}],
                ClientRequestToken=uuid.uuid4().hex,
            )
        except self.client.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons") or []
            if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                return False
            raise
        return True

    def finish(self, campaign_id: str, status: str, now: int, error: str | None = None) -> str:
        """The import's end (``enqueued_at``, and why it stopped when it failed), or the wait for an upload:
        the campaign moves on only while it is still ``enqueuing``, so a pause or a cancel made during the
        import stands. Returns the campaign's status now."""
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": keys.campaign(campaign_id),
        }
        named = {"ExpressionAttributeNames": {"#s": "status"}}
        values: dict[str, Any] = {":s": status, ":now": now, ":during": "enqueuing"}
        extra = ""
        if error:
            values[":e"] = error[:500]
            extra = ", import_error = :e"
        try:
            self.client.update_item(
                **update,
                **named,
                UpdateExpression="SET #s = :s, status_at = :now, enqueued_at = :now" + extra,
                ConditionExpression="#s = :during",
                ExpressionAttributeValues=to_item(values),
            )
            return status
        except self.client.exceptions.ConditionalCheckFailedException:
            kept = {k: v for k, v in values.items() if k in (":now", ":e")}
            answer = self.client.update_item(
                **update,
                UpdateExpression="SET enqueued_at = :now" + extra,
                ExpressionAttributeValues=to_item(kept),
                ReturnValues="ALL_NEW",
            )
            return str(answer["Attributes"]["status"]["S"])


def _put_new(table: str, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": table,
            "Item": item,
            "ConditionExpression": "attribute_not_exists(pk)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }
