"""A dry run of ``POST /campaigns``: every recipient planned as ``create`` would, nothing recorded or queued."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from mmcore.campaigns.models import Recipient
from mmcore.campaigns.readiness import readiness
from mmcore.exceptions import InvalidInput
from mmcore.store.messages import State

if TYPE_CHECKING:
    from mmcore.campaigns.enqueue import Run
    from mmcore.campaigns.planner import Planned


def rehearse(
    run: Run, recipients: Sequence[Recipient], estimate: Callable[[Any, list[Planned]], dict[str, Any]]
) -> dict[str, Any]:
    """Plan ``recipients`` on ``run`` (never enqueued): counts by outcome (a recipient's bad variables count
    as invalid, as on the CSV path), blocked by reason, by country, the cost ``estimate`` of what would be
    sent, the template's readiness now and every problem found (preflight's, then the campaign's own)."""
    problems = list(run.preflight.problems)
    try:
        planned = run.plan(enumerate(recipients), strict=False)
    except InvalidInput as exc:  # a problem every recipient shares: nothing would be sent
        problems += exc.errors
        planned = []
    by_country: Counter[str] = Counter()
    for p in planned:
        run.counts.add(p)
        if p.state != State.INVALID:
            by_country[p.fields.get("country") or "unknown"] += 1
    d, c = run.definition, run.campaigns
    known = c.templates.get(d.template.name, d.template.language.code)
    created_at = int(d.template_created_at.timestamp()) if d.template_created_at else known.get("created_at")
    now = c.clock()
    ready = readiness(created_at, known.get("last_sent_at"), known.get("sync_until"), now)
    return {
        "dry_run": True,
        "campaign_id": run.campaign_id,
        "name": d.name,
        "would_send": not problems and run.counts.queued > 0,
        "counts": run.counts.as_dict(),
        "by_country": dict(sorted(by_country.items())),
        "cost_estimate": estimate(d, planned),
        "preflight": {**run.preflight.view(), "problems": [{"field": f, "reason": r} for f, r in problems]},
        "template": {"name": d.template.name, "language": d.template.language.code, **ready.view(now)},
    }
