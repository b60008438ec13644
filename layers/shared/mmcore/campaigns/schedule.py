"""Campaigns started later: ``send_at`` and the openings of a ``send_window``, on EventBridge Scheduler.

``POST /campaigns`` with ``send_at`` records every recipient as a held campaign does (queued messages keep
their send request in ``body``, nothing is queued), with status ``scheduled``, and creates a one-time
schedule (``at(...)`` in UTC, ``ActionAfterCompletion: DELETE``) whose target is the campaigns function and
whose input names the campaign (:data:`SOURCE`, ``action: start``). Its run (:func:`start`) moves the campaign
``scheduled`` -> ``running`` conditionally, so a second delivery of the event does nothing, and queues its
messages (those outside their send window wait: :mod:`.windows`). A campaign cancelled before its time is
not started; :meth:`Scheduler.unschedule` deletes its schedule. Each opening of a send window is a schedule
too (``action: open``, the instant in ``opens_at``): its run (:func:`open_window`) queues the campaign's
messages held until that instant, unless the campaign was cancelled.

Scheduler invokes the target at least once and, with ``FlexibleTimeWindow: OFF``, within about a minute
of the time (AWS's guarantee: UNCONFIRMED in this project's references); Meta's own limits are untouched.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mmcore.campaigns.release import held_messages, put_on_queue
from mmcore.campaigns.windows import open_now, sorting, window_of
from mmcore.observability import logger
from mmcore.store import messages as L
from mmcore.store.campaigns import CampaignStatus
from mmcore.store.messages import State

if TYPE_CHECKING:
    from mmcore.campaigns.service import Campaigns

SOURCE = "mmcore.campaigns.schedule"  # the ``source`` of a schedule's input: how the handler tells it apart
START, OPEN = "start", "open"
RETRIES = 3  # Scheduler re-invokes a failed start this often (the run is idempotent)
MAX_EVENT_AGE = 3600  # and gives up on an invocation it could not make for this long
# An opening already passed (an import batch retried after it) is scheduled this far ahead instead: what
# Scheduler does with an at() in the past is not documented (UNCONFIRMED), so none is ever asked for.
PASSED_OPENING_LEAD = 60


@dataclass(frozen=True)
class Scheduler:
    """One-time schedules in the stack's schedule group, each invoking ``target_arn`` (the campaigns
    function) as ``role_arn`` (a role only Scheduler can assume, allowed to invoke that function alone)."""

    client: Any  # boto3.client("scheduler")
    group: str
    role_arn: str
    target_arn: str

    @classmethod
    def configured(cls, settings: Any, target_arn: str, client: Callable[[], Any]) -> Scheduler | None:
        """The stack's scheduler from ``settings`` (its group and role) with ``target_arn`` (the campaigns
        function); None when any of the three is missing (send_at and send windows are then refused)."""
        if not (settings.schedule_group and settings.scheduler_role_arn and target_arn):
            return None
        return cls(client(), settings.schedule_group, settings.scheduler_role_arn, target_arn)

    def start_at(self, campaign_id: str, when: datetime) -> str:
        """Schedule the start of a campaign at ``when`` (aware; rounded up to the second). Returns the
        schedule's name."""
        return self._create(start_name(campaign_id), _at(when), {"action": START, "campaign_id": campaign_id})

    def open_at(self, campaign_id: str, instant: int) -> str:
        """Schedule the queueing of the campaign's messages held until ``instant`` (epoch seconds; one passed
        already runs in a minute); a second call for the same opening keeps the first schedule."""
        name = f"open-{_digest(campaign_id)}-{instant}"
        when = datetime.fromtimestamp(max(instant, int(time.time()) + PASSED_OPENING_LEAD), UTC)
        return self._create(
            name, _at(when), {"action": OPEN, "campaign_id": campaign_id, "opens_at": instant}
        )

    def unschedule(self, campaign_id: str) -> bool:
        """Delete the schedule that would start the campaign: True when there was one (a started campaign's
        was deleted by Scheduler after its run). Its window openings need no deleting: a run finds the
        campaign cancelled and does nothing, and Scheduler deletes each after it."""
        try:
            self.client.delete_schedule(Name=start_name(campaign_id), GroupName=self.group)
        except self.client.exceptions.ResourceNotFoundException:
            return False
        return True

    def _create(self, name: str, expression: str, payload: dict[str, Any]) -> str:
        # a second call for the same name (this opening is scheduled already) keeps the first schedule
        with suppress(self.client.exceptions.ConflictException):
            self.client.create_schedule(
                Name=name,
                GroupName=self.group,
                Description=f"campaign {payload['campaign_id']}"[:512],
                ScheduleExpression=expression,
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Target={
                    "Arn": self.target_arn,
                    "RoleArn": self.role_arn,
                    "Input": json.dumps({"source": SOURCE, **payload}, separators=(",", ":")),
                    "RetryPolicy": {
                        "MaximumRetryAttempts": RETRIES,
                        "MaximumEventAgeInSeconds": MAX_EVENT_AGE,
                    },
                },
            )
        return name


def start_name(campaign_id: str) -> str:
    """The name of a campaign's start schedule (Scheduler names: 64 of ``[0-9A-Za-z-_.]``)."""
    return f"start-{_digest(campaign_id)}"


def _digest(campaign_id: str) -> str:
    return hashlib.sha256(campaign_id.encode()).hexdigest()[:24]


def _at(when: datetime) -> str:
    when = when.astimezone(UTC)
    if when.microsecond:
        when = when.replace(microsecond=0) + timedelta(seconds=1)  # never before the time asked
    return f"at({when:%Y-%m-%dT%H:%M:%S})"


def is_scheduled_run(event: Any) -> bool:
    """Whether a Lambda event is the input of one of these schedules."""
    return isinstance(event, dict) and event.get("source") == SOURCE


def run(campaigns: Campaigns, event: dict[str, Any]) -> dict[str, Any]:
    """Run a schedule's input (``start`` or ``open``)."""
    if event.get("action") == OPEN:
        return open_window(campaigns, str(event["campaign_id"]), int(event["opens_at"]))
    return start(campaigns, str(event["campaign_id"]))


def start(campaigns: Campaigns, campaign_id: str) -> dict[str, Any]:
    """Start a scheduled campaign: ``scheduled`` -> ``running`` (one run wins), its messages queued (those
    outside their window held for its opening). Does nothing for a campaign that is not ``scheduled``
    (cancelled, or started by an earlier delivery of the event). Should the queueing fail, the campaign goes
    back to ``scheduled`` and the error is raised, so Scheduler's retry starts it again (a message queued
    twice is sent once: the sender's claim)."""
    c = campaigns
    now = c.clock()
    if not c.records.move(campaign_id, CampaignStatus.SCHEDULED, CampaignStatus.RUNNING, int(now)):
        found = c.records.get(campaign_id) or {}
        logger.info("campaign not started", extra={"campaign_id": campaign_id, "status": found.get("status")})
        return {"campaign_id": campaign_id, "status": found.get("status"), "started": False}
    campaign = c.campaign(campaign_id)
    try:
        queued = _start(c, campaign, now)
    except BaseException:
        c.records.move(campaign_id, CampaignStatus.RUNNING, CampaignStatus.SCHEDULED, int(c.clock()))
        raise
    counts = {**(campaign.get("counts") or {}), **queued}
    c.records.finish(campaign_id, CampaignStatus.RUNNING, counts, int(c.clock()))
    logger.info("campaign started", extra={"campaign_id": campaign_id, "counts": counts})
    return {
        "campaign_id": campaign_id,
        "status": str(CampaignStatus.RUNNING),
        "started": True,
        "counts": counts,
    }


def _start(c: Campaigns, campaign: dict[str, Any], now: float) -> dict[str, int]:
    held = held_messages(c, campaign["campaign_id"])
    window = window_of(campaign.get("definition"))
    if window is None:
        return {"queued": len(held) - put_on_queue(c, campaign, held), "enqueue_failed": 0}
    s = sorting(window, now, c.settings.business_country)
    for m in held:
        s.add(m["message_id"], _fields(m), m["body"])
    c.ledger.write([i for i in s.items if i["message_id"]["S"] not in s.now])  # those queued now keep theirs
    unsent = put_on_queue(c, campaign, [m for m in held if m["message_id"] in s.now])
    for instant in sorted(s.openings):
        c.scheduler.open_at(campaign["campaign_id"], instant)
    return {
        "queued": len(held) - s.expired - s.closed - unsent,
        "enqueue_failed": unsent,
        "waiting_for_window": sum(s.openings.values()),
        "expired": s.expired,
        "blocked": int((campaign.get("counts") or {}).get("blocked") or 0) + s.closed,
    }


def open_window(campaigns: Campaigns, campaign_id: str, opens_at: int) -> dict[str, Any]:
    """Queue the campaign's messages held until ``opens_at`` whose window is open now. One whose window has
    closed again (the run came late) waits for its next opening, scheduled here. Nothing for a cancelled
    campaign (or one not found)."""
    c = campaigns
    campaign = c.records.get(campaign_id)
    if campaign is None or campaign.get("status") == CampaignStatus.CANCELLED:
        logger.info("window opening skipped", extra={"campaign_id": campaign_id, "opens_at": opens_at})
        return {"campaign_id": campaign_id, "queued": 0}
    window = window_of(campaign.get("definition"))
    now = c.clock()
    due = [m for m in held_messages(c, campaign_id) if int(m.get("held_until") or 0) == opens_at]
    ready, later, rehold = [], defaultdict(int), []
    for m in due:
        opening = open_now(window, str(m["to"]), c.settings.business_country, now) if window else None
        if opening is None or opening.timestamp() <= now:
            ready.append(m)
            continue
        instant = int(opening.timestamp())
        later[instant] += 1
        fields = {**_fields(m), "body": m["body"], "held_until": instant}
        rehold.append(L.message_item(m["message_id"], state=State.QUEUED, **fields))
    c.ledger.write(rehold)
    for instant in later:
        c.scheduler.open_at(campaign_id, instant)
    unsent = put_on_queue(c, campaign, ready)
    logger.info("window opened", extra={"campaign_id": campaign_id, "queued": len(ready) - unsent})
    return {"campaign_id": campaign_id, "queued": len(ready) - unsent, "waiting": len(rehold)}


# What a held message item holds besides its own ledger fields (keys, indexes, the hold itself).
_NOT_FIELDS = frozenset(
    {"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "message_id", "state", "status", "updated_at"}
    | {"expires_at", "held_until", "body"}
)


def _fields(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k not in _NOT_FIELDS}
