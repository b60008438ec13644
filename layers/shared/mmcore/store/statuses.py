"""How a message's delivery status advances: precedence, the per-wamid state, and its mirror on the message.

Both sides call these functions: the webhook (a status arrived) and the sender (it just recorded the wamids
Meta accepted, see :func:`reconcile`). Items (``pk`` / ``sk``), next to the sender's ``WAMID#<wamid>`` / ``LINK``:

- ``WAMID#<wamid>`` / ``EVT#<timestamp>#<status>``: one status event as Meta sent it (``raw``), stored once.
- ``WAMID#<wamid>`` / ``STATE``: the current delivery state of one wamid (``status``, ``status_rank``,
  ``status_at``, ``pricing`` as Meta sent it, ``path``, ``errors``, ``version``), written only forward, so
  events may arrive late, twice, out of order or before the sender's record: the webhook reads it, merges
  its events (:func:`merge`) and puts the result on condition that the ``version`` it read is still there
  (:func:`advance`); :func:`record` does the same with conditional UpdateItems, needing no read.
- ``MSG#<message_id>`` / ``MSG``: the webhook sets ``status``, ``status_rank``, ``gsi2sk`` (listings find a
  campaign's messages by status through gsi2), ``pricing_category``, ``path`` and ``error``; the sender's
  ``state`` is never touched.

Precedence (Meta: "Conflicting message delivery status", webhooks/reference/messages/status):
``sent`` 1 < ``failed`` 2 < ``delivered`` 3 < ``read`` 4. ``read`` may come without ``delivered`` (implied);
``delivered`` after ``failed`` wins (multi-device: at least one device got it) while the failure's errors stay
on the state. Within one rank the later event timestamp wins, so the final state, timestamps included, is
the same for every arrival order. Pricing comes from the highest-ranked event that carried it (Meta sends it
with ``sent`` and one of ``delivered``/``read``). Statuses outside the table (``played``, ``deleted``...)
are stored as events and never change the state.

Campaign counters follow the message items through the table's stream (:mod:`mmcore.campaigns.aggregator`):
a duplicate or stale event writes nothing new on the message, so it adds nothing to them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mmcore.store import keys
from mmcore.store.calls import batch_get
from mmcore.store.codec import from_item, to_item
from mmcore.store.messages import RETENTION_SECONDS
from mmcore.store.status_events import PATHS, RANK, DeliveryStatus, StatusEvent, path_for

# What a status is lives in status_events; these names are part of this module's interface too.
__all__ = [
    "PATHS",
    "RANK",
    "DeliveryStatus",
    "Recorded",
    "StatusEvent",
    "advance",
    "apply_to_message",
    "merge",
    "path_for",
    "reconcile",
    "record",
    "record_all",
]

_PUT_ATTEMPTS = 4  # optimistic state writes before falling back to the UpdateItems


# ---------------------------------------------------------------- the per-wamid state


@dataclass(slots=True)
class _Update:
    sets: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def set(self, attribute: str, value: Any) -> None:
        if value is None:
            return
        n = len(self.names)
        self.names[f"#a{n}"] = attribute
        self.values[f":a{n}"] = value
        self.sets.append(f"#a{n} = :a{n}")

    def expression(self, *, bump_version: bool = True) -> str:
        return "SET " + ", ".join(self.sets) + (" ADD #version :one" if bump_version else "")


@dataclass(frozen=True, slots=True)
class Recorded:
    """What :func:`record` did: the newest ``STATE`` snapshot it saw (None for a status outside ``RANK``)
    and whether it changed the state."""

    state: dict[str, Any] | None
    changed: bool


_FORWARD = "(attribute_not_exists(status_order) OR status_order < :order)"
_PRICING_NEWER = "(attribute_not_exists(pricing_order) OR pricing_order < :pricing)"
_ERRORS_NEWER = "(attribute_not_exists(errors_order) OR errors_order < :errors)"


def record(client: Any, table: str, event: StatusEvent, now: int | None = None) -> Recorded:
    """Apply one status event to its wamid's ``STATE`` item.

    One conditional UpdateItem moves the state forward (higher rank, or the same rank with a later
    timestamp). When the event is older than the state, what it alone carries is still kept, each part
    guarded by its own order: its pricing if no higher-ranked event brought one, and a failure's errors.
    Every change bumps ``version``, which orders the snapshots mirrored onto the message. Safe to repeat.
    """
    if event.rank == 0:
        return Recorded(None, False)
    now = int(time.time()) if now is None else now
    update = _forward(event, now)
    _set_pricing(update, event)
    _set_errors(update, event)
    state, won = _update_state(client, table, event.wamid, update, _FORWARD, {":order": event.order})
    if won:
        return Recorded(state, True)
    changed = False
    for wanted, order_attribute, setter, guard, placeholder in (
        (bool(event.pricing()), "pricing_order", _set_pricing, _PRICING_NEWER, ":pricing"),
        (bool(event.errors), "errors_order", _set_errors, _ERRORS_NEWER, ":errors"),
    ):
        if not wanted or state.get(order_attribute, -1) >= event.order:
            continue
        update = _Update()
        setter(update, event)
        found, won = _update_state(
            client,
            table,
            event.wamid,
            update,
            f"attribute_exists(pk) AND {guard}",
            {placeholder: event.order},
        )
        changed |= won
        if found.get("version", 0) >= state.get("version", 0):
            state = found
    return Recorded(state or None, changed)


def record_all(client: Any, table: str, events: Sequence[StatusEvent], now: int | None = None) -> Recorded:
    """Several events of one wamid (a batch, a backlog): one UpdateItem that applies them all when they
    are all newer than the state, which is the usual case; else :func:`record` for each, lowest first."""
    ranked = sorted((e for e in events if e.rank), key=lambda e: e.order)
    if len(ranked) <= 1:
        return record(client, table, ranked[0], now) if ranked else Recorded(None, False)
    now = int(time.time()) if now is None else now
    top = ranked[-1]
    priced = next((e for e in reversed(ranked) if e.pricing()), None)
    failed = next((e for e in reversed(ranked) if e.errors), None)
    update = _forward(top, now)
    condition, values = [_FORWARD], {":order": top.order}
    if priced is not None:
        _set_pricing(update, priced)
        condition.append(_PRICING_NEWER)
        values[":pricing"] = priced.order
    if failed is not None:
        _set_errors(update, failed)
        condition.append(_ERRORS_NEWER)
        values[":errors"] = failed.order
    state, won = _update_state(client, table, top.wamid, update, " AND ".join(condition), values)
    if won:
        return Recorded(state, True)
    changed = False
    for event in ranked:
        recorded = record(client, table, event, now)
        changed |= recorded.changed
        if recorded.state and recorded.state.get("version", 0) >= state.get("version", 0):
            state = recorded.state
    return Recorded(state or None, changed)


def merge(state: Mapping[str, Any] | None, events: Sequence[StatusEvent], now: int) -> dict[str, Any] | None:
    """The ``STATE`` item (plain values) after ``events`` on ``state`` (None: no item yet), or None when they
    change nothing. The same rules as :func:`record` and :func:`record_all`, computed in one place: each part
    comes from the highest-ordered event that carries it (the status from any ranked event, the pricing from
    one that has pricing, the errors from a failure) and replaces the state's only when that event is newer
    than the one it came from. Every change bumps ``version``; ``expires_at`` moves with the status."""
    ranked = [e for e in events if e.rank]
    if not ranked:
        return None
    old = state or {}
    new = dict(old)
    top = max(ranked, key=_order_of)
    if top.order > old.get("status_order", -1):
        new.update(
            status=top.status,
            status_rank=top.rank,
            status_order=top.order,
            status_at=top.timestamp,
            expires_at=now + RETENTION_SECONDS,
        )
    priced = max((e for e in ranked if e.pricing()), key=_order_of, default=None)
    if priced is not None and priced.order > old.get("pricing_order", -1):
        new.update(pricing=priced.pricing_map(), path=priced.path, pricing_order=priced.order)
    failed = max((e for e in ranked if e.errors), key=_order_of, default=None)
    if failed is not None and failed.order > old.get("errors_order", -1):
        new.update(errors=list(failed.errors), errors_order=failed.order)
    if new == old:
        return None
    new["version"] = int(old.get("version", 0)) + 1
    return new


def advance(
    client: Any,
    table: str,
    events: Sequence[StatusEvent],
    found: Mapping[str, Any] | None,
    now: int | None = None,
) -> Recorded:
    """Apply several events of one wamid whose ``STATE`` was just read in full (``found``, None: no item).

    One conditional PutItem of the :func:`merge` result, guarded by what was read: no item yet, or the same
    ``version`` (every writer of the state bumps it). Nothing is written when the events change nothing (a
    duplicate, a stale event). A concurrent writer makes the put fail with the item as it is now: merged again
    on that (a few times), then the lock-free UpdateItems of :func:`record_all`. A PutItem is several times
    cheaper than the UpdateItem expressions (for DynamoDB's request size and for moto's parser alike), and
    the state ends the same: the merge is order-independent."""
    if not any(e.rank for e in events):
        return Recorded(None, False)
    now = int(time.time()) if now is None else now
    state = dict(found) if found else None
    wamid = events[0].wamid
    for _attempt in range(_PUT_ATTEMPTS):
        new = merge(state, events, now)
        if new is None:
            return Recorded(state, False)
        if state is None:
            guard: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        elif isinstance(state.get("version"), int):
            guard = {
                "ConditionExpression": "#version = :version",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": to_item({":version": state["version"]}),
            }
        else:  # not an item this module wrote: leave it to the UpdateItems
            break
        try:
            client.put_item(
                TableName=table,
                Item={**to_item(new), **keys.wamid_state(wamid)},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **guard,
            )
        except client.exceptions.ConditionalCheckFailedException as exc:
            state = from_item(exc.response.get("Item") or {}) or None
            continue
        return Recorded({**new, **from_item(keys.wamid_state(wamid))}, True)
    return record_all(client, table, events, now)


def _order_of(event: StatusEvent) -> int:
    return event.order


def _forward(event: StatusEvent, now: int) -> _Update:
    update = _Update()
    for attribute, value in (
        ("status", event.status),
        ("status_rank", event.rank),
        ("status_order", event.order),
        ("status_at", event.timestamp),
        ("expires_at", now + RETENTION_SECONDS),
    ):
        update.set(attribute, value)
    return update


def _set_pricing(update: _Update, event: StatusEvent) -> None:
    pricing = event.pricing()
    if pricing:
        update.set("pricing", event.pricing_map())
        update.set("path", pricing["path"])
        update.set("pricing_order", event.order)


def _set_errors(update: _Update, event: StatusEvent) -> None:
    if event.errors:
        update.set("errors", list(event.errors))
        update.set("errors_order", event.order)


def _update_state(
    client: Any, table: str, wamid: str, update: _Update, condition: str, values: dict[str, int]
) -> tuple[dict[str, Any], bool]:
    """(the item after the update, True) or (the item as found, False) when the condition failed."""
    try:
        answer = client.update_item(
            TableName=table,
            Key=keys.wamid_state(wamid),
            UpdateExpression=update.expression(),
            ConditionExpression=condition,
            ExpressionAttributeNames={**update.names, "#version": "version"},
            ExpressionAttributeValues=to_item({**update.values, **values, ":one": 1}),
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except client.exceptions.ConditionalCheckFailedException as exc:
        return from_item(exc.response.get("Item") or {}), False
    return from_item(answer["Attributes"]), True


# ---------------------------------------------------------------- the mirror on the message


# What a mirror reads (status_at: the report's over-time series)
_MIRRORED = ("status", "status_rank", "status_at", "version", "pricing", "path", "errors")


def apply_to_message(client: Any, table: str, message_id: str, state: Mapping[str, Any]) -> bool:
    """Mirror a ``STATE`` snapshot onto ``MSG#<message_id>``; False when the message already has it (or a
    newer one) or does not exist. Never creates a message and never touches the sender's ``state``.

    The guard is the state's ``version``: snapshots only move forward, so a stale one (a concurrent webhook,
    a reconcile racing the webhook) is refused. A sender rewrite of the item drops ``state_version``, which
    lets the next snapshot in.
    """
    if "status" not in state or "version" not in state:  # not a snapshot :func:`record` returned
        return False
    status = state["status"]
    update = _Update()
    update.set("status", status)
    update.set("status_rank", int(state["status_rank"]))
    update.set("state_version", int(state["version"]))
    update.set("gsi2sk", keys.campaign_status(status, message_id)["gsi2sk"])
    update.set("status_at", state.get("status_at"))  # the report's over-time series
    pricing = state.get("pricing") or {}
    update.set("pricing_category", pricing.get("category") or pricing.get("origin_type"))
    if pricing.get(
        "cost"
    ):  # kept when a later pricing comes without one: the message's cost, not the event's
        update.set("cost", dict(pricing["cost"]))
    if pricing.get("type"):
        update.set("pricing_type", pricing["type"])
    update.set("path", state.get("path"))
    errors = state.get("errors") or []
    failed = status == DeliveryStatus.FAILED and errors
    if failed:
        update.set("error", dict(errors[0]))
    expression = update.expression(bump_version=False)
    names = dict(update.names)
    if errors and not failed:  # only a state with errors can have put one on the message
        names["#error"] = "error"
        expression += " REMOVE #error"
    try:
        client.update_item(
            TableName=table,
            Key=keys.message(message_id),
            UpdateExpression=expression,
            ConditionExpression="attribute_exists(pk) AND "
            "(attribute_not_exists(state_version) OR state_version < :version)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_item({**update.values, ":version": int(state["version"])}),
        )
    except client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def reconcile(client: Any, table: str, accepted: Sequence[tuple[str, str]]) -> int:
    """For wamids the sender just recorded (``(wamid, message_id)`` pairs): apply the statuses that arrived
    before the record. One consistent BatchGetItem per 100 wamids; for those that have a state, one per 100
    messages (a webhook that read the new link may have mirrored the state already: nothing to write), then
    one conditional update per message still behind its state. Returns how many messages changed. Call it
    after the ``LINK`` and ``MSG`` writes."""
    by_wamid = {wamid: message_id for wamid, message_id in accepted if wamid}
    if not by_wamid:
        return 0
    wanted = [keys.wamid_state(w) for w in by_wamid]
    states = {
        by_wamid[keys.after(item["pk"]["S"], keys.WAMID_PREFIX)]: from_item(item)
        for item in batch_get(client, table, wanted, _MIRRORED)
    }
    if not states:
        return 0
    mirrored = {
        keys.after(item["pk"]["S"], keys.MESSAGE_PREFIX): from_item(item).get("state_version", -1)
        for item in batch_get(client, table, [keys.message(m) for m in states], ("state_version",))
    }
    applied = 0
    for message_id, state in states.items():
        version = state.get("version")
        # Not a snapshot, no message, or one already at this version: the update would be refused.
        if not isinstance(version, int) or mirrored.get(message_id, version) >= version:
            continue
        if apply_to_message(client, table, message_id, state):
            applied += 1
    return applied
