"""Resolver function: every few minutes (EventBridge Scheduler), settle the messages left ``unknown`` from the
webhooks: matched to the wamid Meta gave them, re-sent when Meta never took them (opt-in), or left for later.

The domain is :mod:`mmcore.sending.resolve`; this module builds it once per container and reports its counts
as metrics (``UnknownMatched``, ``UnknownResent``, ``UnknownSilent``...).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import MetricUnit

from mmcore import clients
from mmcore.observability import logger, metrics
from mmcore.settings import get_settings

if TYPE_CHECKING:
    from mmcore.sending.resolve import Resolver


@cache
def resolver() -> Resolver:
    from mmcore.sending.resolve import Resolver

    settings = get_settings()
    return Resolver(
        clients.boto_client("dynamodb"),
        settings.table_name,
        settings,
        sqs=clients.boto_client("sqs"),
        queue_url=settings.send_queue_url,
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    seconds_left = lambda: context.get_remaining_time_in_millis() / 1000  # noqa: E731
    outcomes = resolver().run(seconds_left)
    for outcome, count in outcomes.items():
        metrics.add_metric(name=f"Unknown{outcome.title()}", unit=MetricUnit.Count, value=count)
    logger.info("unknown messages looked at", extra={"outcomes": dict(outcomes)})
    return dict(outcomes)
