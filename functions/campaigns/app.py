"""Campaign API (HttpApi, IAM auth): create a campaign, read its report, page its messages, show a message."""

from collections.abc import Sequence
from functools import cache
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from mmcore import clients
from mmcore.campaigns import (
    DEFAULT_PAGE,
    MAX_PAGE,
    CampaignCreate,
    CampaignExists,
    Campaigns,
    InvalidInput,
    NotFound,
)
from mmcore.observability import logger, metrics, tracer
from mmcore.settings import get_settings
from mmcore.store.messages import Ledger

app = APIGatewayHttpResolver(enable_validation=True)

CampaignId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,100}$")]
MessageId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]


@cache
def campaigns() -> Campaigns:
    settings = get_settings()
    return Campaigns(
        settings,
        Ledger(clients.boto_client("dynamodb"), settings.table_name),
        clients.boto_client("sqs"),
        settings.send_queue_url,
    )


@app.post("/campaigns")
def create_campaign(campaign: CampaignCreate) -> Response[dict[str, Any]]:
    created = campaigns().create(campaign)
    counts = created["counts"]
    logger.append_keys(campaign_id=created["campaign_id"])
    metrics.add_metric(name="CampaignsCreated", unit=MetricUnit.Count, value=1)
    for name, metric in (
        ("queued", "MessagesEnqueued"),
        ("blocked", "MessagesBlocked"),
        ("invalid", "MessagesInvalid"),
    ):
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=counts[name])
    return Response(HTTPStatus.ACCEPTED, content_types.APPLICATION_JSON, created)


@app.get("/campaigns/<campaign_id>")
def campaign_report(campaign_id: CampaignId) -> dict[str, Any]:
    return campaigns().report(campaign_id)


@app.get("/campaigns/<campaign_id>/messages")
def campaign_messages(
    campaign_id: CampaignId,
    status: Annotated[str | None, Query(pattern=r"^[a-z_]{1,32}$")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    next_token: Annotated[str | None, Query(max_length=2048)] = None,
) -> dict[str, Any]:
    return campaigns().messages(campaign_id, status, limit, next_token)


@app.get("/messages/<message_id>")
def get_message(message_id: MessageId) -> dict[str, Any]:
    return campaigns().message(message_id)


# ---------------------------------------------------------------- errors: one shape for every 4xx


def _error(status: HTTPStatus, message: str, errors: Sequence[tuple[str, str]] = ()) -> Response:
    body = {"message": message, "errors": [{"field": f, "reason": r} for f, r in errors]}
    return Response(status, content_types.APPLICATION_JSON, body)


@app.exception_handler(RequestValidationError)
def _invalid_request(exc: RequestValidationError) -> Response:
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        if err.get("type") == "json_invalid":  # loc is ("body", <character position>)
            errors.append(("body", f"not valid JSON: {err.get('ctx', {}).get('error', '')} at {loc[-1]}"))
            continue
        if len(loc) > 1 and loc[0] in ("body", "query", "path"):
            loc = loc[1:]  # name the field as the client wrote it: recipients.3.to, limit
        errors.append((".".join(loc) or "body", str(err.get("msg", "invalid")).removeprefix("Value error, ")))
    logger.info("request rejected", extra={"fields": [f for f, _ in errors]})
    return _error(HTTPStatus.UNPROCESSABLE_ENTITY, f"{len(errors)} invalid field(s)", errors)


@app.exception_handler(InvalidInput)
def _invalid_input(exc: InvalidInput) -> Response:
    logger.info("request rejected", extra={"fields": [f for f, _ in exc.errors]})
    return _error(HTTPStatus.UNPROCESSABLE_ENTITY, exc.message, exc.errors)


@app.exception_handler(NotFound)
def _not_found(exc: NotFound) -> Response:
    return _error(HTTPStatus.NOT_FOUND, exc.message)


@app.exception_handler(CampaignExists)
def _exists(exc: CampaignExists) -> Response:
    return _error(HTTPStatus.CONFLICT, exc.message, [("campaign_id", "already used")])


@app.not_found
def _no_route(exc: Exception) -> Response:
    return _error(HTTPStatus.NOT_FOUND, "no such route")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
@tracer().capture_lambda_handler(capture_response=False)
def lambda_handler(event, context):
    return app.resolve(event, context)
