"""Campaign API (HttpApi, IAM auth): create a campaign (its template checked against the registry first, or a dry
run; held until released when asked; an audience in S3 is imported by functions/campaigns/imports.py),
start an uploaded audience's import, send it to test numbers and read how that went, release a held one,
pause, resume or cancel one, list them (newest first), read its report (JSON, or as a page), page its messages,
show a message, and show the region policy the campaigns are planned with (``GET /policy``). EventBridge
Scheduler invokes it too, with the input of one of its one-time schedules: a scheduled campaign's start, a send
window's opening (mmcore.campaigns.schedule)."""

import time
from functools import cache, partial
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from mmcore import api, clients, policy, pricing
from mmcore.campaigns import (
    DEFAULT_PAGE,
    MAX_PAGE,
    CampaignChange,
    CampaignCreate,
    Campaigns,
    SendQueue,
    TestSendCreate,
)
from mmcore.campaigns import views as V
from mmcore.campaigns.imports import Audiences
from mmcore.campaigns.lifecycle import MAX_LIST
from mmcore.campaigns.page import render as render_page
from mmcore.campaigns.schedule import Scheduler, is_scheduled_run
from mmcore.observability import logger, metrics, tracer
from mmcore.settings import get_settings
from mmcore.store.templates import Templates
from mmcore.templates import Registry

app = APIGatewayHttpResolver(enable_validation=True)
api.install(app)

CampaignId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,100}$")]
MessageId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]
TestId = Annotated[str, Path(pattern=r"^t[0-9a-f]{8}$")]
NextToken = Annotated[str | None, Query(max_length=2048)]  # the next_token of the previous page


@cache
def campaigns() -> Campaigns:
    settings = get_settings()
    return Campaigns(
        settings,
        clients.boto_client("dynamodb"),
        SendQueue(clients.boto_client("sqs"), settings.send_queue_url),
        rules=policy.in_force().rules,
        card=pricing.in_force(),
        sync=lambda: clients.run(registry().sync()),
        scheduler=scheduler(),
    )


def scheduler() -> Scheduler | None:
    """The schedules' side of send_at and send windows; their target is this function (its own ARN)."""
    target = app.lambda_context.invoked_function_arn
    return Scheduler.configured(get_settings(), target, partial(clients.boto_client, "scheduler"))


@cache
def audiences() -> Audiences:
    """Audiences in S3: creates their campaigns and starts their imports (functions/campaigns/imports.py runs them)."""
    settings = get_settings()
    return Audiences(
        campaigns(),
        clients.boto_client("s3"),
        clients.boto_client("stepfunctions"),
        bucket=settings.audience_bucket,
        state_machine_arn=settings.import_state_machine_arn,
    )


@cache
def registry() -> Registry:
    """The template registry's sync, for the preflight of a template the registry does not know yet."""
    settings = get_settings()
    store = Templates(clients.boto_client("dynamodb"), settings.table_name, settings.waba_id)
    return Registry(clients.graph_client(), store, time.time, logger)


@app.post(
    "/campaigns",
    summary="Create a campaign: its template checked, its recipients planned and queued (or held, or scheduled)",
    tags=["campaigns"],
    responses=api.answers(
        202,
        V.CampaignCreated,
        "Recorded; its messages queued (or held, or waiting for its audience's upload)",
        e409="campaign_id used twice",
        e503="Meta could not be read for the template registry",
    )
    | api.answers(200, V.DryRun, "dry_run=true: what it would do, nothing written"),
)
def create_campaign(
    campaign: CampaignCreate, dry_run: Annotated[bool, Query()] = False
) -> Response[dict[str, Any]]:
    if dry_run:
        return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, campaigns().dry_run(campaign))
    if campaign.audience is not None:
        imported = audiences().create(campaign)
        logger.append_keys(campaign_id=imported["campaign_id"])
        metrics.add_metric(name="AudienceImportsCreated", unit=MetricUnit.Count, value=1)
        return Response(HTTPStatus.ACCEPTED, content_types.APPLICATION_JSON, imported)
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


@app.get(
    "/campaigns",
    summary="The campaigns, newest first, with their counts",
    tags=["campaigns"],
    responses=api.answers(200, V.CampaignList, "One page of campaigns, and the next page's token"),
)
def list_campaigns(
    limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = DEFAULT_PAGE,
    next_token: NextToken = None,
) -> V.CampaignList:
    return campaigns().listing(limit, next_token)


@app.post(
    "/campaigns/<campaign_id>/import",
    summary="Start importing an uploaded audience",
    tags=["campaigns"],
    responses=api.answers(
        202, V.ImportStarted, "The import started", e404="no such campaign", e409="not awaiting its upload"
    ),
)
def start_import(campaign_id: CampaignId) -> Response[dict[str, Any]]:
    return Response(HTTPStatus.ACCEPTED, content_types.APPLICATION_JSON, audiences().start(campaign_id))


@app.get(
    "/campaigns/<campaign_id>",
    summary="A campaign's report",
    tags=["campaigns"],
    responses=api.answers(200, V.CampaignReport, "The campaign and its report", e404="no such campaign"),
)
def campaign_report(campaign_id: CampaignId) -> dict[str, Any]:
    return campaigns().report(campaign_id)


@app.get(
    "/campaigns/<campaign_id>/report.html",
    summary="A campaign's report as one self-contained page",
    tags=["campaigns"],
    responses=api.answers(200, str, "The report page (HTML, no external fetches)", e404="no such campaign"),
)
def campaign_report_page(campaign_id: CampaignId) -> Response[str]:
    return Response(HTTPStatus.OK, content_types.TEXT_HTML, render_page(campaigns().report(campaign_id)))


@app.patch(
    "/campaigns/<campaign_id>",
    summary="Pause, resume (or release a held one) or cancel a campaign",
    tags=["campaigns"],
    responses=api.answers(
        200,
        V.CampaignState,
        "The campaign's new state",
        e404="no such campaign",
        e409="not from its current state (named)",
    ),
)
def change_campaign(campaign_id: CampaignId, change: CampaignChange) -> V.CampaignState:
    # pause, resume (or release a held one), cancel: 409 naming the campaign's state when it does not apply
    logger.append_keys(campaign_id=campaign_id)
    changed = campaigns().change(campaign_id, change.status)
    metrics.add_metric(name=f"Campaigns{change.status.title()}", unit=MetricUnit.Count, value=1)
    return changed


@app.post(
    "/campaigns/<campaign_id>/test",
    summary="Send the campaign's message to the business's own numbers",
    tags=["campaigns"],
    responses=api.answers(202, V.TestSend, "Queued; GET it for the verdict", e404="no such campaign"),
)
def test_campaign(
    campaign_id: CampaignId, test: Annotated[TestSendCreate | None, Body()] = None
) -> Response[dict[str, Any]]:
    # 202: the verdict comes with Meta's status webhooks (GET .../test), not within API Gateway's 30 s
    started = campaigns().test(campaign_id, test or TestSendCreate())
    metrics.add_metric(name="TestSends", unit=MetricUnit.Count, value=1)
    return Response(HTTPStatus.ACCEPTED, content_types.APPLICATION_JSON, started)


@app.get(
    "/campaigns/<campaign_id>/test",
    summary="The campaign's latest test send",
    tags=["campaigns"],
    responses=api.answers(200, V.TestSend, "Each number's state and the verdict", e404="no such test"),
)
def latest_test(campaign_id: CampaignId) -> dict[str, Any]:
    return campaigns().test_view(campaign_id)


@app.get(
    "/campaigns/<campaign_id>/tests/<test_id>",
    summary="One test send of the campaign",
    tags=["campaigns"],
    responses=api.answers(200, V.TestSend, "Each number's state and the verdict", e404="no such test"),
)
def get_test(campaign_id: CampaignId, test_id: TestId) -> dict[str, Any]:
    return campaigns().test_view(campaign_id, test_id)


@app.get(
    "/campaigns/<campaign_id>/messages",
    summary="A campaign's messages, of one status or all",
    tags=["campaigns"],
    responses=api.answers(
        200, V.MessagesPage, "One page, and the next page's token", e404="no such campaign"
    ),
)
def campaign_messages(
    campaign_id: CampaignId,
    status: Annotated[str | None, Query(pattern=r"^[a-z_]{1,32}$")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    next_token: NextToken = None,
) -> dict[str, Any]:
    return campaigns().messages(campaign_id, status, limit, next_token)


@app.get(
    "/messages/<message_id>",
    summary="One message and its status events",
    tags=["campaigns"],
    responses=api.answers(200, V.MessageView, "The message", e404="no such message"),
)
def get_message(message_id: MessageId) -> dict[str, Any]:
    return campaigns().message(message_id)


@app.get(
    "/policy",
    summary="The region policy in force, with sources and dates",
    tags=["policy"],
    responses=api.answers(200, policy.PolicyView, "The region table campaigns are planned with"),
)
def get_policy() -> policy.PolicyView:
    # Here, not in another function: this is the table this function plans campaigns with.
    return policy.describe(policy.in_force())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
@tracer().capture_lambda_handler(capture_response=False)
def lambda_handler(event, context):
    if is_scheduled_run(event):  # a one-time schedule's input, from EventBridge Scheduler
        app.lambda_context = context  # scheduler() reads this function's ARN from it, as in a request
        logger.append_keys(campaign_id=event.get("campaign_id"))
        ran = audiences().run_schedule(event)  # an audience in S3 is imported at its send_at
        metrics.add_metric(
            name="CampaignsStarted", unit=MetricUnit.Count, value=int(bool(ran.get("started")))
        )
        metrics.add_metric(name="MessagesEnqueuedAtWindow", unit=MetricUnit.Count, value=ran.get("queued", 0))
        return ran
    return app.resolve(event, context)
