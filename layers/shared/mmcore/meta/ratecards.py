"""An operator's rate card: validated (pydantic), then added to the built-in rates (:mod:`mmcore.meta.rates`).

Meta publishes a card per currency each quarter, so an operator loads theirs without a release. The card is
JSON (read from SSM Parameter Store by ``mmcore.pricing``; ``mmapi ratecard convert`` writes it from a CSV)::

    {"currency": "USD", "effective": "2027-01-01", "confirmed": true,
     "source": "Meta's USD rate card for Q1 2027, downloaded 2026-12-02",
     "rates": {"MX": {"marketing": 0.0397, "utility": 0.0085, "authentication": 0.0085},
               "BR": {"marketing": 0.0625}}}

``rates`` maps a market (ISO 3166-1 alpha-2: Meta's cards group some countries, e.g. "Rest of Latin
America": list each country of the group) to its rate per delivered message by category (``marketing``,
``utility``, ``authentication``; a category left out has no rate), in the base unit of ``currency`` (dollars,
not cents). ``effective`` is the date the card applies from (before it, earlier rates answer); ``source`` is
shown beside every estimate it prices; ``confirmed`` (default true) says whether it is Meta's own card. An
SSM Advanced parameter (8 KB) holds about 100 markets of three rates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from mmcore.meta.overrides import InvalidDocument, field_error
from mmcore.meta.rates import BUILT_IN, BUILT_IN_CARD, Rate, RateCard
from mmcore.meta.regions import PLACES

__all__ = ["InvalidRateCard", "RateCardOverride", "card", "parse_rate_card"]

# Meta's 2026 card currencies (meta-2026-updates s.12, [CL] Mar 2, 2026); another one is refused as a typo.
CURRENCIES = frozenset(
    ["ARS", "AUD", "CLP", "COP", "EUR", "INR", "IDR", "MYR", "MXN", "PEN", "SAR", "SGD", "AED", "GBP", "USD"]
)
MAX_RATE = Decimal(100_000)  # per message, in the base unit: a sanity bound that also fits IDR or COP amounts


def _market(code: str) -> str:
    if len(code) != 2 or code not in PLACES:
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def _currency(code: str) -> str:
    if code not in CURRENCIES:
        raise ValueError(
            f"{code!r} is not a currency Meta publishes a rate card in ({', '.join(sorted(CURRENCIES))})"
        )
    return code


Market = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True), AfterValidator(_market)]
Currency = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True), AfterValidator(_currency)]
Amount = Annotated[Decimal, Field(ge=0, le=MAX_RATE, allow_inf_nan=False)]


class InvalidRateCard(InvalidDocument):
    """The card cannot be used, e.g. ``("rates.MX.marketing", "Input should be greater than or equal to 0")``."""


class MarketRates(BaseModel):
    """One market's rates per delivered message, by category."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    marketing: Amount | None = None
    utility: Amount | None = None
    authentication: Amount | None = None


class RateCardOverride(BaseModel):
    """The whole card: its currency, from when it applies, where it comes from, and the rates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: Currency
    effective: Annotated[dt.date, Field(strict=True)]
    source: str = Field(min_length=1, max_length=300)
    confirmed: bool = True
    rates: dict[Market, MarketRates] = Field(min_length=1, max_length=300)

    @field_validator("rates")
    @classmethod
    def _some_rate(cls, rates: dict[str, MarketRates]) -> dict[str, MarketRates]:
        empty = [market for market, r in rates.items() if not r.model_dump(exclude_none=True)]
        if empty:
            raise ValueError(f"no rate given for {', '.join(empty)}")
        return rates


def parse_rate_card(text: str | bytes) -> RateCardOverride:
    """Validate the card's JSON; :class:`InvalidRateCard` names every field at fault and why."""
    try:
        return RateCardOverride.model_validate_json(text)
    except ValidationError as exc:
        raise InvalidRateCard([field_error(err) for err in exc.errors(include_url=False)]) from None


def card(override: RateCardOverride | None, built_in: Sequence[Rate] = BUILT_IN) -> RateCard:
    """The card in force: the built-in rates, and the override's from its ``effective`` date."""
    if override is None:
        return RateCard(built_in) if built_in is not BUILT_IN else BUILT_IN_CARD
    source = f"override: {override.source}"
    added = [
        Rate(
            market,
            category,
            override.currency,
            amount,
            override.effective,
            source,
            override.confirmed,
            "override",
        )
        for market, rates in override.rates.items()
        for category, amount in rates.model_dump(exclude_none=True).items()
    ]
    return RateCard((*built_in, *added), currency=override.currency, source=source)
