"""The send request and its wire body for ``POST /<PHONE_NUMBER_ID>/marketing_messages`` (marketing templates)
and ``POST /<PHONE_NUMBER_ID>/messages`` (utility and authentication templates, :mod:`mmcore.meta.routing`).

One home for the payload: the seeds' request body (plus the product's envelope fields) as pydantic models
with Meta's limits, and :func:`to_wire` that turns a valid request into the exact body Meta receives.
Field order in the models is the order on the wire, so the seeds' and Meta's documented examples build
byte-for-byte. The template's components and their parameters live in ``components`` and ``parameters``.

Sources: Meta OAS v23 ``MarketingMessageRequestPayload`` / ``TemplateObject`` and the template docs
(reference sections 1-2).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field, StrictBool, ValidationError, field_validator, model_validator

from mmcore.meta.bsuids import is_bsuid
from mmcore.meta.components import COMPONENT_TAGS, Component, check_components
from mmcore.meta.parameters import PARAMETER_TAGS, TEXT_PARAM_MAX, MetaModel
from mmcore.meta.phones import parse_recipient
from mmcore.meta.routing import MARKETING, Endpoint

__all__ = [
    "ENVELOPE_FIELDS",
    "TEXT_PARAM_MAX",
    "TTL_MAX",
    "TTL_MIN",
    "BidSpec",
    "InvalidSendRequest",
    "Language",
    "SendRequest",
    "parse_send_request",
    "to_wire",
    "wire_bytes",
]

TTL_MIN = 43_200  # 12 hours: Meta's lower bound for marketing template TTL [TTL]
TTL_MAX = 2_592_000  # 30 days [TTL]

# What the product adds around Meta's body; never sent to Meta.
ENVELOPE_FIELDS = frozenset(
    {"campaign_id", "message_id", "phone_number_id", "not_after", "template_category"}
)
# What only /marketing_messages takes (OAS MarketingMessageRequestPayload; [MAXP] bid_spec): the Cloud API's
# /messages body is messaging_product, recipient_type, to/recipient, type, template [TPL] (conformance sends).
MM_ONLY_FIELDS = ("product_policy", "message_activity_sharing", "bid_spec")

_TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(_[A-Za-z0-9]{2,4})?$")
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


class Language(MetaModel):
    code: str
    policy: Literal["deterministic"] | None = None

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not _LANGUAGE_CODE.match(v):
            raise ValueError("must be a WhatsApp language code such as 'en_US' or 'fr'")
        return v


class Template(MetaModel):
    name: str
    language: Language
    components: list[Component] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _TEMPLATE_NAME.match(v):
            raise ValueError("must be 1-512 lowercase letters, digits or underscores")
        return v

    @model_validator(mode="after")
    def _components(self) -> Template:
        check_components(self.components or [])
        return self


class BidSpec(MetaModel):
    """The send-time multiplier of a max-price template's bid (meta-2026-updates section 5, [MAXP]).

    Meta still calls it ``bid_spec`` on ``/marketing_messages`` (the template-level price moved to
    ``optimization_spec``): ``{"per_message_bid_multiplier": 1.5}``, a positive number, default 1; the
    effective cap is the template's ``bid_amount`` times it. "Subject to change during beta" [MAXP].
    """

    per_message_bid_multiplier: float = Field(strict=True, allow_inf_nan=False)  # ints accepted, not bools

    @field_validator("per_message_bid_multiplier")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be a positive number (it multiplies the template's max price)")
        return v


# ---------------------------------------------------------------- the request


# [SEND][BSUID] 131062: Meta refuses a max-price (or authentication) template to a BSUID; a multiplier implies a
# max-price template, so such a message is refused before it is POSTed.
BSUID_MAX_PRICE = (
    "a max price cannot be used for a business-scoped user ID: Meta refuses max-price templates to BSUIDs "
    "(131062); send to the user's phone number, or without bid_spec"
)


class SendRequest(MetaModel):
    """One marketing message: the seeds' request body plus optional envelope fields.

    The field order is the wire order. ``recipient_type`` defaults to ``individual`` (one seed example omits
    it; Meta requires it). ``time_to_live`` is the seeds' per-message TTL in seconds: the product enforces it
    as a deadline and puts it on the wire only when configured to. ``bid_spec`` is the max-price multiplier;
    the sender leaves it off for recipients a region rule gives no max price.

    The user is named by ``to`` (a phone number, or a BSUID in any documented form: ``US.1349...``,
    ``US.ENT....``, ``user.<id>``) and/or ``recipient`` (a BSUID), at least one. On the wire a BSUID goes in
    ``recipient``, never ``to`` (Meta since 2026-02-06); when both name someone Meta delivers to ``to`` and
    ignores ``recipient`` [SEND], so :attr:`user` is ``to``'s (meta-2026-updates section 3).
    """

    messaging_product: Literal["whatsapp"] = "whatsapp"
    recipient_type: Literal["individual"] = "individual"
    recipient: str | None = None
    to: str | None = None
    type: Literal["template"] = Field(
        description="template messages only: marketing ones through /marketing_messages, utility and "
        "authentication ones through /messages (routed by the template's latest category)"
    )
    template: Template
    product_policy: Literal["CLOUD_API_FALLBACK", "STRICT"] | None = None
    message_activity_sharing: StrictBool | None = None
    time_to_live: int | None = Field(default=None, ge=TTL_MIN, le=TTL_MAX)
    bid_spec: BidSpec | None = None  # top level of Meta's body [MAXP]; dropped where max price is off
    # envelope
    campaign_id: str | None = Field(default=None, pattern=_ID.pattern)
    message_id: str | None = Field(default=None, pattern=_ID.pattern)
    phone_number_id: str | None = Field(default=None, pattern=r"^\d{1,32}$")
    not_after: datetime | None = None
    template_category: Literal["MARKETING", "UTILITY", "AUTHENTICATION"] | None = Field(
        default=None,
        description="the template's category as the producer knows it: used only while Meta's latest "
        "category of the template is unknown to the product (mmcore.meta.routing.endpoint_for)",
    )

    @field_validator("template_category", mode="before")
    @classmethod
    def _category(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @field_validator("to")
    @classmethod
    def _to(cls, v: str | None) -> str | None:
        if v is None or is_bsuid(v):  # a BSUID is sent whole [BSUID]
            return v
        return parse_recipient(v, field="to").digits

    @field_validator("recipient")
    @classmethod
    def _recipient(cls, v: str | None) -> str | None:
        if v is not None and not is_bsuid(v):
            raise ValueError(
                "must be a business-scoped user ID such as 'US.13491208655302741918' or 'US.ENT.1181...' "
                "(a phone number goes in 'to')"
            )
        return v

    @model_validator(mode="after")
    def _someone(self) -> SendRequest:
        if self.to is None and self.recipient is None:
            raise ValueError(f"to: {_NOBODY}")
        if self.to and self.recipient and is_bsuid(self.to) and self.to != self.recipient:
            raise ValueError("recipient: names another user than 'to' (both are BSUIDs)")
        if self.bid_spec is not None and self.by_bsuid:
            raise ValueError(f"bid_spec: {BSUID_MAX_PRICE}")
        if self.template_category not in (None, MARKETING):
            for name in MM_ONLY_FIELDS:
                if getattr(self, name) is not None:
                    raise ValueError(f"{name}: {not_for_category(self.template_category)}")
        return self

    @property
    def user(self) -> str:
        """Who Meta delivers to: ``to`` (phone digits or a BSUID) when given, else ``recipient``."""
        return self.to or self.recipient or ""

    @property
    def by_bsuid(self) -> bool:
        """Whether Meta is asked to deliver to a BSUID (no MM delivery optimization for those [SEND])."""
        return is_bsuid(self.user)

    @field_validator("not_after")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("must include a timezone, e.g. 2026-01-01T00:00:00Z")
        return v

    def deadline(self, enqueued_at: datetime) -> datetime | None:
        """The moment after which this message must not be sent (the earlier of not_after and the TTL)."""
        limits = [self.not_after] if self.not_after else []
        if self.time_to_live is not None:
            limits.append(enqueued_at + timedelta(seconds=self.time_to_live))
        return min(limits) if limits else None

    def identity(self) -> str:
        """A stable id for this message: ``message_id`` when the producer gave one, else a digest of the
        campaign, sender and wire body, so the same request enqueued twice is recognised as one message."""
        if self.message_id:
            return self.message_id
        canonical = json.dumps(
            [self.campaign_id, self.phone_number_id, to_wire(self, ttl_on_wire=True)],
            separators=(",", ":"),
            sort_keys=True,
        )
        return "m-" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def not_for_category(category: str) -> str:
    """Why an MM API field cannot go with a template of ``category``."""
    return (
        f"only for marketing templates (/marketing_messages); a {category.lower()} template goes through "
        "/messages, which does not take it"
    )


def with_deadline(body: str, enqueued_at: datetime) -> tuple[str, datetime | None]:
    """A send request's JSON ``body`` for a copy queued later: its deadline (``not_after``, or the TTL counted
    from ``enqueued_at``, when it was first queued) made explicit in ``not_after``, so the copy's own queue
    time does not extend it; and that deadline. Raises :class:`InvalidSendRequest` for a body that is not
    one."""
    deadline = parse_send_request(body).deadline(enqueued_at)
    if deadline is None:
        return body, None
    copy = json.loads(body)
    copy["not_after"] = deadline.isoformat().replace("+00:00", "Z")
    return json.dumps(copy, separators=(",", ":")), deadline


class InvalidSendRequest(ValueError):
    """A send request that cannot be sent, with every problem named by its field path."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in errors))

    @property
    def field(self) -> str:
        return self.errors[0][0] if self.errors else ""


def _field_path(loc: tuple[Any, ...]) -> str:
    # pydantic puts a discriminated union's tag right after the list index; drop it so the path reads
    # like the JSON the user wrote: template.components.0.parameters.0.text
    parts: list[str] = []
    for i, p in enumerate(loc):
        if i > 1 and isinstance(loc[i - 1], int) and p in _UNION_TAGS.get(loc[i - 2], ()):
            continue
        parts.append(str(p))
    return ".".join(parts) or "body"


# The lists holding a union, by name, and their members' tags. `limited_time_offer` is both a component's
# tag and its parameter's field name: only the list it follows tells them apart.
_UNION_TAGS = {"components": COMPONENT_TAGS, "parameters": PARAMETER_TAGS}


def parse_send_request(data: bytes | str | dict[str, Any]) -> SendRequest:
    """Validate raw input (JSON text/bytes or a dict) into a :class:`SendRequest`.

    Raises :class:`InvalidSendRequest` naming each bad field, e.g. ``time_to_live: Input should be greater
    than or equal to 43200``.
    """
    try:
        if isinstance(data, bytes | str):
            return SendRequest.model_validate_json(data)
        return SendRequest.model_validate(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_url=False):
            msg = err["msg"].removeprefix("Value error, ")
            if not err["loc"] and ": " in msg:  # a rule across fields names its field first
                field, msg = msg.split(": ", 1)
                errors.append((field, msg))
                continue
            if err["type"] == "extra_forbidden":
                msg = "unknown field (Meta rejects fields it does not define)"
            elif err["type"] == "literal_error" and err["loc"][-1] == "type" and len(err["loc"]) == 1:
                msg = (
                    "must be 'template': only template messages are sent (marketing ones through "
                    "/marketing_messages, utility and authentication ones through /messages)"
                )
            errors.append((_field_path(err["loc"]), msg))
        if _names_nobody(data) and not any(f in ("to", "recipient") for f, _ in errors):
            errors.append(("to", _NOBODY))  # the check across fields runs only once the fields are valid
        raise InvalidSendRequest(errors) from None


_NOBODY = "required: a phone number or a BSUID (or a BSUID in 'recipient')"


def _names_nobody(data: bytes | str | dict[str, Any]) -> bool:
    if not isinstance(data, dict):
        try:
            data = json.loads(data)
        except ValueError:
            return False
    return isinstance(data, dict) and data.get("to") is None and data.get("recipient") is None


def to_wire(
    request: SendRequest, *, ttl_on_wire: bool = False, endpoint: Endpoint = Endpoint.MARKETING_MESSAGES
) -> dict[str, Any]:
    """The exact JSON object to POST to ``endpoint`` for this request. ``/messages`` gets the Cloud API's
    template body: no MM API field, and no per-message TTL (the Cloud API has none outside the Direct Send
    beta [DS]; the deadline is still enforced before the POST)."""
    exclude = set(ENVELOPE_FIELDS)
    if not ttl_on_wire or endpoint is Endpoint.MESSAGES:
        exclude.add("time_to_live")
    if endpoint is Endpoint.MESSAGES:
        exclude.update(MM_ONLY_FIELDS)
    if request.to and is_bsuid(request.to):  # BSUIDs only in `recipient`, never `to` [BSUID Feb 6, 2026]
        request = request.model_copy(update={"recipient": request.to, "to": None})
    return request.model_dump(mode="json", exclude_none=True, exclude=exclude)


def wire_bytes(
    request: SendRequest, *, ttl_on_wire: bool = False, endpoint: Endpoint = Endpoint.MARKETING_MESSAGES
) -> bytes:
    """The request body as compact UTF-8 JSON bytes, as sent over HTTP."""
    return json.dumps(
        to_wire(request, ttl_on_wire=ttl_on_wire, endpoint=endpoint),
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
