"""Send function: SQS batch -> /marketing_messages, once per message; partial batch failures reported.

Powertools' SQS event in, typed records to the domain, its report mapped to metrics and ``batchItemFailures``.
The batch goes to the domain whole (one DynamoDB transaction per batch), not record by record, so this is not
Powertools' BatchProcessor: the response is the same partial batch response it would build.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSEvent

from mmcore import clients, policy
from mmcore.observability import logger, metrics, tracer
from mmcore.settings import get_settings

if TYPE_CHECKING:
    from mmcore.sending import BatchReport, Sender


@cache
def sender() -> Sender:
    # Imported on the first batch, not at init: the send path (its pydantic models, the Graph client, boto3,
    # phonenumbers) was most of the cold start (benchmarks/cold_start.py).
    from mmcore.sending import Sender
    from mmcore.store.messages import Ledger

    settings = get_settings()
    ledger = Ledger(clients.boto_client("dynamodb"), settings.table_name)
    # A bad region policy override raises here, on the first batch: never sent under the built-in table. So
    # does a rate at which a full batch cannot finish within the timeout, naming the numbers (sending.budget).
    return Sender(settings, ledger, clients.graph_client(), rules=policy.in_force().rules)


def publish(report: BatchReport) -> None:
    """The batch's counts as metrics: per outcome (``MessagesInFlight``...), per failure code, halts."""
    for outcome, count in report.counts.items():
        metrics.add_metric(
            name=f"Messages{outcome.title().replace('_', '')}", unit=MetricUnit.Count, value=count
        )
    for code, count in report.failed_codes.items():
        metrics.add_metric(name=f"FailedCode{code}", unit=MetricUnit.Count, value=count)
    if report.halted:
        metrics.add_metric(name="SendingHalted", unit=MetricUnit.Count, value=len(report.halted))
    logger.info("batch done", extra={"counts": dict(report.counts), "halted": report.halted})


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer().capture_lambda_handler(capture_response=False)
def lambda_handler(event, context):
    from mmcore.sending import SqsMessage, SqsRescheduler

    messages = [SqsMessage.from_record(record) for record in SQSEvent(event).records]
    rescheduler = SqsRescheduler(clients.boto_client("sqs"), get_settings().send_queue_url, messages)
    # The invocation's seconds left, read before each chunk is claimed: no chunk is claimed it cannot finish.
    seconds_left = lambda: context.get_remaining_time_in_millis() / 1000  # noqa: E731
    report = clients.run(sender().run(messages, rescheduler, seconds_left))
    publish(report)
    return {"batchItemFailures": report.batch_item_failures()}
