"""A signed body -> its events (:class:`Batch`).

It is JSON with ``entry[].changes[]``, else Malformed and nothing is written. Everything inside is tolerated:
an item that does not parse is kept raw (``Other("invalid")``) and logged; unknown fields, statuses and
categories are kept and logged; the valid events of the same POST are read.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import from_json

from mmcore.exceptions import Malformed
from mmcore.meta.bsuids import user_key
from mmcore.meta.errors import GraphError
from mmcore.observability import logger
from mmcore.store import status_events
from mmcore.store.status_events import StatusEvent
from mmcore.webhooks.batch import (
    AccountChange,
    Batch,
    Inbound,
    Other,
    Preference,
    TemplateChange,
    TemplateUpdate,
    UserAction,
)
from mmcore.webhooks.identities import links
from mmcore.webhooks.replies import identity_fields
from mmcore.webhooks.wire import (
    AccountUpdateWire,
    Change,
    ClickData,
    Entry,
    Envelope,
    InboundWire,
    Metadata,
    PreferenceWire,
    Pricing,
    StatusWire,
    TemplateCategoryWire,
    TemplateQualityWire,
    TemplateStatusWire,
    UserActionWire,
    cap,
    raw_text,
)

MM_TERMS_SIGNED = "MM_LITE_TERMS_SIGNED"
_M = TypeVar("_M", bound=BaseModel)
_ERRORS_MAX = 5


def parse(raw: bytes, now: int | None = None) -> Batch:
    """A signed body -> its events. Malformed when it is not JSON or not a webhook envelope;
    inside, an item that does not parse is kept as ``Other("invalid")`` and the rest is read."""
    now = int(time.time()) if now is None else now
    try:
        document = from_json(raw, allow_inf_nan=False)
    except ValueError as exc:
        raise Malformed(f"malformed JSON: {exc}", [("body", "not valid JSON")]) from None
    try:
        envelope = Envelope.model_validate(document)
    except ValidationError as exc:
        reason = _first_error(exc)
        raise Malformed("not a webhook envelope: " + reason, [("body", reason)]) from None
    if envelope.object != "whatsapp_business_account":
        logger.warning("unexpected webhook object", extra={"object": envelope.object})
    batch = Batch()
    for item in envelope.entry:
        if (entry := _model(batch, Entry, item, "entry", now)) is None:
            continue
        for change_item in entry.changes:
            if (change := _model(batch, Change, change_item, "change", now)) is None:
                continue
            _read_change(batch, entry, change, now)
    return batch


def _read_change(batch: Batch, entry: Entry, change: Change, now: int) -> None:
    at = entry.time or now
    value = change.value
    batch.links.extend(links(change.field, value))
    if change.field == "messages":
        _read_messages(batch, entry, value, at)
    elif change.field == "user_preferences":
        for item in _items(batch, value, "user_preferences", at):
            if (pref := _model(batch, PreferenceWire, item, "user_preferences", at)) is None:
                continue
            user = user_key(pref.wa_id) or user_key(pref.user_id)
            if user is None:
                batch.other.append(
                    Other("invalid", at, raw_text(item)[0], "user_preferences: user_id: no BSUID")
                )
                continue
            batch.preferences.append(
                Preference(user, pref.value, pref.category, pref.timestamp, pref.detail, raw_text(item)[0])
            )
    elif change.field in _TEMPLATE_FIELDS:
        _read_template(batch, entry, change.field, value, at)
    elif change.field == "account_update":
        if (account := _model(batch, AccountUpdateWire, value, change.field, at)) is None:
            return
        waba = account.waba_info.waba_id if account.waba_info else None
        waba = waba or entry.id
        if account.event == MM_TERMS_SIGNED and waba:
            owner = account.waba_info.owner_business_id if account.waba_info else None
            batch.accounts.append(AccountChange(waba, account.event, owner, at, raw_text(value)[0]))
        else:
            batch.other.append(Other(f"account_update.{account.event}", at, raw_text(value)[0]))
    else:
        logger.info("webhook field kept raw", extra={"field": change.field})
        batch.other.append(Other(change.field, at, raw_text(value)[0]))


_TEMPLATE_FIELDS = frozenset(
    {"message_template_status_update", "template_category_update", "message_template_quality_update"}
)


def _read_template(batch: Batch, entry: Entry, field: str, value: dict[str, Any], at: int) -> None:
    """A template's status, category or quality change. A quality change is told by its shape, not only its
    field: Meta's own example of it [MTQU] is posted under ``message_template_status_update``, with no event."""
    if field == "message_template_quality_update" or ("new_quality_score" in value and "event" not in value):
        model: type[TemplateStatusWire | TemplateCategoryWire | TemplateQualityWire] = TemplateQualityWire
    elif field == "template_category_update":
        model = TemplateCategoryWire
    else:
        model = TemplateStatusWire
    if (tpl := _model(batch, model, value, field, at)) is None:
        return
    raw = raw_text(value)[0]
    name, language, template_id = (
        tpl.message_template_name,
        tpl.message_template_language,
        tpl.message_template_id,
    )
    if isinstance(tpl, TemplateStatusWire):
        event = tpl.event.upper()
        batch.templates.append(
            TemplateChange(entry.id, name, language, event, tpl.reason, template_id, at, raw)
        )
        return
    if isinstance(tpl, TemplateQualityWire):
        event = "QUALITY_UPDATE"
        values = {
            "quality_score": tpl.new_quality_score,
            "previous_quality_score": tpl.previous_quality_score,
        }
    elif tpl.correct_category:  # impending: new_category is still the current one [TCU]
        event = "CATEGORY_IMPENDING"
        values = {
            "category": tpl.new_category,
            "pending_category": tpl.correct_category,
            "pending_category_at": tpl.category_update_timestamp,
        }
    else:
        event = "CATEGORY_UPDATE"
        values = {"category": tpl.new_category, "previous_category": tpl.previous_category}
    batch.templates.append(TemplateUpdate(entry.id, name, language, event, values, template_id, at, raw))


def _read_actions(
    batch: Batch, value: dict[str, Any], waba_id: str | None, phone_number_id: str | None, at: int
) -> None:
    """Clicks and landing page views [CLICK][LPV]. Their data sits in ``marketing_messages_link_click_data``;
    a view's container is read from that key or ``<action_type>_data`` (its name is UNCONFIRMED)."""
    for item in _items(batch, value, "user_actions", at):
        if (action := _model(batch, UserActionWire, item, "user_actions", at)) is None:
            continue
        data_item = item.get("marketing_messages_link_click_data") or item.get(f"{action.action_type}_data")
        data = ClickData.model_validate(
            data_item if isinstance(data_item, dict) else {}
        )  # every field lenient
        batch.actions.append(
            UserAction(
                waba_id,
                phone_number_id,
                action.action_type,
                action.timestamp,
                data.click_component,
                data.product_id,
                data.click_id,
                data.tracking_token,
                raw_text(item)[0],
            )
        )


_MESSAGES_KEYS = frozenset({"messaging_product", "metadata", "statuses", "messages", "contacts"})


def _read_messages(batch: Batch, entry: Entry, value: dict[str, Any], at: int) -> None:
    metadata = Metadata.model_validate(value["metadata"]) if isinstance(value.get("metadata"), dict) else None
    phone_number_id = metadata.phone_number_id if metadata else None
    listed = value.get("contacts")
    contacts = [c for c in listed if isinstance(c, dict)] if isinstance(listed, list) else []
    for item in _items(batch, value, "statuses", at):
        if (wire := _model(batch, StatusWire, item, "statuses", at)) is None:
            continue
        contact = _contact(contacts, wire.recipient_id, wire.recipient_user_id)
        batch.statuses.append(_status_event(wire, item, phone_number_id, entry.id, contact))
    for item in _items(batch, value, "messages", at):
        if (wire_message := _model(batch, InboundWire, item, "messages", at)) is None:
            continue
        contact = _contact(contacts, item.get("from"), item.get("from_user_id"), alone=True)
        batch.inbound.append(
            Inbound(
                wire_message.id,
                wire_message.sender,
                wire_message.type,
                wire_message.timestamp,
                wire_message.context.id if wire_message.context else None,
                item,
                contact,
                value["metadata"] if isinstance(value.get("metadata"), dict) else {},
                entry.id,
            )
        )
    _read_actions(batch, value, entry.id, phone_number_id, at)
    for item in _items(batch, value, "errors", at):  # system errors (e.g. 130429)
        logger.error("webhook system error", extra={"code": _code(item), "title": _title(item)})
        batch.other.append(Other("errors", at, raw_text(item)[0]))
    extra = {k: v for k, v in value.items() if k not in _MESSAGES_KEYS | {"errors", "user_actions"}}
    if extra:
        logger.info("unknown webhook keys kept raw", extra={"keys": sorted(extra)[:20]})
        batch.other.append(Other("messages.unknown", at, raw_text(extra)[0]))


def _items(batch: Batch, value: Mapping[str, Any], key: str, at: int) -> list[Any]:
    items = value.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        batch.other.append(Other("invalid", at, raw_text({key: items})[0], f"{key}: not a list"))
        return []
    return items


def _contact(
    contacts: list[dict[str, Any]], wa_id: Any, user_id: Any, *, alone: bool = False
) -> dict[str, Any] | None:
    """The ``contacts[]`` entry of the user a status or message names (by phone, else by BSUID); with
    ``alone``, a single entry stands for the sender when nothing names it."""
    for contact in contacts:
        if (
            (contact.get("wa_id") == wa_id)
            if wa_id
            else (bool(user_id) and contact.get("user_id") == user_id)
        ):
            return contact
    return contacts[0] if alone and len(contacts) == 1 else None


def _status_event(
    wire: StatusWire,
    item: Mapping[str, Any],
    phone_number_id: str | None,
    waba_id: str | None,
    contact: Mapping[str, Any] | None = None,
) -> StatusEvent:
    raw, truncated = raw_text(item)
    pricing = wire.pricing or Pricing()
    origin = wire.conversation.origin.type if wire.conversation and wire.conversation.origin else None
    status = wire.status.lower()
    if status not in status_events.RANK:
        logger.warning("unknown status kept", extra={"wamid": wire.id, "status": status})
    category = pricing.category
    if (category or origin) and status_events.path_for(
        category or origin
    ) not in status_events.PATHS.values():
        logger.info(
            "non-marketing pricing category", extra={"wamid": wire.id, "category": category or origin}
        )
    return StatusEvent(
        wamid=wire.id,
        status=status,
        timestamp=wire.timestamp,
        recipient_id=wire.recipient_id or "",
        recipient_user_id=wire.recipient_user_id,
        identity=tuple(identity_fields(item, contact, ("recipient_parent_user_id",)).items()),
        pricing_category=category,
        billable=pricing.billable,
        pricing_model=pricing.pricing_model,
        pricing_type=pricing.type,
        cost=pricing.cost.model_dump() if pricing.cost else None,
        origin_type=origin,
        errors=tuple(_error(e) for e in (wire.errors or [])[:_ERRORS_MAX] if isinstance(e, dict)),
        biz_opaque_callback_data=wire.biz_opaque_callback_data,
        phone_number_id=phone_number_id,
        waba_id=waba_id,
        raw=raw,
        raw_truncated=truncated,
        unknown_fields=bool(
            wire.model_extra
            or (wire.pricing and wire.pricing.model_extra)
            or (wire.conversation and wire.conversation.model_extra)
        ),
    )


def _error(item: Mapping[str, Any]) -> dict[str, Any]:
    """One failed status's ``errors[]`` item: code, title, details (bounded for storage)."""
    error = GraphError.from_webhook_error(item)
    code = error.code if error.code is not None and 0 <= error.code < 10**12 else None
    return {
        k: v
        for k, v in {
            "code": code,
            "title": cap(error.title or error.rule.title),
            "message": cap(error.message),
            "details": cap(error.details),
            "action": error.rule.action.value,
        }.items()
        if v is not None
    }


def _code(item: Any) -> int | None:
    return _error(item).get("code") if isinstance(item, dict) else None


def _title(item: Any) -> str | None:
    return _error(item).get("title") if isinstance(item, dict) else None


def _model(batch: Batch, model: type[_M], item: Any, kind: str, at: int) -> _M | None:
    """``item`` as ``model``; None when it does not parse, the item then kept raw as ``invalid``."""
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        batch.other.append(_invalid(kind, item, exc, at))
        return None


def _invalid(kind: str, item: Any, exc: ValidationError, at: int) -> Other:
    reason = _first_error(exc)
    logger.warning("webhook item kept raw: it does not parse", extra={"kind": kind, "reason": reason})
    return Other("invalid", at, raw_text(item)[0], f"{kind}: {reason}")


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error.get("loc", ())) or "body"
    return cap(f"{where}: {error.get('msg', 'invalid')}", 200) or "invalid"
