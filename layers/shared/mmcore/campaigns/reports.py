"""Reports: a campaign's counts come from its counters (:mod:`mmcore.campaigns.tally`, kept by the aggregator
from the table's stream), so a report costs the same at any size; :func:`summarize` recounts them from the
message items, for the audit. Pure: the items come from :class:`~mmcore.store.campaigns.CampaignRecords`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from mmcore.campaigns.tally import REPORT_STATUSES, REPORTED, report, total

__all__ = ["REPORTED", "REPORT_STATUSES", "campaign_view", "iso", "public", "summarize"]

_INTERNAL = frozenset({"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "expires_at"})


def summarize(items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The report's counts and rates recounted from message items (plain values): what the counters the
    aggregator keeps must equal (:func:`mmcore.campaigns.tally.report` says what each field is)."""
    return report(total(items))


def public(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item as the API shows it: without its storage keys."""
    return {k: v for k, v in item.items() if k not in _INTERNAL}


def campaign_view(item: Mapping[str, Any]) -> dict[str, Any]:
    """The campaign item as a report shows it: times as ISO 8601, the enqueue's counts as ``enqueue``;
    ``enqueued_at`` when its enqueue ended, ``finished_at`` only once it is ``completed``."""
    view = public(item)
    view["enqueued_at"] = item.get("enqueued_at", item.get("finished_at"))
    view["finished_at"] = item.get("finished_at") if item.get("status") == "completed" else None
    for name in ("created_at", "enqueued_at", "finished_at", "template_ready_at", "status_at"):
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
