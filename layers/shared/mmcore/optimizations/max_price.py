"""A template's max price and the WABA's reach estimate (meta-2026-updates section 5, [MAXP]).

Graph calls:

- ``GET /<TEMPLATE_ID>?fields=optimization_spec`` -> ``{"optimization_spec": {"bid_strategy", "bid_amount"}}``,
  no ``optimization_spec`` when the template has no max price (Meta's standard rate card);
- ``POST /<TEMPLATE_ID>`` with ``{"optimization_spec": {...}}``. Never ``bid_spec``: Meta renamed it on
  2026-06-18 and stopped supporting it after 2026-07-31 [CL];
- ``GET /<WABA_ID>?fields=currency``: the unit of ``bid_amount``;
- ``GET /<WABA_ID>/reachestimate?targeting_spec=<JSON>&date_interval=L7D``.

A change runs like every optimization change (:mod:`mmcore.optimizations.service`): validate -> read before ->
POST -> read after -> audit record -> answer. A template created without a max price is refused before the
POST, as Meta refuses it ("updates only on templates created with a max price", [MAXP] Jun 26, 2026).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from mmcore.exceptions import Conflict, InvalidInput, NotConfigured, UpstreamFailed
from mmcore.meta import max_price as mp
from mmcore.meta.regions import PLACES
from mmcore.optimizations.errors import max_price_refusal
from mmcore.optimizations.models import ChangeContext, Scope, Target
from mmcore.optimizations.nodes import Nodes, read_back
from mmcore.optimizations.pricing import (
    Estimate,
    MaxPriceChange,
    MaxPriceUpdate,
    MaxPriceView,
    OptimizationSpec,
    Price,
    ReachEstimate,
    price_of,
)
from mmcore.optimizations.trail import AuditTrail

NO_WABA = (
    "WABA_ID is not configured (template.yaml parameter WabaId): the WABA's currency is bid_amount's unit"
)
CREATED_WITHOUT = (
    "this template was created without a max price, and Meta only updates optimization_spec on templates "
    "created with one ([MAXP], Jun 26, 2026): create a new template with optimization_spec instead"
)
# A third-party page [T-SDK] says Meta allows switching a template to max price in place since 2026-08-31.
# No Meta page confirms it (UNCONFIRMED, meta-2026-updates section 5), so the refusal above stays.
NOTES = [
    "bid_amount is Meta's unit: per 1,000 deliveries, in the smallest unit of the WABA's currency.",
    "Max price is BETA (optional through 2026, required in eligible geographies from Q2 2027); recipients in "
    "Russia and Belarus get no max price.",
]
REACH_NOTES = [
    "Cost bounds are Meta's average per 1,000 deliveries in the smallest currency unit; *_price shows them "
    "per delivery. users is fixed at 1,000 during the beta.",
]


class MaxPrices:
    """Max price reads and changes over :class:`Nodes`, audited on :class:`AuditTrail`; ``waba_id`` is the
    configured WABA (None: not configured)."""

    def __init__(self, nodes: Nodes, trail: AuditTrail, waba_id: str | None) -> None:
        self.nodes = nodes
        self.trail = trail
        self.waba_id = waba_id

    async def view(self, target: Target) -> MaxPriceView:
        """The template's max price as Meta stores it and as a price per delivery."""
        currency = await self.currency()
        spec = await self.spec(target)
        return self.view_of(target, spec, currency)

    async def update(self, target: Target, request: MaxPriceUpdate, ctx: ChangeContext) -> MaxPriceChange:
        """Convert, check the template has a max price, POST ``optimization_spec``, read back, audit."""
        currency = await self.currency()
        conversion = convert(request, currency)
        requested = OptimizationSpec(bid_amount=conversion.bid_amount, bid_strategy=request.bid_strategy)
        before = await self.spec(target)
        if before is None:
            raise Conflict(CREATED_WITHOUT, [("template_id", "created without a max price")])
        body = {"optimization_spec": requested.model_dump()}
        await self.nodes.change(target, body, refusal=max_price_refusal)
        after, read_warnings = await read_back(lambda: self.spec(target), requested, "the max price")
        warnings = [*conversion.warnings, *read_warnings]
        if after != requested:
            warnings.append(f"Meta reports {_dump(after)} after {_dump(requested)} was sent")
        record = self.trail.record(
            target,
            ctx,
            {"optimization_spec": _dump(requested), "input": request.model_dump(exclude_none=True)},
            {"optimization_spec": _dump(before)},
            {"optimization_spec": _dump(after)},
            warnings,
        )
        return MaxPriceChange(
            **self.view_of(target, after, currency).model_dump(),
            requested=requested,
            before=before,
            conversion=conversion.formula,
            warnings=warnings,
            audit_id=record.audit_id,
        )

    async def reach(self, countries: str, interval: str) -> ReachEstimate:
        """Meta's reach estimate for ``countries`` (comma-separated ISO alpha-2) over ``interval``."""
        codes = parse_countries(countries)
        waba = self._waba()
        targeting = json.dumps({"geo_locations": {"countries": codes}}, separators=(",", ":"))
        params = {"targeting_spec": targeting, "date_interval": interval}
        answer = await self.nodes.read_edge(waba, "reachestimate", params)
        currency = answer.get("waba_currency") if isinstance(answer.get("waba_currency"), str) else None
        estimates = [estimate_of(e, currency) for e in answer.get("estimates") or [] if isinstance(e, dict)]
        return ReachEstimate(
            waba_id=waba.id,
            countries=codes,
            interval=interval,
            waba_currency=currency,
            estimates=estimates,
            notes=list(REACH_NOTES),
        )

    async def currency(self) -> str | None:
        """The WABA's currency (``GET /<WABA_ID>?fields=currency``)."""
        value = (await self.nodes.read(self._waba(), "currency")).get("currency")
        return value if isinstance(value, str) and value else None

    async def spec(self, target: Target) -> OptimizationSpec | None:
        """The template's ``optimization_spec`` (None: no max price)."""
        value = (await self.nodes.read(target, "optimization_spec")).get("optimization_spec")
        if not isinstance(value, dict) or not isinstance(value.get("bid_amount"), int):
            return None
        return OptimizationSpec(bid_amount=value["bid_amount"], bid_strategy=str(value.get("bid_strategy")))

    def _waba(self) -> Target:
        if not self.waba_id:
            raise NotConfigured(NO_WABA)
        return Target(Scope.WABA, self.waba_id)

    @staticmethod
    def view_of(target: Target, spec: OptimizationSpec | None, currency: str | None) -> MaxPriceView:
        """The answer for ``spec`` (None: no max price) in ``currency``."""
        notes = list(NOTES)
        if spec is None:
            notes.insert(0, "No max price: Meta's standard rate card applies to this template.")
        return MaxPriceView(
            id=target.id,
            max_price=spec is not None,
            optimization_spec=spec,
            currency=currency,
            price=_price(Decimal(spec.bid_amount), currency) if spec else None,
            notes=notes,
        )


def parse_countries(countries: str) -> list[str]:
    """``IN,br`` -> ``["IN", "BR"]``; an empty list or a code that is not ISO 3166-1 alpha-2 is refused."""
    codes = list(dict.fromkeys(c.strip().upper() for c in countries.split(",") if c.strip()))
    if not codes:
        raise InvalidInput.fields([("countries", "at least one ISO 3166-1 alpha-2 code, e.g. IN,BR")])
    bad = [c for c in codes if len(c) != 2 or c not in PLACES]
    if bad:
        reason = f"not ISO 3166-1 alpha-2 country codes: {', '.join(bad)}"
        raise InvalidInput.fields([("countries", reason)])
    return codes


def convert(request: MaxPriceUpdate, currency: str | None) -> mp.Conversion:
    """The request's price as a :class:`~mmcore.meta.max_price.Conversion` in the WABA's ``currency``;
    :class:`InvalidInput` naming the field at fault otherwise."""
    if (request.bid_amount is None) == (request.price is None):
        raise InvalidInput.fields(
            [("bid_amount", "give bid_amount or price (with currency), exactly one of them")]
        )
    if currency is None:
        raise UpstreamFailed("Meta did not report the WABA's currency: bid_amount's unit is unknown")
    try:
        if request.currency is not None:
            mp.minor_units(request.currency)  # an unknown currency is named as such, not as the wrong one
            if request.currency != currency:
                raise mp.MaxPriceError(
                    "currency",
                    f"the WABA is billed in {currency}, and bid_amount is counted in it: give the price "
                    f"in {currency}",
                )
        if request.bid_amount is not None:
            return mp.from_bid_amount(request.bid_amount, currency)
        if request.currency is None:
            raise mp.MaxPriceError("currency", f"required with price (the WABA's currency, {currency})")
        return mp.to_bid_amount(Decimal(request.price), currency)
    except mp.MaxPriceError as exc:
        raise InvalidInput.fields([(exc.field, exc.reason)]) from None


def _price(per_thousand_minor: Decimal, currency: str | None) -> Price | None:
    """A per-1,000-deliveries minor-unit amount per delivery; None when the currency is not in the table."""
    if currency is None or currency not in mp.MINOR_UNITS:
        return None
    return price_of(mp.per_delivery(per_thousand_minor, currency), currency)


def estimate_of(raw: dict[str, Any], currency: str | None) -> Estimate:
    """One of Meta's ``estimates[]``, each amount also per delivery (fields Meta leaves out are null)."""

    def number(name: str) -> Decimal | None:
        try:
            return mp.decimal_of(raw[name], name) if raw.get(name) is not None else None
        except mp.MaxPriceError:
            return None

    def integer(name: str) -> int | None:
        value = raw.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    bid, low, high = number("bid_amount"), number("cost_lower_bound"), number("cost_upper_bound")
    return Estimate(
        bid_amount=integer("bid_amount"),
        users=integer("users"),
        deliveries_lower_bound=integer("deliveries_lower_bound"),
        deliveries_upper_bound=integer("deliveries_upper_bound"),
        cost_lower_bound=float(low) if low is not None else None,
        cost_upper_bound=float(high) if high is not None else None,
        bid_price=_price(bid, currency) if bid is not None else None,
        cost_lower_price=_price(low, currency) if low is not None else None,
        cost_upper_price=_price(high, currency) if high is not None else None,
    )


def _dump(spec: OptimizationSpec | None) -> dict[str, Any] | None:
    return spec.model_dump() if spec is not None else None
