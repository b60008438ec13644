"""A message's delivery state, kept on its own item (``MSG#<message_id>`` / ``MSG``).

Once the sender recorded a wamid on its message (``state`` accepted, ``wamid`` set), the webhook advances
that message item directly: one conditional UpdateItem per status, no ``STATE`` item and no event item
(issue 15: 3 -> 1 write unit per status). The ``WAMID#<wamid>`` / ``STATE`` item of :mod:`mmcore.store.statuses`
is written only for statuses that arrive before the sender's record; it is then joined onto the message by
whoever comes second (the webhook, or the sender's :func:`mmcore.store.statuses.reconcile`).

Every write is a *join* of two states, part by part (the status, the pricing, a failure's errors, each taken
from the highest-ordered event that carries it; the history as a union): commutative, associative and
idempotent, so the message ends the same for any order of webhooks, STATE snapshots and retries. A write is
conditioned on the ``state_version`` it read (compare-and-swap); a write that would change nothing is not
made. The sender's ``state`` is never touched.

On the message item (names as on the ``STATE`` item, so one merge serves both): ``status``, ``status_rank``,
``status_order``, ``status_at``, ``pricing`` (Meta's object), ``path``, ``pricing_order``, ``errors``,
``errors_order``, ``user`` (the recipient's BSUIDs, username, country code), ``user_order``, ``history``
(``<timestamp>#<status>`` per status event seen), ``state_version``; derived for reports and listings:
``pricing_category``, ``pricing_type``, ``cost`` (kept when a later pricing has none), ``error`` (the first
error while ``failed``), ``gsi2sk``. A message item written before issue 15 has the
derived attributes but no orders: its first join takes the incoming parts whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mmcore.store import keys
from mmcore.store.calls import batch_get
from mmcore.store.codec import from_item, to_item

# The delivery state as the STATE item and the message item both carry it (``version`` is the STATE's own
# counter; on a message it is ``state_version``).
PARTS = {
    "status": ("status", "status_rank", "status_order", "status_at"),
    "pricing": ("pricing", "path", "pricing_order"),
    "errors": ("errors", "errors_order"),
    "user": ("user", "user_order"),
}
_ORDERS = {
    "status": "status_order",
    "pricing": "pricing_order",
    "errors": "errors_order",
    "user": "user_order",
}
ON_MESSAGE = (*(name for names in PARTS.values() for name in names), "history")
# What a join reads of a message item: the state, its version, and the wamid it must carry.
READ = (*ON_MESSAGE, "state_version", "wamid", "cost")
_CAS_ATTEMPTS = 8


def join(state: Mapping[str, Any] | None, other: Mapping[str, Any]) -> dict[str, Any] | None:
    """``state`` with each part of ``other`` that is newer (by its order) and ``other``'s history added; None
    when that changes nothing. ``version`` is bumped on a change."""
    old = dict(state or {})
    new = dict(old)
    for part, order in _ORDERS.items():
        if other.get(order, -1) > old.get(order, -1):
            new.update({name: other[name] for name in PARTS[part] if other.get(name) is not None})
    history = sorted(set(old.get("history") or ()) | set(other.get("history") or ()))
    if history:
        new["history"] = history
    if new == old:
        return None
    new["version"] = int(old.get("version") or 0) + 1
    return new


def of_message(item: Mapping[str, Any]) -> dict[str, Any]:
    """The delivery state a message item carries (plain values): ``status`` only once a status set its
    order (before, it is the sender's), ``version`` from ``state_version``."""
    state = {name: item[name] for name in ON_MESSAGE if item.get(name) is not None}
    if "status_order" not in state:
        state.pop("status", None)
        state.pop("status_rank", None)
    if item.get("state_version") is not None:
        state["version"] = int(item["state_version"])
    return state


def write(
    client: Any, table: str, message_id: str, item: Mapping[str, Any], other: Mapping[str, Any]
) -> bool | None:
    """Join ``other`` (a state, e.g. :func:`mmcore.store.statuses.merge`'s of some events, or a STATE
    snapshot) onto the message ``item`` (as read: at least :data:`READ`). True: written; False: it changed
    nothing; None: the message is not there. Compare-and-swap on ``state_version``: a concurrent writer's
    item is joined again, a few times (then the error is raised: the webhook answers 5xx, Meta retries)."""
    current: Mapping[str, Any] | None = item
    for _attempt in range(_CAS_ATTEMPTS):
        if current is None:
            return None
        seen = of_message(current)
        new = join(seen, other)
        if new is None:
            return False
        try:
            _update(client, table, message_id, current, seen, new)
        except client.exceptions.ConditionalCheckFailedException as exc:
            found = exc.response.get("Item")
            current = from_item(found) if found else None
            continue
        return True
    raise RuntimeError(f"message {message_id}: its delivery state kept changing under {_CAS_ATTEMPTS} writes")


def read(client: Any, table: str, message_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The messages (what a join reads of them), by id: one consistent BatchGetItem per 100."""
    wanted = [keys.message(m) for m in dict.fromkeys(message_ids)]
    return {
        keys.after(item["pk"]["S"], keys.MESSAGE_PREFIX): from_item(item)
        for item in batch_get(client, table, wanted, READ)
    }


def mirror(client: Any, table: str, snapshots: Sequence[tuple[str, Mapping[str, Any]]]) -> list[bool]:
    """Join STATE snapshots onto their messages (``(message_id, snapshot)`` pairs): one read for all, then a
    write for each message the join changes. Per pair: whether it wrote."""
    found = read(client, table, (m for m, _ in snapshots))
    return [bool(write(client, table, m, found[m], s)) if m in found else False for m, s in snapshots]


def _update(
    client: Any,
    table: str,
    message_id: str,
    current: Mapping[str, Any],
    seen: Mapping[str, Any],
    new: Mapping[str, Any],
) -> None:
    sets: dict[str, Any] = {
        name: new[name]
        for name in ON_MESSAGE
        if new.get(name) is not None and new.get(name) != seen.get(name)
    }
    sets["state_version"] = new["version"]
    removes = []
    if new.get("status") != seen.get("status") or new.get("errors") != seen.get("errors"):
        sets.update(_derived_status(new, message_id))
        if new.get("errors") and new.get("status") != "failed":
            removes.append("error")  # delivered after failed: the failure's errors stay on the state only
    if "pricing" in sets:
        pricing = new["pricing"]
        sets["pricing_category"] = pricing.get("category") or pricing.get("origin_type")
        sets["pricing_type"] = pricing.get("type")
        sets["cost"] = pricing.get("cost") or current.get("cost")  # a message's cost, not the event's
    sets = {name: value for name, value in sets.items() if value is not None}
    names = {f"#a{i}": name for i, name in enumerate([*sets, *removes])}
    by_name = {name: alias for alias, name in names.items()}
    expression = "SET " + ", ".join(f"{by_name[name]} = :{by_name[name][1:]}" for name in sets)
    if removes:
        expression += " REMOVE " + ", ".join(by_name[name] for name in removes)
    values = {f":{by_name[name][1:]}": value for name, value in sets.items()}
    if "version" in seen:
        condition, values[":seen"] = "state_version = :seen", seen["version"]
    else:
        condition = "attribute_not_exists(state_version)"
    client.update_item(
        TableName=table,
        Key=keys.message(message_id),
        UpdateExpression=expression,
        ConditionExpression=f"attribute_exists(pk) AND {condition}",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=to_item(values),
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )


def _derived_status(state: Mapping[str, Any], message_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    status = state.get("status")
    if status:
        out["gsi2sk"] = keys.campaign_status(status, message_id)["gsi2sk"]
        errors = state.get("errors") or []
        if status == "failed" and errors:
            out["error"] = dict(errors[0])
    return out
