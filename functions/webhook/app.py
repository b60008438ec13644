"""Webhook function: Meta's GET handshake and signed POSTs (statuses, replies, opt-outs, template and account
updates) -> DynamoDB and EventBridge. Public route: the signature is the authentication."""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from mmcore import clients
from mmcore.observability import logger, metrics, tracer
from mmcore.settings import get_settings

if TYPE_CHECKING:
    from mmcore.webhooks import Ingestor, WebhookRejected

app = APIGatewayHttpResolver()

_METRICS = {  # Summary count -> metric name
    "statuses": "WebhookStatuses",
    "duplicates": "WebhookDuplicates",
    "transitions": "StatusTransitions",
    "mirrored": "StatusesOnMessages",
    "awaiting_sender": "StatusesBeforeSenderRecord",
    "unknown_statuses": "UnknownStatuses",
    "inbound": "RepliesReceived",
    "published": "RepliesPublished",
    "opt_outs": "OptOuts",
    "resumes": "OptOutsResumed",
    "rests": "UserLimitRests",
    "template_halts": "TemplateHalts",
    "template_releases": "TemplateReleases",
    "onboarded": "MmApiTermsSigned",
    "invalid": "WebhookInvalidItems",
}
_PATH_METRICS = {"mm_api": "StatusesViaMmApi", "cloud_api_fallback": "StatusesViaCloudApiFallback"}


# mmcore.webhooks (its models, the ledger, botocore: most of the cold start, see benchmarks/cold_start.py) is
# imported where a request first needs it, not at init.


@cache
def ingestor() -> Ingestor:
    from mmcore.webhooks import Ingestor

    settings = get_settings()
    return Ingestor(
        clients.boto_client("dynamodb"),
        settings.table_name,
        events=lambda: clients.boto_client("events"),
        bus_name=settings.event_bus_name,
    )


@app.get("/webhook")
def verify() -> Response:
    from mmcore import webhooks

    params = app.current_event.query_string_parameters
    try:
        challenge = webhooks.verify_subscription(params, clients.graph_secrets().verify_token)
    except webhooks.WebhookRejected as exc:
        return rejected(exc)
    metrics.add_metric(name="WebhookVerified", unit=MetricUnit.Count, value=1)
    return Response(status_code=200, content_type="text/plain", body=challenge)


@app.post("/webhook")
def receive() -> Response:
    from mmcore import webhooks

    event = app.current_event
    try:
        # The raw body, not event.body/json_body: the signature covers the exact bytes Meta sent.
        raw = webhooks.raw_body(event.get("body"), bool(event.get("isBase64Encoded")))
        webhooks.check_signature(
            raw, event.headers.get(webhooks.SIGNATURE_HEADER), clients.graph_secrets().app_secret
        )
        summary = ingestor().ingest(webhooks.parse(raw))
    except webhooks.WebhookRejected as exc:
        return rejected(exc)
    except webhooks.StoreUnavailable:
        return unavailable()
    for name, metric in _METRICS.items():
        if summary.counts[name]:
            metrics.add_metric(name=metric, unit=MetricUnit.Count, value=summary.counts[name])
    for path, count in summary.paths.items():
        metrics.add_metric(
            name=_PATH_METRICS.get(path, "StatusesOtherCategory"), unit=MetricUnit.Count, value=count
        )
    logger.info("webhook stored", extra={"counts": dict(summary.counts), "paths": dict(summary.paths)})
    return Response(status_code=200, content_type="application/json", body=json.dumps({"stored": True}))


# The two answers for the webhooks module's errors: caught in the routes (not with app.exception_handler,
# which would need the exception classes, hence the module, at init).


def rejected(exc: WebhookRejected) -> Response:
    logger.warning("webhook rejected", extra={"status": exc.status, "reason": exc.reason})
    metrics.add_metric(name=f"WebhookRejected{exc.status}", unit=MetricUnit.Count, value=1)
    return Response(status_code=exc.status, content_type="text/plain", body=exc.reason)


def unavailable() -> Response:
    metrics.add_metric(name="WebhookNotStored", unit=MetricUnit.Count, value=1)
    return Response(status_code=503, content_type="text/plain", body="not stored, retry later")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
@tracer().capture_lambda_handler(capture_response=False)
def lambda_handler(event, context):
    return app.resolve(event, context)
