"""The send request and its wire body for ``POST /<PHONE_NUMBER_ID>/marketing_messages``.

One home for the payload: the seeds' request body (plus the product's envelope fields) as pydantic models
with Meta's limits, and :func:`to_wire` that turns a valid request into the exact body Meta receives.
Field order in the models is the order on the wire, so the seeds' examples build byte-for-byte.

Sources: Meta OAS v23 ``MarketingMessageRequestPayload`` / ``TemplateObject`` / ``ParameterObject`` /
``ButtonComponent`` and the template docs (reference sections 1-2).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from mmcore.meta.phones import parse_recipient

__all__ = [
    "ENVELOPE_FIELDS",
    "TTL_MAX",
    "TTL_MIN",
    "InvalidSendRequest",
    "SendRequest",
    "parse_send_request",
    "to_wire",
    "wire_bytes",
]

TTL_MIN = 43_200  # 12 hours: Meta's lower bound for marketing template TTL [TTL]
TTL_MAX = 2_592_000  # 30 days [TTL]
TEXT_PARAM_MAX = 32_768  # OAS TextParameter.text maxLength
HEADER_TEXT_MAX = 60  # the whole header text is at most 60 characters [TPL components]
COUPON_MAX = 20  # copy-code coupon, alphanumeric, at most 20 characters when sending [TPL coupon]
URL_SUFFIX_MAX = 2_000  # a URL button's URL is at most 2000 characters
MAX_BUTTONS = 10
MAX_URL_BUTTONS = 2
MAX_COPY_CODE_BUTTONS = 1

# What the product adds around Meta's body; never sent to Meta.
ENVELOPE_FIELDS = frozenset({"campaign_id", "message_id", "phone_number_id", "not_after"})

_TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
_PARAMETER_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(_[A-Za-z0-9]{2,4})?$")
_BSUID = re.compile(r"^user\.[A-Za-z0-9._-]{1,251}$")
_COUPON = re.compile(r"^[A-Za-z0-9]+$")
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


class _Model(BaseModel):
    # Unknown fields are errors that name the field: Meta's schema is additionalProperties: false.
    # defer_build: each model's validator is built when first used, not at import (cold start).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


# ---------------------------------------------------------------- parameters


class _Named(_Model):
    # Subclasses declare `parameter_name` right after `type`: Meta's order on the wire.
    @field_validator("parameter_name", check_fields=False)
    @classmethod
    def _named(cls, v: str | None) -> str | None:
        if v is not None and not _PARAMETER_NAME.match(v):
            raise ValueError("must be lowercase letters, digits and underscores, starting with a letter")
        return v


class TextParameter(_Named):
    type: Literal["text"]
    parameter_name: str | None = None
    text: str = Field(min_length=1, max_length=TEXT_PARAM_MAX)


class Currency(_Model):
    fallback_value: str = Field(min_length=1)
    code: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 currency code")
    amount_1000: int = Field(description="amount multiplied by 1000")


class CurrencyParameter(_Named):
    type: Literal["currency"]
    parameter_name: str | None = None
    currency: Currency


class DateTime(_Model):
    fallback_value: str = Field(min_length=1)


class DateTimeParameter(_Named):
    type: Literal["date_time"]
    parameter_name: str | None = None
    date_time: DateTime


class Media(_Model):
    """An uploaded media id or an http(s) link: exactly one of them (OAS MediaObject)."""

    id: str | None = Field(default=None, min_length=1)
    link: str | None = Field(default=None, pattern=r"^https?://\S+$")

    @model_validator(mode="after")
    def _one_source(self) -> Media:
        if (self.id is None) == (self.link is None):
            raise ValueError("give exactly one of 'id' or 'link'")
        return self


class Document(Media):
    filename: str | None = Field(default=None, min_length=1, max_length=240)


class ImageParameter(_Named):
    type: Literal["image"]
    parameter_name: str | None = None
    image: Media


class VideoParameter(_Named):
    type: Literal["video"]
    parameter_name: str | None = None
    video: Media


class DocumentParameter(_Named):
    type: Literal["document"]
    parameter_name: str | None = None
    document: Document


class PayloadParameter(_Model):
    type: Literal["payload"]
    payload: str = Field(min_length=1, max_length=TEXT_PARAM_MAX)


class CouponParameter(_Model):
    type: Literal["coupon_code"]
    coupon_code: str = Field(min_length=1, max_length=COUPON_MAX)

    @field_validator("coupon_code")
    @classmethod
    def _alphanumeric(cls, v: str) -> str:
        if not _COUPON.match(v):
            raise ValueError("must be alphanumeric")
        return v


class FlowAction(_Model):
    flow_token: str | None = None  # Meta's default is "unused"
    flow_action_data: dict[str, Any] | None = None


class ActionParameter(_Model):
    type: Literal["action"]
    action: FlowAction


class UrlSuffixParameter(_Model):
    type: Literal["text"]
    text: str = Field(min_length=1, max_length=URL_SUFFIX_MAX)


HeaderParameter = Annotated[
    TextParameter | ImageParameter | VideoParameter | DocumentParameter, Field(discriminator="type")
]
BodyParameter = Annotated[TextParameter | CurrencyParameter | DateTimeParameter, Field(discriminator="type")]

# ---------------------------------------------------------------- components


def _same_naming(parameters: list[Any]) -> None:
    named = {getattr(p, "parameter_name", None) is not None for p in parameters}
    if len(named) > 1:
        raise ValueError("mix of named and positional parameters: use parameter_name on all or none")
    names = [p.parameter_name for p in parameters if getattr(p, "parameter_name", None)]
    if len(names) != len(set(names)):
        raise ValueError("parameter_name values must be unique")


class HeaderComponent(_Model):
    type: Literal["header"]
    parameters: list[HeaderParameter] = Field(min_length=1, max_length=1)

    @model_validator(mode="after")
    def _header_text(self) -> HeaderComponent:
        p = self.parameters[0]
        if isinstance(p, TextParameter) and len(p.text) > HEADER_TEXT_MAX:
            raise ValueError(f"header text is at most {HEADER_TEXT_MAX} characters")
        return self


class BodyComponent(_Model):
    type: Literal["body"]
    parameters: list[BodyParameter] = Field(min_length=1)

    @model_validator(mode="after")
    def _naming(self) -> BodyComponent:
        _same_naming(self.parameters)
        return self


ButtonIndex = Annotated[
    int | str, Field(description="zero-based button position, 0-9 (Meta accepts both types)")
]

# Each button sub_type takes exactly one parameter of one type.
_BUTTON_PARAMETER = {
    "url": UrlSuffixParameter,
    "quick_reply": PayloadParameter,
    "copy_code": CouponParameter,
    "flow": ActionParameter,
    "catalog": ActionParameter,
}


class ButtonComponent(_Model):
    type: Literal["button"]
    sub_type: Literal["url", "quick_reply", "copy_code", "flow", "catalog"]
    index: ButtonIndex
    parameters: list[dict[str, Any]] = Field(min_length=1, max_length=1)

    @field_validator("sub_type", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        # Meta's coupon example spells it COPY_CODE; the syntax section says copy_code.
        return v.lower() if isinstance(v, str) else v

    @field_validator("index")
    @classmethod
    def _index(cls, v: int | str) -> int | str:
        if isinstance(v, bool) or str(v) not in {str(i) for i in range(10)}:
            raise ValueError("must be 0-9")
        return v

    @model_validator(mode="after")
    def _parameter_shape(self) -> ButtonComponent:
        model = _BUTTON_PARAMETER[self.sub_type]
        try:
            model.model_validate(self.parameters[0])
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"{self.sub_type} button parameter {where}: {first['msg']}") from None
        return self

    @property
    def position(self) -> int:
        return int(self.index)


Component = Annotated[HeaderComponent | BodyComponent | ButtonComponent, Field(discriminator="type")]


class Language(_Model):
    code: str
    policy: Literal["deterministic"] | None = None

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not _LANGUAGE_CODE.match(v):
            raise ValueError("must be a WhatsApp language code such as 'en_US' or 'fr'")
        return v


class Template(_Model):
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
        comps = self.components or []
        for kind in ("header", "body"):
            if sum(c.type == kind for c in comps) > 1:
                raise ValueError(f"at most one {kind} component")
        buttons = [c for c in comps if isinstance(c, ButtonComponent)]
        if len(buttons) > MAX_BUTTONS:
            raise ValueError(f"at most {MAX_BUTTONS} buttons")
        if len({b.position for b in buttons}) != len(buttons):
            raise ValueError("button index values must be unique")
        if sum(b.sub_type == "url" for b in buttons) > MAX_URL_BUTTONS:
            raise ValueError(f"at most {MAX_URL_BUTTONS} url buttons")
        if sum(b.sub_type == "copy_code" for b in buttons) > MAX_COPY_CODE_BUTTONS:
            raise ValueError(f"at most {MAX_COPY_CODE_BUTTONS} copy_code button")
        return self


# ---------------------------------------------------------------- the request


class SendRequest(_Model):
    """One marketing message: the seeds' request body plus optional envelope fields.

    The field order is the wire order. ``recipient_type`` defaults to ``individual`` (one seed example omits
    it; Meta requires it). ``time_to_live`` is the seeds' per-message TTL in seconds: the product enforces it
    as a deadline and puts it on the wire only when configured to.
    """

    messaging_product: Literal["whatsapp"] = "whatsapp"
    recipient_type: Literal["individual"] = "individual"
    to: str
    type: Literal["template"] = Field(description="/marketing_messages only sends marketing templates")
    template: Template
    product_policy: Literal["CLOUD_API_FALLBACK", "STRICT"] | None = None
    message_activity_sharing: StrictBool | None = None
    time_to_live: int | None = Field(default=None, ge=TTL_MIN, le=TTL_MAX)
    # envelope
    campaign_id: str | None = Field(default=None, pattern=_ID.pattern)
    message_id: str | None = Field(default=None, pattern=_ID.pattern)
    phone_number_id: str | None = Field(default=None, pattern=r"^\d{1,32}$")
    not_after: datetime | None = None

    @field_validator("to")
    @classmethod
    def _to(cls, v: str) -> str:
        if _BSUID.match(v):  # business-scoped user ids are accepted as-is [BSUID]
            return v
        return parse_recipient(v, field="to").digits

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
        if i and isinstance(loc[i - 1], int) and p in _UNION_TAGS:
            continue
        parts.append(str(p))
    return ".".join(parts) or "body"


_UNION_TAGS = {"header", "body", "button", "text", "currency", "date_time", "image", "video", "document"}


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
            if err["type"] == "extra_forbidden":
                msg = "unknown field (Meta rejects fields it does not define)"
            elif err["type"] == "literal_error" and err["loc"][-1] == "type" and len(err["loc"]) == 1:
                msg = "must be 'template': /marketing_messages only sends marketing template messages"
            errors.append((_field_path(err["loc"]), msg))
        raise InvalidSendRequest(errors) from None


def to_wire(request: SendRequest, *, ttl_on_wire: bool = False) -> dict[str, Any]:
    """The exact JSON object to POST to ``/marketing_messages`` for this request."""
    exclude = set(ENVELOPE_FIELDS)
    if not ttl_on_wire:
        exclude.add("time_to_live")
    return request.model_dump(mode="json", exclude_none=True, exclude=exclude)


def wire_bytes(request: SendRequest, *, ttl_on_wire: bool = False) -> bytes:
    """The request body as compact UTF-8 JSON bytes, as sent over HTTP."""
    return json.dumps(
        to_wire(request, ttl_on_wire=ttl_on_wire), separators=(",", ":"), ensure_ascii=False
    ).encode()
