"""A campaign's lifecycle as an operator drives it (``PATCH /campaigns/{id}``) and the list of campaigns.

``{"status": "paused"}`` pauses a campaign being sent (``enqueuing`` or ``running``; ``paused_reason``
``operator``); ``"running"`` resumes a paused one, or releases a held one (:mod:`.release`); ``"cancelled"``
stops one for good from ``held``, ``scheduled``, ``awaiting_upload``, ``enqueuing``, ``running`` or ``paused``. Each change is one
conditional write of the campaign item's ``status`` (of two operators, one wins; the other gets the 409). Any
other change is :class:`~mmcore.exceptions.Conflict` naming the state the campaign is in.

The sender reads the status in every batch's prefetch (:mod:`mmcore.sending.decide`): a paused campaign's
messages go back to the queue unsent, a cancelled one's end ``cancelled``. A held or scheduled campaign has
nothing on the queue, so its cancel ends its recorded messages ``cancelled`` here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mmcore.campaigns.facts import is_complete
from mmcore.campaigns.release import MESSAGE_KEYS, release
from mmcore.campaigns.reports import iso
from mmcore.campaigns.tally import report
from mmcore.campaigns.views import CampaignList, CampaignState, CampaignSummary
from mmcore.exceptions import Conflict
from mmcore.observability import logger
from mmcore.store import messages as L
from mmcore.store.campaigns import SENDING, CampaignStatus
from mmcore.store.messages import State

if TYPE_CHECKING:
    from mmcore.campaigns.service import Campaigns

OPERATOR = "operator"  # paused_reason of a pause asked through the API (COST's budget pause says "budget")
MAX_LIST = 100  # campaigns in one page of GET /campaigns (each reads its 8 counter items)
# Where each change may start from (``enqueued``: a campaign from before issue 14, sent like ``running``).
FROM = {
    CampaignStatus.PAUSED: SENDING,
    CampaignStatus.RUNNING: frozenset({CampaignStatus.PAUSED, CampaignStatus.HELD}),
    CampaignStatus.CANCELLED: SENDING
    | {CampaignStatus.PAUSED, CampaignStatus.HELD, CampaignStatus.SCHEDULED, CampaignStatus.AWAITING_UPLOAD},
}
_NOTHING_QUEUED = frozenset({CampaignStatus.HELD, CampaignStatus.SCHEDULED})


def change(campaigns: Campaigns, campaign_id: str, wanted: str) -> CampaignState:
    """Pause, resume, release or cancel the campaign. Raises NotFound, or Conflict naming its state when the
    change does not apply to it (or another change won the race)."""
    c = campaigns
    after = CampaignStatus(wanted)
    status = c.campaign(campaign_id).get("status")
    if after is CampaignStatus.RUNNING and status == CampaignStatus.HELD:
        return CampaignState(**release(c, campaign_id))
    if status not in FROM[after]:
        raise _refused(campaign_id, after, status)
    reason = OPERATOR if after is CampaignStatus.PAUSED else None
    item = c.records.transition(campaign_id, (CampaignStatus(status),), after, int(c.clock()), reason)
    if item is None:  # another change won since the read
        raise _refused(campaign_id, after, c.campaign(campaign_id).get("status"))
    logger.info("campaign %s", after, extra={"campaign_id": campaign_id, "before": status})
    state = CampaignState(
        campaign_id=campaign_id,
        status=item["status"],
        paused_reason=item.get("paused_reason"),
        status_at=iso(item.get("status_at")),
    )
    if after is CampaignStatus.CANCELLED and status in _NOTHING_QUEUED:
        state.cancelled_messages = _cancel_recorded(c, campaign_id)
    if after is CampaignStatus.CANCELLED and status == CampaignStatus.SCHEDULED and c.scheduler is not None:
        # its start would find it cancelled and do nothing; deleted so it does not run at all
        state.unscheduled = c.scheduler.unschedule(campaign_id)
    return state


def listing(campaigns: Campaigns, limit: int, next_token: str | None) -> CampaignList:
    """One page of every campaign, newest first, each with its counts (its counter items: a fixed number of
    reads per campaign). A running campaign the counters show final is recorded ``completed`` on the way."""
    c = campaigns
    items, token = c.records.listing(max(1, min(limit, MAX_LIST)), next_token)
    counters = c.counters.read_many([item["campaign_id"] for item in items])
    out = []
    for item in items:
        summary = report(counters.get(item["campaign_id"], {}))
        if is_complete(item, summary):
            item = c.records.complete(item["campaign_id"], int(c.clock())) or item
        out.append(
            CampaignSummary(
                campaign_id=item["campaign_id"],
                name=item.get("name"),
                status=item.get("status"),
                paused_reason=item.get("paused_reason"),
                created_at=iso(item.get("created_at")),
                finished_at=iso(item.get("finished_at")) if item.get("status") == "completed" else None,
                messages=summary["messages"],
                by_status={s: n for s, n in summary["by_status"].items() if n},
            )
        )
    return CampaignList(campaigns=out, next_token=token)


def _cancel_recorded(c: Campaigns, campaign_id: str) -> int:
    """End a cancelled campaign's recorded, never-queued messages ``cancelled`` (conditional: each only if it
    is still queued). Returns how many."""
    queued = [m for m in c.records.messages(campaign_id) if m.get("state") == State.QUEUED]
    changes = [
        L.finish(
            m["message_id"],
            {"state": State.QUEUED, "attempts": m.get("attempts"), "lease_until": m.get("lease_until")},
            State.CANCELLED,
            {k: v for k, v in m.items() if k not in MESSAGE_KEYS} | {"reason": "campaign cancelled"},
        )
        for m in queued
    ]
    lost = c.ledger.apply(changes)
    return len(changes) - len(lost)


def _refused(campaign_id: str, after: CampaignStatus, status: Any) -> Conflict:
    allowed = ", ".join(sorted(FROM[after]))
    why = f"the campaign is {status}: only a campaign that is {allowed} can be {_verb(after)}"
    return Conflict(
        f"campaign {campaign_id} cannot be {_verb(after)}: {why}", [("status", why)], current=status
    )


def _verb(after: CampaignStatus) -> str:
    return {"paused": "paused", "running": "resumed or released", "cancelled": "cancelled"}[after]
