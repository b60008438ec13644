"""The message ledger: where each message stands for the sender, in the single table.

Its items (keys in :mod:`mmcore.store.keys`): a message (``state`` is the sender's view: queued, sending,
retry, accepted, failed, unknown, expired, blocked, suppressed, invalid, cancelled; ``status`` is what a report shows:
the delivery status from webhooks once there is one, else the state) and the wamid -> message link the
webhook reads consistently; the prefetch also reads the halts (:mod:`mmcore.store.halts`). On message items
the webhook sets ``status``, ``status_rank``, ``state_version``, ``gsi2sk``, ``pricing_category``, ``path``
and ``error``, never ``state`` (:mod:`mmcore.store.statuses`).

Exactly once: a message is *claimed* before its POST, by a Put conditioned on its version (``state``,
``attempts``, ``lease_until``) being what the batch read; a batch's claims go in one TransactWriteItems
(:meth:`Ledger.apply`), a chunk at a time right before their POSTs; a claim whose POST never started is
released back to ``queued`` (:func:`release`). Only ``queued`` and ``retry`` messages are claimed; a ``sending`` message whose lease
ran out was interrupted between POST and record, so it becomes ``unknown`` (Meta has no idempotency key)
unless the caller asks to re-send such messages.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mmcore.meta.errors import Scope
from mmcore.store import halts, keys
from mmcore.store.calls import batch_get, batch_write, chunks
from mmcore.store.codec import from_item, to_item


class State(StrEnum):
    """Where a message stands for the sender (the ``state`` attribute of its item)."""

    QUEUED = "queued"
    SENDING = "sending"  # claimed, with a lease: its POST is in flight
    RETRY = "retry"
    ACCEPTED = "accepted"
    FAILED = "failed"
    UNKNOWN = "unknown"  # Meta may or may not have it
    EXPIRED = "expired"
    BLOCKED = "blocked"
    SUPPRESSED = "suppressed"
    INVALID = "invalid"
    CANCELLED = "cancelled"  # its campaign was cancelled before it was sent: never POSTed


FINAL = frozenset(
    {
        State.ACCEPTED,
        State.FAILED,
        State.UNKNOWN,
        State.EXPIRED,
        State.BLOCKED,
        State.SUPPRESSED,
        State.INVALID,
        State.CANCELLED,
    }
)

RETENTION_SECONDS = 90 * 24 * 3600  # items expire (DynamoDB TTL) 90 days after their last write
_TRANSACT_MAX, _TRANSACT_ROUNDS = 100, 3
# What a conditional transition compares: every claim adds an attempt, every other write changes the state.
_VERSION = ("state", "attempts", "lease_until")


def message_item(message_id: str, status: str | None = None, **fields: Any) -> dict[str, Any]:
    """A full message item: key, indexes and retention derived from the fields."""
    now = int(time.time())
    state = fields.get("state", State.QUEUED)
    status = status or state
    values = {
        **keys.plain(keys.message(message_id)),
        "message_id": message_id,
        "status": status,
        "updated_at": now,
        "expires_at": now + RETENTION_SECONDS,
        **keys.campaign_messages(fields.get("campaign_id"), status, message_id),
        **fields,
    }
    if state == State.UNKNOWN and not fields.get(
        "wamid"
    ):  # listed for the resolver (mmcore.sending.resolve) until it is resolved
        values.update(keys.unknown_message(message_id, now))
    return to_item(values)


def wamid_link_item(wamid: str, message_id: str, campaign_id: str | None) -> dict[str, Any]:
    """The wamid -> message link the webhook reads (consistently) to find a status's message."""
    now = int(time.time())
    return to_item(
        {
            **keys.plain(keys.wamid_link(wamid)),
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
        message_id, state=State.SENDING, lease_until=now + lease_seconds, attempts=attempts, **fields
    )
    return Change(message_id, seen, item)


def release(claimed: Change, fields: Mapping[str, Any]) -> Change:
    """Give back a claim whose POST never started (no time, no token, a failure or a cancellation before it):
    ``queued`` again with its attempt undone, written only if the message is still as claimed."""
    seen = from_item(claimed.item)
    attempts = int(seen.get("attempts") or 1) - 1
    item = message_item(claimed.message_id, state=State.QUEUED, attempts=attempts or None, **fields)
    return Change(claimed.message_id, seen, item)


def finish(
    message_id: str, seen: Mapping[str, Any] | None, state: State, fields: Mapping[str, Any]
) -> Change:
    """End a message that is not sent now (expired, blocked, suppressed, unknown after an interrupted send,
    failed to enqueue), keeping its attempt count."""
    attempts = (seen or {}).get("attempts")
    return Change(message_id, seen, message_item(message_id, state=state, attempts=attempts, **fields))


@dataclass(frozen=True, slots=True)
class Prefetched:
    """What a batch's decisions read, in one pass: :meth:`Ledger.prefetch`."""

    suppressed: frozenset[str]
    halted: Mapping[tuple[Scope, str], halts.Halt]  # (scope, key) -> the halt, only live halts
    messages: Mapping[str, dict[str, Any]]  # message_id -> its version attributes, for those that exist
    # template item pk -> what routing reads of it (mmcore.store.templates.ROUTING), for those that exist
    templates: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    # campaign id -> its status (mmcore.store.campaigns.CampaignStatus), for those that exist
    campaigns: Mapping[str, str] = field(default_factory=dict)


# What the send path's prefetch reads of each item (the keys are always included): a message's version and
# re-route, a halt's, a template's routing facts, a campaign's status.
_PREFETCHED = (
    "state",
    "status",
    "attempts",
    "lease_until",
    "until",
    "reason",
    "code",
    "reroute",
    "category",
    "category_at",
    "optimization_spec",
)


class Ledger:
    """DynamoDB access for the send path, built on a low-level client (``boto3.client("dynamodb")``)."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    # -------------------------------------------------------------- reads amortized over a batch

    def prefetch(
        self,
        recipients: Iterable[str],
        scopes: Iterable[tuple[Scope, str]],
        now: int,
        message_ids: Iterable[str] = (),
        templates: Iterable[keys.Key] = (),
        campaigns: Iterable[str] = (),
    ) -> Prefetched:
        """Which recipients opted out, which halt scopes are live, where each message stands, what the
        ``templates`` items (their keys: :func:`mmcore.store.templates.routing_keys`) say of their category
        and each of the ``campaigns``' status (one key per distinct campaign: a pause or a cancel takes effect
        within one batch): one consistent BatchGetItem per 100 keys, only the attributes these decisions read. A recipient is
        suppressed when it, or another identifier of the same user (its phone number, BSUID, parent or past
        BSUID: :mod:`mmcore.store.identities`), is: a second read covers those the first one found linked."""
        users, templates = set(recipients), list(templates)
        wanted = (
            [keys.suppression(r) for r in users]
            + [keys.identity(r) for r in users]
            + [keys.halt(s, k) for s, k in set(scopes)]
            + [keys.message(m) for m in set(message_ids)]
            + list(templates)
            + [keys.campaign(c) for c in set(campaigns)]
        )
        template_pks = {k["pk"]["S"] for k in templates}
        stopped, halted, messages, linked, known, states = set(), {}, {}, {}, {}, {}
        for item in batch_get(self.client, self.table, wanted, (*_PREFETCHED, "ids")):
            pk, until = item["pk"]["S"], int(item.get("until", {}).get("N", 0))
            if pk in template_pks:
                known[pk] = from_item(item)
            elif pk.startswith(keys.CAMPAIGN_PREFIX):
                states[keys.after(pk, keys.CAMPAIGN_PREFIX)] = item.get("status", {}).get("S", "")
            elif pk.startswith(keys.MESSAGE_PREFIX):
                messages[keys.after(pk, keys.MESSAGE_PREFIX)] = from_item(item)
            elif pk.startswith(keys.IDENTITY_PREFIX):
                linked[keys.after(pk, keys.IDENTITY_PREFIX)] = set(item.get("ids", {}).get("SS", ()))
            elif pk.startswith(keys.SUPPRESS_PREFIX):
                if not until or until > now:  # no `until`: suppressed until the user resumes
                    stopped.add(keys.after(pk, keys.SUPPRESS_PREFIX))
            elif until > now:
                halt = halts.from_fields(pk, from_item(item))
                halted[halt.scope, halt.key] = halt
        others = {u for ids in linked.values() for u in ids} - users
        for item in batch_get(self.client, self.table, [keys.suppression(u) for u in others], ("until",)):
            until = int(item.get("until", {}).get("N", 0))
            if not until or until > now:
                stopped.add(keys.after(item["pk"]["S"], keys.SUPPRESS_PREFIX))
        suppressed = {u for u in users if u in stopped or linked.get(u, set()) & stopped}
        return Prefetched(frozenset(suppressed), halted, messages, known, states)

    # -------------------------------------------------------------- conditional transitions, batched

    def apply(self, changes: Sequence[Change]) -> dict[str, dict[str, Any] | None]:
        """Write each change only if its message is still as the batch read it: one TransactWriteItems per
        100 changes (all-or-nothing, so a chunk whose condition failed somewhere is re-sent without the
        losers). Returns the changes that lost, by message id, with the message as it is now (None when
        DynamoDB did not say, e.g. still conflicting after a few rounds: the caller retries later)."""
        lost: dict[str, dict[str, Any] | None] = {}
        for pending in chunks(list(changes), _TRANSACT_MAX):
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

    def write(self, items: list[dict[str, Any]], deadline: float | None = None) -> list[Mapping[str, Any]]:
        """Put items we own (claimed messages, wamid links): :func:`batch_write`, throttling retried until
        ``deadline`` (a ``time.monotonic`` time; None: a few rounds). Returns the items not written."""
        return batch_write(self.client, self.table, items, deadline)

    def halt(self, scope: Scope, key: str, until: int, code: int | None, reason: str) -> None:
        """Stop sending for a scope until ``until``: the first send after it probes whether it healed."""
        halts.put(self.client, self.table, halts.Halt(Scope(scope), key, until, code, reason))

    # -------------------------------------------------------------- reads for reports

    def get_message(self, message_id: str) -> dict[str, Any] | None:
        """A message as it stands (consistent read), None if there is none."""
        item = self.client.get_item(TableName=self.table, Key=keys.message(message_id), ConsistentRead=True)
        return from_item(item["Item"]) if "Item" in item else None
