"""Optimization configuration domain, offline: region caveats, feature views, Graph error mapping, the order
of a change (Graph, then audit) and what each failure leaves behind, onboarding outcomes, request bodies."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from mmcore import api
from mmcore import exceptions as E
from mmcore import optimizations as opt
from mmcore.graph import GraphClient
from mmcore.meta import creative, overrides
from mmcore.meta.errors import GraphError
from mmcore.optimizations.examples import openapi_examples
from mmcore.settings import Settings
from mmcore.store.audit import AuditLog

TEMPLATE, WABA, PHONE = "1234567890000002", "102290129340398", "106540352242922"
TODAY = dt.date(2026, 3, 20)
CTX = opt.ChangeContext(
    opt.Who(user_arn="arn:aws:iam::1:user/alice"), "PUT /templates/{template_id}/optimizations"
)


# ---------------------------------------------------------------- region caveats


@pytest.mark.parametrize(
    ("country", "place"), [("DE", "the EEA"), ("GB", "the UK"), ("JP", "Japan"), ("KR", "South Korea")]
)
def test_privacy_restricted_businesses_lose_delivery_optimization_and_reporting(country, place):
    caveats = opt.region_caveats(country, TODAY)
    assert caveats.mm_api_available
    assert [o.feature for o in caveats.off] == [
        "click_reporting",
        "conversion_reporting",
        "delivery_optimization",
    ]
    assert all(place in o.why for o in caveats.off)
    assert any("UNCONFIRMED" in n for n in caveats.notes)


def test_russia_loses_them_from_2025_06_20_and_could_not_use_mm_api_before():
    after = opt.region_caveats("ru", TODAY)
    assert after.business_country == "RU" and after.mm_api_available
    assert {o.feature for o in after.off} == {
        "delivery_optimization",
        "click_reporting",
        "conversion_reporting",
    }
    assert all(o.why.startswith("since 2025-06-20") for o in after.off)
    before = opt.region_caveats("RU", dt.date(2025, 6, 19))
    assert not before.mm_api_available and before.off == []


def test_other_businesses_keep_everything_and_sanctioned_ones_cannot_use_mm_api():
    india = opt.region_caveats("IN", TODAY)
    assert india.mm_api_available and india.off == []
    assert any("recipients in the EEA" in n for n in india.notes)  # the per-message rule is still stated
    cuba = opt.region_caveats("CU", TODAY)
    assert not cuba.mm_api_available and "sanctioned_business" in cuba.notes[0]


def test_the_caveats_follow_an_operators_override_for_the_business_and_its_recipients():
    # Given an override that moves India into the no-optimization group and Cuba out of the sanctioned one
    text = json.dumps(
        {
            "rules": {"no_optimization": {"add": ["IN"]}, "sanctioned": {"remove": ["CU"]}},
            "source": "ops ticket 4711",
            "effective": "2026-03-01",
        }
    )
    rules = overrides.apply(overrides.parse_override(text))
    # Then an Indian business loses what the group loses, and says why
    india = opt.region_caveats("IN", TODAY, rules)
    assert {o.feature for o in india.off} == {
        "click_reporting",
        "conversion_reporting",
        "delivery_optimization",
    }
    assert all("IN (operator's override)" in o.why for o in india.off)
    # and the per-recipient note names both changes
    note = india.notes[-1]
    assert "recipients in the EEA" in note and "IN (operator's override)" in note
    assert "except Cuba (operator's override) are not messaged" in note
    # and a Cuban business may now use the MM API
    assert opt.region_caveats("CU", TODAY, rules).mm_api_available
    # while before the override's date the built-in table answers
    assert opt.region_caveats("IN", dt.date(2026, 2, 28), rules).off == []


def test_an_unknown_business_country_is_said_not_raised():
    caveats = opt.region_caveats("ZZ", TODAY)
    assert not caveats.mm_api_available and "ZZ" in caveats.notes[0]


# ---------------------------------------------------------------- feature views


def test_every_catalog_feature_is_shown_and_unset_ones_are_meta_defaults():
    reported = creative.from_graph(
        {
            "degrees_of_freedom_spec": {
                "creative_features_spec": [{"key": "IMAGE_ANIMATION", "value": {"enroll_status": "OPT_OUT"}}]
            }
        }
    )
    views = {v.meta_key: v for v in opt.feature_views(reported)}
    assert set(views) == set(creative.BY_KEY)
    animation = views["image_animation"]
    assert (animation.enroll_status, animation.source, animation.state) == ("OPT_OUT", "meta", "paused")
    assert animation.display_name == "Image Animation" and "paused" in animation.notes[0]
    assert (views["auto_promotion_tag"].enroll_status, views["auto_promotion_tag"].source) == (
        "OPT_IN",
        "default",
    )
    assert not views["image_banner"].key_confirmed and "third-party" in views["image_banner"].notes[0]


def test_keys_outside_the_catalog_are_kept_as_meta_reports_them():
    views = opt.feature_views({"image_end_card": "OPT_OUT", "auto_promotion_tag": "OPT_OUT"})
    extra = views[-1]
    assert (extra.meta_key, extra.display_name, extra.state, extra.source) == (
        "image_end_card",
        None,
        "unknown",
        "meta",
    )
    assert len(views) == len(creative.FEATURES) + 1


# ---------------------------------------------------------------- Graph errors


def graph_error(status: int | None, code: int | None, message: str = "x", **error: Any) -> GraphError:
    if status is None:
        return GraphError.no_response("ReadTimeout: timed out")
    body = {"error": {"message": message, "code": code, "fbtrace_id": "Trace1", **error}}
    return GraphError.from_response(status, json.dumps(body))


TARGET = opt.Target("template", TEMPLATE)
DOES_NOT_EXIST = "Unsupported get request. Object with ID '1' does not exist, cannot be loaded"


@pytest.mark.parametrize(
    "exc",
    [
        graph_error(400, 100, DOES_NOT_EXIST, error_subcode=33),
        graph_error(400, 100, "(#100) Unsupported get request.", error_data={"details": DOES_NOT_EXIST}),
        graph_error(404, None, "Not Found"),
    ],
)
def test_an_unknown_node_is_a_404(exc):
    mapped = opt.map_graph_error(exc, TARGET)
    assert isinstance(mapped, E.NotFound) and api.status_of(mapped) == 404
    assert mapped.details["graph"]["fbtrace_id"] == "Trace1" and TEMPLATE in mapped.message


@pytest.mark.parametrize(
    ("status", "code", "delay"), [(400, 4, 60), (400, 80007, 60), (400, 130429, 2), (429, None, 30)]
)
def test_rate_limits_are_a_429_with_the_catalog_delay(status, code, delay):
    mapped = opt.map_graph_error(graph_error(status, code, "Rate limit issues"), TARGET)
    assert isinstance(mapped, E.RateLimited) and api.status_of(mapped) == 429
    assert mapped.retry_after == delay and api.body_of(mapped)["retry_after_seconds"] == delay


def test_other_failures_are_a_502_with_graphs_code_and_fbtrace_id():
    mapped = opt.map_graph_error(graph_error(401, 190, "Invalid OAuth access token"), TARGET)
    assert isinstance(mapped, E.UpstreamFailed) and api.status_of(mapped) == 502
    assert mapped.details["graph"] | {"message": None} == {
        "code": 190,
        "message": None,
        "details": None,
        "http_status": 401,
        "fbtrace_id": "Trace1",
    }
    # a bad parameter (code 100 without "does not exist") is Meta refusing, not a missing template
    assert isinstance(
        opt.map_graph_error(graph_error(400, 100, "Invalid parameter"), TARGET), E.UpstreamFailed
    )


def test_no_answer_to_a_change_says_it_may_have_been_applied():
    mapped = opt.map_graph_error(graph_error(None, None), TARGET, changing=True)
    assert isinstance(mapped, E.UpstreamFailed) and "may or may not have been applied" in mapped.message


# ---------------------------------------------------------------- a change: Graph first, then audit


class FakeAudit:
    table = "fake"

    def __init__(self, fail: bool = False) -> None:
        self.records: list[opt.AuditRecord] = []
        self.fail = fail

    def put(self, record: dict[str, Any]) -> None:
        if self.fail:
            raise RuntimeError("table unavailable")
        self.records.append(opt.AuditRecord.model_validate(record))


class FakeMeta:
    """A tiny Graph for one template: answers reads in Meta's UPPERCASE list shape; can fail chosen calls."""

    def __init__(self) -> None:
        self.features: dict[str, str] = {}
        self.ttl: int | None = None
        self.posts: list[Any] = []
        self.fail: dict[tuple[str, int], httpx.Response | Exception] = {}  # (method, nth call) -> failure
        self.calls: dict[str, int] = {"GET": 0, "POST": 0}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls[request.method] += 1
        failure = self.fail.get((request.method, self.calls[request.method]))
        if isinstance(failure, Exception):
            raise failure
        if failure is not None:
            return failure
        if request.method == "POST":
            body = json.loads(request.content)
            self.posts.append(body)
            spec = body.get("degrees_of_freedom_spec", {}).get("creative_features_spec", {})
            self.features.update({k: v["enroll_status"] for k, v in spec.items()})
            self.ttl = body.get("message_send_ttl_seconds", self.ttl)
            return httpx.Response(200, json={"success": True})
        if request.url.params["fields"] == "message_send_ttl_seconds":
            return httpx.Response(
                200, json={"id": TEMPLATE} | ({"message_send_ttl_seconds": self.ttl} if self.ttl else {})
            )
        items = [{"key": k.upper(), "value": {"enroll_status": v}} for k, v in self.features.items()]
        return httpx.Response(
            200, json={"degrees_of_freedom_spec": {"creative_features_spec": items}, "id": TEMPLATE}
        )


def service(meta: FakeMeta, audit: FakeAudit, **settings: Any) -> opt.Optimizations:
    graph = GraphClient("https://graph.test/v24.0", lambda: "token", transport=httpx.MockTransport(meta))
    config = Settings(waba_id=WABA, phone_number_id=PHONE, business_country="IN", **settings)
    return opt.Optimizations(
        graph, audit, config, today=lambda: TODAY, now=lambda: "2026-03-20T10:15:30.123456Z"
    )


def rate_limited() -> httpx.Response:
    return httpx.Response(400, json={"error": {"message": "(#80007) Rate limit issues", "code": 80007}})


def update(features: dict[str, Any], allow_unknown: bool = False) -> opt.FeaturesUpdate:
    return opt.FeaturesUpdate(features=features, allow_unknown=allow_unknown)


def test_a_change_is_sent_read_back_and_audited_with_full_maps():
    meta, audit = FakeMeta(), FakeAudit()
    meta.features = {"product_extensions": "OPT_IN"}
    svc = service(meta, audit)
    answer = asyncio.run(svc.update(svc.template(TEMPLATE), update({"Product Extensions": "opt_out"}), CTX))
    assert meta.posts == [
        {
            "degrees_of_freedom_spec": {
                "creative_features_spec": {"product_extensions": {"enroll_status": "OPT_OUT"}}
            }
        }
    ]
    assert answer.changed == ["product_extensions"] and answer.audit_id == audit.records[0].audit_id
    record = audit.records[0]
    assert record.before == creative.with_defaults({}) and record.after["product_extensions"] == "OPT_OUT"
    assert record.who.user_arn == "arn:aws:iam::1:user/alice" and record.who.caller_id == "unknown"
    assert record.at == "2026-03-20T10:15:30.123456Z"


@pytest.mark.parametrize("failing", [("GET", 1), ("POST", 1)])
def test_a_graph_failure_before_or_during_the_change_writes_no_audit(failing):
    meta, audit = FakeMeta(), FakeAudit()
    meta.fail[failing] = rate_limited()
    svc = service(meta, audit)
    with pytest.raises(E.RateLimited):
        asyncio.run(svc.update(svc.template(TEMPLATE), update({"auto_promotion_tag": "OPT_OUT"}), CTX))
    assert audit.records == []


def test_a_change_without_an_answer_is_an_upstream_failure_that_says_so_and_no_audit():
    meta, audit = FakeMeta(), FakeAudit()
    meta.fail[("POST", 1)] = httpx.ReadTimeout("timed out")
    svc = service(meta, audit)
    with pytest.raises(E.UpstreamFailed, match="may or may not have been applied"):
        asyncio.run(svc.update(svc.template(TEMPLATE), update({"auto_promotion_tag": "OPT_OUT"}), CTX))
    assert audit.records == []


def test_a_failed_read_back_still_records_the_applied_change_with_a_warning():
    meta, audit = FakeMeta(), FakeAudit()
    meta.fail[("GET", 2)] = rate_limited()
    svc = service(meta, audit)
    answer = asyncio.run(svc.update(svc.template(TEMPLATE), update({"auto_promotion_tag": "OPT_OUT"}), CTX))
    assert meta.posts and audit.records[0].after["auto_promotion_tag"] == "OPT_OUT"
    assert any("reading it back failed" in w for w in answer.warnings)


def test_meta_reporting_something_else_than_what_was_sent_is_a_warning():
    class Stubborn(FakeMeta):
        def __call__(self, request):
            answer = super().__call__(request)
            self.features["text_formatting_optimization"] = "OPT_IN"  # Meta keeps its own value
            return answer

    meta, audit = Stubborn(), FakeAudit()
    svc = service(meta, audit)
    answer = asyncio.run(
        svc.update(svc.template(TEMPLATE), update({"text_formatting_optimization": "OPT_OUT"}), CTX)
    )
    assert answer.warnings == ["text_formatting_optimization: Meta reports OPT_IN after OPT_OUT was sent"]


def test_an_audit_failure_after_meta_applied_the_change_is_logged_in_full(caplog):
    meta, audit = FakeMeta(), FakeAudit(fail=True)
    svc = service(meta, audit)
    with caplog.at_level(logging.ERROR), pytest.raises(E.NotRecorded) as raised:
        asyncio.run(svc.update(svc.template(TEMPLATE), update({"auto_promotion_tag": "OPT_OUT"}), CTX))
    assert meta.posts  # applied at Meta
    audit_id = raised.value.details["audit_id"]
    assert api.body_of(raised.value)["error"] == "audit_failed" and audit_id in raised.value.message
    logged = next(r.audit for r in caplog.records if hasattr(r, "audit"))
    assert logged["audit_id"] == audit_id and logged["after"]["auto_promotion_tag"] == "OPT_OUT"


def test_invalid_features_are_refused_before_any_graph_call():
    meta, audit = FakeMeta(), FakeAudit()
    svc = service(meta, audit)
    with pytest.raises(E.InvalidInput) as raised:
        asyncio.run(svc.update(svc.template(TEMPLATE), update({"prodcut_extensions": "OPT_OUT"}), CTX))
    body = api.body_of(raised.value)
    assert body["valid_keys"] == sorted(creative.BY_KEY) and body["suggestions"] == {
        "prodcut_extensions": "product_extensions"
    }
    assert body["errors"] == [
        {
            "field": "features.prodcut_extensions",
            "reason": "unknown feature (did you mean 'product_extensions'?)",
        }
    ]
    with pytest.raises(E.InvalidInput) as raised:
        asyncio.run(svc.update(svc.template(TEMPLATE), update({"image_touchups": "ON"}), CTX))
    assert raised.value.errors == [("features.image_touchups", "enroll_status must be OPT_IN or OPT_OUT")]
    with pytest.raises(E.InvalidInput, match="twice"):
        asyncio.run(
            svc.update(
                svc.template(TEMPLATE),
                update({"image_touchups": "OPT_IN", "Image Touch-ups": "OPT_OUT"}),
                CTX,
            )
        )
    assert meta.calls == {"GET": 0, "POST": 0}


def test_ttl_change_is_audited_with_before_and_after():
    meta, audit = FakeMeta(), FakeAudit()
    meta.ttl = 86400
    svc = service(meta, audit)
    answer = asyncio.run(
        svc.set_ttl(svc.template(TEMPLATE), opt.TtlUpdate(message_send_ttl_seconds=43200), CTX)
    )
    assert meta.posts == [{"message_send_ttl_seconds": 43200}]
    assert (answer.before, answer.message_send_ttl_seconds) == (86400, 43200)
    assert (audit.records[0].before, audit.records[0].after) == (
        {"message_send_ttl_seconds": 86400},
        {"message_send_ttl_seconds": 43200},
    )


def test_template_routes_do_not_reach_the_waba_or_phone_nodes_and_waba_routes_need_its_id():
    svc = service(FakeMeta(), FakeAudit())
    for node in (WABA, PHONE):
        with pytest.raises(E.NotFound):
            svc.template(node)
    svc.settings = Settings(waba_id="")
    with pytest.raises(E.NotConfigured):
        svc.waba()


# ---------------------------------------------------------------- onboarding


@pytest.mark.parametrize(
    ("answer", "policy", "sends", "onboarded"),
    [
        ({"marketing_messages_onboarding_status": "ONBOARDED"}, "CLOUD_API_FALLBACK", "mm_api", True),
        ({"marketing_messages_onboarding_status": "ONBOARDED"}, "STRICT", "mm_api", True),
        (
            {"marketing_messages_onboarding_status": "ELIGIBLE"},
            "CLOUD_API_FALLBACK",
            "cloud_api_fallback",
            False,
        ),
        ({"marketing_messages_onboarding_status": "ELIGIBLE"}, "STRICT", "rejected", False),
        ({"marketing_messages_onboarding_status": "INELIGIBLE"}, "STRICT", "rejected", False),
        ({"marketing_messages_onboarding_status": {"status": "ONBOARDED"}}, "STRICT", "mm_api", True),
        ({}, "CLOUD_API_FALLBACK", "cloud_api_fallback", False),
    ],
)
def test_onboarding_says_where_sends_go(answer, policy, sends, onboarded):
    graph = GraphClient(
        "https://g.test/v24.0",
        lambda: "t",
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json=answer)),
    )
    svc = opt.Optimizations(graph, FakeAudit(), Settings(waba_id=WABA, default_product_policy=policy))
    result = asyncio.run(svc.onboarding())
    assert (result.sends, result.onboarded, result.default_product_policy) == (sends, onboarded, policy)
    undocumented = result.marketing_messages_onboarding_status not in ("ONBOARDED", "ELIGIBLE")
    assert any("Only ONBOARDED and ELIGIBLE" in n for n in result.notes) == undocumented


# ---------------------------------------------------------------- bodies, page tokens, examples


@pytest.mark.parametrize(
    "body",
    [
        {"features": {}},
        {"features": {"x": 1}},
        {"features": {"x": "OPT_IN"}, "extra": 1},
        {"features": {"x": "OPT_IN"}, "allow_unknown": "yes"},
    ],
)
def test_malformed_feature_bodies_are_refused(body):
    with pytest.raises(ValidationError):
        opt.FeaturesUpdate.model_validate(body)


def test_feature_bodies_accept_bare_statuses_and_metas_object():
    body = opt.FeaturesUpdate.model_validate({"features": {"a": "OPT_IN", "b": {"enroll_status": "opt_out"}}})
    assert body.statuses() == {"a": "OPT_IN", "b": "opt_out"} and body.allow_unknown is False


@pytest.mark.parametrize(
    ("ttl", "ok"), [(43199, False), (43200, True), (2592000, True), (2592001, False), ("43200", False)]
)
def test_ttl_bounds(ttl, ok):
    if ok:
        assert opt.TtlUpdate(message_send_ttl_seconds=ttl).message_send_ttl_seconds == ttl
    else:
        with pytest.raises(ValidationError):
            opt.TtlUpdate.model_validate({"message_send_ttl_seconds": ttl})


class PagedTable:
    """A DynamoDB client that answers every query with one item and a LastEvaluatedKey in its partition."""

    def __init__(self) -> None:
        self.queries: list[dict[str, Any]] = []

    def query(self, **query: Any) -> dict[str, Any]:
        self.queries.append(query)
        pk = query["ExpressionAttributeValues"][":pk"]
        last = {"pk": pk, "sk": {"S": f"2026-03-20T10:15:30.{len(self.queries):06d}Z#a"}}
        return {"Items": [{**last, "audit_id": {"S": "a"}}], "LastEvaluatedKey": last}


def test_history_tokens_continue_their_own_history_and_other_tokens_are_refused():
    table = PagedTable()
    log = AuditLog(table, "t")
    items, token = log.page("template", TEMPLATE, 1)
    assert items == [{"audit_id": "a"}] and token
    log.page("template", TEMPLATE, 1, token)
    assert table.queries[1]["ExclusiveStartKey"]["sk"] == {"S": "2026-03-20T10:15:30.000001Z#a"}
    for forged in ("!!!", "bm90LWEtdG9rZW4", token):  # garbage, not JSON, another target's history
        with pytest.raises(E.InvalidInput) as raised:
            log.page("waba", WABA, 1, forged)
        assert raised.value.errors[0][0] == "next_token"
    assert len(table.queries) == 2


def test_openapi_examples_are_valid_answers():
    ex = openapi_examples()
    opt.OptimizationsView.model_validate(ex["template_view"])
    opt.OptimizationsChange.model_validate(ex["template_change"])
    opt.OptimizationsChange.model_validate(ex["waba_change"])
    opt.TtlChange.model_validate(ex["ttl_change"])
    opt.Onboarding.model_validate(ex["onboarded"])
    opt.History.model_validate(ex["history"])
    opt.FeaturesUpdate.model_validate(ex["template_put"])
    opt.FeaturesUpdate.model_validate(ex["template_put_unknown"])
    kinds = {
        "unknown_feature": "invalid_request",
        "bad_next_token": "invalid_request",
        "not_found": "not_found",
        "rate_limited": "rate_limited",
        "graph_error": "graph_error",
        "audit_failed": "audit_failed",
        "not_configured": "not_configured",
    }
    for key, kind in kinds.items():
        assert api.ErrorBody.model_validate(ex[key]).error == kind
    assert [o["feature"] for o in ex["template_view_eea"]["region"]["off"]] == [
        "click_reporting",
        "conversion_reporting",
        "delivery_optimization",
    ]
