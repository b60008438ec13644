"""Which identifiers a webhook says name one user (meta-2026-updates section 6, [BSUID]): the groups
:class:`mmcore.store.identities.Identities` links, so that an opt-out under one identifier suppresses the
others.

- ``messages``: each ``contacts[]{wa_id?, user_id, parent_user_id?}``; each status's ``recipient_id``,
  ``recipient_user_id`` and ``recipient_parent_user_id``; each message's ``from``, ``from_user_id`` and
  ``from_parent_user_id``; a ``system`` message ``user_changed_user_id`` (``from`` and its new ``user_id``).
- ``user_preferences``: each item's ``wa_id?``, ``user_id``, ``parent_user_id?``, and ``contacts[]``.
- ``user_id_update``: ``wa_id?``, ``user_id{previous, current}``, ``parent_user_id{previous, current}?``: the
  new ID is linked to the old one, so a suppression under either follows the user.

Pure: nothing here reads or writes. Empty strings (Meta's form before Feb 2026) name nobody.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mmcore.meta.bsuids import user_key

_CONTACT = ("wa_id", "user_id", "parent_user_id")
_STATUS = ("recipient_id", "recipient_user_id", "recipient_parent_user_id")
_MESSAGE = ("from", "from_user_id", "from_parent_user_id")


def links(field: str, value: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """The groups of identifiers (two or more each) that one change says name one user."""
    groups = [_group(c, _CONTACT) for c in _dicts(value.get("contacts"))]
    if field == "messages":
        groups += [_group(s, _STATUS) for s in _dicts(value.get("statuses"))]
        for m in _dicts(value.get("messages")):
            system = m.get("system") if isinstance(m.get("system"), dict) else {}
            groups.append(_group(m, _MESSAGE) + _group(system, ("user_id",)))
    elif field == "user_preferences":
        groups += [_group(p, _CONTACT) for p in _dicts(value.get("user_preferences"))]
    elif field == "user_id_update":
        for u in _dicts(value.get("user_id_update")):
            groups.append(_group(u, ("wa_id",)) + _both(u.get("user_id")) + _both(u.get("parent_user_id")))
    return [g for g in (tuple(dict.fromkeys(g)) for g in groups) if len(g) > 1]


def _dicts(items: Any) -> Iterable[Mapping[str, Any]]:
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _group(item: Mapping[str, Any], names: tuple[str, ...]) -> tuple[str, ...]:
    found = (user_key(v) if isinstance(v, str) else None for v in (item.get(n) for n in names))
    return tuple(u for u in found if u)


def _both(pair: Any) -> tuple[str, ...]:
    return _group(pair, ("previous", "current")) if isinstance(pair, dict) else ()
