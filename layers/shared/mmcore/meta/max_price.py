"""A template's max price (meta-2026-updates section 5, [MAXP] Jun 26, 2026): the money math, no I/O.

Meta counts ``optimization_spec.bid_amount`` (int32) per 1,000 deliveries in the smallest unit of the WABA's
currency: USD 0.05 per delivery -> 5000, INR 0.87 -> 87000. Only ``LOWEST_COST_WITH_BID_CAP`` is accepted.
Every conversion here is Decimal/integer: a price that does not land on a whole ``bid_amount`` is refused,
never rounded, so what Meta stores is what the caller asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext

BID_CAP = "LOWEST_COST_WITH_BID_CAP"  # the only bid_strategy Meta accepts [MAXP]
BID_STRATEGIES = frozenset({BID_CAP})
DELIVERIES = 1000  # bid_amount and the reach estimate's cost bounds are per 1,000 deliveries [MAXP]
BID_AMOUNT_MAX = 2**31 - 1  # int32 [MAXP]
REACH_INTERVALS = ("L1D", "L7D", "L14D", "L28D")  # reachestimate date_interval [MAXP]

# ISO 4217 minor units (List One, as published by SIX; table read 2026-11-29). The 2026 billing currencies
# Meta lists [CL Mar 2, 2026] come first; the others are currencies a WABA may be billed in. Adding one is
# one line.
MINOR_UNITS: dict[str, int] = {
    # Meta's 2026 rate-card currencies [CL Mar 2, 2026]
    "ARS": 2, "AUD": 2, "CLP": 0, "COP": 2, "EUR": 2, "INR": 2, "IDR": 2, "MYR": 2, "MXN": 2, "PEN": 2,
    "SAR": 2, "SGD": 2, "AED": 2, "GBP": 2, "USD": 2,
    # other currencies (ISO 4217)
    "BRL": 2, "CAD": 2, "CHF": 2, "CZK": 2, "DKK": 2, "EGP": 2, "HKD": 2, "HUF": 2, "ILS": 2, "JPY": 0,
    "KES": 2, "KRW": 0, "NGN": 2, "NOK": 2, "NZD": 2, "PHP": 2, "PKR": 2, "PLN": 2, "QAR": 2, "RON": 2,
    "SEK": 2, "THB": 2, "TRY": 2, "TWD": 2, "UAH": 2, "VND": 0, "ZAR": 2, "BHD": 3, "KWD": 3, "OMR": 3,
    "JOD": 3, "ISK": 0, "PYG": 0, "CRC": 2,
}  # fmt: skip
# Meta's Marketing API counts these in whole units ("currency offset" 1) although ISO 4217 gives them cents.
# Whether max price's bid_amount follows that offset or ISO 4217 is UNCONFIRMED (Meta's examples are USD and
# INR only): the conversion uses ISO 4217 and the answer warns.
META_WHOLE_UNITS = frozenset({"COP", "CRC", "HUF", "IDR", "TWD"})


class MaxPriceError(ValueError):
    """A price, bid or currency that cannot be used; ``field`` names it, ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Conversion:
    """A price per delivery and its ``bid_amount``, with the arithmetic that links them."""

    price: Decimal  # base unit (dollars, rupees) per delivery
    currency: str
    bid_amount: int

    @property
    def display(self) -> str:
        return display(self.price, self.currency)

    @property
    def formula(self) -> str:
        minor = minor_units(self.currency)
        return (
            f"{format_amount(self.price, self.currency)} {self.currency} per delivery x {DELIVERIES:,} "
            f"deliveries x 10^{minor} ({self.currency} minor units) = {self.bid_amount} (bid_amount)"
        )

    @property
    def warnings(self) -> list[str]:
        if self.currency not in META_WHOLE_UNITS:
            return []
        return [
            f"Meta's Marketing API counts {self.currency} in whole units; this conversion uses ISO 4217's "
            f"{minor_units(self.currency)} decimals. Which one bid_amount uses is UNCONFIRMED: compare "
            "with GET /waba/reach-estimate before relying on it"
        ]


def minor_units(currency: str) -> int:
    """The ISO 4217 exponent of ``currency`` (USD 2, JPY 0); unknown -> :class:`MaxPriceError` on ``currency``."""
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise MaxPriceError(
            "currency", f"unknown currency {currency!r}: not in the ISO 4217 minor-unit table (2026-11-29)"
        ) from None


def to_bid_amount(price: Decimal, currency: str) -> Conversion:
    """A price per delivery in the base unit -> ``bid_amount`` (per 1,000 deliveries, smallest unit).

    Refused (on ``price``) when it is not positive, does not convert to a whole ``bid_amount`` (the nearest
    prices that do are named), or exceeds int32.
    """
    minor = minor_units(currency)
    if not price.is_finite() or price <= 0:
        raise MaxPriceError("price", "must be a positive amount per delivery")
    with localcontext() as ctx:
        ctx.prec = 60  # exact for any price the API accepts
        scaled = price * DELIVERIES * 10**minor
        if scaled != scaled.to_integral_value():
            low, high = int(scaled), int(scaled) + 1
            nearest = [display(to_price(b, currency), currency) for b in (low, high) if b > 0]
            raise MaxPriceError(
                "price",
                f"{format_amount(price, currency)} {currency} per delivery is {scaled.normalize():f} "
                f"{currency} minor units per {DELIVERIES:,} deliveries, not a whole number: Meta's bid_amount "
                f"is an integer. Nearest prices that convert exactly: {' or '.join(nearest)}",
            )
    bid = int(scaled)
    if bid > BID_AMOUNT_MAX:
        highest = display(to_price(BID_AMOUNT_MAX, currency), currency)
        raise MaxPriceError("price", f"bid_amount {bid} exceeds int32; the highest price is {highest}")
    return Conversion(price, currency, bid)


def to_price(bid_amount: int, currency: str) -> Decimal:
    """``bid_amount`` -> the price per delivery in the base unit (5000 USD -> 0.05), exact."""
    return per_delivery(Decimal(bid_amount), currency)


def from_bid_amount(bid_amount: int, currency: str) -> Conversion:
    """``bid_amount`` as a :class:`Conversion`; refused (on ``bid_amount``) outside 1..int32."""
    if (
        isinstance(bid_amount, bool)
        or not isinstance(bid_amount, int)
        or not 0 < bid_amount <= BID_AMOUNT_MAX
    ):
        raise MaxPriceError("bid_amount", f"must be an integer from 1 to {BID_AMOUNT_MAX} (int32)")
    return Conversion(to_price(bid_amount, currency), currency, bid_amount)


def per_delivery(per_thousand_minor: Decimal, currency: str) -> Decimal:
    """An amount per 1,000 deliveries in minor units (a bid, a reach estimate's cost bound) -> per delivery
    in the base unit."""
    with localcontext() as ctx:
        ctx.prec = 60
        return (per_thousand_minor / (DELIVERIES * 10 ** minor_units(currency))).normalize()


def decimal_of(value: object, field: str) -> Decimal:
    """Meta's JSON number (float or int) as the Decimal it was written as (389.74, not its binary value)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MaxPriceError(field, f"not a number: {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise MaxPriceError(field, f"not a number: {value!r}") from None
    if not number.is_finite():
        raise MaxPriceError(field, f"not a finite number: {value!r}")
    return number


def format_amount(price: Decimal, currency: str) -> str:
    """At least the currency's decimals, more only when the amount has them: 0.05, 0.50, 5 (JPY), 0.0038974."""
    exponent = price.normalize().as_tuple().exponent
    decimals = max(minor_units(currency), -exponent if isinstance(exponent, int) else 0)
    return f"{price:.{decimals}f}"


def display(price: Decimal, currency: str) -> str:
    """``"0.05 USD per delivery"``."""
    return f"{format_amount(price, currency)} {currency} per delivery"
