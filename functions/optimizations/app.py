"""Optimization configuration API (HttpApi, IAM auth): the creative optimizations of a template or of the
whole WABA, a template's TTL, the WABA's onboarding status, and the audit trail of every change.

The domain (Graph calls, audit records, answers) is ``mmcore.optimizations``; this module routes, parses, and
maps its errors. The OpenAPI document is served at ``GET /openapi.json`` (Swagger UI at ``GET /openapi``).
"""

from functools import cache
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from mmcore import clients
from mmcore import optimizations as opt
from mmcore.observability import logger, metrics, tracer
from mmcore.settings import get_settings

app = APIGatewayHttpResolver(enable_validation=True)

# The OpenAPI document and the Swagger UI are set up by the first request for one of them, not at init: no
# other route needs Powertools' OpenAPI models, and importing them is a quarter of this function's cold start
# (benchmarks/cold_start.py).
DOCS_PATHS = ("/openapi", "/openapi.json")


@cache
def document_api() -> None:
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

    app.configure_openapi(
        title="WhatsApp MM campaigns: optimization configuration",
        version="1.0.0",
        description="Creative optimizations of a template or of the whole WABA (Meta's "
        "degrees_of_freedom_spec), template TTL, MM API onboarding status, and the audit trail of every "
        "change. Every route needs AWS IAM (SigV4) authentication.",
        security_schemes={
            "sigv4": APIKey(name="Authorization", in_=APIKeyIn.header, description="AWS SigV4 (IAM)")
        },
        security=[{"sigv4": []}],
    )
    app.enable_swagger(path="/openapi")


EX = opt.openapi_examples()

TemplateId = Annotated[
    str,
    Path(
        pattern=r"^\d{1,32}$",
        description="The template's ID (digits), not its name",
        examples=["1234567890000002"],
    ),
]
Limit = Annotated[int, Query(ge=1, le=opt.HISTORY_MAX, description="Records per page")]
Cursor = Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page")]


def _examples(**named: str) -> dict[str, dict[str, Any]]:
    return {name: {"summary": name.replace("_", " "), "value": EX[key]} for name, key in named.items()}


def _answer(description: str, model: Any = opt.ErrorBody, **named: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"model": model, "examples": _examples(**named)}},
    }


# Error answers by status; a route lists the ones it can give (422 is overridden where the body adds cases).
_ERRORS = {
    404: _answer(
        "Unknown template or WABA (Graph code 100 'does not exist', or HTTP 404)", not_found="not_found"
    ),
    422: _answer("template_id is not an ID", invalid_template_id="invalid_template_id"),
    429: _answer("Meta's rate limit (codes 4, 80007, 130429)", rate_limited="rate_limited")
    | {"headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}},
    502: _answer(
        "Meta refused the call or did not answer: Graph's code and fbtrace_id", graph_error="graph_error"
    ),
}
_AUDIT_FAILED = _answer(
    "Applied at Meta, but the audit record was not written (logged)", audit_failed="audit_failed"
)
_NOT_CONFIGURED = _answer("WABA_ID is not configured", not_configured="not_configured")
_BAD_FEATURES = _answer(
    "Unknown or misspelt feature, bad status, or another invalid field",
    unknown_feature="unknown_feature",
    invalid_template_id="invalid_template_id",
)


def _responses(ok: dict[str, Any], *codes: int, **others: dict[str, Any]) -> dict[int, Any]:
    """200, the listed common errors, and route-specific ones passed as s<status>=..."""
    return {200: ok, **{code: _ERRORS[code] for code in codes}, **{int(k[1:]): v for k, v in others.items()}}


@cache
def service() -> opt.Optimizations:
    settings = get_settings()
    audit = opt.AuditLog(clients.boto_client("dynamodb"), settings.table_name)
    return opt.Optimizations(clients.graph_client(), audit, settings, logger=logger)


def change_context() -> opt.ChangeContext:
    """Who (the IAM authorizer's identity) and which route, from the HttpApi request context."""
    event = app.current_event
    context = event.raw_event.get("requestContext") or {}
    iam = (context.get("authorizer") or {}).get("iam") or {}
    who = opt.Who(
        user_arn=iam.get("userArn") or "unknown",
        caller_id=iam.get("callerId") or "unknown",
        account_id=iam.get("accountId") or "unknown",
    )
    route = event.raw_event.get("routeKey")
    if not route or route == "$default":
        route = f"{event.http_method} {event.path}"
    return opt.ChangeContext(who, route, context.get("requestId"))


def _count_change() -> None:
    metrics.add_metric(name="OptimizationChanges", unit=MetricUnit.Count, value=1)


# ---------------------------------------------------------------- template


@app.get(
    "/templates/<template_id>/optimizations",
    summary="A template's creative optimizations",
    tags=["template"],
    responses=_responses(
        _answer(
            "Every catalog feature", opt.OptimizationsView, seeds="template_view", eea="template_view_eea"
        ),
        404,
        422,
        429,
        502,
    ),
)
def get_template(template_id: TemplateId) -> opt.OptimizationsView:
    return clients.run(service().view(service().template(template_id)))


@app.put(
    "/templates/<template_id>/optimizations",
    summary="Change a template's creative optimizations",
    tags=["template"],
    responses=_responses(
        _answer("Settings Meta reports after the change", opt.OptimizationsChange, seeds="template_change"),
        404,
        429,
        502,
        s422=_BAD_FEATURES,
        s500=_AUDIT_FAILED,
    ),
)
def put_template(
    template_id: TemplateId,
    update: Annotated[
        opt.FeaturesUpdate,
        Body(
            openapi_examples=_examples(
                seeds="template_put", display_names="template_put_names", allow_unknown="template_put_unknown"
            )
        ),
    ],
) -> opt.OptimizationsChange:
    answer = clients.run(service().update(service().template(template_id), update, change_context()))
    _count_change()
    return answer


@app.get(
    "/templates/<template_id>/optimizations/history",
    summary="A template's audit trail (optimizations and TTL), newest first",
    tags=["template"],
    responses=_responses(
        _answer("Audit records", opt.History, ttl_change="history"),
        s422=_answer(
            "Invalid template_id or cursor", bad_cursor="bad_cursor", invalid_id="invalid_template_id"
        ),
    ),
)
def template_history(
    template_id: TemplateId, limit: Limit = opt.HISTORY_DEFAULT, cursor: Cursor = None
) -> opt.History:
    return service().history(service().template(template_id), limit, cursor)


@app.put(
    "/templates/<template_id>/ttl",
    summary="Set a template's message_send_ttl_seconds",
    tags=["template"],
    responses=_responses(
        _answer("The TTL Meta reports after the change", opt.TtlChange, twelve_hours="ttl_change"),
        404,
        429,
        502,
        s422=_answer("Out of range (43200-2592000) or not an integer", out_of_range="ttl_out_of_range"),
        s500=_AUDIT_FAILED,
    ),
)
def put_ttl(
    template_id: TemplateId,
    update: Annotated[opt.TtlUpdate, Body(openapi_examples=_examples(twelve_hours="ttl_put"))],
) -> opt.TtlChange:
    answer = clients.run(service().set_ttl(service().template(template_id), update, change_context()))
    _count_change()
    return answer


# ---------------------------------------------------------------- WABA


@app.get(
    "/waba/optimizations",
    summary="The WABA-wide creative optimizations",
    tags=["waba"],
    responses=_responses(
        _answer("Every catalog feature", opt.OptimizationsView, nothing_set="waba_view"),
        404,
        429,
        502,
        s500=_NOT_CONFIGURED,
    ),
)
def get_waba() -> opt.OptimizationsView:
    return clients.run(service().view(service().waba()))


@app.put(
    "/waba/optimizations",
    summary="Change the WABA-wide creative optimizations",
    tags=["waba"],
    responses=_responses(
        _answer("Settings Meta reports after the change", opt.OptimizationsChange, seeds="waba_change"),
        404,
        429,
        502,
        s422=_answer("Unknown or misspelt feature, or a bad status", unknown_feature="unknown_feature"),
        s500=_answer(
            "Audit record not written (change logged), or WABA_ID not configured",
            audit_failed="audit_failed",
            not_configured="not_configured",
        ),
    ),
)
def put_waba(
    update: Annotated[opt.FeaturesUpdate, Body(openapi_examples=_examples(seeds="waba_put"))],
) -> opt.OptimizationsChange:
    answer = clients.run(service().update(service().waba(), update, change_context()))
    _count_change()
    return answer


@app.get(
    "/waba/optimizations/history",
    summary="The WABA's audit trail, newest first",
    tags=["waba"],
    responses=_responses(
        _answer("Audit records", opt.History, example="history"),
        s422=_answer("Invalid cursor", bad_cursor="bad_cursor"),
        s500=_NOT_CONFIGURED,
    ),
)
def waba_history(limit: Limit = opt.HISTORY_DEFAULT, cursor: Cursor = None) -> opt.History:
    return service().history(service().waba(), limit, cursor)


@app.get(
    "/waba/onboarding",
    summary="MM API onboarding status, and where sends will go",
    tags=["waba"],
    responses=_responses(
        _answer(
            "Onboarding and routing", opt.Onboarding, onboarded="onboarded", not_onboarded="eligible_strict"
        ),
        404,
        429,
        502,
        s500=_NOT_CONFIGURED,
    ),
)
def get_onboarding() -> opt.Onboarding:
    return clients.run(service().onboarding())


@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    document_api()
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, app.get_openapi_json_schema())


# ---------------------------------------------------------------- errors


def _error(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(status, content_types.APPLICATION_JSON, body, headers=headers)


@app.exception_handler(opt.ApiError)
def _api_error(exc: opt.ApiError) -> Response:
    log = logger.error if exc.status_code >= 500 else logger.info
    log("request failed", extra={"status": exc.status_code, "error": exc.error, "reason": exc.message})
    if isinstance(exc, opt.AuditFailed):
        metrics.add_metric(name="AuditWriteFailures", unit=MetricUnit.Count, value=1)
    return _error(exc.status_code, exc.body(), exc.headers)


@app.exception_handler(RequestValidationError)
def _invalid_request(exc: RequestValidationError) -> Response:
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        if len(loc) > 1 and loc[0] in ("body", "query", "path"):
            loc = loc[1:]
        errors.append((".".join(loc) or "body", str(err.get("msg", "invalid")).removeprefix("Value error, ")))
    logger.info("request rejected", extra={"fields": [f for f, _ in errors]})
    message = "; ".join(f"{field}: {reason}" for field, reason in errors)
    return _error(HTTPStatus.UNPROCESSABLE_ENTITY, opt.InvalidRequest(message, errors).body())


@app.exception_handler(Exception)
def _unexpected(exc: Exception) -> Response:
    # Anything else (DynamoDB down, a bug): logged with its traceback, answered without it.
    logger.exception("unexpected error")
    return _error(
        HTTPStatus.INTERNAL_SERVER_ERROR,
        {"message": "internal error", "error": "internal_error", "errors": []},
    )


@app.not_found
def _no_route(exc: Exception) -> Response:
    return _error(HTTPStatus.NOT_FOUND, {"message": "no such route", "error": "no_route", "errors": []})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
@tracer().capture_lambda_handler(capture_response=False)
def lambda_handler(event, context):
    if str(event.get("rawPath", "")).endswith(DOCS_PATHS):
        document_api()  # registers the Swagger UI route before the request is routed
    return app.resolve(event, context)
