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

Exactly once: a message is *claimed* before its POST, by a Put conditioned on its version (``state``,
``attempts``, ``lease_until``) being what the batch read; a batch's claims go in one TransactWriteItems
(:meth:`Ledger.apply`). Only ``queued`` and ``retry`` messages are claimed; a ``sending`` message whose lease
ran out was interrupted between POST and record, so it becomes ``unknown`` (Meta has no idempotency key)
unless the caller asks to re-send such messages.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar

QUEUED, SENDING, RETRY = "queued", "sending", "retry"
ACCEPTED, FAILED, UNKNOWN = "accepted", "failed", "unknown"
EXPIRED, BLOCKED, SUPPRESSED, INVALID = "expired", "blocked", "suppressed", "invalid"
CLAIMABLE = (QUEUED, RETRY)
FINAL = frozenset({ACCEPTED, FAILED, UNKNOWN, EXPIRED, BLOCKED, SUPPRESSED, INVALID})

RETENTION_SECONDS = 90 * 24 * 3600  # items expire (DynamoDB TTL) 90 days after their last write
_BATCH_GET_MAX, _BATCH_WRITE_MAX, _TRANSACT_MAX, _TRANSACT_ROUNDS = 100, 25, 100, 3
# What a conditional transition compares: every claim adds an attempt, every other write changes the state.
_VERSION = ("state", "attempts", "lease_until")

T, R = TypeVar("T"), TypeVar("R")


def message_key(message_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"MSG#{message_id}"}, "sk": {"S": "MSG"}}


def suppression_key(digits: str) -> dict[str, Any]:
    return {"pk": {"S": f"SUPPRESS#{digits}"}, "sk": {"S": "SUPPRESS"}}


def halt_key(scope: str, key: str) -> dict[str, Any]:
    return {"pk": {"S": f"HALT#{scope}#{key}"}, "sk": {"S": "HALT"}}


@cache
def _codec() -> tuple[Any, Any]:
    """boto3's DynamoDB serializer and deserializer, imported on first use (cold start)."""
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """Python values -> DynamoDB attribute values (None dropped; ints, not floats)."""
    serialize = _codec()[0].serialize
    return {k: serialize(v) for k, v in values.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    deserialize = _codec()[1].deserialize
    out = {k: deserialize(v) for k, v in item.items()}
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
class Change:
    """One message's next item, to be written only if the message is still as ``seen`` (the item as read,
    :func:`from_item` form; None: it did not exist)."""

    message_id: str
    seen: Mapping[str, Any] | None
    item: dict[str, Any]

    def put(self, table: str) -> dict[str, Any]:
        """The TransactWriteItems entry: a Put conditioned on the version attributes being unchanged."""
        put: dict[str, Any] = {
            "TableName": table,
            "Item": self.item,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if self.seen is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
            return {"Put": put}
        clauses, names, values = [], {}, {}
        for i, name in enumerate(_VERSION):
            names[f"#v{i}"] = name
            if self.seen.get(name) is None:
                clauses.append(f"attribute_not_exists(#v{i})")
            else:
                clauses.append(f"#v{i} = :v{i}")
                values[f":v{i}"] = self.seen[name]
        put.update(ConditionExpression=" AND ".join(clauses), ExpressionAttributeNames=names)
        if values:
            put["ExpressionAttributeValues"] = to_item(values)
        return {"Put": put}


def claim(
    message_id: str, seen: Mapping[str, Any] | None, fields: Mapping[str, Any], now: int, lease_seconds: int
) -> Change:
    """Take a message for sending: ``sending`` with a lease, one more attempt."""
    attempts = int((seen or {}).get("attempts") or 0) + 1
    item = message_item(
        message_id, state=SENDING, lease_until=now + lease_seconds, attempts=attempts, **fields
    )
    return Change(message_id, seen, item)


def finish(message_id: str, seen: Mapping[str, Any] | None, state: str, fields: Mapping[str, Any]) -> Change:
    """End a message that is not sent now (expired, blocked, suppressed, unknown after an interrupted send,
    failed to enqueue), keeping its attempt count."""
    attempts = (seen or {}).get("attempts")
    return Change(message_id, seen, message_item(message_id, state=state, attempts=attempts, **fields))


@dataclass(frozen=True, slots=True)
class Prefetched:
    suppressed: frozenset[str]
    halted: Mapping[tuple[str, str], dict[str, Any]]  # (scope, key) -> halt record, only live halts
    messages: Mapping[str, dict[str, Any]]  # message_id -> its version attributes, for those that exist


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# What the send path's prefetch reads of each item (the keys are always included).
_PREFETCHED = ("state", "attempts", "lease_until", "until", "reason", "code")


@cache
def _threads() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=8, thread_name_prefix="ddb")


def _in_parallel(call: Callable[[T], R], chunks: list[T]) -> list[R]:
    """A batch's independent DynamoDB calls (8 BatchWriteItem for 100 sends) overlap their round trips."""
    if len(chunks) <= 1:
        return [call(chunk) for chunk in chunks]
    return list(_threads().map(call, chunks))


def _backoff(attempt: int) -> None:
    time.sleep(min(0.05 * 2**attempt, 1.0))  # unprocessed keys or items mean throttling: back off


def batch_get(
    client: Any, table: str, keys: Iterable[Mapping[str, Any]], attributes: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Consistent BatchGetItem over any number of ``pk``/``sk`` keys (duplicates dropped): 100 a call, the
    calls in parallel, unprocessed keys retried with backoff. ``attributes`` limits what is read (the keys
    are always included). Returns the items found, as DynamoDB attribute values."""
    unique = list({(k["pk"]["S"], k["sk"]["S"]): k for k in keys}.values())
    extra: dict[str, Any] = {}
    if attributes:
        names = {f"#p{i}": name for i, name in enumerate(dict.fromkeys(["pk", "sk", *attributes]))}
        extra = {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}

    def get(chunk: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        request: dict[str, Any] | None = {table: {"Keys": chunk, "ConsistentRead": True, **extra}}
        items: list[dict[str, Any]] = []
        for attempt in itertools.count():
            answer = client.batch_get_item(RequestItems=request)
            items.extend(answer["Responses"].get(table, []))
            request = answer.get("UnprocessedKeys") or None
            if not request:
                break
            _backoff(attempt)
        return items

    return [item for items in _in_parallel(get, list(_chunks(unique, _BATCH_GET_MAX))) for item in items]


def batch_write(client: Any, table: str, items: Sequence[Mapping[str, Any]]) -> None:
    """Unconditional puts: 25 a BatchWriteItem, the calls in parallel, unprocessed items retried with
    backoff. Only for items the caller owns (a claimed message, its wamid link) or whose key decides their
    content (a status event: wamid + status + timestamp), so that a second put changes nothing."""

    def put(chunk: list[Mapping[str, Any]]) -> None:
        request: dict[str, Any] | None = {table: [{"PutRequest": {"Item": item}} for item in chunk]}
        for attempt in itertools.count():
            answer = client.batch_write_item(RequestItems=request)
            request = answer.get("UnprocessedItems") or None
            if not request:
                break
            _backoff(attempt)

    _in_parallel(put, list(_chunks(list(items), _BATCH_WRITE_MAX)))


class Ledger:
    """DynamoDB access for the send path, built on a low-level client (``boto3.client("dynamodb")``)."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    # -------------------------------------------------------------- reads amortized over a batch

    def prefetch(
        self,
        recipients: Iterable[str],
        halts: Iterable[tuple[str, str]],
        now: int,
        message_ids: Iterable[str] = (),
    ) -> Prefetched:
        """Which recipients opted out, which halt scopes are live and where each message stands: one
        consistent BatchGetItem per 100 keys, only the attributes these decisions read."""
        keys = (
            [suppression_key(r) for r in set(recipients)]
            + [halt_key(s, k) for s, k in set(halts)]
            + [message_key(m) for m in set(message_ids)]
        )
        suppressed, halted, messages = set(), {}, {}
        for item in batch_get(self.client, self.table, keys, _PREFETCHED):
            pk, until = item["pk"]["S"], int(item.get("until", {}).get("N", 0))
            if pk.startswith("MSG#"):
                messages[pk.removeprefix("MSG#")] = from_item(item)
            elif pk.startswith("SUPPRESS#"):
                if not until or until > now:  # no `until`: suppressed until the user resumes
                    suppressed.add(pk.removeprefix("SUPPRESS#"))
            elif until > now:
                _, scope, key = pk.split("#", 2)
                halted[(scope, key)] = from_item(item)
        return Prefetched(frozenset(suppressed), halted, messages)

    # -------------------------------------------------------------- conditional transitions, batched

    def apply(self, changes: Sequence[Change]) -> dict[str, dict[str, Any] | None]:
        """Write each change only if its message is still as the batch read it: one TransactWriteItems per
        100 changes (all-or-nothing, so a chunk whose condition failed somewhere is re-sent without the
        losers). Returns the changes that lost, by message id, with the message as it is now (None when
        DynamoDB did not say, e.g. still conflicting after a few rounds: the caller retries later)."""
        lost: dict[str, dict[str, Any] | None] = {}
        for pending in _chunks(list(changes), _TRANSACT_MAX):
            for _ in range(_TRANSACT_ROUNDS):
                if not pending:
                    break
                try:
                    self.client.transact_write_items(
                        TransactItems=[change.put(self.table) for change in pending],
                        ClientRequestToken=uuid.uuid4().hex,  # botocore's own retries are idempotent
                    )
                    pending = []
                except self.client.exceptions.TransactionCanceledException as exc:
                    reasons = exc.response.get("CancellationReasons") or []
                    if len(reasons) != len(pending):
                        raise
                    retry = []
                    for change, reason in zip(pending, reasons, strict=True):
                        code = reason.get("Code")
                        if code == "ConditionalCheckFailed":
                            lost[change.message_id] = from_item(reason["Item"]) if "Item" in reason else None
                        elif code in (None, "None", "TransactionConflict"):
                            retry.append(change)  # rolled back with the others, or raced: try again
                        else:
                            raise
                    pending = retry
            lost.update((change.message_id, None) for change in pending)
        return lost

    # -------------------------------------------------------------- writes amortized over a batch

    def write(self, items: list[dict[str, Any]]) -> None:
        """Put items we own (claimed messages, wamid links): :func:`batch_write`."""
        batch_write(self.client, self.table, items)

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
