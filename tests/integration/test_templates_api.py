"""The template registry and the campaigns' preflight, through the handlers (functions/templates,
functions/campaigns) against moto and the Graph simulator: a sync follows Meta's paging and marks what Meta no
longer lists; a campaign Meta would refuse is a 422 naming why and reaches no one; a dry run writes nothing;
Meta unreachable is a 503 naming it; skip_preflight is recorded."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import httpx
import pytest
from aws import create_stack, use_stack
from handlers import LambdaContext, load_event, load_handler

from mmcore import clients
from mmcore.campaigns import preflight
from mmcore.exceptions import Unavailable
from mmcore.graph import GraphClient
from mmcore.store import keys
from mmcore.store.templates import Templates
from mmcore.templates import Registry

IN, IN_2 = "919876543210", "+91 98123 45678"


class Stack:
    def __init__(self, aws: Any, sim: Any, stack: Any) -> None:
        self.aws, self.sim, self.stack = aws, sim, stack
        self.campaigns = load_handler("campaigns")
        self.templates = load_handler("templates")

    def call(self, handler: Any, method: str, path: str, body: Any = None, **query: Any) -> tuple[int, Any]:
        evt = load_event("campaigns_get.json")
        evt["routeKey"] = evt["requestContext"]["routeKey"] = f"{method} {path}"
        evt["rawPath"] = evt["requestContext"]["http"]["path"] = path
        evt["requestContext"]["http"]["method"] = method
        evt.pop("pathParameters", None)
        query = {k: str(v) for k, v in query.items() if v is not None}
        evt["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
        if query:
            evt["queryStringParameters"] = query
        if body is not None:
            evt["body"] = json.dumps(body)
        answer = handler.lambda_handler(evt, LambdaContext())
        return answer["statusCode"], json.loads(answer["body"])

    def post_campaign(self, body: dict[str, Any], **query: Any) -> tuple[int, Any]:
        return self.call(self.campaigns, "POST", "/campaigns", body, **query)

    def written(self) -> list[dict[str, Any]]:
        """Every item but the registry's."""
        items = self.aws.client("dynamodb").scan(TableName=self.stack.table)["Items"]
        return [i for i in items if not i["pk"]["S"].startswith("TEMPLATE#")]

    def queued(self) -> int:
        attrs = self.aws.client("sqs").get_queue_attributes(
            QueueUrl=self.stack.queue_url, AttributeNames=["All"]
        )
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"]) + int(
            attrs["Attributes"]["ApproximateNumberOfMessagesDelayed"]
        )

    def listings(self) -> int:
        return len(self.sim.requests("/message_templates"))


@pytest.fixture
def env(aws, sim, monkeypatch):
    stack = create_stack(aws, "tpl", access_token=sim.access_token, app_secret=sim.app_secret)
    use_stack(monkeypatch, stack, sim)
    yield Stack(aws, sim, stack)
    clients.reset()


def campaign(name: str = "festival_offer", components: Any = "default", **extra: Any) -> dict[str, Any]:
    if components == "default":
        components = [{"type": "body", "parameters": [{"type": "text", "text": "{{offer}}"}]}]
    template: dict[str, Any] = {"name": name, "language": {"code": "en_US"}}
    if components is not None:
        template["components"] = components
    recipients = [
        {"to": IN, "variables": {"offer": "20% off"}},
        {"to": "+1 202 555 0173", "variables": {"offer": "20% off"}},
        {"to": "12345", "variables": {"offer": "20% off"}},
    ]
    return {"name": "Diwali", "template": template, "recipients": recipients, **extra}


# ---------------------------------------------------------------- the registry


def test_a_sync_follows_meta_s_pages_and_lists_what_it_keeps(env, monkeypatch):
    monkeypatch.setattr("mmcore.templates.sync.PAGE_SIZE", 3)
    status, report = env.call(env.templates, "POST", "/templates/sync")
    assert status == 200
    assert report == {"added": 4, "changed": 0, "same": 0, "unlisted": 0, "pages": 2, "templates": 4}
    # Both pages asked Meta for the registry's fields, the second with the first's cursor
    first, second = env.sim.requests("/message_templates")
    assert "fields=id,name,language,status,category,quality_score,parameter_format,components" in first.query
    assert "limit=3" in first.query and "after=" not in first.query and "after=" in second.query
    status, page = env.call(env.templates, "GET", "/templates", limit=3)
    assert status == 200 and len(page["templates"]) == 3 and page["next_token"]
    status, rest = env.call(env.templates, "GET", "/templates", limit=3, next_token=page["next_token"])
    names = [t["name"] for t in page["templates"] + rest["templates"]]
    assert sorted(names) == ["festival_offer", "flash_sale", "spring_coupons", "summer_sale"]
    coupons = next(t for t in page["templates"] + rest["templates"] if t["name"] == "spring_coupons")
    assert coupons["status"] == "APPROVED" and coupons["category"] == "MARKETING" and coupons["listed"]
    assert coupons["shape"]["placeholders"]["body"] == ["1"]
    assert coupons["shape"]["buttons"] == [
        {
            "index": 0,
            "type": "COPY_CODE",
            "sub_type": "copy_code",
            "parameter": "coupon_code",
            "required": True,
        }
    ]
    status, one = env.call(env.templates, "GET", f"/templates/{coupons['template_id']}")
    assert status == 200 and one == coupons
    status, _ = env.call(env.templates, "GET", "/templates/999")
    assert status == 404


def test_filters_and_a_second_sync_that_sees_a_change_and_a_template_gone(env):
    env.call(env.templates, "POST", "/templates/sync")
    env.sim.set_template_status("flash_sale", "PAUSED")
    env.sim.state.templates.pop(
        next(k for k, t in env.sim.state.templates.items() if t.name == "summer_sale")
    )
    status, report = env.call(env.templates, "POST", "/templates/sync")
    assert (report["added"], report["changed"], report["unlisted"]) == (0, 1, 1)
    status, paused = env.call(env.templates, "GET", "/templates", status="PAUSED")
    assert [t["name"] for t in paused["templates"]] == ["flash_sale"]
    status, every = env.call(env.templates, "GET", "/templates", category="MARKETING", language="en_US")
    gone = next(t for t in every["templates"] if t["name"] == "summer_sale")
    assert gone["listed"] is False and "unlisted_at" in gone  # kept, marked: never sent as approved
    status, bad = env.call(env.templates, "GET", "/templates", status="LOVELY")
    assert status == 422 and bad["errors"][0]["field"].endswith("status")


def test_the_schedule_syncs_and_reports_a_failure_instead_of_raising(env, monkeypatch):
    answer = env.templates.lambda_handler({"source": "aws.scheduler"}, LambdaContext())
    assert answer["added"] == 4
    monkeypatch.setenv("GRAPH_BASE_URL", "http://127.0.0.1:9")
    clients.reset()
    env.templates.store.cache_clear(), env.templates.registry.cache_clear()
    answer = env.templates.lambda_handler({"source": "aws.scheduler"}, LambdaContext())
    assert answer["reason"] == "unreachable"


def test_a_throttled_listing_stops_with_the_catalog_s_delay(aws, sim):
    # Meta's WABA rate limit (80007) on the second page: one call, no retry loop, the delay from the catalog
    calls = []

    def meta(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(200, json={"data": [], "paging": {"cursors": {"after": "x"}, "next": "n"}})
        return httpx.Response(400, json={"error": {"code": 80007, "message": "(#80007) Rate limit issues"}})

    stack = create_stack(aws, "thr", access_token="t", app_secret="s")
    store = Templates(aws.client("dynamodb"), stack.table, sim.waba_id)
    graph = GraphClient("https://graph.example/v25.0", lambda: "t", transport=httpx.MockTransport(meta))
    with pytest.raises(Unavailable) as exc:
        asyncio.run(Registry(graph, store, time.time, logging.getLogger()).sync())
    assert len(calls) == 2
    assert exc.value.details["reason"] == "throttled" and exc.value.details["retry_after_seconds"] == 60
    assert exc.value.details["graph"]["code"] == 80007 and "80007" in exc.value.message


# ---------------------------------------------------------------- preflight


def test_a_misspelt_template_is_a_422_naming_it_after_one_sync_and_nobody_is_messaged(env):
    status, answer = env.post_campaign(campaign("festval_offer"))
    assert status == 422
    [error] = answer["errors"]
    assert error["field"] == "template.name"
    assert error["reason"] == "festval_offer (en_US): not found in the WABA's templates"
    assert env.listings() == 1  # ONE sync for the unknown name
    assert env.sim.requests("/marketing_messages") == []
    assert env.written() == [] and env.queued() == 0


def test_a_misspelt_name_retried_within_the_cooldown_does_not_list_meta_s_templates_again(env):
    # Given a campaign refused for a misspelt template, after one sync
    assert env.post_campaign(campaign("festval_offer"))[0] == 422 and env.listings() == 1
    # When the caller retries with other misspellings within the minute
    for name in ("festivl_offer", "festval_ofer"):
        status, answer = env.post_campaign(campaign(name))
        # Then each is refused from the registry as synced, saying how old it is, without another listing
        assert status == 422
        assert "as of a sync" in answer["errors"][0]["reason"]
        assert "POST /templates/sync" in answer["errors"][0]["reason"]
    assert env.listings() == 1
    # And once the cooldown has passed, an unknown name syncs again
    env.aws.client("dynamodb").update_item(
        TableName=env.stack.table,
        Key=keys.template_sync(env.sim.waba_id),
        UpdateExpression="SET synced_at = :old",
        ExpressionAttributeValues={":old": {"N": str(int(time.time()) - preflight.SYNC_COOLDOWN_SECONDS)}},
    )
    assert env.post_campaign(campaign("festval_offer"))[0] == 422 and env.listings() == 2


def test_the_wrong_language_names_the_ones_that_exist(env):
    body = campaign()
    body["template"]["language"] = {"code": "pt_BR"}
    status, answer = env.post_campaign(body)
    assert status == 422
    assert (
        answer["errors"][0]["reason"]
        == "festival_offer (pt_BR): not found in the WABA's templates (it exists in: en_US)"
    )


def test_variables_that_do_not_match_the_template_name_component_and_parameter(env):
    two = [{"type": "text", "text": "{{offer}}"}, {"type": "text", "text": "again"}]
    status, answer = env.post_campaign(campaign(components=[{"type": "body", "parameters": two}]))
    assert status == 422
    assert answer["errors"] == [
        {
            "field": "template.components.0.parameters",
            "reason": "body: 2 parameters sent; the template expects 1 positional parameter ({{1}})",
        }
    ]
    named = [{"type": "text", "parameter_name": "offer", "text": "{{offer}}"}]
    status, answer = env.post_campaign(campaign(components=[{"type": "body", "parameters": named}]))
    assert answer["errors"][0]["field"] == "template.components.0.parameters.0.parameter_name"
    # a copy-code template without its code, by button index and sub-type
    status, answer = env.post_campaign(campaign("spring_coupons"))
    assert status == 422
    assert answer["errors"] == [
        {
            "field": "template.components",
            "reason": "button 0 (copy_code): missing; the template expects 1 coupon_code parameter",
        }
    ]
    assert env.written() == [] and env.queued() == 0


def test_a_template_meta_paused_is_refused_once_the_registry_knows(env):
    env.sim.set_template_status("festival_offer", "PAUSED")
    status, answer = env.post_campaign(campaign())
    assert status == 422 and "PAUSED" in answer["errors"][0]["reason"]
    assert env.written() == []


def test_a_matching_campaign_passes_and_records_it(env):
    status, answer = env.post_campaign(campaign(campaign_id="ok"))
    assert status == 202 and answer["preflight"] == "passed"
    status, report = env.call(env.campaigns, "GET", "/campaigns/ok")
    assert report["preflight"] == "passed"
    # a second campaign of the same template needs no sync
    env.post_campaign(campaign(campaign_id="ok2"))
    assert env.listings() == 1


def test_a_dry_run_answers_what_would_happen_and_writes_nothing(env):
    status, answer = env.post_campaign(campaign(campaign_id="dry"), dry_run="true")
    assert status == 200 and answer["dry_run"] is True and answer["would_send"] is True
    assert answer["counts"]["queued"] == 1 and answer["counts"]["invalid"] == 1
    assert (
        answer["counts"]["blocked_by_reason"] == {"us_marketing_paused": 1}
        or answer["counts"]["blocked"] == 1
    )
    assert answer["by_country"] == {"IN": 1, "US": 1}
    assert answer["preflight"]["status"] == "passed" and answer["preflight"]["problems"] == []
    status, answer = env.post_campaign(campaign("festval_offer", campaign_id="dry"), dry_run="true")
    assert status == 200 and answer["would_send"] is False
    assert answer["preflight"]["problems"][0]["field"] == "template.name"
    assert env.written() == [] and env.queued() == 0
    assert env.sim.requests("/marketing_messages") == []


def test_meta_unreachable_is_a_503_naming_it_and_skip_preflight_is_recorded(env, monkeypatch):
    monkeypatch.setenv("GRAPH_BASE_URL", "http://127.0.0.1:9")
    clients.reset()
    env.campaigns.campaigns.cache_clear(), env.campaigns.registry.cache_clear()
    status, answer = env.post_campaign(campaign())
    assert status == 503 and answer["reason"] == "unreachable"
    assert "cannot be reached" in answer["message"]
    assert env.written() == []
    status, answer = env.post_campaign(campaign(campaign_id="risky", skip_preflight=True))
    assert status == 202 and answer["preflight"] == "skipped"
    status, report = env.call(env.campaigns, "GET", "/campaigns/risky")
    assert report["preflight"] == "skipped"
