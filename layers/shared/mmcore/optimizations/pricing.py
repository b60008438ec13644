"""Max price bodies and answers (meta-2026-updates section 5): a template's ``optimization_spec`` and the WABA's
reach estimate, each amount shown both as Meta counts it (per 1,000 deliveries, smallest unit) and as a price
per delivery."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mmcore.meta import max_price as mp

_PRICE = re.compile(r"^\d{1,12}(\.\d{1,12})?$")


class MaxPriceUpdate(BaseModel):
    """``PUT /templates/{template_id}/max-price``: the new max price, as ``bid_amount`` (Meta's unit) OR as a
    price per delivery (``price`` + ``currency``, a decimal string and the WABA's currency)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"price": "0.05", "currency": "USD"}, {"bid_amount": 5000}]},
    )

    bid_amount: int | None = Field(
        default=None,
        strict=True,
        gt=0,
        le=mp.BID_AMOUNT_MAX,
        description="Meta's unit: per 1,000 deliveries in the smallest unit of the WABA's currency "
        "(USD 0.05 per delivery = 5000). Give this or price, not both.",
    )
    price: str | None = Field(
        default=None,
        description="Price per delivery in the currency's base unit, as a decimal string ('0.05'); it must "
        "convert to a whole bid_amount. Needs currency.",
        examples=["0.05"],
    )
    currency: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 code of price; it must be the WABA's currency (Meta bills in it)",
    )
    bid_strategy: Literal["LOWEST_COST_WITH_BID_CAP"] = Field(
        default=mp.BID_CAP, description="The only strategy Meta accepts"
    )

    @field_validator("price")
    @classmethod
    def _decimal_string(cls, v: str | None) -> str | None:
        if v is not None and not _PRICE.match(v):
            raise ValueError(
                "must be a decimal string such as '0.05' (up to 12 digits each side of the point)"
            )
        return v


class OptimizationSpec(BaseModel):
    """Meta's ``optimization_spec`` as read from or sent to the template."""

    bid_amount: int
    bid_strategy: str


class Price(BaseModel):
    """An amount per delivery in the currency's base unit."""

    amount: str = Field(description="Decimal string, exact ('0.05')")
    currency: str
    display: str = Field(description="'0.05 USD per delivery'")


class MaxPriceView(BaseModel):
    """``GET /templates/{template_id}/max-price``."""

    id: str = Field(description="The template ID")
    max_price: bool = Field(description="False: no optimization_spec, Meta's standard rate card applies")
    optimization_spec: OptimizationSpec | None
    currency: str | None = Field(description="The WABA's currency (Meta's unit for bid_amount)")
    price: Price | None = Field(description="bid_amount as a price per delivery")
    notes: list[str] = Field(default_factory=list)


class MaxPriceChange(MaxPriceView):
    """``PUT /templates/{template_id}/max-price``: what Meta reports after the change, and the conversion."""

    requested: OptimizationSpec = Field(description="What was sent to Meta")
    before: OptimizationSpec | None
    conversion: str = Field(description="How the price became bid_amount")
    warnings: list[str] = Field(default_factory=list)
    audit_id: str


class Estimate(BaseModel):
    """One of Meta's estimates, with each amount per 1,000 deliveries also shown per delivery."""

    bid_amount: int | None
    users: int | None = Field(description="Fixed at 1,000 during the beta [MAXP]")
    deliveries_lower_bound: int | None
    deliveries_upper_bound: int | None
    cost_lower_bound: float | None = Field(description="Meta's: average per 1,000 deliveries, smallest unit")
    cost_upper_bound: float | None
    bid_price: Price | None
    cost_lower_price: Price | None
    cost_upper_price: Price | None


class ReachEstimate(BaseModel):
    """``GET /waba/reach-estimate``: Meta's estimates for the countries and interval asked."""

    waba_id: str
    countries: list[str]
    interval: str
    waba_currency: str | None
    estimates: list[Estimate]
    notes: list[str] = Field(default_factory=list)


def price_of(amount: Decimal, currency: str) -> Price:
    """A per-delivery amount as the API shows it."""
    return Price(
        amount=mp.format_amount(amount, currency), currency=currency, display=mp.display(amount, currency)
    )
