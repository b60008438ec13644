"""Webhook function: Meta's GET handshake and signed POSTs (statuses, replies, opt-outs, template and account
updates) -> DynamoDB and EventBridge. Public route: the signature is the authentication."""

import json
from functools import cache

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from mmcore import clients, webhooks
from mmcore.observability import logger, metrics, tracer
from mmcore.settings import get_settings

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


@cache
def ingestor() -> webhooks.Ingestor:
    settings = get_settings()
    return webhooks.Ingestor(
        clients.boto_client("dynamodb"),
        settings.table_name,
        events=lambda: clients.boto_client("events"),
        bus_name=settings.event_bus_name,
    )


@app.get("/webhook")
def verify() -> Response:
    params = app.current_event.query_string_parameters
    challenge = webhooks.verify_subscription(params, clients.graph_secrets().verify_token)
    metrics.add_metric(name="WebhookVerified", unit=MetricUnit.Count, value=1)
    return Response(status_code=200, content_type="text/plain", body=challenge)


@app.post("/webhook")
def receive() -> Response:
    event = app.current_event
    # The raw body, not event.body/json_body: the signature covers the exact bytes Meta sent.
    raw = webhooks.raw_body(event.get("body"), bool(event.get("isBase64Encoded")))
    webhooks.check_signature(
        raw, event.headers.get(webhooks.SIGNATURE_HEADER), clients.graph_secrets().app_secret
    )
    summary = ingestor().ingest(webhooks.parse(raw))
    for name, metric in _METRICS.items():
        if summary.counts[name]:
            metrics.add_metric(name=metric, unit=MetricUnit.Count, value=summary.counts[name])
    for path, count in summary.paths.items():
        metrics.add_metric(
            name=_PATH_METRICS.get(path, "StatusesOtherCategory"), unit=MetricUnit.Count, value=count
        )
    logger.info("webhook stored", extra={"counts": dict(summary.counts), "paths": dict(summary.paths)})
    return Response(status_code=200, content_type="application/json", body=json.dumps({"stored": True}))


@app.exception_handler(webhooks.WebhookRejected)
def rejected(exc: webhooks.WebhookRejected) -> Response:
    logger.warning("webhook rejected", extra={"status": exc.status, "reason": exc.reason})
    metrics.add_metric(name=f"WebhookRejected{exc.status}", unit=MetricUnit.Count, value=1)
    return Response(status_code=exc.status, content_type="text/plain", body=exc.reason)


@app.exception_handler(webhooks.StoreUnavailable)
def unavailable(exc: webhooks.StoreUnavailable) -> Response:
    metrics.add_metric(name="WebhookNotStored", unit=MetricUnit.Count, value=1)
    return Response(status_code=503, content_type="text/plain", body="not stored, retry later")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
@tracer().capture_lambda_handler(capture_response=False)
def lambda_handler(event, context):
    return app.resolve(event, context)
