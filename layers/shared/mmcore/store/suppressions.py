"""Who not to message: the suppression list the sender reads (:meth:`mmcore.store.messages.Ledger.prefetch`)
and the webhook writes, on a user's phone number digits or BSUID (each event is applied under every identifier
of the user known then; the sender also checks the user's other identifiers: :mod:`mmcore.store.identities`).

Items (keys in :mod:`mmcore.store.keys`): the suppression (``since`` is the event time; ``until`` only for a
rest, which ends by itself) and the user's last ``resume`` (``resumed_at``), so that a late ``stop`` or 131050
older than it (Meta retries for days) cannot opt the user out again. Every write is conditional on event
times, so any arrival order of the same events ends the same.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mmcore.store import keys
from mmcore.store.codec import from_item, to_item
from mmcore.store.messages import RETENTION_SECONDS

_REASON_MAX = 1024


class Kind(StrEnum):
    """What a suppression event does, in the order same-time events apply."""

    REST = "rest"  # 131049: no marketing for a while
    STOP = "stop"  # opted out (user_preferences stop, or 131050) until a resume
    RESUME = "resume"


_ORDER = {Kind.REST: 0, Kind.STOP: 1, Kind.RESUME: 2}


@dataclass(frozen=True, slots=True)
class Suppression:
    """One event about a user: ``at`` is its time, ``until`` the end of a rest."""

    user: str
    at: int
    kind: Kind
    code: int | None = None
    reason: str = ""
    until: int | None = None

    @property
    def order(self) -> tuple[int, int]:
        """Apply a user's events by time; at the same time a rest, then a stop, then a resume."""
        return (self.at, _ORDER[self.kind])


class Suppressions:
    """The suppression list on a low-level DynamoDB client (``boto3.client("dynamodb")``)."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def get(self, user: str) -> dict[str, Any] | None:
        """The user's suppression (plain values), or None when they may be messaged."""
        found = self.client.get_item(TableName=self.table, Key=keys.suppression(user), ConsistentRead=True)
        return from_item(found["Item"]) if "Item" in found else None

    def apply(self, s: Suppression, now: int) -> bool:
        """Record one event; False when it changed nothing (older than what is on record, a duplicate)."""
        if s.kind is Kind.RESUME:
            return self._resume(s, now)
        if s.kind is Kind.STOP:
            return self._opt_out(s, now)
        return self._rest(s, now)

    def _item(self, s: Suppression, now: int) -> dict[str, Any]:
        reason = s.reason if len(s.reason) <= _REASON_MAX else s.reason[: _REASON_MAX - 1] + "…"
        return to_item(
            {
                **keys.plain(keys.suppression(s.user)),
                "since": s.at,
                "until": s.until,
                "code": s.code,
                "reason": reason,
                "source": "webhook",
                "updated_at": now,
                "expires_at": s.until + 86400 if s.until else None,
            }
        )

    def _opt_out(self, s: Suppression, now: int) -> bool:
        """Suppressed until a resume, unless a resume newer than this event is on record."""
        values = to_item({":at": s.at})
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": self.table,
                            "Key": keys.resume(s.user),
                            "ConditionExpression": "attribute_not_exists(pk) OR resumed_at < :at",
                            "ExpressionAttributeValues": values,
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": self._item(s, now),
                            # a rest (until) becomes an opt-out; an older opt-out is refreshed
                            "ConditionExpression": "attribute_not_exists(pk) OR attribute_exists(#until) "
                            "OR attribute_not_exists(since) OR since < :at",
                            "ExpressionAttributeNames": {"#until": "until"},
                            "ExpressionAttributeValues": values,
                        }
                    },
                ]
            )
        except self.client.exceptions.TransactionCanceledException as exc:
            reasons = {r.get("Code") for r in exc.response.get("CancellationReasons", [])}
            if reasons <= {"None", "ConditionalCheckFailed"}:
                return False
            raise
        return True

    def _rest(self, s: Suppression, now: int) -> bool:
        """131049: no marketing to this user until ``until``; never shortens a rest or lifts an opt-out."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item=self._item(s, now),
                ConditionExpression="attribute_not_exists(pk) OR (attribute_exists(#until) AND #until < :until)",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues=to_item({":until": s.until}),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _resume(self, s: Suppression, now: int) -> bool:
        """Record the resume (newest wins), then lift an opt-out that is not newer than it."""
        # A newer resume may be on record already; the delete below is still guarded by this one's time.
        with contextlib.suppress(self.client.exceptions.ConditionalCheckFailedException):
            self.client.put_item(
                TableName=self.table,
                Item=to_item(
                    {
                        **keys.plain(keys.resume(s.user)),
                        "resumed_at": s.at,
                        "updated_at": now,
                        "expires_at": now + RETENTION_SECONDS,
                    }
                ),
                ConditionExpression="attribute_not_exists(pk) OR resumed_at < :at",
                ExpressionAttributeValues=to_item({":at": s.at}),
            )
        try:
            self.client.delete_item(
                TableName=self.table,
                Key=keys.suppression(s.user),
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(#until) "
                "AND (attribute_not_exists(since) OR since <= :at)",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues=to_item({":at": s.at}),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True
