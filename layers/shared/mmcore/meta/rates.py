"""Meta's per-message rates as data: by market (the recipient's country), category and currency, each with the
date it applies from and its source. Pure: no I/O; :mod:`mmcore.pricing` adds an operator's card from SSM.

How Meta charges (meta-2026-updates section 12, [PRICE25] and [MAXP]):

- per delivered message (``pricing_model`` ``PMP`` since 2025-07-01), by the recipient's country calling code
  and the message's category; a status webhook's ``pricing.type`` other than ``regular``
  (``free_customer_service``, ``free_entry_point``) is not charged;
- rates change only on Jan 1, Apr 1, Jul 1 and Oct 1, with a month's notice; Meta publishes one card per
  currency (ARS, AUD, CLP, COP, EUR, INR, IDR, MYR, MXN, PEN, SAR, SGD, AED, GBP, USD in 2026) as a "CSV"
  download whose column layout is UNCONFIRMED (a third party says the Oct 2026 links served XLSX);
- MM API sends without a max price use the standard marketing rate: no Meta page gives a different rate for
  ``marketing_lite``; max-price templates are charged what the webhook's ``pricing.cost`` says (an estimate,
  the invoice is authoritative);
- the cards' volume tiers (lower utility and authentication rates past monthly volumes) are not modelled: a
  card here holds the list rate, an upper bound; ``authentication_international`` rates are not modelled.
- UNCONFIRMED ([T-ES], a third party reading the pricing page updated Aug 5, 2026): from Oct 1, 2026 service
  messages billable after 1,000 free per number per month, utility inside the service window billable again,
  9 new standalone markets, Mexico marketing USD 0.0305 -> 0.0397.

Only rates with a source are built in, each marked ``confirmed`` or not: today that is the one Mexico rate
change above, unconfirmed. Every other market has no rate until an operator loads their card: an estimate says
"no rate for XX" rather than guessing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

__all__ = ["BUILT_IN", "BUILT_IN_CARD", "CATEGORIES", "FREE_TYPES", "Rate", "RateCard", "category_of"]

Category = Literal["marketing", "utility", "authentication"]
CATEGORIES: tuple[Category, ...] = ("marketing", "utility", "authentication")
# A status webhook's pricing.type of a message Meta does not charge for ([WH-STATUS], [PRICE25]).
FREE_TYPES = frozenset({"free_customer_service", "free_entry_point"})
# A template's category (Meta's upper case) or a webhook's pricing.category -> the card's column.
_CATEGORY = {
    "marketing": "marketing",
    "marketing_lite": "marketing",  # the MM API's SKU: the standard marketing rate [MAXP]
    "utility": "utility",
    "authentication": "authentication",
}


def category_of(name: str | None) -> Category:
    """The card's category of a template category or a webhook's pricing category (marketing when unknown:
    this product sends marketing campaigns)."""
    return _CATEGORY.get((name or "marketing").lower(), "marketing")  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Rate:
    """One rate: per delivered message of ``category`` to ``market``, in ``currency`` (base unit), from ``since``
    (None: from before any date this product knows) until a later rate of the same market, category and
    currency replaces it."""

    market: str  # ISO 3166-1 alpha-2
    category: Category
    currency: str  # ISO 4217
    amount: Decimal
    since: dt.date | None
    source: str
    confirmed: bool
    origin: Literal["built-in", "override"] = "built-in"


_T_ES = "[T-ES] third-party note reading Meta's pricing page (Updated Aug 5, 2026), meta-2026-updates s.12"

# market, category, currency, amount, since, source, confirmed: one line per rate Meta (or a source) gives.
BUILT_IN: tuple[Rate, ...] = (
    Rate("MX", "marketing", "USD", Decimal("0.0305"), None, _T_ES, confirmed=False),
    Rate("MX", "marketing", "USD", Decimal("0.0397"), dt.date(2026, 10, 1), _T_ES, confirmed=False),
)


class RateCard:
    """The rates in force: the built-in ones and an operator's card; the answer for a market on a date."""

    def __init__(self, rates: Iterable[Rate] = BUILT_IN, *, currency: str = "USD", source: str = "") -> None:
        self.rates = tuple(rates)
        self.currency = currency  # what an estimate is in when the campaign names no budget currency
        self.source = source or "built-in (sourced rates only)"
        self._by_key: dict[tuple[str, str, str], list[Rate]] = {}
        for rate in self.rates:
            self._by_key.setdefault((rate.market, rate.category, rate.currency), []).append(rate)
        # An operator's card, once in force, wins over every built-in rate (it is their invoice's card; the
        # built-in ones may be unconfirmed); then the latest rate in force.
        for found in self._by_key.values():
            found.sort(key=lambda r: (r.origin == "override", r.since or dt.date.min), reverse=True)

    def rate(self, market: str, category: str, currency: str, on: dt.date) -> Rate | None:
        """The rate in force on ``on`` for a message of ``category`` to ``market`` in ``currency`` (None: no
        rate known, never a guess)."""
        for rate in self._by_key.get((market.upper(), category_of(category), currency.upper()), ()):
            if rate.since is None or rate.since <= on:
                return rate
        return None

    def currencies(self) -> list[str]:
        """The currencies this card has rates in."""
        return sorted({rate.currency for rate in self.rates})


BUILT_IN_CARD = RateCard(BUILT_IN)  # the card with no operator's card loaded
