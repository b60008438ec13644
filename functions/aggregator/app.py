"""Aggregator function: the table's DynamoDB stream (message items only, by the event source's filter) ->
each campaign's report counters, exactly once per transition.

The domain is :mod:`mmcore.campaigns.aggregator`; this module builds it once per container and returns its
partial batch response (``ReportBatchItemFailures``): Lambda resumes from the first record not applied. A
campaign that pauses itself on reaching its budget is counted in the ``CampaignBudgetReached`` metric.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import MetricUnit

from mmcore import clients
from mmcore.observability import logger, metrics
from mmcore.settings import get_settings

if TYPE_CHECKING:
    from mmcore.campaigns.aggregator import Aggregator


@cache
def aggregator() -> Aggregator:
    from mmcore import pricing
    from mmcore.campaigns.aggregator import Aggregator
    from mmcore.campaigns.budget import Budgets
    from mmcore.store.campaigns import CampaignRecords
    from mmcore.store.counters import CampaignCounters

    dynamodb, table = clients.boto_client("dynamodb"), get_settings().table_name
    counters = CampaignCounters(dynamodb, table)
    budgets = Budgets(CampaignRecords(dynamodb, table), counters, pricing.in_force, reached=_budget_reached)
    return Aggregator(counters, budgets)


def _budget_reached(campaign_id: str) -> None:
    # Flushed at once: most batches have no metric, and log_metrics would warn on each empty one.
    metrics.add_metric(name="CampaignBudgetReached", unit=MetricUnit.Count, value=1)
    metrics.flush_metrics()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event, context):
    return aggregator().handle(event.get("Records") or [])
