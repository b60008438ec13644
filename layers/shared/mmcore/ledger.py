"""The message ledger and its neighbours in the single DynamoDB table (template.yaml ``MainTable``).

Item shapes (``pk`` / ``sk``):

- ``MSG#<message_id>`` / ``MSG``: one message. ``state`` is the sender's view (queued, sending, retry,
  accepted, failed, unknown, expired, blocked, suppressed, invalid); ``status`` is what a report shows (the
  delivery status from webhooks once there is one, else the state). ``gsi1`` finds it by wamid, ``gsi2`` lists
  a campaign's messages by status.
- ``WAMID#<wamid>`` / ``LINK``: wamid -> message and campaign, read consistently by the webhook.
- ``CAMPAIGN#<id>`` / ``CAMPAIGN``: a campaign and its enqueue counts.
- ``SUPPRESS#<digits>`` / ``SUPPRESS``: a user not to message: opted out (no ``until``: until they resume)
  or resting after a per-user limit (``until``, epoch seconds).
- ``HALT#<scope>#<key>`` / ``HALT``: sending stopped for a scope until ``until`` (epoch seconds).

Written by the webhook (``mmcore.statuses`` / ``mmcore.webhooks``): ``WAMID#<wamid>`` / ``STATE`` (the
delivery status, only moving forward) and ``EVT#<ts>#<status>`` (each status event, once);
``INBOUND#<wamid>`` / ``MSG`` (replies); ``SUPPRESS#<digits>`` / ``RESUME``; ``TEMPLATE#<name>:<lang>`` /
``STATUS``; ``ACCOUNT#<waba>`` / ``ONBOARDING``. On ``MSG`` items the webhook sets ``status``, ``status_rank``,
``state_version``, ``gsi2sk``, ``pricing_category``, ``path`` and ``error``, never ``state``.

Exactly once: a message is *claimed* (conditional write) before its POST. Only ``queued`` and ``retry``
messages can be claimed; a ``sending`` message whose lease ran out was interrupted between POST and record,
so it becomes ``unknown`` (Meta has no idempotency key) unless the caller asks to re-send such messages.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

QUEUED, SENDING, RETRY = "queued", "sending", "retry"
ACCEPTED, FAILED, UNKNOWN = "accepted", "failed", "unknown"
EXPIRED, BLOCKED, SUPPRESSED, INVALID = "expired", "blocked", "suppressed", "invalid"
CLAIMABLE = (QUEUED, RETRY)
FINAL = frozenset({ACCEPTED, FAILED, UNKNOWN, EXPIRED, BLOCKED, SUPPRESSED, INVALID})

RETENTION_SECONDS = 90 * 24 * 3600  # items expire (DynamoDB TTL) 90 days after their last write
_BATCH_GET_MAX, _BATCH_WRITE_MAX = 100, 25

_ser, _de = TypeSerializer(), TypeDeserializer()


def message_key(message_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"MSG#{message_id}"}, "sk": {"S": "MSG"}}


def suppression_key(digits: str) -> dict[str, Any]:
    return {"pk": {"S": f"SUPPRESS#{digits}"}, "sk": {"S": "SUPPRESS"}}


def halt_key(scope: str, key: str) -> dict[str, Any]:
    return {"pk": {"S": f"HALT#{scope}#{key}"}, "sk": {"S": "HALT"}}


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """Python values -> DynamoDB attribute values (None dropped; ints, not floats)."""
    return {k: _ser.serialize(v) for k, v in values.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: _de.deserialize(v) for k, v in item.items()}
    # DynamoDB numbers come back as Decimal: whole ones become int (booleans stay booleans).
    return {k: int(v) if isinstance(v, Decimal) and v == int(v) else v for k, v in out.items()}


def message_item(message_id: str, status: str | None = None, **fields: Any) -> dict[str, Any]:
    """A full message item: key, indexes and retention derived from the fields."""
    now = int(time.time())
    state = fields.get("state", QUEUED)
    status = status or state
    campaign = fields.get("campaign_id") or "-"
    values = {
        "pk": f"MSG#{message_id}",
        "sk": "MSG",
        "message_id": message_id,
        "status": status,
        "updated_at": now,
        "expires_at": now + RETENTION_SECONDS,
        "gsi2pk": f"CAMPAIGN#{campaign}",
        "gsi2sk": f"{status}#{message_id}",
        **fields,
    }
    if fields.get("wamid"):
        values["gsi1pk"], values["gsi1sk"] = f"WAMID#{fields['wamid']}", "MSG"
    return to_item(values)


def wamid_link_item(wamid: str, message_id: str, campaign_id: str | None) -> dict[str, Any]:
    now = int(time.time())
    return to_item(
        {
            "pk": f"WAMID#{wamid}",
            "sk": "LINK",
            "message_id": message_id,
            "campaign_id": campaign_id,
            "expires_at": now + RETENTION_SECONDS,
        }
    )


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer to a claim: ``won`` or the state the message already had."""

    won: bool
    state: str | None = None
    lease_until: int = 0
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class Prefetched:
    suppressed: frozenset[str]
    halted: Mapping[tuple[str, str], dict[str, Any]]  # (scope, key) -> halt record, only live halts


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class Ledger:
    """DynamoDB access for the send path, built on a low-level client (``boto3.client("dynamodb")``)."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    # -------------------------------------------------------------- reads amortized over a batch

    def prefetch(self, recipients: Iterable[str], halts: Iterable[tuple[str, str]], now: int) -> Prefetched:
        """Which recipients opted out and which halt scopes are live: one BatchGetItem per 100 keys."""
        keys = [suppression_key(r) for r in set(recipients)] + [halt_key(s, k) for s, k in set(halts)]
        suppressed, halted = set(), {}
        for item in self._batch_get(keys):
            pk, until = item["pk"]["S"], int(item.get("until", {}).get("N", 0))
            if pk.startswith("SUPPRESS#"):
                if not until or until > now:  # no `until`: suppressed until the user resumes
                    suppressed.add(pk.removeprefix("SUPPRESS#"))
            elif until > now:
                _, scope, key = pk.split("#", 2)
                halted[(scope, key)] = from_item(item)
        return Prefetched(frozenset(suppressed), halted)

    def _batch_get(self, keys: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for chunk in _chunks(keys, _BATCH_GET_MAX):
            request = {self.table: {"Keys": chunk, "ConsistentRead": True}}
            while request:
                answer = self.client.batch_get_item(RequestItems=request)
                yield from answer["Responses"].get(self.table, [])
                request = answer.get("UnprocessedKeys") or None

    # -------------------------------------------------------------- claims

    def claim(
        self,
        message_id: str,
        now: int,
        lease_seconds: int,
        fields: Mapping[str, Any],
        *,
        resend_interrupted: bool = False,
    ) -> Claim:
        """Claim a message for sending: one conditional UpdateItem.

        Won when the message is new, ``queued`` or ``retry`` (and, with ``resend_interrupted``, ``sending``
        with an expired lease). Otherwise the answer carries the state found, so the caller can tell a
        duplicate (final state), a copy in flight (live lease) and an interrupted send (expired lease).
        """
        condition = "attribute_not_exists(pk) OR #state IN (:queued, :retry)"
        values = {
            ":queued": QUEUED,
            ":retry": RETRY,
            ":sending": SENDING,
            ":lease": now + lease_seconds,
            ":one": 1,
            ":now": now,
            ":gsk": f"{SENDING}#{message_id}",
        }
        if resend_interrupted:
            condition += " OR (#state = :sending AND lease_until < :now)"
        names = {"#state": "state", "#status": "status"}
        sets = [
            "#state = :sending",
            "#status = :sending",
            "lease_until = :lease",
            "updated_at = :now",
            "gsi2sk = :gsk",
            "message_id = :mid",
            "gsi2pk = :gpk",
        ]
        values[":mid"] = message_id
        values[":gpk"] = f"CAMPAIGN#{fields.get('campaign_id') or '-'}"
        for i, (name, value) in enumerate(fields.items()):
            if value is not None:
                names[f"#f{i}"] = name
                values[f":f{i}"] = value
                sets.append(f"#f{i} = :f{i}")
        try:
            answer = self.client.update_item(
                TableName=self.table,
                Key=message_key(message_id),
                UpdateExpression="SET " + ", ".join(sets) + " ADD attempts :one",
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_item(values),
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            old = from_item(exc.response.get("Item") or {})
            return Claim(False, old.get("state"), old.get("lease_until", 0), old.get("attempts", 0))
        return Claim(True, SENDING, now + lease_seconds, int(answer["Attributes"]["attempts"]["N"]))

    def finish_unclaimed(self, message_id: str, state: str, fields: Mapping[str, Any]) -> bool:
        """Record a final state reached before any claim (expired, blocked, suppressed, invalid).

        Conditional, so it never overwrites a message another copy already claimed or finished.
        Returns False when the message was not claimable (a duplicate).
        """
        try:
            self.client.put_item(
                TableName=self.table,
                Item=message_item(message_id, state=state, **fields),
                ConditionExpression="attribute_not_exists(pk) OR #state IN (:queued, :retry)",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=to_item({":queued": QUEUED, ":retry": RETRY}),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def mark_interrupted(self, message_id: str, lease_until: int) -> bool:
        """A claim whose lease ran out without a record: the POST may or may not have happened -> unknown."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=message_key(message_id),
                UpdateExpression="SET #state = :unknown, #status = :unknown, gsi2sk = :gsk, reason = :why",
                ConditionExpression="#state = :sending AND lease_until = :lease",
                ExpressionAttributeNames={"#state": "state", "#status": "status"},
                ExpressionAttributeValues=to_item(
                    {
                        ":unknown": UNKNOWN,
                        ":sending": SENDING,
                        ":lease": lease_until,
                        ":gsk": f"{UNKNOWN}#{message_id}",
                        ":why": "interrupted between POST and record",
                    }
                ),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # -------------------------------------------------------------- writes amortized over a batch

    def write(self, items: list[dict[str, Any]]) -> None:
        """Put items we own (claimed messages, wamid links): one BatchWriteItem per 25 items."""
        for chunk in _chunks(items, _BATCH_WRITE_MAX):
            request = {self.table: [{"PutRequest": {"Item": item}} for item in chunk]}
            while request:
                answer = self.client.batch_write_item(RequestItems=request)
                request = answer.get("UnprocessedItems") or None

    def halt(self, scope: str, key: str, until: int, code: int | None, reason: str) -> None:
        """Stop sending for a scope until ``until``: the first send after it probes whether it healed."""
        self.client.put_item(
            TableName=self.table,
            Item=to_item(
                {
                    **{k: v["S"] for k, v in halt_key(scope, key).items()},
                    "scope": scope,
                    "key": key,
                    "until": until,
                    "code": code,
                    "reason": reason,
                    "expires_at": until + 86400,
                }
            ),
        )

    # -------------------------------------------------------------- reads for reports

    def get_message(self, message_id: str) -> dict[str, Any] | None:
        item = self.client.get_item(TableName=self.table, Key=message_key(message_id), ConsistentRead=True)
        return from_item(item["Item"]) if "Item" in item else None
