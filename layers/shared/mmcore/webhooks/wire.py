"""Meta's webhook payload as pydantic models, tolerant: unknown fields are kept (``extra="allow"``), and a
sub-object of an unexpected shape is dropped (:data:`Lenient`) instead of failing its item. Also the bounds
of what is stored of the text Meta sends (:func:`cap`, :func:`raw_text`).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WrapValidator,
    model_validator,
)

TEXT_MAX = 1024
_RAW_MAX_CHARS = 64_000  # <= 256 KB of UTF-8: the raw copy always fits a 400 KB item


def cap(text: str | None, limit: int = TEXT_MAX) -> str | None:
    """``text`` cut to ``limit`` characters (an ellipsis marks the cut)."""
    return text if text is None or len(text) <= limit else text[: limit - 1] + "…"


def raw_text(value: Any) -> tuple[str, bool]:
    """The item as received, as compact JSON text; cut (flag True) past what one item may hold."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    if len(text) <= _RAW_MAX_CHARS:
        return text, False
    return text[:_RAW_MAX_CHARS], True


_T = TypeVar("_T")


def _or_none(value: Any, handler: Any) -> Any:
    try:
        return handler(value)
    except ValidationError:
        return None


# A field that is dropped (None) instead of failing its item when Meta sends an unexpected shape.
Lenient = Annotated[_T | None, WrapValidator(_or_none)]


def _epoch(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("must be epoch seconds")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 11:
        value = int(value)
    if not isinstance(value, int) or not 0 <= value < 10**11:
        raise ValueError("must be epoch seconds (digits)")
    return value


def _id_text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Epoch = Annotated[int, BeforeValidator(_epoch)]
WireId = Annotated[str, StringConstraints(min_length=1, max_length=400)]  # wamids fit a 2 KB key
Token = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
Short = Annotated[str, StringConstraints(max_length=128)]
Text = Annotated[str, StringConstraints(max_length=TEXT_MAX)]
Number = Annotated[str, BeforeValidator(_id_text), StringConstraints(max_length=64)]


def _key_bytes(value: str) -> str:
    if len(value.encode()) > 1024:
        raise ValueError("longer than 1,024 bytes of UTF-8: too long for a DynamoDB key")
    return value


# Meta's template names are at most 512 characters; in bytes they must also fit the template's key (2 KB).
TemplateName = Annotated[str, StringConstraints(min_length=1, max_length=512), AfterValidator(_key_bytes)]
Language = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class Envelope(_Wire):
    object: Lenient[Short] = None
    entry: list[Any]


class Entry(_Wire):
    id: Lenient[Number] = None
    time: Lenient[Epoch] = None
    changes: list[Any]


class Change(_Wire):
    field: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    value: dict[str, Any]


class Metadata(_Wire):
    display_phone_number: Lenient[Short] = None
    phone_number_id: Lenient[Number] = None


class Cost(_Wire):
    """Max-price templates' estimated cost on ``delivered``/``read``, in the currency's base unit (dollars, not
    cents) [MAXP]; an estimate, the invoice is authoritative."""

    amount: Annotated[Decimal, Field(ge=0, allow_inf_nan=False, max_digits=20)]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class Pricing(_Wire):
    billable: Lenient[bool] = None
    pricing_model: Lenient[Short] = None
    type: Lenient[Short] = None
    category: Lenient[Short] = None
    cost: Lenient[Cost] = None  # 2026, max-price templates only (meta-2026-updates section 5)


class Origin(_Wire):
    type: Lenient[Short] = None


class Conversation(_Wire):
    id: Lenient[Short] = None
    origin: Lenient[Origin] = None


class StatusWire(_Wire):
    id: WireId
    status: Token
    timestamp: Epoch
    recipient_id: Lenient[Short] = None  # omitted ("" before Feb 2026) for BSUID sends [BSUID]
    recipient_user_id: Lenient[Short] = None
    recipient_parent_user_id: Lenient[Short] = None
    biz_opaque_callback_data: Lenient[Annotated[str, StringConstraints(max_length=512)]] = None
    conversation: Lenient[Conversation] = None  # omitted in v24+
    pricing: Lenient[Pricing] = None
    errors: Lenient[list[Any]] = None


class Context(_Wire):
    id: Lenient[WireId] = None
    sender: Lenient[Short] = Field(None, alias="from")


class InboundWire(_Wire):
    id: WireId
    sender: Lenient[Short] = Field(None, alias="from")
    timestamp: Lenient[Epoch] = None
    type: Lenient[Short] = None
    context: Lenient[Context] = None


class PreferenceWire(_Wire):
    """A ``user_preferences`` item: ``wa_id`` may be omitted when Meta names the user by BSUID [BSUID]."""

    wa_id: Lenient[Annotated[str, StringConstraints(pattern=r"^\d{5,20}$")]] = None
    user_id: Lenient[Short] = None
    parent_user_id: Lenient[Short] = None
    value: Token
    timestamp: Epoch
    category: Lenient[Short] = None
    detail: Lenient[Text] = None

    @model_validator(mode="after")
    def _someone(self) -> PreferenceWire:
        if not self.wa_id and not self.user_id:
            raise ValueError("names no user: neither wa_id (digits) nor user_id")
        return self


class TemplateStatusWire(_Wire):
    event: Token
    message_template_name: TemplateName
    message_template_language: Lenient[Language] = None
    message_template_id: Lenient[Number] = None
    reason: Lenient[Text] = None


class WabaInfo(_Wire):
    waba_id: Lenient[Number] = None
    owner_business_id: Lenient[Number] = None


class AccountUpdateWire(_Wire):
    event: Token
    waba_info: Lenient[WabaInfo] = None


class _TemplateWire(_Wire):
    message_template_name: TemplateName
    message_template_language: Lenient[Language] = None
    message_template_id: Lenient[Number] = None


class TemplateCategoryWire(_TemplateWire):
    """``template_category_update`` [TCU]: impending (``correct_category``, ``category_update_timestamp``;
    ``new_category`` is then the CURRENT category) or completed (``previous_category`` -> ``new_category``)."""

    new_category: Token
    previous_category: Lenient[Token] = None
    correct_category: Lenient[Token] = None
    category_update_timestamp: Lenient[Epoch] = None


class TemplateQualityWire(_TemplateWire):
    """``message_template_quality_update`` [MTQU]: GREEN | YELLOW | RED | UNKNOWN (kept open)."""

    new_quality_score: Token
    previous_quality_score: Lenient[Token] = None


class ClickData(_Wire):
    click_component: Lenient[Short] = None
    product_id: Lenient[Short] = None
    click_id: Lenient[Short] = None
    tracking_token: Lenient[Short] = None


class UserActionWire(_Wire):
    """``messages`` -> ``user_actions[]`` [CLICK][LPV]: ``action_type`` is an open enum."""

    action_type: Token
    timestamp: Epoch
