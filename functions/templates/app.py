"""Template registry API (HttpApi, IAM auth) and its schedule: the WABA's templates as Meta lists them
(``GET /templates``, ``GET /templates/{template_id}``), a sync on demand (``POST /templates/sync``) and on
the EventBridge Scheduler's rate (a ScheduleV2 event: no ``rawPath``)."""

import time
from functools import cache
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from mmcore import api, clients
from mmcore.exceptions import DomainError, NotFound
from mmcore.observability import logger, metrics, tracer
from mmcore.settings import get_settings
from mmcore.store.paging import DEFAULT_LIMIT
from mmcore.store.templates import Templates
from mmcore.templates import Registry, SyncView, TemplatesPage, TemplateView, template_view

app = APIGatewayHttpResolver(enable_validation=True)
api.install(app)

MAX_PAGE = 200
TemplateId = Annotated[str, Path(pattern=r"^\d{1,32}$", description="Meta's template ID (digits)")]
Status = Literal[
    "APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED", "ARCHIVED", "IN_APPEAL", "REINSTATED"
]
Category = Literal["MARKETING", "UTILITY", "AUTHENTICATION"]


@cache
def store() -> Templates:
    settings = get_settings()
    return Templates(clients.boto_client("dynamodb"), settings.table_name, settings.waba_id)


@cache
def registry() -> Registry:
    return Registry(clients.graph_client(), store(), time.time, logger)


def sync() -> dict[str, Any]:
    report = clients.run(registry().sync())
    metrics.add_metric(name="TemplateSyncs", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="TemplatesUnlisted", unit=MetricUnit.Count, value=report.unlisted)
    return report.view()


@app.get(
    "/templates",
    summary="The WABA's templates in the registry, by status, category and language",
    tags=["templates"],
    responses=api.answers(200, TemplatesPage, "One page of templates, and the next page's token"),
)
def list_templates(
    status: Annotated[Status | None, Query()] = None,
    category: Annotated[Category | None, Query()] = None,
    language: Annotated[str | None, Query(pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_LIMIT,
    next_token: Annotated[str | None, Query(max_length=2048)] = None,
) -> dict[str, Any]:
    items, token = store().page(limit, next_token, status=status, category=category, language=language)
    return {"templates": [template_view(i) for i in items], "next_token": token}


@app.get(
    "/templates/<template_id>",
    summary="One template: Meta's facts, its shape, whether Meta still lists it",
    tags=["templates"],
    responses=api.answers(200, TemplateView, "The template", e404="not in the registry"),
)
def get_template(template_id: TemplateId) -> dict[str, Any]:
    item = store().by_id(template_id)
    if item is None:
        raise NotFound(
            f"template {template_id} is not in the registry (POST /templates/sync reads Meta's list)"
        )
    return template_view(item)


@app.post(
    "/templates/sync",
    summary="Read Meta's list of the WABA's templates into the registry now",
    tags=["templates"],
    responses=api.answers(
        200, SyncView, "What the sync did", e503="Meta could not be read (throttled: Retry-After)"
    ),
)
def sync_templates() -> dict[str, Any]:
    return sync()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
@tracer().capture_lambda_handler(capture_response=False)
def lambda_handler(event, context):
    if "rawPath" not in event:
        return scheduled_sync()
    return app.resolve(event, context)


def scheduled_sync() -> dict[str, Any]:
    """EventBridge Scheduler's run: a sync; one that stops (Meta unreachable or throttling) is logged and
    answered, and the next run tries again (no retry storm against Meta's hourly limit)."""
    try:
        answer = sync()
    except DomainError as exc:
        logger.warning("scheduled template sync stopped", extra={"error": exc.message, **exc.details})
        return {"error": exc.message, **exc.details}
    logger.info("scheduled template sync", extra=answer)
    return answer
