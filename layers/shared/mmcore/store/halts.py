"""Halts: sending stopped for one scope until a time, written by the sender (a HALT error code) and by the
webhook (a paused or disabled template), read by the sender's prefetch (:meth:`Ledger.prefetch`).

A halt is keyed by its :class:`~mmcore.meta.errors.Scope` and a key within it, so one stack can hold several
WABAs and phone numbers: ``account`` by WABA id (:func:`account_halt_key`), ``phone_number`` by phone number
id, ``template`` by WABA, name and language (:func:`template_halt_key`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mmcore.meta.errors import Scope
from mmcore.store import keys
from mmcore.store.codec import to_item

ANY_WABA = "*"  # the account scope's key when the stack is not told its WABA id
_KEPT_SECONDS = 86400  # a halt item outlives its `until` by a day (DynamoDB TTL), for whoever looks at it


@dataclass(frozen=True, slots=True)
class Halt:
    """Sending stopped for ``scope``/``key`` until ``until`` (epoch seconds); the first send after it probes
    whether the cause healed."""

    scope: Scope
    key: str
    until: int
    code: int | None
    reason: str


def account_halt_key(waba_id: str) -> str:
    """The ``account`` scope's key: the WABA id."""
    return waba_id or ANY_WABA


def template_halt_key(waba_id: str, name: str, language: str) -> str:
    """The ``template`` scope's key, ``<waba_id>:<name>:<language>`` (template names are unique within a WABA),
    for the sender and the template webhooks alike."""
    return f"{account_halt_key(waba_id)}:{name}:{language}"


def halt_item(halt: Halt) -> dict[str, Any]:
    """The halt's item (attribute values)."""
    return to_item(
        {
            **keys.plain(keys.halt(halt.scope, halt.key)),
            "scope": halt.scope,
            "key": halt.key,
            "until": halt.until,
            "code": halt.code,
            "reason": halt.reason,
            "expires_at": halt.until + _KEPT_SECONDS,
        }
    )


def from_fields(pk: str, fields: dict[str, Any]) -> Halt:
    """A halt from its ``pk`` and its attributes in :func:`~mmcore.store.codec.from_item` form."""
    scope, key = keys.halt_scope(pk)
    return Halt(
        Scope(scope), key, int(fields.get("until") or 0), fields.get("code"), fields.get("reason") or ""
    )


def put(client: Any, table: str, halt: Halt) -> None:
    """Write (or extend) a halt."""
    client.put_item(TableName=table, Item=halt_item(halt))


def release(client: Any, table: str, scope: Scope, key: str) -> None:
    """Lift a halt before its time (e.g. a template approved again)."""
    client.delete_item(TableName=table, Key=keys.halt(scope, key))
