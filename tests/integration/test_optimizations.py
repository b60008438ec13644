"""The optimization configuration API end to end: handler in-process with events/optimizations_*.json, moto
(DynamoDB, Secrets Manager) and the Graph simulator over HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from aws import Stack, create_stack
from handlers import LambdaContext, load_event, load_handler

from mmapi.simulator import Simulator
from mmcore import clients, policy
from mmcore.graph import GraphClient
from mmcore.meta.creative import BY_KEY
from mmcore.store.audit import AuditLog

SUMMER_SALE = "1234567890000002"  # the simulator's seeded summer_sale, as in the events
MISSING = "1234567899999999"

SEEDS_TEMPLATE = {
    "auto_promotion_tag": {"enroll_status": "OPT_IN"},
    "text_formatting_optimization": {"enroll_status": "OPT_OUT"},
    "product_extensions": {"enroll_status": "OPT_OUT"},
}
SEEDS_WABA = {
    "auto_promotion_tag": {"enroll_status": "OPT_IN"},
    "text_extraction_for_headline": {"enroll_status": "OPT_IN"},
    "product_extensions": {"enroll_status": "OPT_OUT"},
}
ROUTES = {
    ("get", "/templates/{template_id}/optimizations"),
    ("put", "/templates/{template_id}/optimizations"),
    ("get", "/templates/{template_id}/optimizations/history"),
    ("put", "/templates/{template_id}/ttl"),
    ("get", "/waba/optimizations"),
    ("put", "/waba/optimizations"),
    ("get", "/waba/optimizations/history"),
    ("get", "/waba/onboarding"),
    ("get", "/templates/{template_id}/max-price"),
    ("put", "/templates/{template_id}/max-price"),
    ("get", "/waba/reach-estimate"),
}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


@dataclass
class OptEnv:
    stack: Stack
    sim: Simulator
    handler: Any
    dynamodb: Any

    def call(
        self,
        name: str,
        *,
        template_id: str | None = None,
        body: Any = None,
        query: dict[str, str] | None = None,
        iam: dict[str, Any] | bool | None = True,
    ) -> Answer:
        """Invoke with events/optimizations_<name>.json, changed as asked (``iam=None``: no authorizer)."""
        event = load_event(f"optimizations_{name}.json")
        if template_id is not None:
            for holder, key in ((event, "rawPath"), (event["requestContext"]["http"], "path")):
                holder[key] = holder[key].replace(SUMMER_SALE, template_id)
            event["pathParameters"]["template_id"] = template_id
        if body is not None:
            event["body"] = body if isinstance(body, str) else json.dumps(body)
        if query is not None:
            event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
            event["queryStringParameters"] = query
        if iam is None:
            del event["requestContext"]["authorizer"]
        elif isinstance(iam, dict):
            event["requestContext"]["authorizer"]["iam"] = iam
        response = self.handler.lambda_handler(event, LambdaContext())
        text = response.get("body") or ""
        return Answer(
            response["statusCode"], response.get("headers") or {}, json.loads(text) if text else None
        )

    def graph_posts(self, node: str) -> list[Any]:
        return [
            r.body
            for r in self.sim.requests(f"/{node}")
            if r.method == "POST" and r.path.endswith(f"/{node}")
        ]

    def audit_items(self, scope: str, node: str) -> list[dict[str, Any]]:
        return AuditLog(self.dynamodb, self.stack.table).page(scope, node, 100)[0]


@pytest.fixture
def make_env(aws, sim, monkeypatch) -> Callable[..., OptEnv]:
    """Builds the function with the environment given on top of the defaults (one stack for all)."""
    stack = create_stack(aws, "t", access_token=sim.access_token, app_secret=sim.app_secret)

    def make(**env: str) -> OptEnv:
        root, version = sim.base_url.rsplit("/", 1)
        settings = {
            "GRAPH_BASE_URL": root,
            "GRAPH_API_VERSION": version,
            "PHONE_NUMBER_ID": sim.phone_number_id,
            "WABA_ID": sim.waba_id,
            "BUSINESS_COUNTRY": "IN",
            "TABLE_NAME": stack.table,
            "GRAPH_SECRET_ARN": stack.graph_secret_arn,
            "WEBHOOK_SECRET_ARN": stack.webhook_secret_arn,
            **env,
        }
        for var, value in settings.items():
            monkeypatch.setenv(var, value)
        clients.reset()
        return OptEnv(stack, sim, load_handler("optimizations"), aws.client("dynamodb"))

    yield make
    clients.reset()


@pytest.fixture
def api(make_env) -> OptEnv:
    return make_env()


def statuses(answer: Answer) -> dict[str, str]:
    return {f["meta_key"]: f["enroll_status"] for f in answer.body["features"]}


# ---------------------------------------------------------------- the seeds' specs reach Meta exactly


def test_seeds_template_spec_reaches_meta_as_the_lowercase_object(api):
    # Given the seeds' template-level example as the PUT body (events/optimizations_template_put.json)
    # When it is sent
    answer = api.call("template_put")
    # Then Meta received exactly the seeds' degrees_of_freedom_spec, lowercase keys, nothing else
    assert answer.status == 200, answer.body
    assert api.graph_posts(SUMMER_SALE) == [
        {"degrees_of_freedom_spec": {"creative_features_spec": SEEDS_TEMPLATE}}
    ]
    # and the answer is what Meta reports after the change
    after = statuses(answer)
    assert after["auto_promotion_tag"] == "OPT_IN"
    assert after["text_formatting_optimization"] == after["product_extensions"] == "OPT_OUT"
    assert answer.body["requested"] == {k: v["enroll_status"] for k, v in SEEDS_TEMPLATE.items()}
    assert answer.body["changed"] == ["product_extensions", "text_formatting_optimization"]
    assert answer.body["warnings"] == []


def test_seeds_waba_spec_reaches_meta_as_the_lowercase_object(api):
    answer = api.call("waba_put")
    assert answer.status == 200, answer.body
    assert api.graph_posts(api.sim.waba_id) == [
        {"degrees_of_freedom_spec": {"creative_features_spec": SEEDS_WABA}}
    ]
    assert answer.body["scope"] == "waba" and answer.body["id"] == api.sim.waba_id
    after = statuses(answer)
    assert after["text_extraction_for_headline"] == "OPT_IN" and after["product_extensions"] == "OPT_OUT"
    # the answer says settings apply per template and that precedence is not confirmed
    notes = " ".join(answer.body["notes"])
    assert "per template" in notes and "UNCONFIRMED" in notes and "overrides" in notes


def test_display_names_and_any_case_are_sent_as_lowercase_keys(api):
    body = {
        "features": {
            "Auto Promotion Tag": "opt_in",
            "TEXT_FORMATTING_OPTIMIZATION": {"enroll_status": "Opt_Out"},
        }
    }
    answer = api.call("template_put", body=body)
    assert answer.status == 200, answer.body
    sent = api.graph_posts(SUMMER_SALE)[0]["degrees_of_freedom_spec"]["creative_features_spec"]
    assert sent == {
        "auto_promotion_tag": {"enroll_status": "OPT_IN"},
        "text_formatting_optimization": {"enroll_status": "OPT_OUT"},
    }


# ---------------------------------------------------------------- reading: Meta's upper-case list


def test_get_normalizes_metas_upper_case_list_and_lists_every_feature(api):
    # Given a template whose settings were changed, and Meta's raw read answer (UPPERCASE keys in a list)
    api.call("template_put")
    with httpx.Client(base_url=api.sim.base_url, headers=api.sim.auth_headers) as graph:
        raw = graph.get(f"/{SUMMER_SALE}", params={"fields": "degrees_of_freedom_spec"}).json()
    raw_keys = {item["key"] for item in raw["degrees_of_freedom_spec"]["creative_features_spec"]}
    assert "TEXT_FORMATTING_OPTIMIZATION" in raw_keys
    # When the API reads it
    answer = api.call("template_get")
    # Then every catalog feature is there under its lowercase Meta key, with its display name and state
    assert answer.status == 200
    features = {f["meta_key"]: f for f in answer.body["features"]}
    assert set(features) == set(BY_KEY)
    assert features["text_formatting_optimization"]["enroll_status"] == "OPT_OUT"
    assert features["text_formatting_optimization"]["display_name"] == "Text Formatting"
    assert features["text_formatting_optimization"]["source"] == "meta"
    assert features["add_text_overlay"]["state"] == "paused"
    # features Meta does not report show Meta's default, flagged as such
    assert {k.lower() for k in raw_keys} < set(BY_KEY)
    for key in set(BY_KEY) - {k.lower() for k in raw_keys}:
        assert features[key]["source"] == "default" and features[key]["enroll_status"] == "OPT_IN"
    assert api.sim.requests(f"/{SUMMER_SALE}")[-1].query == "fields=degrees_of_freedom_spec"


def test_region_caveats_follow_the_business_country(make_env):
    india = make_env(BUSINESS_COUNTRY="IN").call("template_get").body["region"]
    assert india["business_country"] == "IN" and india["off"] == [] and india["mm_api_available"]
    germany = make_env(BUSINESS_COUNTRY="DE").call("template_get").body["region"]
    assert {o["feature"] for o in germany["off"]} == {
        "delivery_optimization",
        "click_reporting",
        "conversion_reporting",
    }
    assert all("the EEA" in o["why"] for o in germany["off"])
    russia = make_env(BUSINESS_COUNTRY="RU").call("waba_get").body["region"]
    assert all("2025-06-20" in o["why"] and "Russia" in o["why"] for o in russia["off"])


def test_region_caveats_follow_the_operators_override_in_ssm(make_env, aws):
    # Given an override in SSM that puts India in the no-optimization group
    override = {
        "rules": {"no_optimization": {"add": ["IN"]}},
        "source": "ops 4711",
        "effective": "2026-01-01",
    }
    aws.client("ssm").put_parameter(Name="/mm/region-policy", Value=json.dumps(override), Type="String")
    policy.reset()
    try:
        # When an Indian business reads its template's optimizations
        region = make_env(BUSINESS_COUNTRY="IN", POLICY_PARAMETER="mm/region-policy").call("template_get")
    finally:
        policy.reset()
    # Then the caveats are the override's, not the built-in table's
    assert {o["feature"] for o in region.body["region"]["off"]} == {
        "delivery_optimization",
        "click_reporting",
        "conversion_reporting",
    }
    assert all("operator's override" in o["why"] for o in region.body["region"]["off"])


def test_a_bad_override_is_a_clear_error_not_the_built_in_caveats(make_env, aws):
    aws.client("ssm").put_parameter(
        Name="/mm/region-policy",
        Value='{"rules": {"nope": {}}, "source": "x", "effective": "2026-01-01"}',
        Type="String",
    )
    policy.reset()
    try:
        answer = make_env(POLICY_PARAMETER="mm/region-policy").call("template_get")
    finally:
        policy.reset()
    assert answer.status == 500 and answer.body["error"] == "not_configured"
    assert "POLICY_PARAMETER" in answer.body["message"] and "nope" in answer.body["message"]


# ---------------------------------------------------------------- validation against the catalog


def test_opting_in_to_a_paused_feature_succeeds_with_a_warning(api):
    answer = api.call("template_put", body={"features": {"add_text_overlay": "OPT_IN"}})
    assert answer.status == 200
    assert any("paused" in w and "add_text_overlay" in w for w in answer.body["warnings"])
    assert api.graph_posts(SUMMER_SALE) == [
        {
            "degrees_of_freedom_spec": {
                "creative_features_spec": {"add_text_overlay": {"enroll_status": "OPT_IN"}}
            }
        }
    ]


def test_a_misspelt_key_is_a_422_listing_the_valid_keys_and_nothing_is_sent(api):
    answer = api.call("template_put", body={"features": {"auto_promo_tag": "OPT_IN"}})
    assert answer.status == 422
    assert answer.body["valid_keys"] == sorted(BY_KEY)
    assert answer.body["suggestions"] == {"auto_promo_tag": "auto_promotion_tag"}
    assert answer.body["errors"][0]["field"] == "features.auto_promo_tag"
    assert api.graph_posts(SUMMER_SALE) == [] and api.audit_items("template", SUMMER_SALE) == []
    # a near-miss stays refused even with allow_unknown
    answer = api.call(
        "template_put", body={"features": {"auto_promotion_tags": "OPT_IN"}, "allow_unknown": True}
    )
    assert answer.status == 422 and "auto_promotion_tag" in answer.body["message"]


def test_a_bad_status_or_body_field_is_a_422_naming_it(api):
    answer = api.call("template_put", body={"features": {"auto_promotion_tag": "MAYBE"}})
    assert answer.status == 422 and answer.body["errors"][0]["field"] == "features.auto_promotion_tag"
    answer = api.call("template_put", body={"features": {}})
    assert answer.status == 422 and answer.body["errors"][0]["field"] == "features"
    answer = api.call("template_put", body={"features": {"image_banner": "OPT_IN"}, "allowUnknown": True})
    assert answer.status == 422 and answer.body["errors"][0]["field"] == "allowUnknown"
    answer = api.call("template_put", body="{not json")
    assert answer.status == 422
    assert api.graph_posts(SUMMER_SALE) == []


def test_a_well_formed_unknown_key_passes_only_with_allow_unknown(api):
    refused = api.call("template_put", body={"features": {"dynamic_cta_text": "OPT_OUT"}})
    assert refused.status == 422 and refused.body["unknown"] == ["dynamic_cta_text"]
    assert api.graph_posts(SUMMER_SALE) == []

    answer = api.call(
        "template_put", body={"features": {"dynamic_cta_text": "OPT_OUT"}, "allow_unknown": True}
    )
    assert answer.status == 200, answer.body
    assert any("dynamic_cta_text" in w and "not a known feature" in w for w in answer.body["warnings"])
    assert api.graph_posts(SUMMER_SALE) == [
        {
            "degrees_of_freedom_spec": {
                "creative_features_spec": {"dynamic_cta_text": {"enroll_status": "OPT_OUT"}}
            }
        }
    ]
    # Meta now reports it: shown as is, outside the catalog
    extra = [f for f in api.call("template_get").body["features"] if f["meta_key"] == "dynamic_cta_text"]
    assert extra == [
        {
            "meta_key": "dynamic_cta_text",
            "display_name": None,
            "enroll_status": "OPT_OUT",
            "source": "meta",
            "state": "unknown",
            "key_confirmed": False,
            "notes": extra[0]["notes"],
        }
    ]


def test_an_unknown_key_meta_refuses_is_a_502_and_no_audit_record(api):
    answer = api.call("template_put", body={"features": {"video_boost": "OPT_IN"}, "allow_unknown": True})
    assert answer.status == 502
    assert answer.body["graph"]["code"] == 100 and answer.body["graph"]["fbtrace_id"]
    assert "video_boost" in answer.body["graph"]["details"]
    assert api.audit_items("template", SUMMER_SALE) == []


# ---------------------------------------------------------------- TTL


@pytest.mark.parametrize(("ttl", "status"), [(43199, 422), (43200, 200), (2592000, 200), (2592001, 422)])
def test_ttl_bounds(api, ttl, status):
    answer = api.call("ttl_put", body={"message_send_ttl_seconds": ttl})
    assert answer.status == status, answer.body
    if status == 200:
        assert api.graph_posts(SUMMER_SALE) == [{"message_send_ttl_seconds": ttl}]
        assert answer.body["message_send_ttl_seconds"] == ttl and answer.body["before"] is None
    else:
        assert answer.body["errors"][0]["field"] == "message_send_ttl_seconds"
        assert answer.body["error"] == "invalid_request"
        assert api.graph_posts(SUMMER_SALE) == []


@pytest.mark.parametrize("value", ["43200", 43200.5, True, None])
def test_ttl_must_be_an_integer(api, value):
    answer = api.call("ttl_put", body={"message_send_ttl_seconds": value})
    assert answer.status == 422 and answer.body["errors"][0]["field"] == "message_send_ttl_seconds"


# ---------------------------------------------------------------- the audit trail


def test_every_change_is_audited_and_listed_newest_first(api):
    alice = {
        "userArn": "arn:aws:iam::123456789012:user/alice",
        "callerId": "AIDAALICE",
        "accountId": "123456789012",
    }
    # Given three changes: features by alice, TTL by the event's identity, features again without an identity
    first = api.call("template_put", iam=alice)
    ttl = api.call("ttl_put")
    second = api.call("template_put", body={"features": {"product_extensions": "OPT_IN"}}, iam=None)
    assert {first.status, ttl.status, second.status} == {200}
    # When the history is read
    history = api.call("template_history")
    # Then it lists the three, newest first, with who, what, before and after
    assert history.status == 200
    items = history.body["items"]
    assert [i["audit_id"] for i in items] == [
        second.body["audit_id"],
        ttl.body["audit_id"],
        first.body["audit_id"],
    ]
    assert items[2]["who"] == {
        "user_arn": alice["userArn"],
        "caller_id": "AIDAALICE",
        "account_id": "123456789012",
    }
    assert items[1]["who"]["user_arn"] == "arn:aws:iam::123456789012:user/campaign-manager"
    assert items[0]["who"] == {"user_arn": "unknown", "caller_id": "unknown", "account_id": "unknown"}
    assert items[2]["route"] == "PUT /templates/{template_id}/optimizations"
    assert items[2]["change"] == {"features": first.body["requested"], "allow_unknown": False}
    # before/after are full feature maps
    assert set(items[2]["before"]) >= set(BY_KEY) and set(items[2]["after"]) >= set(BY_KEY)
    assert items[2]["before"]["product_extensions"] == "OPT_IN"
    assert items[2]["after"]["product_extensions"] == "OPT_OUT"
    assert items[0]["before"]["product_extensions"] == "OPT_OUT"
    assert items[0]["after"]["product_extensions"] == "OPT_IN"
    assert items[1]["change"] == {"message_send_ttl_seconds": 43200}
    assert items[1]["before"] == {"message_send_ttl_seconds": None}
    assert items[1]["after"] == {"message_send_ttl_seconds": 43200}
    assert items[0]["at"] > items[1]["at"] > items[2]["at"]
    assert items[2]["request_id"] == "BmL3zhXDoAMEbQw="


def test_history_pages_with_a_next_token(api):
    ids = [
        api.call("template_put", body={"features": {"image_banner": s}}).body["audit_id"]
        for s in ("OPT_OUT", "OPT_IN", "OPT_OUT")
    ]
    page1 = api.call("template_history", query={"limit": "2"}).body
    page2 = api.call("template_history", query={"limit": "2", "next_token": page1["next_token"]}).body
    assert [i["audit_id"] for i in page1["items"] + page2["items"]] == ids[::-1]
    assert page2["next_token"] is None
    bad = api.call("template_history", query={"next_token": "bm90LWEtdG9rZW4"})
    assert bad.status == 422 and bad.body["errors"][0]["field"] == "next_token"
    # a token of one history does not page another
    other = api.call("waba_history", query={"next_token": page1["next_token"]})
    assert other.status == 422 and other.body["errors"][0]["field"] == "next_token"


def test_waba_changes_have_their_own_history(api):
    change = api.call("waba_put")
    api.call("template_put")
    history = api.call("waba_history").body
    assert [i["audit_id"] for i in history["items"]] == [change.body["audit_id"]]
    assert history["items"][0]["scope"] == "waba" and history["items"][0]["target_id"] == api.sim.waba_id
    assert history["items"][0]["after"]["text_extraction_for_headline"] == "OPT_IN"


def test_audit_write_failure_after_graph_success_is_a_500_and_the_change_is_logged(api, caplog):
    # Given the table is gone (the audit write will fail) while Meta is fine
    api.dynamodb.delete_table(TableName=api.stack.table)
    # When a change is made
    answer = api.call("template_put")
    # Then Meta has it, the caller is told the record is missing, and the log holds the whole record
    assert api.graph_posts(SUMMER_SALE)
    assert answer.status == 500 and answer.body["error"] == "audit_failed"
    audit_id = answer.body["audit_id"]
    record = next(r.audit for r in caplog.records if getattr(r, "audit", {}).get("audit_id") == audit_id)
    assert record["after"]["text_formatting_optimization"] == "OPT_OUT"
    assert record["who"]["user_arn"] == "arn:aws:iam::123456789012:user/campaign-manager"
    assert "Traceback" not in json.dumps(answer.body)


# ---------------------------------------------------------------- Graph errors


def test_unknown_template_is_a_404(api):
    for name in ("template_get", "template_put", "ttl_put"):
        answer = api.call(name, template_id=MISSING)
        assert answer.status == 404, (name, answer.body)
        assert answer.body["graph"]["code"] == 100 and MISSING in answer.body["message"]
    assert api.audit_items("template", MISSING) == []


def test_template_id_must_be_an_id_not_a_name_nor_another_node(api):
    assert api.call("template_get", template_id="summer_sale").status == 422
    assert api.call("template_get", template_id=api.sim.waba_id).status == 404


def test_graph_refusal_is_a_502_with_code_and_fbtrace_id_and_no_audit(api):
    api.sim.config.access_token = "rotated-elsewhere"  # our token is now invalid: Graph code 190
    for name in ("template_get", "template_put", "waba_put", "onboarding_get"):
        answer = api.call(name)
        assert answer.status == 502, (name, answer.body)
        assert answer.body["graph"]["code"] == 190 and answer.body["graph"]["fbtrace_id"]
        assert answer.body["graph"]["http_status"] == 401
    assert api.audit_items("template", SUMMER_SALE) == [] and api.audit_items("waba", api.sim.waba_id) == []


class RateLimitedGraph(httpx.AsyncBaseTransport):
    """Forwards to the simulator, except that chosen requests get a Graph rate-limit answer.

    The simulator injects faults on /marketing_messages only, so management-call limits are played here.
    """

    def __init__(self, status: int, code: int | None, when: Callable[[httpx.Request], bool]) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.status, self.code, self.when = status, code, when

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.when(request):
            return await self.inner.handle_async_request(request)
        error: dict[str, Any] = {
            "message": "Rate limit issues",
            "type": "OAuthException",
            "fbtrace_id": "AbC123",
        }
        if self.code is not None:
            error |= {"code": self.code, "message": f"(#{self.code}) Rate limit issues"}
        return httpx.Response(self.status, json={"error": error})


@pytest.mark.parametrize(
    ("status", "code", "retry_after"),
    [(400, 80007, "60"), (400, 4, "60"), (400, 130429, "2"), (429, None, "30")],
)
def test_rate_limits_are_a_429_with_retry_after(api, monkeypatch, status, code, retry_after):
    sim = api.sim
    transport = RateLimitedGraph(status, code, lambda r: r.method == "POST")
    graph = GraphClient(sim.base_url, lambda: sim.access_token, transport=transport)
    monkeypatch.setattr(clients, "graph_client", lambda: graph)
    answer = api.call("template_put")
    assert answer.status == 429
    assert answer.headers["Retry-After"] == retry_after
    assert answer.body["retry_after_seconds"] == int(retry_after) and answer.body["graph"]["code"] == code
    assert api.audit_items("template", SUMMER_SALE) == []
    # reads are mapped the same way
    transport.when = lambda r: True
    assert api.call("onboarding_get").status == 429


# ---------------------------------------------------------------- onboarding


def test_onboarded_waba_sends_through_mm_api(api):
    answer = api.call("onboarding_get")
    assert answer.status == 200
    assert answer.body["marketing_messages_onboarding_status"] == "ONBOARDED" and answer.body["onboarded"]
    assert answer.body["sends"] == "mm_api"
    # one GET reads the onboarding and the Cloud API marketing setting (meta-2026-updates section 4)
    query = parse_qs(api.sim.requests(f"/{api.sim.waba_id}")[-1].query)
    assert query["fields"] == ["marketing_messages_onboarding_status,disable_marketing_messages_on_cloud_api"]
    assert answer.body["disable_marketing_messages_on_cloud_api"] is False
    assert answer.body["routes"] == {
        "MARKETING": "/marketing_messages",
        "UTILITY": "/messages",
        "AUTHENTICATION": "/messages",
    }


def test_the_cloud_api_marketing_setting_is_shown_and_blocks_the_fallback(make_env):
    # Given a WABA not onboarded whose owner turned marketing off on the Cloud API
    api = make_env(DEFAULT_PRODUCT_POLICY="CLOUD_API_FALLBACK")
    api.sim.set_onboarded(False)
    api.sim.set_cloud_api_marketing_disabled(True)
    # When the onboarding is asked for
    answer = api.call("onboarding_get")
    # Then the setting is shown, and the fallback is said to be refused (131063) rather than taken
    assert answer.status == 200
    assert answer.body["disable_marketing_messages_on_cloud_api"] is True
    assert answer.body["sends"] == "rejected"
    assert "131063" in answer.body["explanation"]
    assert any("enable it once ONBOARDED" in note for note in answer.body["notes"])


@pytest.mark.parametrize(
    ("policy", "sends"), [("CLOUD_API_FALLBACK", "cloud_api_fallback"), ("STRICT", "rejected")]
)
def test_a_waba_not_onboarded_falls_back_or_is_rejected_by_policy(make_env, policy, sends):
    api = make_env(DEFAULT_PRODUCT_POLICY=policy)
    api.sim.set_onboarded(False)
    answer = api.call("onboarding_get")
    assert answer.status == 200
    assert answer.body["marketing_messages_onboarding_status"] == "ELIGIBLE" and not answer.body["onboarded"]
    assert answer.body["default_product_policy"] == policy and answer.body["sends"] == sends
    assert answer.body["by_product_policy"] == {
        "CLOUD_API_FALLBACK": "cloud_api_fallback",
        "STRICT": "rejected",
    }


# ---------------------------------------------------------------- the OpenAPI document


def test_the_openapi_document_lists_every_route_with_examples(api):
    answer = api.call("openapi_get")
    assert answer.status == 200
    paths = answer.body["paths"]  # the stack's document: these routes and the other functions' (test_openapi)
    assert {(m, p) for p, ops in paths.items() for m in ops} >= ROUTES
    for method, path in ROUTES:
        op = paths[path][method]
        assert op["responses"]["200"]["content"]["application/json"]["examples"], (method, path)
        if method == "put":
            assert op["requestBody"]["content"]["application/json"]["examples"], path
    put = paths["/templates/{template_id}/optimizations"]["put"]
    seeds = put["requestBody"]["content"]["application/json"]["examples"]["seeds"]["value"]
    assert seeds["features"] == {k: v["enroll_status"] for k, v in SEEDS_TEMPLATE.items()}
    assert {"404", "422", "429", "502"} <= set(put["responses"])
    assert answer.body["components"]["securitySchemes"]["sigv4"]["in"] == "header"


def test_the_swagger_ui_is_served_next_to_the_document(api):
    event = load_event("optimizations_openapi_get.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/openapi"
    event["routeKey"] = event["requestContext"]["routeKey"] = "GET /openapi"
    response = api.handler.lambda_handler(event, LambdaContext())
    assert response["statusCode"] == 200
    assert "text/html" in response["headers"]["Content-Type"] and "swagger" in response["body"].lower()
