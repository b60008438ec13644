"""The audience import's tasks, run by its state machine (statemachines/audience_import.asl.json): ``prepare``
(header, gzip), ``chunk`` (one ItemBatcher batch of rows), ``finish``. Routes by the payload's ``action``."""

from functools import cache, partial
from typing import Any

from mmcore import clients, policy
from mmcore.campaigns import Campaigns, SendQueue
from mmcore.campaigns.imports import Audiences
from mmcore.campaigns.schedule import Scheduler
from mmcore.observability import logger, metrics, tracer
from mmcore.settings import get_settings


@cache
def audiences() -> Audiences:
    settings = get_settings()
    campaigns = Campaigns(
        settings,
        clients.boto_client("dynamodb"),
        SendQueue(clients.boto_client("sqs"), settings.send_queue_url),
        rules=policy.in_force().rules,
        preflight=False,  # checked once, when the campaign was created
        scheduler=scheduler(),
    )
    return Audiences(
        campaigns,
        clients.boto_client("s3"),
        None,
        bucket=settings.audience_bucket,
        state_machine_arn=settings.import_state_machine_arn,
    )


def scheduler() -> Scheduler | None:
    """The schedules of send windows' openings (mmcore.campaigns.schedule): their target is the campaigns function."""
    settings = get_settings()
    return Scheduler.configured(
        settings, settings.schedule_target_arn, partial(clients.boto_client, "scheduler")
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer().capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    action = event.get("action")
    if action == "prepare":
        return audiences().prepare(event["campaign_id"], event["bucket"], event["key"])
    if action == "finish":
        return audiences().finish(event["campaign_id"], event.get("error"))
    batch = event["BatchInput"]  # an ItemBatcher batch: {"Items": [...], "BatchInput": {...}}
    logger.append_keys(campaign_id=batch["campaign_id"])
    return audiences().chunk(batch["campaign_id"], event["Items"])
