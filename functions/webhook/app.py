"""Webhook function: Meta's GET handshake and signed POSTs (statuses, replies, opt-outs and other preferences,
template status/category/quality and account updates, clicks and landing page views) -> DynamoDB and
EventBridge. Public route: the signature is the authentication."""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from mmcore import api, clients
from mmcore import exceptions as E
from mmcore.observability import logger, metrics, tracer
from mmcore.settings import get_settings

if TYPE_CHECKING:
    from mmcore.webhooks import Ingestor

app = APIGatewayHttpResolver()
api.install(app, domain_errors=())  # validation and unknown routes; domain errors below, with their metrics

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
    "template_statuses": "TemplateStatusChanges",
    "template_categories": "TemplateCategoryChanges",
    "template_categories_impending": "TemplateCategoryChangesImpending",
    "template_qualities": "TemplateQualityChanges",
    "clicks": "LinkClicks",
    "landing_page_views": "LandingPageViews",
    "user_actions_other": "UserActionsOther",
    "preferences_other": "UserPreferencesKept",
    "onboarded": "MmApiTermsSigned",
    "other": "WebhookItemsKeptRaw",
    "invalid": "WebhookInvalidItems",
}
_PATH_METRICS = {"mm_api": "StatusesViaMmApi", "cloud_api_fallback": "StatusesViaCloudApiFallback"}


# mmcore.webhooks (its models, the ledger, botocore: most of the cold start, see benchmarks/cold_start.py) is
# imported where a request first needs it, not at init; its errors are mmcore.exceptions', light, mapped
# at init by refused().


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


@app.exception_handler(E.DomainError)
def refused(exc: E.DomainError) -> Response:
    """A refused POST or handshake (nothing written), or a store failure (503: Meta retries)."""
    response = api.error_response(exc)
    if isinstance(exc, E.Unavailable):
        metrics.add_metric(name="WebhookNotStored", unit=MetricUnit.Count, value=1)
    else:
        logger.warning("webhook rejected", extra={"status": response.status_code, "reason": exc.message})
        metrics.add_metric(name=f"WebhookRejected{response.status_code}", unit=MetricUnit.Count, value=1)
    return response


@app.get(
    "/webhook",
    summary="Meta's subscription handshake: hub.challenge echoed when hub.verify_token matches",
    tags=["webhook"],
    responses=api.answers(200, str, "hub.challenge", "text/plain", e403="hub.verify_token does not match"),
)
def verify() -> Response[str]:
    from mmcore import webhooks

    params = app.current_event.query_string_parameters
    challenge = webhooks.verify_subscription(params, clients.webhook_secrets().verify_token)
    metrics.add_metric(name="WebhookVerified", unit=MetricUnit.Count, value=1)
    return Response(status_code=200, content_type="text/plain", body=challenge)


@app.post(
    "/webhook",
    summary="Meta's webhooks (X-Hub-Signature-256 over the raw body): statuses, replies, opt-outs, templates",
    tags=["webhook"],
    responses=api.answers(
        200,
        dict[str, bool],
        'Stored: {"stored": true}',
        e400="not a webhook body",
        e401="no signature",
        e403="the signature does not match the app secret",
        e413="too large",
    ),
)
def receive() -> Response[str]:
    from mmcore import webhooks

    event = app.current_event
    # The raw body, not event.body/json_body: the signature covers the exact bytes Meta sent.
    raw = webhooks.raw_body(event.get("body"), bool(event.get("isBase64Encoded")))
    webhooks.check_signature(
        raw, event.headers.get(webhooks.SIGNATURE_HEADER), clients.webhook_secrets().app_secret
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


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
@tracer().capture_lambda_handler(capture_response=False)
def lambda_handler(event, context):
    return app.resolve(event, context)
