"""Enqueue: one campaign's planned messages recorded in the ledger, then the queued ones put on the send queue.

The ledger item is written before the SQS message, so the sender always finds it. A queued message's SQS body
is exactly what ``parse_send_request`` accepts; its delay is the template's readiness
(:mod:`mmcore.campaigns.readiness`). A message SQS never took is recorded ``failed`` (``enqueue_failed``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mmcore.campaigns.models import CampaignDefinition, Recipient
from mmcore.campaigns.planner import Planned, Planner
from mmcore.campaigns.preflight import SKIPPED, Verdict
from mmcore.campaigns.queue import Outgoing
from mmcore.campaigns.readiness import Readiness, readiness
from mmcore.campaigns.windows import NO_WINDOW, Sorting, sorting
from mmcore.exceptions import Conflict, InvalidInput
from mmcore.observability import logger
from mmcore.store import messages as L
from mmcore.store.campaigns import CampaignStatus
from mmcore.store.codec import dynamo_safe
from mmcore.store.messages import State

if TYPE_CHECKING:
    from mmcore.campaigns.service import Campaigns

MAX_ERRORS = 50  # problems listed in one 422 answer


@dataclass
class EnqueueCounts:
    """What happened to a campaign's recipients at enqueue."""

    recipients: int = 0
    queued: int = 0
    invalid: int = 0
    duplicate: int = 0
    enqueue_failed: int = 0
    blocked_by_reason: Counter[str] = field(default_factory=Counter)
    waiting_for_window: int = 0  # queued, held until their send window opens (mmcore.campaigns.windows)
    expired: int = 0  # their deadline comes before their send window opens

    def add(self, planned: Planned) -> None:
        self.recipients += 1
        if planned.state == State.QUEUED:
            self.queued += 1
        elif planned.state == State.BLOCKED:
            self.blocked_by_reason[planned.fields["reason"]] += 1
        else:
            self.invalid += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "recipients": self.recipients,
            "queued": self.queued,
            "blocked": sum(self.blocked_by_reason.values()),
            "blocked_by_reason": dict(sorted(self.blocked_by_reason.items())),
            "invalid": self.invalid,
            "duplicate": self.duplicate,
            "enqueue_failed": self.enqueue_failed,
            **({"waiting_for_window": self.waiting_for_window} if self.waiting_for_window else {}),
            **({"expired": self.expired} if self.expired else {}),
        }


class Run:
    """One campaign being enqueued, chunk by chunk: ``plan`` (pure), ``enqueue`` (writes), ``finish``.

    The campaign item is created (conditionally: a campaign id is used once) and the template's readiness
    read at the first ``enqueue``; so a request that fails validation writes nothing.
    """

    def __init__(
        self,
        campaigns: Campaigns,
        definition: CampaignDefinition,
        planner: Planner,
        *,
        source: str,
        dedupe: bool,
        started: float,
    ) -> None:
        self.campaigns = campaigns
        self.definition = definition
        self.planner = planner
        self.campaign_id = planner.campaign_id
        self.source = source
        self.started = started
        self.counts = EnqueueCounts()
        self.ready: Readiness | None = None
        self.preflight = Verdict(SKIPPED)  # the service sets what its preflight found
        self.held = False  # record the messages (with their send requests) but queue none: a held campaign
        self.extra: dict[str, Any] = {}  # more the campaign item records (its test numbers and variables)
        self._seen: set[str] | None = set() if dedupe else None
        self._warmed = False
        self._opened = False  # the campaign item exists (created by this run)

    @property
    def opened(self) -> bool:
        """Whether this run created its campaign item (so there is something to finish)."""
        return self._opened

    def plan(self, recipients: Iterable[tuple[int, Recipient]], *, strict: bool) -> list[Planned]:
        """Plan ``(index, recipient)`` pairs. Problems common to every recipient (the template, the shared
        options) always raise :class:`~mmcore.exceptions.InvalidInput`; a recipient's own (missing or bad
        variables) raise too when ``strict``, else that recipient is recorded ``invalid`` with the reason."""
        planned: list[Planned] = []
        problems: dict[tuple[str, str], None] = {}
        for index, recipient in recipients:
            outcome = self.planner.plan(index, recipient)
            if isinstance(outcome, Planned):
                planned.append(outcome)
                continue
            if strict or not all(p.per_recipient for p in outcome):
                for p in outcome:
                    if strict or not p.per_recipient:
                        problems.setdefault((p.field, p.reason))
                if len(problems) >= MAX_ERRORS:
                    break
                continue
            details = "; ".join(f"{p.field}: {p.reason}" for p in outcome)
            planned.append(self.planner.invalid(index, recipient, "invalid_variables", details))
        if problems:
            raise InvalidInput.fields(list(problems)[:MAX_ERRORS])
        if self._seen is not None:
            planned = self._distinct(planned, self._seen)
        return planned

    def _distinct(self, planned: list[Planned], seen: set[str]) -> list[Planned]:
        """``planned`` without a second message to one user: named twice by one identifier, or by a phone
        number and a BSUID the webhooks linked (``mmcore.store.identities``), or both named in one recipient."""
        names = {p.message_id: _identifiers(p) for p in planned if p.state != State.INVALID}
        linked = self.campaigns.identities.linked(n for ns in names.values() for n in ns)
        kept = []
        for p in planned:
            if p.state == State.INVALID:
                kept.append(p)
                continue
            user = set(names[p.message_id])
            for name in names[p.message_id]:
                user |= linked.get(name, frozenset())
            if user & seen:
                self.counts.duplicate += 1
                continue
            seen |= user
            kept.append(p)
        return kept

    def enqueue(self, planned: list[Planned]) -> None:
        """Record every planned message in the ledger, then put the queued ones on the send queue."""
        if not self._opened:
            self.open(not self.held and any(p.state == State.QUEUED for p in planned))
        for p in planned:
            self.counts.add(p)
        c = self.campaigns
        if self.held:  # each queued message keeps its send request for the release (mmcore.campaigns.release)
            c.ledger.write([_held(p) if p.state == State.QUEUED else p.item() for p in planned])
            return
        if self.definition.send_window is not None:
            self._send_in_window(planned)
            return
        c.ledger.write([p.item() for p in planned])
        self.send([p for p in planned if p.state == State.QUEUED])

    def _send_in_window(self, planned: list[Planned]) -> None:
        """Record every planned message and queue those inside their send window now; hold the others for
        their window's opening (a schedule each opening), or end them (:mod:`mmcore.campaigns.windows`)."""
        items, s = self.items(planned)
        assert s is not None
        self.campaigns.ledger.write(items)
        self.send([p for p in planned if p.message_id in s.now])
        self.counts.queued -= s.expired + s.closed
        self.counts.expired += s.expired
        if s.closed:
            self.counts.blocked_by_reason[NO_WINDOW] += s.closed
        self.counts.waiting_for_window += sum(s.openings.values())
        self.schedule_openings(s.openings)

    def items(self, planned: list[Planned]) -> tuple[list[dict[str, Any]], Sorting | None]:
        """The ledger items of ``planned`` messages, and, with a send window, how its queued ones sorted by it
        now (:mod:`mmcore.campaigns.windows`: queued now, held until its opening, expired or blocked)."""
        c, spec = self.campaigns, self.definition.send_window
        if spec is None:
            return [p.item() for p in planned], None
        s = sorting(spec.window(), c.clock(), c.settings.business_country)
        items = []
        for p in planned:
            if p.state == State.QUEUED and p.request is not None:
                s.add(p.message_id, p.fields, p.request.model_dump_json(exclude_none=True))
            else:
                items.append(p.item())
        return items + s.items, s

    def schedule_openings(self, instants: Iterable[int]) -> None:
        """One schedule per opening instant of the campaign's held messages (a second for the same instant
        keeps the first: :meth:`~mmcore.campaigns.schedule.Scheduler.open_at`)."""
        scheduler = self.campaigns.scheduler
        for instant in sorted(set(instants)):
            assert scheduler is not None  # a send window needs one (Campaigns.check_timing)
            scheduler.open_at(self.campaign_id, instant)

    def resume(self, ready: Readiness, *, warmed: bool) -> None:
        """Go on with a campaign whose item exists (an audience import's chunk): its readiness as recorded,
        and whether its warm-up message is another chunk's."""
        self._opened, self.ready, self._warmed = True, ready, warmed

    def send(self, queued: list[Planned]) -> None:
        """Put recorded ``queued`` messages on the send queue; one SQS never took is recorded ``failed``."""
        c = self.campaigns
        now = c.clock()
        outgoing = []
        for p in queued:
            assert p.request is not None
            delay = self.ready.delay(now) if self.ready else 0
            if self.ready and self.ready.warm_up and not self._warmed:
                delay, self._warmed = 0, True  # the warm-up message wakes the template for the rest
            outgoing.append(Outgoing(p.request.model_dump_json(exclude_none=True), delay))
        unsent = c.queue.put(outgoing)
        failed = []
        for n, why in unsent:
            p = queued[n]
            fields = {**p.fields, "reason": "enqueue_failed", "details": why}
            failed.append(L.finish(p.message_id, {"state": State.QUEUED}, State.FAILED, fields))
            self.counts.queued -= 1
            self.counts.enqueue_failed += 1
        c.ledger.apply(failed)  # unless a sender got the message after all (it is then no longer queued)
        if unsent:
            logger.error(
                "messages could not be enqueued",
                extra={"campaign_id": self.campaign_id, "count": len(unsent), "reason": unsent[0][1]},
            )

    def open(self, releases_traffic: bool) -> None:
        """Create the campaign item (a campaign id is used once: Conflict) and note the template's use."""
        c, d = self.campaigns, self.definition
        template = d.template
        now = c.clock()
        known = c.templates.get(template.name, template.language.code)
        created_at = (
            int(d.template_created_at.timestamp()) if d.template_created_at else known.get("created_at")
        )
        ready = readiness(created_at, known.get("last_sent_at"), known.get("sync_until"), now)
        campaign = _campaign(d, self.planner, self.source, int(now), ready) | {
            "preflight": self.preflight.status,
            **self.extra,
        }
        if not c.records.create(self.campaign_id, campaign, int(now)):
            raise Conflict(f"campaign {self.campaign_id} already exists", [("campaign_id", "already used")])
        self._opened, self.ready = True, ready
        # last_sent_at is set when traffic is released (the queue drains within minutes of it).
        facts = {
            "last_sent_at": int(now) if releases_traffic else None,
            "created_at": created_at if d.template_created_at else None,
            "sync_until": ready.ready_at if ready.warm_up and releases_traffic else None,
        }
        c.templates.record_use(template.name, template.language.code, facts)

    def finish(self, status: CampaignStatus = CampaignStatus.RUNNING) -> dict[str, Any]:
        """Store the counts on the campaign item, moving it to ``status`` unless it was paused or cancelled
        while it was being queued (it keeps that state); the answer of ``POST /campaigns``."""
        c = self.campaigns
        counts = self.counts.as_dict()
        if self._opened:
            status = c.records.finish(self.campaign_id, status, counts, int(c.clock()))
        ready = self.ready or Readiness()
        logger.info(
            "campaign %s",
            status,
            extra={"campaign_id": self.campaign_id, "counts": counts, "readiness": ready.label},
        )
        return {
            "campaign_id": self.campaign_id,
            "name": self.definition.name,
            "status": str(status),
            "counts": counts,
            "preflight": self.preflight.status,
            "template": {
                "name": self.definition.template.name,
                "language": self.definition.template.language.code,
                **ready.view(self.started),
            },
        }


def _campaign(
    definition: CampaignDefinition, planner: Planner, source: str, now: int, ready: Readiness
) -> dict[str, Any]:
    """What the campaign item records of a new campaign."""
    return {
        "name": definition.name,
        # as given, so a test send builds the campaign's message again (mmcore.campaigns.testsend)
        "definition": dynamo_safe(
            definition.model_dump(
                mode="json", exclude_none=True, exclude={"recipients", "test_recipients", "hold", "send_at"}
            )
        ),
        "template": dynamo_safe(planner.template),
        "phone_number_id": planner.phone_number_id,
        "product_policy": definition.product_policy,
        "message_activity_sharing": definition.message_activity_sharing,
        "time_to_live": definition.time_to_live,
        "not_after": definition.not_after.isoformat() if definition.not_after else None,
        "source": source,
        "status": CampaignStatus.ENQUEUING,
        "created_at": now,
        "template_ready_at": ready.ready_at,
        "template_readiness": ready.label,
    }


def _held(planned: Planned) -> dict[str, Any]:
    """A held campaign's queued message: its ledger item with the send request its release queues."""
    assert planned.request is not None
    body = planned.request.model_dump_json(exclude_none=True)
    return L.message_item(planned.message_id, state=planned.state, **planned.fields, body=body)


def _identifiers(planned: Planned) -> set[str]:
    """The identifiers a planned message names its user by: ``to`` and, if given, the BSUID in ``recipient``."""
    names = {planned.fields["to"]}
    if planned.request is not None and planned.request.recipient:
        names.add(planned.request.recipient)
    return names
