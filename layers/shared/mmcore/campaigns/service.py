"""The campaigns facade: create a campaign (plan, then enqueue) and answer its reports."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from mmcore.campaigns import lifecycle
from mmcore.campaigns.dryrun import rehearse
from mmcore.campaigns.enqueue import Run
from mmcore.campaigns.facts import describe, is_complete
from mmcore.campaigns.models import CampaignCreate, CampaignDefinition, Recipient, TestSendCreate
from mmcore.campaigns.planner import Planned, Planner
from mmcore.campaigns.preflight import SKIPPED, Preflight, Verdict
from mmcore.campaigns.queue import SendQueue
from mmcore.campaigns.release import release
from mmcore.campaigns.reports import REPORTED, campaign_view, public
from mmcore.campaigns.schedule import Scheduler
from mmcore.campaigns.schedule import run as run_schedule
from mmcore.campaigns.spend import estimate
from mmcore.campaigns.tally import drift, report, total
from mmcore.campaigns.testsend import TestSends
from mmcore.exceptions import InvalidInput, NotFound
from mmcore.meta.rates import BUILT_IN_CARD, RateCard
from mmcore.meta.regions import RULES, Rule
from mmcore.settings import Settings
from mmcore.store.campaigns import CampaignRecords, CampaignStatus
from mmcore.store.counters import CampaignCounters
from mmcore.store.identities import Identities
from mmcore.store.messages import Ledger, State
from mmcore.store.paging import DEFAULT_LIMIT
from mmcore.store.templates import Templates

MAX_PAGE = 500  # messages in one page of GET /campaigns/{id}/messages
DEFAULT_PAGE = DEFAULT_LIMIT


class Campaigns:
    """Creates campaigns (enqueue) and answers their reports. Build one per warm container.

    ``dynamodb`` is a low-level client of the table (``settings.table_name`` unless ``table`` says otherwise);
    ``queue`` the send queue; ``rules`` the region table in force (``mmcore.policy``); ``card`` the rate card in
    force (``mmcore.pricing``: estimates and spend). ``sync`` runs one sync of the template registry (the
    handler wires it; :mod:`.preflight`); ``preflight=False`` only for offline tests of the planning.
    ``scheduler`` creates the one-time schedules of ``send_at`` and of send windows' openings (:mod:`.schedule`);
    without one, a campaign with either is refused.
    """

    def __init__(
        self,
        settings: Settings,
        dynamodb: Any,
        queue: SendQueue | None,
        *,
        table: str | None = None,
        clock: Callable[[], float] = time.time,
        rules: Sequence[Rule] = RULES,
        card: RateCard = BUILT_IN_CARD,
        sync: Callable[[], Any] | None = None,
        preflight: bool = True,
        scheduler: Scheduler | None = None,
    ) -> None:
        table = table or settings.table_name
        self.settings = settings
        self.ledger = Ledger(dynamodb, table)
        self.records = CampaignRecords(dynamodb, table)
        self.counters = CampaignCounters(dynamodb, table)
        self.templates = Templates(dynamodb, table, settings.waba_id)
        self.identities = Identities(dynamodb, table)
        self.queue = queue
        self.clock = clock
        self.rules = tuple(rules)
        self.card = card
        self.preflight = Preflight(self.templates, sync) if preflight else None
        self.scheduler = scheduler

    def create(self, body: CampaignCreate) -> dict[str, Any]:
        """Validate every recipient, then record and enqueue them. Raises InvalidInput (nothing written) or
        Conflict (the campaign id is used). Returns the campaign id, counts and the template's readiness.
        With ``send_at`` the campaign is recorded ``scheduled`` (nothing queued) and a schedule starts it."""
        self.check_timing(body)
        run = self.start(body, source="api", dedupe=True)
        planned = run.plan(enumerate(_inline(body)), strict=True)
        run.held = body.hold or body.send_at is not None
        run.extra = {
            "test_recipients": body.test_recipients,
            "test_variables": dict(_inline(body)[0].variables),  # what a test send fills in by default
        }
        try:
            run.enqueue(planned)
            if body.send_at is not None:
                assert self.scheduler is not None  # check_timing
                self.scheduler.start_at(run.campaign_id, body.send_at)
        except BaseException:
            if run.opened:
                run.finish(CampaignStatus.INCOMPLETE)
            raise
        if body.send_at is not None:
            answer = run.finish(CampaignStatus.SCHEDULED) | {"send_at": _iso(body.send_at)}
        else:
            answer = run.finish(CampaignStatus.HELD if body.hold else CampaignStatus.RUNNING)
        return {**answer, "cost_estimate": self.estimate(body, planned)}

    def estimate(self, definition: CampaignDefinition, planned: Sequence[Planned]) -> dict[str, Any]:
        """The cost of the messages ``planned`` would send, by country (:func:`~.spend.estimate`), in the
        budget's currency (else the card's), at the rates in force today."""
        by_country = Counter(p.fields.get("country") or "unknown" for p in planned if p.state == State.QUEUED)
        currency = definition.budget.currency if definition.budget else None
        today = datetime.fromtimestamp(self.clock(), UTC).date()
        return estimate(by_country, self.card, definition.template.category, currency, today)

    def check_timing(self, body: CampaignCreate) -> None:
        """``send_at`` in the future, and a scheduler for it and for a send window (InvalidInput otherwise)."""
        problems = []
        if body.send_at is not None and body.send_at.timestamp() <= self.clock():
            now = datetime.fromtimestamp(self.clock(), UTC)
            problems.append(
                ("send_at", f"in the past ({_iso(body.send_at)}; it is {_iso(now)}): give a later time")
            )
        for name, given in (("send_at", body.send_at), ("send_window", body.send_window)):
            if given is not None and self.scheduler is None:
                problems.append((name, "needs the stack's EventBridge Scheduler group (SCHEDULE_GROUP)"))
        if problems:
            raise InvalidInput.fields(problems)

    def run_schedule(self, event: dict[str, Any]) -> dict[str, Any]:
        """Run one of this service's schedules: a scheduled campaign's start, or a send window's opening."""
        return run_schedule(self, event)

    def test(self, campaign_id: str, body: TestSendCreate) -> dict[str, Any]:
        """Send the campaign's message to test numbers (:mod:`.testsend`); the test as ``test_view`` shows it."""
        return TestSends(self).start(campaign_id, body)

    def test_view(self, campaign_id: str, test_id: str | None = None) -> dict[str, Any]:
        """A test send of the campaign (the latest when ``test_id`` is None), judged from its webhooks."""
        return TestSends(self).view(campaign_id, test_id)

    def release(self, campaign_id: str) -> dict[str, Any]:
        """Queue a held campaign's messages once a test send of it passed (:mod:`.release`)."""
        return release(self, campaign_id)

    def change(self, campaign_id: str, status: str) -> lifecycle.CampaignState:
        """Pause, resume, release or cancel the campaign (:mod:`.lifecycle`); Conflict naming its state."""
        return lifecycle.change(self, campaign_id, status)

    def listing(self, limit: int = DEFAULT_PAGE, next_token: str | None = None) -> lifecycle.CampaignList:
        """Every campaign, newest first, a page at a time, with counts (:mod:`.lifecycle`)."""
        return lifecycle.listing(self, limit, next_token)

    def dry_run(self, body: CampaignCreate) -> dict[str, Any]:
        """What ``create`` would do, writing nothing: counts by outcome, blocked by reason, by country, the
        template's readiness and the preflight's problems (a sync of the registry is the only write)."""
        return rehearse(
            self.start(body, source="api", dedupe=True, dry_run=True), _inline(body), self.estimate
        )

    def start(
        self, definition: CampaignDefinition, *, source: str, dedupe: bool = False, dry_run: bool = False
    ) -> Run:
        """A campaign to enqueue in chunks (the CSV path); nothing is written before its first ``enqueue``.
        Its template passed preflight (else InvalidInput naming each mismatch; Unavailable when the registry
        cannot be synced) unless ``skip_preflight``; ``dry_run`` keeps the problems on the run instead."""
        phone_number_id = definition.phone_number_id or self.settings.phone_number_id or None
        if phone_number_id is None:
            raise InvalidInput.fields(
                [("phone_number_id", "required: no default PHONE_NUMBER_ID is configured")]
            )
        verdict = self.check_template(definition)
        if verdict.problems and not dry_run:
            raise InvalidInput.fields(verdict.problems)
        now = self.clock()
        campaign_id = definition.campaign_id or new_campaign_id(now)
        planner = Planner(
            definition,
            campaign_id,
            self.settings.business_country,
            datetime.fromtimestamp(now, UTC).date(),
            phone_number_id=phone_number_id,
            default_product_policy=self.settings.default_product_policy,
            rules=self.rules,
        )
        run = Run(self, definition, planner, source=source, dedupe=dedupe, started=now)
        run.preflight = verdict
        return run

    def check_template(self, definition: CampaignDefinition) -> Verdict:
        """The preflight of the campaign's template (skipped on request, or when this service has none)."""
        if definition.skip_preflight or self.preflight is None:
            return Verdict(SKIPPED)
        return self.preflight.check(definition.template)

    def campaign(self, campaign_id: str) -> dict[str, Any]:
        """The campaign item; NotFound when there is none."""
        campaign = self.records.get(campaign_id)
        if campaign is None:
            raise NotFound(f"campaign {campaign_id} not found")
        return campaign

    def report(self, campaign_id: str) -> dict[str, Any]:
        """The campaign with counts by status, pricing category, country and error code, its rates, and their
        reading (:func:`~mmcore.campaigns.facts.describe`): from its counters (a fixed number of reads at any
        size; they follow the table's stream within seconds). Its ``status`` is the campaign's state: an
        enqueued campaign whose messages are all final is recorded ``completed`` here, with ``finished_at``."""
        campaign = self.campaign(campaign_id)
        counts = self.counters.read(campaign_id)
        summary = report(counts)
        if is_complete(campaign, summary):  # the first report to see it final records it
            campaign = self.records.complete(campaign_id, int(self.clock())) or self.campaign(campaign_id)
        return {**campaign_view(campaign), **summary, **describe(counts, summary, campaign, self.card)}

    def audit(self, campaign_id: str) -> dict[str, Any]:
        """The counters against a recount of every message item (O(messages)): ``drift`` names each counter
        that differs (counted minus recounted; empty when none does)."""
        self.campaign(campaign_id)
        counted = self.counters.read(campaign_id)
        recounted = total(self.records.messages(campaign_id, REPORTED))
        return {
            "campaign_id": campaign_id,
            "counted": {name: _number(value) for name, value in counted.items()},
            "recounted": {name: _number(value) for name, value in sorted(recounted.items()) if value},
            "drift": {name: _number(value) for name, value in drift(counted, recounted).items()},
        }

    def messages(
        self,
        campaign_id: str,
        status: str | None = None,
        limit: int = DEFAULT_PAGE,
        next_token: str | None = None,
    ) -> dict[str, Any]:
        """One page of the campaign's messages, optionally of one status (its exact ``status`` value)."""
        self.campaign(campaign_id)
        items, token = self.records.page(campaign_id, status, max(1, min(limit, MAX_PAGE)), next_token)
        return {
            "campaign_id": campaign_id,
            "status": status,
            "messages": [public(item) for item in items],
            "next_token": token,
        }

    def message(self, message_id: str) -> dict[str, Any]:
        """One message and its status events (oldest first; empty until Meta gave it a wamid)."""
        item, events = self.records.message(message_id)
        if item is None:
            raise NotFound(f"message {message_id} not found")
        return {"message": public(item), "events": [public(e) for e in events]}


def _inline(body: CampaignCreate) -> list[Recipient]:
    if body.recipients is None:  # an audience in S3 is imported by mmcore.campaigns.imports
        raise InvalidInput.fields([("audience", "not here: an audience in S3 is imported, never dry-run")])
    return body.recipients


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _number(value: Any) -> int | float:
    return value if isinstance(value, int) else float(value)


def new_campaign_id(now: float) -> str:
    """Sortable by creation time and unguessable: ``20261123T121916-9f2c1ab4``."""
    return f"{datetime.fromtimestamp(now, UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
