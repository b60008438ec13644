"""Max price as Meta has it in 2026 (meta-2026-updates section 5, [MAXP]): a template's ``optimization_spec``,
the WABA's ``reachestimate``, and the estimated ``pricing.cost`` of a max-price message.

``bid_amount`` is per 1,000 deliveries in the smallest unit of the WABA's currency (``waba_currency`` in the
config). Meta gives no wording for its refusals here: the texts are the simulator's (UNCONFIRMED).
"""

from __future__ import annotations

import json
from decimal import ROUND_DOWN, Decimal
from typing import Any

from .errors import GraphError, invalid, required
from .state import SimState, stable_unit

BID_STRATEGIES = ("LOWEST_COST_WITH_BID_CAP",)
BID_AMOUNT_MAX = 2**31 - 1
DATE_INTERVALS = ("L1D", "L7D", "L14D", "L28D")
# ISO 4217 exponents of the currencies the simulator can bill in (its own table: it never imports mmcore).
MINOR_UNITS = {"USD": 2, "EUR": 2, "GBP": 2, "INR": 2, "BRL": 2, "MXN": 2, "IDR": 2, "JPY": 0, "CLP": 0}
BID_SPEC_GONE = (
    "Param bid_spec is no longer supported on message templates (since 2026-07-31): use optimization_spec."
)
CREATED_WITHOUT = (
    "Max price cannot be added to a template created without one: optimization_spec can only be updated on "
    "templates created with a max price."
)


def parse_optimization_spec(spec: Any) -> dict[str, Any]:
    """``{"bid_amount": int32 > 0, "bid_strategy": "LOWEST_COST_WITH_BID_CAP"}``, nothing else."""
    if not isinstance(spec, dict):
        raise invalid("Param optimization_spec must be an object.")
    for key in spec:
        if key not in ("bid_amount", "bid_strategy"):
            raise GraphError(100, f'Unexpected key "{key}" on param "optimization_spec".')
    for key in ("bid_amount", "bid_strategy"):
        if key not in spec:
            raise required(f"optimization_spec['{key}']")
    amount = spec["bid_amount"]
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= BID_AMOUNT_MAX:
        raise invalid("Param optimization_spec['bid_amount'] must be a positive 32-bit integer.")
    if spec["bid_strategy"] not in BID_STRATEGIES:
        raise invalid(
            f"Param optimization_spec['bid_strategy'] must be one of {{{', '.join(BID_STRATEGIES)}}}."
        )
    return {"bid_strategy": spec["bid_strategy"], "bid_amount": amount}


def refuse_bid_spec(body: dict[str, Any]) -> None:
    """``bid_spec`` on a template: renamed on 2026-06-18, unsupported after 2026-07-31 [CL]."""
    if "bid_spec" in body:
        raise GraphError(100, BID_SPEC_GONE, message=BID_SPEC_GONE)


def reach_estimate(state: SimState, query: dict[str, str]) -> dict[str, Any]:
    """``GET /<WABA_ID>/reachestimate?targeting_spec=<JSON>&date_interval=L7D``: Meta's shape, numbers fixed
    by the seed, the countries and the interval. Each cost bound (average per 1,000 deliveries, smallest unit)
    stays under its bid; ``users`` is 1,000 as in the beta."""
    if "targeting_spec" not in query:
        raise required("targeting_spec")
    try:
        targeting = json.loads(query["targeting_spec"])
    except ValueError:
        raise invalid("Param targeting_spec must be a JSON-encoded object.") from None
    countries = (
        (targeting.get("geo_locations") or {}).get("countries") if isinstance(targeting, dict) else None
    )
    if (
        not isinstance(countries, list)
        or not countries
        or not all(isinstance(c, str) and len(c) == 2 and c.isupper() for c in countries)
    ):
        raise invalid("Param targeting_spec['geo_locations']['countries'] must be a list of country codes.")
    interval = query.get("date_interval")
    if interval not in DATE_INTERVALS:
        raise invalid(f"Param date_interval must be one of {{{', '.join(DATE_INTERVALS)}}}.")
    currency = state.config.waba_currency
    unit = 10 ** MINOR_UNITS.get(currency, 2)
    estimates = []
    for step in (2, 4, 8):  # bids of 0.02, 0.04, 0.08 base units per 1,000 deliveries x 100 (USD 200..800)
        bid = step * unit
        draw = stable_unit(state.config.seed, "reach", tuple(countries), interval, bid)
        low = int(300 + 500 * draw * step / 8)
        cost = round(bid * (0.9 + 0.05 * draw), 2)
        estimates.append(
            {
                "bid_amount": bid,
                "users": 1000,
                "deliveries_lower_bound": low,
                "deliveries_upper_bound": low + 70,
                "cost_lower_bound": cost,
                "cost_upper_bound": round(min(cost + 1, bid), 2),
            }
        )
    return {"waba_currency": currency, "estimates": estimates}


def message_cost(state: SimState, spec: dict[str, Any], multiplier: float, key: str) -> dict[str, Any]:
    """The estimated ``pricing.cost`` of one delivered max-price message: at most ``bid_amount`` x multiplier
    per 1,000 deliveries, in the base unit (dollars), fixed by the seed and the recipient."""
    currency = state.config.waba_currency
    cap = Decimal(spec["bid_amount"]) * Decimal(str(multiplier)) / 1000 / 10 ** MINOR_UNITS.get(currency, 2)
    share = Decimal(str(round(0.6 + 0.4 * stable_unit(state.config.seed, "cost", key), 4)))
    amount = (cap * share).quantize(Decimal("0.000001"), rounding=ROUND_DOWN)
    return {"amount": float(amount), "currency": currency}
