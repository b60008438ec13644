"""The release of a held campaign: its recorded messages put on the send queue, once a test send has passed.

A campaign created with ``hold: true`` records every recipient (queued ones with their send request in
``body``) and queues nothing; its status is ``held``. ``PATCH /campaigns/{id}`` ``{"status": "running"}``
releases it: refused (:class:`~mmcore.exceptions.Conflict`, nothing written) unless it is held and one of its
test sends passed (:mod:`.testsend`). The status moves ``held`` -> ``releasing`` conditionally (one release
wins), the messages go on the queue with the template's readiness delay, and the campaign ends ``running``.
Should the queueing stop halfway, the campaign goes back to ``held`` and can be released again: a message
queued twice is sent once (the sender's claim is conditional on the ledger).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mmcore.campaigns.queue import Outgoing
from mmcore.campaigns.readiness import Readiness, readiness
from mmcore.campaigns.testsend import PASSED, TestSends
from mmcore.exceptions import Conflict
from mmcore.observability import logger
from mmcore.store import messages as L
from mmcore.store.campaigns import CampaignStatus
from mmcore.store.messages import State

if TYPE_CHECKING:
    from mmcore.campaigns.service import Campaigns

# What a message item holds besides the fields its enqueue gave it (keys, indexes, the sender's own).
MESSAGE_KEYS = frozenset(
    {"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "message_id", "state", "status", "body"}
    | {"updated_at", "expires_at", "held_until"}
)


def release(campaigns: Campaigns, campaign_id: str) -> dict[str, Any]:
    """Queue a held campaign's messages. Raises NotFound, or Conflict naming why it cannot be released yet
    (not held; no passing test send). Returns the campaign id, its status and counts."""
    c = campaigns
    campaign = c.campaign(campaign_id)
    status = campaign.get("status")
    if status != CampaignStatus.HELD:
        why = f"the campaign is {status}: only a held campaign is released"
        raise Conflict(f"campaign {campaign_id} cannot be released: {why}", [("status", why)])
    tests = TestSends(c).verdicts(campaign_id)
    if not any(t["verdict"] == PASSED for t in tests):
        latest = f"its latest test is {tests[0]['verdict']}" if tests else "it has none"
        why = f"no test send of this campaign has passed ({latest}; POST /campaigns/{campaign_id}/test)"
        raise Conflict(
            f"campaign {campaign_id} cannot be released: {why}",
            [("status", why)],
            tests=[{"test_id": t["test_id"], "verdict": t["verdict"]} for t in tests],
        )
    now = int(c.clock())
    if not c.records.move(campaign_id, CampaignStatus.HELD, CampaignStatus.RELEASING, now):
        why = "another release of this campaign is under way or done"
        raise Conflict(f"campaign {campaign_id} cannot be released: {why}", [("status", why)])
    try:
        counts = _queue(c, campaign)
    except BaseException:
        c.records.move(campaign_id, CampaignStatus.RELEASING, CampaignStatus.HELD, int(c.clock()))
        raise
    status = c.records.finish(campaign_id, CampaignStatus.RUNNING, counts, int(c.clock()))
    logger.info("campaign released", extra={"campaign_id": campaign_id, "counts": counts})
    return {"campaign_id": campaign_id, "status": str(status), "counts": counts}


def _queue(c: Campaigns, campaign: dict[str, Any]) -> dict[str, Any]:
    """Put the campaign's held messages on the queue. Returns the campaign's counts, updated."""
    held = held_messages(c, campaign["campaign_id"])
    unsent = put_on_queue(c, campaign, held)
    counts = dict(campaign.get("counts") or {})
    counts["queued"] = len(held) - unsent
    counts["enqueue_failed"] = int(counts.get("enqueue_failed") or 0) + unsent
    return counts


def held_messages(c: Campaigns, campaign_id: str) -> list[dict[str, Any]]:
    """The campaign's messages recorded but not queued: ``queued``, with their send request in ``body``."""
    return [
        m
        for m in c.records.messages(campaign_id)
        if m.get("state") == State.QUEUED and isinstance(m.get("body"), str)
    ]


def put_on_queue(c: Campaigns, campaign: dict[str, Any], held: list[dict[str, Any]]) -> int:
    """Put held messages on the queue (the first one at once when the template warms up); those SQS never
    took are recorded failed. Returns how many SQS never took."""
    template = campaign["template"]
    name, language = template["name"], template["language"]["code"]
    now = c.clock()
    ready = readiness_now(c, name, language, None, now)
    outgoing = [Outgoing(m["body"], ready.delay(now)) for m in held]
    if outgoing and ready.warm_up:
        outgoing[0] = Outgoing(outgoing[0].body, 0)  # the warm-up message wakes the template for the rest
    unsent = c.queue.put(outgoing)
    failed = []
    for n, why in unsent:
        fields = {k: v for k, v in held[n].items() if k not in MESSAGE_KEYS}
        fields.update(reason="enqueue_failed", details=why)
        failed.append(L.finish(held[n]["message_id"], {"state": State.QUEUED}, State.FAILED, fields))
    c.ledger.apply(failed)
    if held:
        note_traffic(c, name, language, ready, now)
    return len(unsent)


def readiness_now(c: Campaigns, name: str, language: str, created_at: int | None, now: float) -> Readiness:
    """The template's readiness for traffic released now, from what its item knows (``created_at``: the
    campaign's own ``template_created_at``, which wins)."""
    known = c.templates.get(name, language)
    created = created_at if created_at is not None else known.get("created_at")
    return readiness(created, known.get("last_sent_at"), known.get("sync_until"), now)


def note_traffic(c: Campaigns, name: str, language: str, ready: Readiness, now: float) -> None:
    """Note the template's traffic released now (``last_sent_at``, and a warm-up's sync wait): the next
    campaign's readiness reads it."""
    facts = {"last_sent_at": int(now), "sync_until": ready.ready_at if ready.warm_up else None}
    c.templates.record_use(name, language, facts)
