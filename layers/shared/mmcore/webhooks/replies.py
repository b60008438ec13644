"""A customer's reply as stored: the campaign message it answers (its context's wamid link), the quick-reply
payload, and the item as Meta sent it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mmcore.webhooks.batch import Inbound
from mmcore.webhooks.wire import cap, raw_text

Links = Mapping[str, Mapping[str, str]]  # wamid -> {"message_id", "campaign_id"} of the message it belongs to


def link_of(item: Mapping[str, Any]) -> dict[str, str]:
    """The message and campaign a wamid link (plain values) names."""
    return {k: item[k] for k in ("message_id", "campaign_id") if isinstance(item.get(k), str)}


def reply_fields(m: Inbound, links: Links) -> dict[str, Any]:
    """What is stored of a reply, besides its key and retention."""
    raw, truncated = raw_text(m.message)
    link = links.get(m.context_id or "") or {}
    button = m.message.get("button") if isinstance(m.message.get("button"), dict) else {}
    phone_number_id = m.metadata.get("phone_number_id")
    return {
        "from": m.sender or None,  # omitted (or "") when Meta names the user by BSUID only [BSUID]
        **identity_fields(m.message, m.contact, ("from_user_id", "from_parent_user_id")),
        "type": m.type,
        "timestamp": m.timestamp,
        "context_id": m.context_id,
        "in_reply_to_message_id": link.get("message_id"),
        "campaign_id": link.get("campaign_id"),
        "button_payload": cap(button.get("payload")) if isinstance(button.get("payload"), str) else None,
        "phone_number_id": cap(str(phone_number_id), 64) if phone_number_id is not None else None,
        "waba_id": m.waba_id,
        "raw": raw,
        "raw_truncated": truncated or None,
    }


def identity_fields(item: Mapping[str, Any], contact: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The user's BSUIDs named by ``names`` on ``item``, and its contact's ``username`` and ``country_code``
    (the latter in webhooks before Feb 2026; since then the BSUID's prefix) [BSUID]."""
    profile = contact.get("profile") if isinstance(contact, dict) else None
    profile = profile if isinstance(profile, dict) else {}
    found = {n: item.get(n) for n in names}
    found.update((n, profile.get(n)) for n in ("username", "country_code"))
    return {n: cap(v, 160) for n, v in found.items() if isinstance(v, str) and v}
