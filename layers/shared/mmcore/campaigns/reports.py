"""Reports, derived from a campaign's message items (never from counters), so always consistent with the
ledger; a report reads every message item of the campaign (fine for tens of thousands of messages, slow for
millions). Pure: the items come from :class:`~mmcore.store.campaigns.CampaignRecords`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

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
        ),
    )
)
# What summarize reads of each message item.
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
    "endpoint",
    "path",
)
# Which endpoint carried a message (the sender's ``endpoint``), and which path Meta took: the webhook's
# ``path`` for /marketing_messages (mm_api: pricing marketing_lite; cloud_api_fallback: marketing), and the
# Cloud API for anything /messages carried (meta-2026-updates section 4).
ENDPOINTS = ("marketing_messages", "messages")
PATHS = ("mm_api", "cloud_api_fallback", "cloud_api")

_AS_QUEUED = frozenset({State.SENDING, State.RETRY})
_MET_BY_META = frozenset({State.ACCEPTED, "sent", "delivered", "read"})  # Meta took the message
_INTERNAL = frozenset({"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "expires_at"})


def summarize(items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts for a campaign report from its message items (plain values, as the store returns them).

    ``by_status``: the item's ``status`` (``sending``/``retry`` count as queued; unknown values are kept).
    ``by_endpoint``: the endpoint each POSTed message went to; ``by_path``: the path Meta took, once a status
    webhook with pricing told it (:data:`PATHS`).
    ``spend_by_currency``: the sum of the messages' estimated costs (max-price templates), by currency.
    ``delivery_rate``: (delivered + read) / messages Meta accepted (accepted, sent, delivered, read, and failed
    ones that got a wamid). ``read_rate``: read / (delivered + read). Rates are None with no denominator.
    """
    by_status: Counter[str] = Counter(dict.fromkeys(REPORT_STATUSES, 0))
    pricing: Counter[str] = Counter({"marketing_lite": 0, "marketing": 0})
    endpoints: Counter[str] = Counter(dict.fromkeys(ENDPOINTS, 0))
    paths: Counter[str] = Counter(dict.fromkeys(PATHS, 0))
    countries: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    spend: dict[str, Decimal] = {}
    total = taken = 0
    for item in items:
        total += 1
        status = str(item.get("status") or item.get("state") or State.UNKNOWN)
        status = str(State.QUEUED) if status in _AS_QUEUED else status
        by_status[status] += 1
        if status in _MET_BY_META or item.get("wamid"):
            taken += 1
        if item.get("pricing_category"):
            pricing[str(item["pricing_category"])] += 1
        if item.get("endpoint"):
            endpoints[str(item["endpoint"])] += 1
        if (path := _path(item)) is not None:
            paths[path] += 1
        countries[str(item.get("country") or "unknown")] += 1
        if status == State.FAILED and (code := _error_code(item)) is not None:  # blocked: by reason, below
            codes[str(code)] += 1
        if status == State.BLOCKED:
            reasons[str(item.get("reason") or "unknown")] += 1
        if (cost := _cost(item)) is not None:
            spend[cost[1]] = spend.get(cost[1], Decimal(0)) + cost[0]
    delivered = by_status["delivered"] + by_status["read"]
    return {
        "messages": total,
        "by_status": dict(by_status),
        "by_pricing_category": dict(pricing),
        "by_endpoint": dict(endpoints),
        "by_path": dict(paths),
        "by_country": dict(sorted(countries.items())),
        "failures_by_code": dict(sorted(codes.items())),
        "blocked_by_reason": dict(sorted(reasons.items())),
        "spend_by_currency": {currency: float(amount) for currency, amount in sorted(spend.items())},
        "delivery_rate": round(delivered / taken, 4) if taken else None,
        "read_rate": round(by_status["read"] / delivered, 4) if delivered else None,
    }


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


def public(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item as the API shows it: without its storage keys."""
    return {k: v for k, v in item.items() if k not in _INTERNAL}


def campaign_view(item: Mapping[str, Any]) -> dict[str, Any]:
    """The campaign item as a report shows it: times as ISO 8601, the enqueue's counts as ``enqueue``."""
    view = public(item)
    for name in ("created_at", "finished_at", "template_ready_at"):
        if name in view:
            view[name] = iso(view[name])
    view.pop("counts", None)
    view["enqueue"] = item.get("counts") or {}
    return view


def iso(epoch: Any) -> str | None:
    """Epoch seconds as ``2026-11-23T12:00:00Z`` (None stays None)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(int(epoch), UTC).isoformat().replace("+00:00", "Z")
