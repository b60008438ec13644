"""A campaign's budget: it pauses itself once its spend plus what is in flight reaches the budget.

Where the check runs: in the aggregator (``functions/aggregator``), after each run of stream records is
applied to the counters. It sees every status change of every message and already holds the counters the
spend is computed from (:mod:`mmcore.campaigns.spend`), so the check costs one read of the counter items
(:data:`~mmcore.store.keys.COUNTER_SHARDS` keys) per run and budgeted campaign, and nothing for a campaign
without a budget (its terms are read once per container). The sender is left alone: it honours ``paused`` in
its batch prefetch (issue 14's lifecycle part).

The pause is the conditional transition of :meth:`~mmcore.store.campaigns.CampaignRecords.transition`: from a
sending state only, so a cancelled or completed campaign is never paused, and a paused one is not paused twice
(the metric counts each campaign once). The check is stateless: if a later write puts a paused campaign back
into a sending state while its budget is still reached (an enqueue finishing, an operator's resume), the next
run of stream records pauses it again.

How far past the budget it can go: ``committed`` counts a message from the moment its ``accepted`` state
reaches the stream, at the card's rate. What it cannot see is what the sender POSTs between the check and the
sender's next prefetch of the campaign's state, plus what was POSTed but not yet through the stream:
at most ``SendBatchSize x SendMaxConcurrency`` messages (100 x 5 with the template's defaults: one batch per
concurrent send invocation, each prefetching once), plus the messages POSTed during the stream's lag (about a
second: ``THROUGHPUT_MPS`` x lag, 80 at the default). So the overshoot is at most about
``(batch_size x concurrency + mps x lag) x the highest rate of the campaign's countries``: 580 x USD 0.0397 =
USD 23.03 for a Mexican audience at the defaults; some of those may still go undelivered (not charged).
Messages to a country without a rate are not counted against the budget (the report lists them as missing).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from mmcore.campaigns.spend import Spend, against_budget, spend
from mmcore.meta.rates import RateCard
from mmcore.observability import logger
from mmcore.store.campaigns import SENDING, CampaignRecords, CampaignStatus
from mmcore.store.counters import CampaignCounters

BUDGET = "budget"  # the paused_reason
# Counters whose change can move spend or what is in flight (mmcore.campaigns.tally).
_SPEND_COUNTERS = ("delivered_in:", "in_flight_in:", "spend_in:", "priced_in:", "free_in:")
_TERMS_KEPT = 4096  # campaigns whose terms a container remembers


@dataclass(frozen=True, slots=True)
class Terms:
    """What a campaign's budget check needs of its item: they never change after it is created."""

    amount: Decimal
    currency: str
    category: str | None
    on: dt.date  # the rates in force on the campaign's first day


def terms(campaign: Mapping[str, Any]) -> Terms | None:
    """The budget terms of a campaign item (None: it has no budget)."""
    definition = campaign.get("definition") or {}
    budget = definition.get("budget")
    if not budget:
        return None
    category = (definition.get("template") or {}).get("category")
    created = dt.datetime.fromtimestamp(int(campaign.get("created_at") or 0), dt.UTC).date()
    return Terms(Decimal(str(budget["amount"])), str(budget["currency"]), category, created)


def standing(
    campaign: Mapping[str, Any], counts: Mapping[str, Any], card: RateCard
) -> tuple[Spend, dict | None]:
    """The campaign's spend (in its budget's currency, or the card's) and where it stands against its budget
    (None without one): what a report shows."""
    found = terms(campaign)
    if found is None:
        created = dt.datetime.fromtimestamp(int(campaign.get("created_at") or 0), dt.UTC).date()
        category = ((campaign.get("definition") or {}).get("template") or {}).get("category")
        return spend(counts, card, category, None, created), None
    spent = spend(counts, card, found.category, found.currency, found.on)
    paused = campaign.get("status") == CampaignStatus.PAUSED and campaign.get("paused_reason") == BUDGET
    return spent, against_budget(found.amount, found.currency, spent.spent, spent.in_flight, paused)


def touches_spend(delta: Mapping[str, Any]) -> bool:
    """Whether a change of the counters can move a campaign's spend or what it has in flight."""
    return any(name.startswith(_SPEND_COUNTERS) for name in delta)


class Budgets:
    """Checks budgeted campaigns after their counters moved. Build one per warm container. ``card`` gives the
    rate card in force (``mmcore.pricing.in_force``: a bad operator card fails each check, loudly, and never
    the counting); ``reached`` is called once per campaign this pauses (the handler's metric)."""

    def __init__(
        self,
        records: CampaignRecords,
        counters: CampaignCounters,
        card: Callable[[], RateCard],
        *,
        reached: Callable[[str], None] = lambda campaign_id: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.records = records
        self.counters = counters
        self.card = card
        self.reached = reached
        self.clock = clock
        self._terms: dict[str, Terms | None] = {}

    def check(self, campaign_id: str) -> bool:
        """Pause the campaign if its spend plus what is in flight reached its budget; True when this call
        paused it (False: no budget, within it, or not in a sending state)."""
        found = self._terms_of(campaign_id)
        if found is None:
            return False
        counted = spend(
            self.counters.read(campaign_id), self.card(), found.category, found.currency, found.on
        )
        if counted.spent + counted.in_flight < found.amount:
            return False
        paused = self.records.transition(
            campaign_id, SENDING, CampaignStatus.PAUSED, int(self.clock()), BUDGET
        )
        if paused is None:
            return False
        view = against_budget(found.amount, found.currency, counted.spent, counted.in_flight, True)
        logger.warning("campaign paused: budget reached", extra={"campaign_id": campaign_id, **view})
        self.reached(campaign_id)
        return True

    def _terms_of(self, campaign_id: str) -> Terms | None:
        if campaign_id not in self._terms:
            if len(self._terms) >= _TERMS_KEPT:
                self._terms.clear()
            campaign = self.records.get(campaign_id)
            if campaign is None:  # not recorded yet: ask again next time
                return None
            self._terms[campaign_id] = terms(campaign)
        return self._terms[campaign_id]
