"""The parameters of a template send: the values a component carries, as pydantic models with Meta's limits.

Field order in each model is Meta's order on the wire, so documented bodies build byte-for-byte.

Sources: Meta OAS v23 ``ParameterObject`` and its mappings (the conformance schema
``marketing_message_request.schema.json``), the template docs summarised in reference section 2 ([TPL]), and
the bodies of Meta's template pages (``conformance/sends/meta_sends.json``) for the kinds the OAS does not
describe: ``product`` (single-product header, product cards), ``location`` header, the catalog and
multi-product (``mpm``) button actions, ``limited_time_offer`` and ``tap_target_configuration``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

TEXT_PARAM_MAX = 32_768  # OAS TextParameter.text maxLength
HEADER_TEXT_MAX = 60  # the whole header text is at most 60 characters [TPL components]
COUPON_MAX = 20  # copy-code coupon, alphanumeric, at most 20 characters when sending [TPL coupon]
URL_SUFFIX_MAX = 2_000  # a URL button's URL is at most 2000 characters [TPL components]

# UNCONFIRMED, so not enforced: none of reference 2.2, the 2026 updates or the OAS gives a limit for
# mpm sections / products per section / section title length, the catalog thumbnail id, product ids,
# the tap-target title length or number of entries, or the location name and address.

_PARAMETER_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_COUPON = re.compile(r"^[A-Za-z0-9]+$")
_HTTP_URL = r"^https?://\S+$"


class MetaModel(BaseModel):
    """Base of Meta's request objects: unknown fields are errors naming the field (the OAS says
    ``additionalProperties: false``); frozen; validators built on first use, not at import (cold start)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class _Named(MetaModel):
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


class Currency(MetaModel):
    fallback_value: str = Field(min_length=1)
    code: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 currency code")
    amount_1000: int = Field(description="amount multiplied by 1000")


class CurrencyParameter(_Named):
    type: Literal["currency"]
    parameter_name: str | None = None
    currency: Currency


class DateTime(MetaModel):
    fallback_value: str = Field(min_length=1)


class DateTimeParameter(_Named):
    type: Literal["date_time"]
    parameter_name: str | None = None
    date_time: DateTime


class Media(MetaModel):
    """An uploaded media id or an http(s) link: exactly one of them (OAS MediaObject)."""

    id: str | None = Field(default=None, min_length=1)
    link: str | None = Field(default=None, pattern=_HTTP_URL)

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


class Product(MetaModel):
    """A catalog item: the header of a single-product message or of a product card [TPL spm, carousels]."""

    product_retailer_id: str = Field(min_length=1)
    catalog_id: str = Field(min_length=1)


class ProductParameter(MetaModel):
    type: Literal["product"]
    product: Product


Coordinate = StrictInt | StrictFloat | StrictStr  # kept as sent: Meta's docs write them as strings


class Location(MetaModel):
    """A location header's map pin; latitude and longitude as numbers or numeric strings."""

    latitude: Coordinate
    longitude: Coordinate
    name: str | None = Field(default=None, min_length=1)
    address: str | None = Field(default=None, min_length=1)

    @field_validator("latitude", "longitude")
    @classmethod
    def _degrees(cls, v: int | float | str, info: ValidationInfo) -> int | float | str:
        bound = 90 if info.field_name == "latitude" else 180
        try:
            degrees = float(v)
        except ValueError:
            raise ValueError("must be a number of degrees") from None
        if not -bound <= degrees <= bound:
            raise ValueError(f"must be between -{bound} and {bound} degrees")
        return v


class LocationParameter(MetaModel):
    type: Literal["location"]
    location: Location


# ---------------------------------------------------------------- button parameters


class PayloadParameter(MetaModel):
    type: Literal["payload"]
    payload: str = Field(min_length=1, max_length=TEXT_PARAM_MAX)


class CouponParameter(MetaModel):
    type: Literal["coupon_code"]
    coupon_code: str = Field(min_length=1, max_length=COUPON_MAX)

    @field_validator("coupon_code")
    @classmethod
    def _alphanumeric(cls, v: str) -> str:
        if not _COUPON.match(v):
            raise ValueError("must be alphanumeric")
        return v


class UrlSuffixParameter(MetaModel):
    type: Literal["text"]
    text: str = Field(min_length=1, max_length=URL_SUFFIX_MAX)


class FlowAction(MetaModel):
    flow_token: str | None = None  # Meta's default is "unused"
    flow_action_data: dict[str, Any] | None = None


class FlowParameter(MetaModel):
    type: Literal["action"]
    action: FlowAction


class CatalogAction(MetaModel):
    """A catalog button's action: the product whose image is the message's thumbnail, optional (else the
    catalog's first item) [TPL catalog]."""

    thumbnail_product_retailer_id: str | None = Field(default=None, min_length=1)


class CatalogParameter(MetaModel):
    type: Literal["action"]
    action: CatalogAction


class ProductItem(MetaModel):
    product_retailer_id: str = Field(min_length=1)


class Section(MetaModel):
    title: str = Field(min_length=1)
    product_items: list[ProductItem] = Field(min_length=1)


class MultiProductAction(MetaModel):
    """A multi-product button's action: the thumbnail product and the sections of products shown."""

    thumbnail_product_retailer_id: str | None = Field(default=None, min_length=1)
    sections: list[Section] = Field(min_length=1)


class MultiProductParameter(MetaModel):
    type: Literal["action"]
    action: MultiProductAction


# Each button sub_type takes exactly one parameter of one shape.
BUTTON_PARAMETER: dict[str, type[MetaModel]] = {
    "url": UrlSuffixParameter,
    "quick_reply": PayloadParameter,
    "copy_code": CouponParameter,
    "flow": FlowParameter,
    "catalog": CatalogParameter,
    "mpm": MultiProductParameter,
}

# ---------------------------------------------------------------- component-wide parameters


class LimitedTimeOffer(MetaModel):
    # An integer number of milliseconds as in Meta's example (1209600000); whether it must lie in the future
    # is UNCONFIRMED (the documented value is 14 days as a duration, not a future epoch time).
    expiration_time_ms: StrictInt = Field(gt=0)


class LimitedTimeOfferParameter(MetaModel):
    type: Literal["limited_time_offer"]
    limited_time_offer: LimitedTimeOffer


class TapTarget(MetaModel):
    """The title shown on the tap-target area instead of the URL's, and the URL it opens."""

    url: str = Field(pattern=_HTTP_URL)
    title: str = Field(min_length=1)


class TapTargetParameter(MetaModel):
    type: Literal["tap_target_configuration"]
    tap_target_configuration: list[TapTarget] = Field(min_length=1)


HeaderParameter = Annotated[
    TextParameter
    | ImageParameter
    | VideoParameter
    | DocumentParameter
    | ProductParameter
    | LocationParameter,
    Field(discriminator="type"),
]
BodyParameter = Annotated[TextParameter | CurrencyParameter | DateTimeParameter, Field(discriminator="type")]

# The `type` values pydantic puts in an error's path after a list index (discriminated unions).
PARAMETER_TAGS = frozenset(
    {"text", "currency", "date_time", "image", "video", "document", "product", "location"}
)
