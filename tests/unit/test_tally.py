"""What a message transition adds to its campaign's counters (mmcore.campaigns.tally), and that counters summed
from transitions give the same report as recounting the items with the report code that read every item."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import pytest

from mmcore.campaigns.tally import contribution, drift, is_ttl_removal, report, total, transitions
from mmcore.store.codec import from_item
from mmcore.store.messages import message_item

STATES = (
    "queued",
    "sending",
    "retry",
    "accepted",
    "sent",
    "delivered",
    "read",
    "failed",
    "expired",
    "blocked",
    "suppressed",
    "invalid",
    "unknown",
    "played",  # a status outside the report's list is kept as is
)


def item(status: str | None, message_id: str = "m-1", campaign: str = "c-1", **fields: Any) -> dict | None:
    """A message item as the stream's image carries it (plain values), None for no item."""
    if status is None:
        return None
    extra: dict[str, Any] = {"country": "IN", **fields}
    if status in ("accepted", "sent", "delivered", "read"):
        extra.setdefault("wamid", f"wamid.{message_id}")
    if status in ("sent", "delivered", "read"):
        extra.setdefault("pricing_category", "marketing")
    if status == "failed":
        extra.setdefault("error", {"code": 131026})
    if status == "blocked":
        extra.setdefault("reason", "us_recipient")
    state = status if status not in ("sent", "delivered", "read", "played") else "accepted"
    return from_item(message_item(message_id, status=status, state=state, campaign_id=campaign, **extra))


def apply(counts: Counter, old: Mapping | None, new: Mapping | None, **kw: Any) -> None:
    for t in transitions(old, new, **kw):
        counts.update(t.delta)


@pytest.mark.parametrize(("before", "after"), list(itertools.product((None, *STATES), (None, *STATES))))
def test_every_pair_of_states_moves_the_counters_from_one_message_to_the_other(before, after):
    # Given a campaign whose counters hold one message as it was
    old, new = item(before), item(after)
    counts = total([old] if old else [])
    # When the message's item changes
    apply(counts, old, new)
    # Then the counters are those of the message as it is now, and its report says so
    assert drift(counts, total([new] if new else [])) == {}
    assert report(counts) == legacy_summarize([new] if new else [])


def test_a_duplicate_or_a_change_no_report_shows_adds_nothing():
    queued = item("queued")
    assert transitions(queued, queued) == []
    leased = {**item("sending"), "lease_until": 123}
    assert transitions(item("sending"), leased) == []  # a claim's lease: nothing a report shows
    assert transitions(queued, {**queued, "status": "retry"}) == []  # sending/retry count as queued


def test_a_removal_by_ttl_keeps_the_message_counted_and_a_deletion_does_not():
    read = item("read")
    assert transitions(read, None, expired=True) == []
    (gone,) = transitions(read, None)
    assert gone.delta["messages"] == -1 and gone.delta["status:read"] == -1
    ttl = {
        "eventName": "REMOVE",
        "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
    }
    assert is_ttl_removal(ttl) and not is_ttl_removal({"eventName": "REMOVE"})


def test_items_that_are_not_campaign_messages_count_for_nothing():
    state = {"pk": "WAMID#w", "sk": "STATE", "status": "read", "campaign_id": "c-1", "message_id": "m-1"}
    assert transitions(None, state) == []
    assert transitions(None, {**item("queued"), "campaign_id": None}) == []


def test_a_message_moved_between_campaigns_leaves_one_and_joins_the_other():
    out, into = transitions(item("sent", campaign="a"), item("sent", campaign="b"))
    assert (out.campaign_id, out.delta["messages"], into.campaign_id, into.delta["messages"]) == (
        "a",
        -1,
        "b",
        1,
    )


def test_spend_is_kept_exact_however_many_costs_add_up():
    costs = [item("read", f"m-{i}", cost={"amount": 0.1, "currency": "USD"}) for i in range(3)]
    counts: Counter = Counter()
    for cost in costs:
        apply(counts, None, cost)
    assert counts["spend:USD"] == Decimal("0.3")
    assert report(counts)["spend_by_currency"] == {"USD": 0.3}


def test_random_histories_give_the_report_of_the_final_items():
    # Given 300 messages, each moving through random states (duplicates included), with costs and codes
    rng = random.Random(7)
    counts: Counter = Counter()
    finals = []
    for n in range(300):
        message_id = f"m-{n}"
        extra = {"country": rng.choice(["IN", "BR", None])}
        if rng.random() < 0.3:
            extra["cost"] = {"amount": rng.choice([0.01, 0.035, 2]), "currency": rng.choice(["USD", "INR"])}
        current = None
        for _ in range(rng.randint(1, 6)):
            nxt = item(rng.choice(STATES), message_id, **extra)
            apply(counts, current, nxt)
            if rng.random() < 0.2:  # a no-op record: the same image again
                apply(counts, nxt, nxt)
            current = nxt
        finals.append(current)
    # Then the counters equal a recount, and give the report the item-reading code gave
    assert drift(counts, total(finals)) == {}
    assert report(counts) == legacy_summarize(finals)


# ---------------------------------------------------------------- the report code that read every item
# mmcore.campaigns.reports.summarize as it was before the counters (commit 174aece), kept as the oracle.

_AS_QUEUED = {"sending", "retry"}
_MET_BY_META = {"accepted", "sent", "delivered", "read"}
_REPORT_STATUSES = (
    "queued",
    "accepted",
    "sent",
    "delivered",
    "read",
    "failed",
    "expired",
    "blocked",
    "suppressed",
    "invalid",
    "unknown",
    "cancelled",  # issue 14: a cancelled campaign's unsent messages
)


def legacy_summarize(items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    by_status: Counter[str] = Counter(dict.fromkeys(_REPORT_STATUSES, 0))
    pricing: Counter[str] = Counter({"marketing_lite": 0, "marketing": 0})
    endpoints: Counter[str] = Counter({"marketing_messages": 0, "messages": 0})
    paths: Counter[str] = Counter({"mm_api": 0, "cloud_api_fallback": 0, "cloud_api": 0})
    countries: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    spend: dict[str, Decimal] = {}
    total_ = taken = 0
    for it in items:
        total_ += 1
        status = str(it.get("status") or it.get("state") or "unknown")
        status = "queued" if status in _AS_QUEUED else status
        by_status[status] += 1
        if status in _MET_BY_META or it.get("wamid"):
            taken += 1
        if it.get("pricing_category"):
            pricing[str(it["pricing_category"])] += 1
            if it.get("endpoint") == "messages":
                paths["cloud_api"] += 1
            elif it.get("path") in paths:
                paths[it["path"]] += 1
        if it.get("endpoint"):
            endpoints[str(it["endpoint"])] += 1
        countries[str(it.get("country") or "unknown")] += 1
        if status == "failed" and (code := _legacy_code(it)) is not None:
            codes[str(code)] += 1
        if status == "blocked":
            reasons[str(it.get("reason") or "unknown")] += 1
        cost = it.get("cost")
        if isinstance(cost, Mapping) and isinstance(cost.get("currency"), str):
            amount = cost["amount"]
            value = Decimal(repr(amount)) if isinstance(amount, float) else Decimal(amount)
            spend[cost["currency"]] = spend.get(cost["currency"], Decimal(0)) + value
    delivered = by_status["delivered"] + by_status["read"]
    return {
        "messages": total_,
        "by_status": dict(by_status),
        "by_pricing_category": dict(pricing),
        "by_endpoint": dict(endpoints),
        "by_path": dict(paths),
        "by_country": dict(sorted(countries.items())),
        "failures_by_code": dict(sorted(codes.items())),
        "blocked_by_reason": dict(sorted(reasons.items())),
        "spend_by_currency": {c: float(a) for c, a in sorted(spend.items())},
        "delivery_rate": round(delivered / taken, 4) if taken else None,
        "read_rate": round(by_status["read"] / delivered, 4) if delivered else None,
    }


def _legacy_code(it: Mapping[str, Any]) -> Any:
    error = it.get("error")
    if isinstance(error, Mapping) and error.get("code") is not None:
        return error["code"]
    if it.get("code") is not None:
        return it["code"]
    errors = it.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        return errors[0].get("code")
    return None


def test_contribution_of_no_item_is_nothing():
    assert contribution(None) == Counter()
