"""What one message adds to its campaign's report, as named counters, and what a change of its item adds.

A message counts once, as its item stands: :func:`contribution` turns an item into counters (``messages``,
``status:<status>``, ``taken``, ``category:<c>``, ``endpoint:<e>``, ``path:<p>``, ``country:<cc>``, ``code:<code>``, ``reason:<r>``,
``spend:<currency>``, ``taken_in:<cc>``, ``delivered_in:<cc>``, ``read_in:<cc>``, the spend by country of
:mod:`mmcore.campaigns.spend` (``spend_in:<cc>:<currency>``, ``priced_in:<cc>``, ``free_in:<cc>``,
``in_flight_in:<cc>``) and the time buckets
``at:<step>:<offset>`` of :mod:`mmcore.campaigns.timeline`). A change of the item (a DynamoDB stream record: old image -> new image) adds
``contribution(new) - contribution(old)``: over a message's life these telescope to its final contribution,
so counters summed from the transitions equal the counts recounted from the items (``mmapi campaign
audit``). :func:`report` turns counters into the report's fields. Pure: no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from mmcore.campaigns import timeline
from mmcore.meta.rates import FREE_TYPES
from mmcore.store import keys
from mmcore.store.messages import State

# What a report shows, in this order; the sender's in-flight states count as queued. "sent", "delivered" and
# "read" are delivery statuses the webhook sets.
REPORT_STATUSES: tuple[str, ...] = tuple(
    map(
        str,
        (
            State.QUEUED,
            State.ACCEPTED,
            "sent",
            "delivered",
            "read",
            State.FAILED,
            State.EXPIRED,
            State.BLOCKED,
            State.SUPPRESSED,
            State.INVALID,
            State.UNKNOWN,
            State.CANCELLED,
        ),
    )
)
# What a contribution reads of a message item.
REPORTED = (
    "status",
    "state",
    "pricing_category",
    "country",
    "error",
    "errors",
    "code",
    "reason",
    "wamid",
    "cost",
    "pricing_type",
    "endpoint",
    "path",
    *timeline.TIMES,
)
# Which endpoint carried a message (the sender's ``endpoint``), and which path Meta took: the webhook's
# ``path`` for /marketing_messages (mm_api: pricing marketing_lite; cloud_api_fallback: marketing), and the
# Cloud API for anything /messages carried (meta-2026-updates section 4).
ENDPOINTS = ("marketing_messages", "messages")
PATHS = ("mm_api", "cloud_api_fallback", "cloud_api")
PATH_LABELS = {  # each path as a marketer reads it (the report, its page, a test send)
    "mm_api": "MM API (marketing_lite)",
    "cloud_api_fallback": "Cloud API fallback (marketing)",
    "cloud_api": "Cloud API (/messages)",
}

_AS_QUEUED = frozenset({State.SENDING, State.RETRY})
_MET_BY_META = frozenset({State.ACCEPTED, "sent", "delivered", "read"})  # Meta took the message
_IN_FLIGHT = frozenset({State.ACCEPTED, "sent"})  # taken by Meta, neither delivered nor failed yet
_TTL_PRINCIPAL = "dynamodb.amazonaws.com"  # who removes an item whose expires_at passed

Tally = Counter  # counter name -> int or Decimal


def contribution(item: Mapping[str, Any] | None) -> Tally:
    """The counters one message item adds to its campaign's report (none for None: no item)."""
    tally: Tally = Counter()
    if item is None:
        return tally
    status = str(item.get("status") or item.get("state") or State.UNKNOWN)
    status = str(State.QUEUED) if status in _AS_QUEUED else status
    tally["messages"] = 1
    tally[f"status:{status}"] = 1
    if status in _MET_BY_META or item.get("wamid"):
        tally["taken"] = 1
    if item.get("pricing_category"):
        tally[f"category:{item['pricing_category']}"] = 1
    if item.get("endpoint"):
        tally[f"endpoint:{item['endpoint']}"] = 1
    if (path := _path(item)) is not None:
        tally[f"path:{path}"] = 1
    country = item.get("country") or "unknown"
    tally[f"country:{country}"] = 1
    reached = _reached(status, tally)
    for step in reached:  # per-country funnel: the rates by country
        tally[f"{step}_in:{country}"] = 1
    tally.update(timeline.buckets(item, reached))
    if status == State.FAILED and (code := _error_code(item)) is not None:  # blocked: by reason, below
        tally[f"code:{code}"] = 1
    if status == State.BLOCKED:
        tally[f"reason:{item.get('reason') or 'unknown'}"] = 1
    cost = _cost(item)
    if cost is not None:
        tally[f"spend:{cost[1]}"] = cost[0]
        tally[f"spend_in:{country}:{cost[1]}"] = cost[0]
    tally.update(_billing(status, country, reached, item, cost is not None))
    return tally


def _billing(
    status: str, country: str, reached: tuple[str, ...], item: Mapping[str, Any], priced: bool
) -> Tally:
    """What a message adds to its country's spend (:mod:`mmcore.campaigns.spend`): delivered with Meta's cost
    (``priced_in``), delivered free (``free_in``: ``pricing.type`` free_customer_service or free_entry_point),
    or in flight (``in_flight_in``: Meta took it, no delivery or failure yet; charged if it is delivered)."""
    tally: Tally = Counter()
    if "delivered" in reached:
        if priced:
            tally[f"priced_in:{country}"] = 1
        elif item.get("pricing_type") in FREE_TYPES:
            tally[f"free_in:{country}"] = 1
    elif status in _IN_FLIGHT:
        tally[f"in_flight_in:{country}"] = 1
    return tally


def _reached(status: str, tally: Tally) -> tuple[str, ...]:
    """The cumulative funnel steps a message reached: read implies delivered, delivered implies taken."""
    if not tally["taken"]:
        return ()
    if status == "read":
        return ("taken", "delivered", "read")
    return ("taken", "delivered") if status == "delivered" else ("taken",)


def total(items: Iterable[Mapping[str, Any]]) -> Tally:
    """The counters of many message items, recounted."""
    tally: Tally = Counter()
    for item in items:
        tally.update(contribution(item))
    return tally


@dataclass(frozen=True, slots=True)
class Transition:
    """What one change of a message item adds to one campaign's counters (only non-zero counters)."""

    campaign_id: str
    message_id: str
    delta: dict[str, int | Decimal]


def transitions(
    old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, *, expired: bool = False
) -> list[Transition]:
    """The counter changes of a message item going from ``old`` to ``new`` (plain values; None: absent).

    A removal by TTL (``expired``) changes nothing: an expired message still counted in its campaign's report
    (the campaign item and its counters expire with it). An item that is not a message of a campaign, or a
    change that touches nothing a report shows (a claim's lease, a duplicate webhook), gives none. A message
    moved between campaigns (never done, but possible in a hand edit) leaves one and joins the other."""
    if expired:
        return []
    before, after = _campaign_of(old), _campaign_of(new)
    if before == after:
        if before is None:
            return []
        delta = _minus(contribution(new), contribution(old))
        return [Transition(before[0], before[1], delta)] if delta else []
    out = []
    if before is not None:
        out.append(Transition(before[0], before[1], _minus(Counter(), contribution(old))))
    if after is not None:
        out.append(Transition(after[0], after[1], dict(contribution(new))))
    return out


def is_ttl_removal(record: Mapping[str, Any]) -> bool:
    """Whether a stream record is DynamoDB's TTL deleting an expired item (its ``userIdentity``)."""
    identity = record.get("userIdentity") or {}
    return identity.get("type") == "Service" and identity.get("principalId") == _TTL_PRINCIPAL


def report(counts: Mapping[str, int | Decimal]) -> dict[str, Any]:
    """The report's counts and rates from counters (:func:`contribution` names).

    ``by_status``: the item's ``status`` (``sending``/``retry`` count as queued; unknown values are kept).
    ``by_endpoint``: the endpoint each POSTed message went to; ``by_path``: the path Meta took, once a status
    webhook with pricing told it (:data:`PATHS`).
    ``spend_by_currency``: the sum of the messages' estimated costs (max-price templates), by currency.
    ``delivery_rate``: (delivered + read) / messages Meta accepted (accepted, sent, delivered, read, and failed
    ones that got a wamid). ``read_rate``: read / (delivered + read). Rates are None with no denominator.
    """
    by_status = dict.fromkeys(REPORT_STATUSES, 0) | _group(counts, "status:")
    delivered = by_status["delivered"] + by_status["read"]
    taken = int(counts.get("taken", 0))
    return {
        "messages": int(counts.get("messages", 0)),
        "by_status": by_status,
        "by_pricing_category": {"marketing_lite": 0, "marketing": 0} | _group(counts, "category:"),
        "by_endpoint": dict.fromkeys(ENDPOINTS, 0) | _group(counts, "endpoint:"),
        "by_path": dict.fromkeys(PATHS, 0) | _group(counts, "path:"),
        "by_country": dict(sorted(_group(counts, "country:").items())),
        "failures_by_code": dict(sorted(_group(counts, "code:").items())),
        "blocked_by_reason": dict(sorted(_group(counts, "reason:").items())),
        "spend_by_currency": {
            currency: float(amount)
            for currency, amount in sorted(_group(counts, "spend:", exact=True).items())
        },
        "delivery_rate": ratio(delivered, taken),
        "read_rate": ratio(by_status["read"], delivered),
    }


def ratio(part: float, whole: float) -> float | None:
    """``part / whole`` to 4 places; None without a denominator (a report's rates)."""
    return round(part / whole, 4) if whole else None


def drift(counted: Mapping[str, int | Decimal], recounted: Mapping[str, int | Decimal]) -> dict[str, Any]:
    """Counters that differ from a recount of the items: name -> counted minus recounted (empty: no drift)."""
    names = sorted(set(counted) | set(recounted))
    return {n: d for n in names if (d := counted.get(n, 0) - recounted.get(n, 0))}


def _group(counts: Mapping[str, int | Decimal], prefix: str, *, exact: bool = False) -> dict[str, Any]:
    """Counters under ``prefix``, without it; counts of zero are dropped (a message that moved on)."""
    return {
        name.removeprefix(prefix): value if exact else int(value)
        for name, value in counts.items()
        if name.startswith(prefix) and value
    }


def _minus(new: Tally, old: Tally) -> dict[str, int | Decimal]:
    return {name: d for name in set(new) | set(old) if (d := new.get(name, 0) - old.get(name, 0))}


def _campaign_of(item: Mapping[str, Any] | None) -> tuple[str, str] | None:
    if not item or not item.get("campaign_id") or not item.get("message_id"):
        return None
    if (str(item.get("pk")), str(item.get("sk"))) != keys.of(
        keys.plain(keys.message(str(item["message_id"])))
    ):
        return None
    return str(item["campaign_id"]), str(item["message_id"])


def _path(item: Mapping[str, Any]) -> str | None:
    """The path Meta took, once a status webhook with pricing said (None before)."""
    if not item.get("pricing_category"):
        return None
    if item.get("endpoint") == "messages":
        return "cloud_api"
    return str(item["path"]) if item.get("path") in PATHS else None


def _cost(item: Mapping[str, Any]) -> tuple[Decimal, str] | None:
    """The message's estimated cost (``pricing.cost`` of its latest delivered/read webhook, max-price
    templates only [MAXP]) as (amount in the base unit, currency): one per message, however many webhooks."""
    cost = item.get("cost")
    if not isinstance(cost, Mapping) or not isinstance(cost.get("currency"), str):
        return None
    amount = cost.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int | float | Decimal):
        return None
    return Decimal(repr(amount)) if isinstance(amount, float) else Decimal(amount), cost["currency"]


def _error_code(item: Mapping[str, Any]) -> Any:
    error = item.get("error")
    if isinstance(error, Mapping) and error.get("code") is not None:
        return error["code"]
    if item.get("code") is not None:
        return item["code"]
    errors = item.get("errors")  # a status webhook's errors[] as stored
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        return errors[0].get("code")
    return None
