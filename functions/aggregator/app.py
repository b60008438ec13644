"""Aggregator function: the table's DynamoDB stream (message items only, by the event source's filter) ->
each campaign's report counters, exactly once per transition.

The domain is :mod:`mmcore.campaigns.aggregator`; this module builds it once per container and returns its
partial batch response (``ReportBatchItemFailures``): Lambda resumes from the first record not applied.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from mmcore import clients
from mmcore.observability import logger
from mmcore.settings import get_settings

if TYPE_CHECKING:
    from mmcore.campaigns.aggregator import Aggregator


@cache
def aggregator() -> Aggregator:
    from mmcore.campaigns.aggregator import Aggregator
    from mmcore.store.counters import CampaignCounters

    return Aggregator(CampaignCounters(clients.boto_client("dynamodb"), get_settings().table_name))


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event, context):
    return aggregator().handle(event.get("Records") or [])
