"""What a campaign costs: the estimate by country before sending, the spend by country in its report, and
where it stands against its budget. Pure: counts, a rate card and a date in, plain values out.

Meta charges per delivered message (:mod:`mmcore.meta.rates`). Spend, per country, is Meta's own estimate
(``pricing.cost`` of the delivered/read webhook, max-price templates only) where it sent one, otherwise the
card's rate x the billable deliveries (delivered or read, ``pricing.type`` not free, no ``pricing.cost``),
labelled estimated. A country without a rate is listed, never priced by a guess. Rates are those in force on
the campaign's first day (UTC): a campaign running over a quarter's change (Jan 1, Apr 1, Jul 1, Oct 1) is
priced at its first quarter's rates.

The counters read (:mod:`mmcore.campaigns.tally`): ``delivered_in:<cc>``, ``priced_in:<cc>`` (delivered
with Meta's cost), ``free_in:<cc>`` (delivered, not charged), ``spend_in:<cc>:<currency>`` (Meta's cost) and
``in_flight_in:<cc>`` (accepted or sent, not yet delivered: charged if delivered).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from mmcore.meta.rates import Rate, RateCard, category_of

ESTIMATE_BASIS = (
    "count x rate per delivered message, as if every message were delivered and charged (an upper bound: "
    "undelivered and free messages cost nothing; the cards' volume tiers are not applied)"
)
META_SOURCE = "Meta's estimate (pricing.cost of delivered/read webhooks, max-price templates)"
ESTIMATED_SOURCE = "estimated: rate card x billable deliveries"
AFTER_IMPORT = "computed after the audience is imported: see the campaign's report (GET /campaigns/{id})"


def _missing_note(missing: Mapping[str, int]) -> str | None:
    if not missing:
        return None
    listed = ", ".join(f"no rate for {c} ({n} messages)" for c, n in missing.items())
    return f"{listed}: not in the total"


def _rate_view(rate: Rate | None) -> dict[str, Any]:
    if rate is None:
        return {"rate": None, "rate_since": None, "rate_source": None, "rate_confirmed": None}
    return {
        "rate": float(rate.amount),
        "rate_since": rate.since.isoformat() if rate.since else None,
        "rate_source": rate.source,
        "rate_confirmed": rate.confirmed,
    }


def money(amount: Decimal) -> float:
    """An amount as JSON shows it: to 6 places (rates have 4 or more)."""
    return float(round(amount, 6))


def estimate(
    by_country: Mapping[str, int], card: RateCard, category: str | None, currency: str | None, on: dt.date
) -> dict[str, Any]:
    """The cost of sending ``by_country`` messages (country -> count) before anything is sent: count x the
    rate in force on ``on`` per country, in ``currency`` (default: the card's); countries without a rate are
    listed in ``missing`` and left out of ``total`` (``complete`` False then)."""
    currency = (currency or card.currency).upper()
    kind = category_of(category)
    rows, missing, total = [], {}, Decimal(0)
    for country, count in sorted(by_country.items()):
        rate = card.rate(country, kind, currency, on) if country != "unknown" else None
        cost = None if rate is None else rate.amount * count
        if cost is None:
            missing[country] = count
        else:
            total += cost
        rows.append(
            {
                "country": country,
                "messages": count,
                **_rate_view(rate),
                "cost": None if cost is None else money(cost),
            }
        )
    return {
        "currency": currency,
        "category": kind,
        "rates_on": on.isoformat(),
        "total": money(total),
        "complete": not missing,
        "by_country": rows,
        "missing": sorted(missing),
        "note": _missing_note(missing),
        "basis": ESTIMATE_BASIS,
        "rate_card": card.source,
    }


def _counter(counts: Mapping[str, Any], name: str) -> Decimal:
    return Decimal(str(counts.get(name, 0)))


@dataclass(frozen=True, slots=True)
class Spend:
    """A campaign's spend in one currency: the totals (exact) and the rows by country a report shows."""

    currency: str
    category: str
    on: dt.date
    spent: Decimal  # Meta's cost and the estimated part
    estimated: Decimal  # the part priced by the card
    in_flight: Decimal  # accepted or sent, not yet delivered, at the card's rate
    rows: tuple[dict[str, Any], ...]
    missing: tuple[str, ...]
    note: str | None
    rate_card: str

    def view(self) -> dict[str, Any]:
        """The spend as the JSON report shows it."""
        return {
            "currency": self.currency,
            "category": self.category,
            "rates_on": self.on.isoformat(),
            "total": money(self.spent),
            "meta_total": money(self.spent - self.estimated),
            "estimated_total": money(self.estimated),
            "estimated": bool(self.estimated),
            "in_flight_cost": money(self.in_flight),
            "by_country": list(self.rows),
            "missing": list(self.missing),
            "note": self.note,
            "source": _source(self.spent - self.estimated, self.estimated),
            "rate_card": self.rate_card,
        }


def spend(
    counts: Mapping[str, Any], card: RateCard, category: str | None, currency: str | None, on: dt.date
) -> Spend:
    """The campaign's spend by country in ``currency`` (default: the card's): Meta's ``pricing.cost`` where it
    sent one, otherwise the card's rate x billable deliveries (estimated), and what is in flight (accepted or
    sent, not yet delivered) at the same rate. Countries with billable or in-flight messages but no rate are
    listed in ``missing``, unpriced."""
    currency = (currency or card.currency).upper()
    kind = category_of(category)
    countries = sorted(
        n.removeprefix("country:") for n, v in counts.items() if n.startswith("country:") and v
    )
    rows, missing = [], {}
    spent = in_flight = estimated_total = Decimal(0)
    for country in countries:
        delivered = int(_counter(counts, f"delivered_in:{country}"))
        priced = int(_counter(counts, f"priced_in:{country}"))
        free = int(_counter(counts, f"free_in:{country}"))
        flight = int(_counter(counts, f"in_flight_in:{country}"))
        meta = _counter(counts, f"spend_in:{country}:{currency}")
        billable = max(delivered - priced - free, 0)
        rate = card.rate(country, kind, currency, on) if country != "unknown" else None
        estimated = None if rate is None else rate.amount * billable
        if rate is None and (billable or flight):
            missing[country] = billable + flight
        spent += meta + (estimated or 0)
        estimated_total += estimated or 0
        in_flight += rate.amount * flight if rate is not None else 0
        if delivered or flight or meta:
            rows.append(
                {
                    "country": country,
                    "delivered": delivered,
                    "free": free,
                    "meta_priced": priced,
                    "meta_cost": money(meta),
                    "billable_estimated": billable,
                    "estimated_cost": None if estimated is None else money(estimated),
                    "cost": money(meta + (estimated or 0)),
                    "in_flight": flight,
                    **_rate_view(rate),
                }
            )
    return Spend(
        currency,
        kind,
        on,
        spent,
        estimated_total,
        in_flight,
        tuple(rows),
        tuple(sorted(missing)),
        _missing_note(missing),
        card.source,
    )


def _source(meta: Decimal, estimated: Decimal) -> str | None:
    parts = [META_SOURCE if meta else None, ESTIMATED_SOURCE if estimated else None]
    return "; ".join(p for p in parts if p) or None


def against_budget(
    amount: Decimal, currency: str, spent: Decimal, in_flight: Decimal, paused_for_budget: bool
) -> dict[str, Any]:
    """Where spend stands against a budget: ``reached`` once spend plus what is in flight is at the budget
    (the next message would pass it), and the line a report shows."""
    committed = spent + in_flight
    reached = committed >= amount
    told = f"spent {money(spent):g} {currency} of {money(amount):g} {currency}"
    if paused_for_budget:
        status = f"paused: budget reached, {told}"
    elif reached:
        status = f"budget reached, {told}"
    else:
        status = f"within budget: {told}, {money(in_flight):g} {currency} in flight"
    return {
        "amount": money(amount),
        "currency": currency,
        "spent": money(spent),
        "in_flight": money(in_flight),
        "remaining": money(max(amount - committed, Decimal(0))),
        "reached": reached,
        "paused": paused_for_budget,
        "status": status,
    }
