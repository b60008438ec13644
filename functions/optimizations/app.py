"""Optimization configuration API (HttpApi, IAM auth): the creative optimizations of a template or of the
whole WABA, a template's TTL and max price, the WABA's onboarding status and reach estimate, and the audit
trail of every change.

The domain is ``mmcore.optimizations``; this module routes, parses, and maps its errors through
:func:`mmcore.api.install`. The OpenAPI examples and response tables are ``mmcore.optimizations.examples``.
The stack's OpenAPI document (every function's routes) is served at ``GET /openapi.json`` (Swagger UI at
``GET /openapi``).
"""

import pathlib
from functools import cache
from http import HTTPStatus
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

import mmcore
from mmcore import api, clients, policy
from mmcore import optimizations as opt
from mmcore.exceptions import DomainError, NotRecorded
from mmcore.observability import logger, metrics, tracer
from mmcore.optimizations.examples import REQUESTS, RESPONSES
from mmcore.settings import get_settings
from mmcore.store.audit import AuditLog

app = APIGatewayHttpResolver(enable_validation=True)
api.install(app)

# The stack's one OpenAPI document (every function's routes), built from the source by ``python -m mmapi.openapi``
# and shipped in the layer: each function is deployed with its own code only, so none can build it at run time.
DOCUMENT = pathlib.Path(mmcore.__file__).with_name("openapi.json")


TemplateId = Annotated[
    str,
    Path(
        pattern=r"^\d{1,32}$",
        description="The template's ID (digits), not its name",
        examples=["1234567890000002"],
    ),
]
Limit = Annotated[int, Query(ge=1, le=opt.HISTORY_MAX, description="Records per page")]
NextToken = Annotated[str | None, Query(max_length=512, description="next_token of the previous page")]


@cache
def service() -> opt.Optimizations:
    settings = get_settings()
    audit = AuditLog(clients.boto_client("dynamodb"), settings.table_name)
    rules = policy.in_force().rules
    return opt.Optimizations(clients.graph_client(), audit, settings, logger=logger, rules=rules)


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
    responses=RESPONSES["template_get"],
)
def get_template(template_id: TemplateId) -> opt.OptimizationsView:
    return clients.run(service().view(service().template(template_id)))


@app.put(
    "/templates/<template_id>/optimizations",
    summary="Change a template's creative optimizations",
    tags=["template"],
    responses=RESPONSES["template_put"],
)
def put_template(
    template_id: TemplateId,
    update: Annotated[opt.FeaturesUpdate, Body(openapi_examples=REQUESTS["template_put"])],
) -> opt.OptimizationsChange:
    answer = clients.run(service().update(service().template(template_id), update, change_context()))
    _count_change()
    return answer


@app.get(
    "/templates/<template_id>/optimizations/history",
    summary="A template's audit trail (optimizations and TTL), newest first",
    tags=["template"],
    responses=RESPONSES["template_history"],
)
def template_history(
    template_id: TemplateId, limit: Limit = opt.HISTORY_DEFAULT, next_token: NextToken = None
) -> opt.History:
    return service().history(service().template(template_id), limit, next_token)


@app.put(
    "/templates/<template_id>/ttl",
    summary="Set a template's message_send_ttl_seconds",
    tags=["template"],
    responses=RESPONSES["ttl_put"],
)
def put_ttl(
    template_id: TemplateId,
    update: Annotated[opt.TtlUpdate, Body(openapi_examples=REQUESTS["ttl_put"])],
) -> opt.TtlChange:
    answer = clients.run(service().set_ttl(service().template(template_id), update, change_context()))
    _count_change()
    return answer


@app.get(
    "/templates/<template_id>/max-price",
    summary="A template's max price (optimization_spec), also as a price per delivery",
    tags=["template"],
    responses=RESPONSES["max_price_get"],
)
def get_max_price(template_id: TemplateId) -> opt.MaxPriceView:
    return clients.run(service().max_price.view(service().template(template_id)))


@app.put(
    "/templates/<template_id>/max-price",
    summary="Change a template's max price: bid_amount, or a price per delivery in the WABA's currency",
    tags=["template"],
    responses=RESPONSES["max_price_put"],
)
def put_max_price(
    template_id: TemplateId,
    update: Annotated[opt.MaxPriceUpdate, Body(openapi_examples=REQUESTS["max_price_put"])],
) -> opt.MaxPriceChange:
    target = service().template(template_id)
    answer = clients.run(service().max_price.update(target, update, change_context()))
    _count_change()
    return answer


# ---------------------------------------------------------------- WABA


@app.get(
    "/waba/optimizations",
    summary="The WABA-wide creative optimizations",
    tags=["waba"],
    responses=RESPONSES["waba_get"],
)
def get_waba() -> opt.OptimizationsView:
    return clients.run(service().view(service().waba()))


@app.put(
    "/waba/optimizations",
    summary="Change the WABA-wide creative optimizations",
    tags=["waba"],
    responses=RESPONSES["waba_put"],
)
def put_waba(
    update: Annotated[opt.FeaturesUpdate, Body(openapi_examples=REQUESTS["waba_put"])],
) -> opt.OptimizationsChange:
    answer = clients.run(service().update(service().waba(), update, change_context()))
    _count_change()
    return answer


@app.get(
    "/waba/optimizations/history",
    summary="The WABA's audit trail, newest first",
    tags=["waba"],
    responses=RESPONSES["waba_history"],
)
def waba_history(limit: Limit = opt.HISTORY_DEFAULT, next_token: NextToken = None) -> opt.History:
    return service().history(service().waba(), limit, next_token)


@app.get(
    "/waba/onboarding",
    summary="MM API onboarding status, and where sends will go",
    tags=["waba"],
    responses=RESPONSES["onboarding_get"],
)
def get_onboarding() -> opt.Onboarding:
    return clients.run(service().onboarding())


@app.get(
    "/waba/reach-estimate",
    summary="Meta's reach estimate by max price, for countries and an interval",
    tags=["waba"],
    responses=RESPONSES["reach_estimate_get"],
)
def get_reach_estimate(
    countries: Annotated[
        str,
        Query(
            min_length=2,
            max_length=1024,
            description="ISO 3166-1 alpha-2 codes, comma-separated",
            examples=["IN,BR"],
        ),
    ],
    interval: Annotated[
        Literal["L1D", "L7D", "L14D", "L28D"], Query(description="Meta's date_interval")
    ] = "L7D",
) -> opt.ReachEstimate:
    return clients.run(service().max_price.reach(countries, interval))


@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, DOCUMENT.read_text())


@app.get("/openapi", include_in_schema=False)
def swagger_ui() -> Response[str]:
    """Powertools' Swagger UI page (its bundled script and style: nothing fetched) over the document."""
    from aws_lambda_powertools.event_handler.openapi import swagger_ui

    bundled = pathlib.Path(swagger_ui.__file__).parent
    page = swagger_ui.generate_swagger_html(
        DOCUMENT.read_text().replace("</", "<\\/"),  # kept inside its <script> element
        (bundled / "swagger-ui-bundle.min.js").read_text(),
        (bundled / "swagger-ui.min.css").read_text(),
        swagger_base_url="",
        oauth2_config=None,
    )
    return Response(HTTPStatus.OK, content_types.TEXT_HTML, page)


# ---------------------------------------------------------------- errors beyond api.install's table


@app.exception_handler(NotRecorded)
def _not_recorded(exc: NotRecorded) -> Response:
    metrics.add_metric(name="AuditWriteFailures", unit=MetricUnit.Count, value=1)
    return api.error_response(exc)


@app.exception_handler(Exception)
def _unexpected(exc: Exception) -> Response:
    # Anything else (DynamoDB down, a bug): logged with its traceback, answered without it.
    logger.exception("unexpected error")
    return api.error_response(DomainError("internal error"))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
@tracer().capture_lambda_handler(capture_response=False)
def lambda_handler(event, context):
    return app.resolve(event, context)
