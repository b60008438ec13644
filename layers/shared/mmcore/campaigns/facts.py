"""What a report tells a person, from its counters: the funnel (cumulative), the campaign over time, the rates
by country, the failures named, the paths Meta took, cost, and the campaign's real state. Pure: counters and
the campaign item in, plain values out; the JSON report carries them and the HTML page
(:mod:`mmcore.campaigns.page`) draws them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mmcore.campaigns import timeline
from mmcore.campaigns.budget import standing
from mmcore.campaigns.tally import PATH_LABELS, ratio
from mmcore.meta.errors import lookup
from mmcore.meta.rates import BUILT_IN_CARD, RateCard
from mmcore.meta.remedies import advice

# The funnel's steps, each a subset of the one before: every message recorded; taken by Meta (it answered
# with a wamid); sent, delivered and read by Meta's status webhooks (a read message was delivered and sent).
FUNNEL = (
    ("messages", "Messages"),
    ("accepted", "Accepted by Meta"),
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("read", "Read"),
)
# Outcomes that never reached the user, besides failures with a code.
NOT_SENT = {
    "expired": "Expired before it could be sent (its time to live passed): send sooner or allow longer.",
    "unknown": "Meta may or may not have it (an ambiguous answer): check before resending.",
    "suppressed": "The user opted out or is resting: not messaged, as they asked.",
    "invalid": "Not a valid phone number: fix it in the audience.",
    "cancelled": "The campaign was cancelled before it was sent: never sent, never billed.",
}
BLOCKED = "Blocked before sending by the region policy"


def funnel(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The cumulative funnel: each step with its count and its rate from the step before (None: nothing
    before it). ``report`` is :func:`mmcore.campaigns.tally.report`'s answer (plus the raw ``taken``)."""
    by_status = report.get("by_status", {})
    read = by_status.get("read", 0)
    delivered = by_status.get("delivered", 0) + read
    sent = by_status.get("sent", 0) + delivered
    counts = {
        "messages": report.get("messages", 0),
        "accepted": max(report.get("accepted_by_meta", 0), sent),
        "sent": sent,
        "delivered": delivered,
        "read": read,
    }
    steps, before = [], None
    for step, label in FUNNEL:
        count = counts[step]
        rate = ratio(count, before)
        steps.append({"step": step, "label": label, "count": count, "rate_from_previous": rate})
        before = count
    return steps


def by_country_rates(counts: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per country: messages, accepted by Meta, delivered, read, delivery rate (delivered / accepted) and
    read rate (read / delivered); rates None without a denominator."""
    out: dict[str, dict[str, Any]] = {}
    for name, value in sorted(counts.items()):
        if name.startswith("country:") and value:
            country = name.removeprefix("country:")
            accepted = int(counts.get(f"taken_in:{country}", 0))
            delivered = int(counts.get(f"delivered_in:{country}", 0))
            read = int(counts.get(f"read_in:{country}", 0))
            out[country] = {
                "messages": int(value),
                "accepted": accepted,
                "delivered": delivered,
                "read": read,
                "delivery_rate": ratio(delivered, accepted),
                "read_rate": ratio(read, delivered),
            }
    return out


def failures(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Failed messages by Meta's code, most first: the count, Meta's title (None where Meta's table has no
    such code) and what to do."""
    out = []
    for code, count in report.get("failures_by_code", {}).items():
        number = int(code) if str(code).lstrip("-").isdigit() else None
        rule = lookup(number)
        family, what = advice(number)
        out.append(
            {
                "code": code,
                "count": count,
                "title": rule.title if rule else None,
                "family": family,
                "what_to_do": what,
            }
        )
    return sorted(out, key=lambda f: (-f["count"], str(f["code"])))


def not_sent(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Messages that never reached Meta or the user without a failure code: blocked (by reason), expired,
    unknown, suppressed, invalid; each with what it means."""
    out = [
        {"outcome": "blocked", "reason": reason, "count": count, "meaning": f"{BLOCKED} ({reason})."}
        for reason, count in report.get("blocked_by_reason", {}).items()
    ]
    by_status = report.get("by_status", {})
    for outcome in NOT_SENT:
        if by_status.get(outcome):
            out.append(
                {
                    "outcome": outcome,
                    "reason": None,
                    "count": by_status[outcome],
                    "meaning": NOT_SENT[outcome],
                }
            )
    return out


def paths(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """How many messages each path carried, once Meta's pricing said (MM API, its Cloud API fallback, the
    Cloud API's /messages)."""
    by_path = report.get("by_path", {})
    return [{"path": p, "label": label, "count": by_path.get(p, 0)} for p, label in PATH_LABELS.items()]


def cost(
    report: Mapping[str, Any],
    counts: Mapping[str, Any] | None = None,
    campaign: Mapping[str, Any] | None = None,
    card: RateCard = BUILT_IN_CARD,
) -> dict[str, Any]:
    """Spend by country (:mod:`mmcore.campaigns.spend`: Meta's ``pricing.cost`` where it sent one, otherwise
    the rate card x billable deliveries, labelled estimated), in the budget's currency or the card's, Meta's
    own estimate by currency, and where the campaign stands against its budget (None without one)."""
    spent, budget = standing(campaign or {}, counts or {}, card)
    return {
        **spent.view(),
        "spend_by_currency": dict(report.get("spend_by_currency") or {}),
        "budget": budget,
    }


def is_complete(campaign: Mapping[str, Any], report: Mapping[str, Any]) -> bool:
    """Whether every message of a running campaign is final for the sender: its enqueue ended, the counters
    hold all the messages it recorded and none is queued, being sent or due a retry. A paused or cancelled
    campaign is never completed (a cancelled one stays ``cancelled``)."""
    if campaign.get("status") not in ("running", "enqueued") or not campaign.get("counts"):
        return False
    enqueue = campaign.get("counts") or {}
    recorded = sum(int(enqueue.get(n) or 0) for n in ("queued", "blocked", "invalid"))
    return report.get("messages", 0) >= recorded and not report.get("by_status", {}).get("queued")


def describe(
    counts: Mapping[str, Any],
    report: Mapping[str, Any],
    campaign: Mapping[str, Any] | None = None,
    card: RateCard = BUILT_IN_CARD,
) -> dict[str, Any]:
    """The report's reading, added to its counts: ``funnel``, ``over_time``, ``by_country_rates``,
    ``failures``, ``not_sent``, ``delivery_paths`` and ``cost`` (priced with ``card``, against the
    ``campaign``'s budget)."""
    report = {**report, "accepted_by_meta": int(counts.get("taken", 0))}
    return {
        "funnel": funnel(report),
        "over_time": timeline.series(counts),
        "by_country_rates": by_country_rates(counts),
        "failures": failures(report),
        "not_sent": not_sent(report),
        "delivery_paths": paths(report),
        "cost": cost(report, counts, campaign, card),
    }
