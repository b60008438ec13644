"""The Graph API simulator over real HTTP: Meta's schema, answers and error codes for /marketing_messages,
onboarding, templates and the control API."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mmapi.simulator import Clock, Simulator

SEEDS = Path(__file__).resolve().parents[1] / "data" / "seeds"
INDIA = "919876543210"
ERROR_KEYS = {"message", "type", "code", "error_data", "fbtrace_id"}


def seed(name: str) -> dict[str, Any]:
    return json.loads((SEEDS / f"{name}.json").read_text())


def send_body(
    to: str = INDIA, name: str = "summer_sale", components: list | None = None, **extra: Any
) -> dict:
    template: dict[str, Any] = {"name": name, "language": {"code": "en_US"}}
    if components is not None:
        template["components"] = components
    body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "template"}
    return {**body, "template": template, **extra}


def body_text(*values: str) -> list[dict]:
    return [{"type": "body", "parameters": [{"type": "text", "text": v} for v in values]}]


def send(client: httpx.Client, sim: Simulator, body: Any) -> httpx.Response:
    return client.post(f"/{sim.phone_number_id}/marketing_messages", json=body)


def assert_error(response: httpx.Response, http_status: int, code: int) -> dict:
    assert response.status_code == http_status, response.text
    error = response.json()["error"]
    assert set(error) == ERROR_KEYS
    assert error["code"] == code
    assert error["message"].startswith(f"(#{code}) ")
    assert error["type"] == "OAuthException"
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert error["fbtrace_id"]
    return error


def assert_accepted(response: httpx.Response, to: str = INDIA) -> str:
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["messaging_product"] == "whatsapp"
    assert data["contacts"] == [{"input": to, "wa_id": "".join(c for c in to if c.isdigit())}]
    [message] = data["messages"]
    assert message["id"].startswith("wamid.") and message["message_status"] == "accepted"
    return message["id"]


@pytest.fixture
def frozen() -> Iterator[tuple[Simulator, httpx.Client]]:
    """A simulator whose clock moves only when the test advances it."""
    with (
        Simulator(clock=Clock(frozen=True)) as sim,
        httpx.Client(base_url=sim.base_url, headers=sim.auth_headers, timeout=5) as client,
    ):
        yield sim, client


# The seeds' examples.


def test_get_started_seed_with_one_body_parameter_is_accepted(simulator, graph_client):
    assert_accepted(send(graph_client, simulator, seed("festival_offer")))


def test_summer_sale_seed_without_components_is_accepted(simulator, graph_client):
    assert_accepted(send(graph_client, simulator, seed("summer_sale")))


def test_full_seed_example_fields_are_accepted_when_ttl_is_allowed_on_the_wire(simulator, graph_client):
    body = seed("full_request")
    assert_error(send(graph_client, simulator, body), 400, 100)  # time_to_live is not in Meta's schema
    simulator.config.ttl_on_wire = True
    # As written it omits festival_offer's body variable (the get-started seed shows it has one).
    assert (
        "localizable_params (0)"
        in assert_error(send(graph_client, simulator, body), 400, 132000)["error_data"]["details"]
    )
    body["template"]["components"] = body_text("Get 20% OFF today only")
    simulator.clock.advance(6)  # the pair limit
    assert_accepted(send(graph_client, simulator, body))


def test_time_to_live_is_an_unknown_field_unless_the_ttl_setting_is_on(simulator, graph_client):
    body = seed("flash_sale_ttl")
    error = assert_error(send(graph_client, simulator, body), 400, 100)
    assert "time_to_live" in error["error_data"]["details"]
    simulator.config.ttl_on_wire = True
    # The seed also omits recipient_type, which Meta's schema requires.
    error = assert_error(send(graph_client, simulator, body), 400, 100)
    assert error["message"] == "(#100) The parameter recipient_type is required."
    assert_accepted(send(graph_client, simulator, {**body, "recipient_type": "individual"}))


def test_seed_templates_exist_approved_marketing_and_synced(simulator, graph_client):
    listed = graph_client.get(f"/{simulator.waba_id}/message_templates").json()["data"]
    assert {(t["name"], t["language"], t["category"], t["status"]) for t in listed} == {
        (name, "en_US", "MARKETING", "APPROVED")
        for name in ("festival_offer", "summer_sale", "flash_sale", "spring_coupons")
    }


# Schema.


def test_unknown_top_level_field_is_rejected_naming_it(simulator, graph_client):
    error = assert_error(send(graph_client, simulator, send_body(biz_opaque_callback_data="x")), 400, 100)
    assert "biz_opaque_callback_data" in error["error_data"]["details"]
    assert simulator.messages() == []


def test_unknown_field_inside_template_is_rejected(simulator, graph_client):
    body = send_body()
    body["template"]["namespce"] = "typo"
    assert "namespce" in assert_error(send(graph_client, simulator, body), 400, 100)["error_data"]["details"]


@pytest.mark.parametrize("field", ["messaging_product", "recipient_type", "to", "type", "template"])
def test_each_required_field(simulator, graph_client, field):
    body = send_body()
    del body[field]
    assert (
        assert_error(send(graph_client, simulator, body), 400, 100)["message"]
        == f"(#100) The parameter {field} is required."
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("messaging_product", "sms"), ("recipient_type", "group"), ("product_policy", "LOOSE")],
)
def test_enum_fields(simulator, graph_client, field, value):
    error = assert_error(send(graph_client, simulator, {**send_body(), field: value}), 400, 100)
    assert field in error["error_data"]["details"]


def test_freeform_message_is_not_a_template_message(simulator, graph_client):
    body = {**send_body(), "type": "text", "text": {"body": "hi"}}
    del body["template"]
    error = assert_error(send(graph_client, simulator, body), 400, 100)
    assert error["message"] == "(#100) Message must be a template message."


def test_malformed_json_and_bad_phone(simulator, graph_client):
    response = graph_client.post(
        f"/{simulator.phone_number_id}/marketing_messages",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert_error(response, 400, 100)
    assert_error(send(graph_client, simulator, send_body(to="call me")), 400, 100)


def test_language_policy_deterministic_is_accepted_and_formatted_numbers_normalised(simulator, graph_client):
    body = send_body(to="+91 98765-43210")
    body["template"]["language"]["policy"] = "deterministic"
    assert_accepted(send(graph_client, simulator, body), to="+91 98765-43210")


def test_wamids_are_unique(simulator, graph_client):
    simulator.config.pair_interval_seconds = None
    ids = {assert_accepted(send(graph_client, simulator, send_body())) for _ in range(20)}
    assert len(ids) == 20


def test_bsuid_recipient_has_no_wa_id(simulator, graph_client):
    # Meta since Feb 2026: wa_id omitted (not "") for BSUID sends; user_id echoed [BSUID][SEND]
    response = send(graph_client, simulator, send_body(to="user.9a8b7c6d"))
    assert response.status_code == 200
    assert response.json()["contacts"] == [{"input": "user.9a8b7c6d", "user_id": "user.9a8b7c6d"}]


def test_bsuid_in_recipient_without_to_is_accepted(simulator, graph_client):
    body = {k: v for k, v in send_body().items() if k != "to"}
    response = send(graph_client, simulator, {**body, "recipient": "IN.ENT.1181"})
    assert response.status_code == 200
    assert response.json()["contacts"] == [{"input": "IN.ENT.1181", "user_id": "IN.ENT.1181"}]


# Auth.


def test_missing_token_is_401(simulator):
    response = httpx.post(
        f"{simulator.base_url}/{simulator.phone_number_id}/marketing_messages", json=send_body()
    )
    assert_error(response, 401, 190)
    assert response.headers["WWW-Authenticate"].startswith('OAuth "Facebook Platform"')


def test_bad_token_is_190(simulator):
    for path in (
        f"/{simulator.phone_number_id}/marketing_messages",
        f"/{simulator.waba_id}/message_templates",
    ):
        response = httpx.post(
            simulator.base_url + path, json=send_body(), headers={"Authorization": "Bearer nope"}
        )
        assert_error(response, 401, 190)
    assert_error(
        httpx.get(f"{simulator.base_url}/{simulator.waba_id}", headers={"Authorization": "Basic x"}), 401, 190
    )


def test_wrong_phone_number_id_is_unsupported_request(simulator, graph_client):
    response = graph_client.post("/999/marketing_messages", json=send_body())
    assert "Object with ID '999' does not exist" in assert_error(response, 400, 100)["error_data"]["details"]


# Templates at send time.


def test_unknown_template_is_132001_with_http_404(simulator, graph_client):
    assert_error(send(graph_client, simulator, send_body(name="winter_sale")), 404, 132001)
    body = send_body()
    body["template"]["language"]["code"] = "pt_BR"
    assert (
        "does not exist in pt_BR"
        in assert_error(send(graph_client, simulator, body), 404, 132001)["error_data"]["details"]
    )


def test_parameter_count_and_type_mismatch_is_132000(simulator, graph_client):
    assert_error(send(graph_client, simulator, send_body(name="festival_offer")), 400, 132000)
    assert_error(
        send(graph_client, simulator, send_body(name="festival_offer", components=body_text("a", "b"))),
        400,
        132000,
    )
    assert_error(send(graph_client, simulator, send_body(components=body_text("unexpected"))), 400, 132000)
    image = [{"type": "body", "parameters": [{"type": "image", "image": {"link": "https://x/y.png"}}]}]
    assert_error(
        send(graph_client, simulator, send_body(name="festival_offer", components=image)), 400, 132000
    )
    named = [{"type": "body", "parameters": [{"type": "text", "parameter_name": "offer", "text": "x"}]}]
    assert_error(
        send(graph_client, simulator, send_body(name="festival_offer", components=named)), 400, 132000
    )


def test_paused_and_disabled_templates(simulator, graph_client):
    simulator.set_template_status("summer_sale", "PAUSED")
    assert_error(send(graph_client, simulator, send_body()), 400, 132015)
    simulator.set_template_status("summer_sale", "DISABLED")
    assert_error(send(graph_client, simulator, send_body()), 400, 132016)
    simulator.set_template_status("summer_sale", "APPROVED")
    assert_accepted(send(graph_client, simulator, send_body()))


def create_template(client: httpx.Client, sim: Simulator, **overrides: Any) -> httpx.Response:
    body = {
        "name": "spring_sale",
        "language": "en_US",
        "category": "MARKETING",
        "components": [{"type": "BODY", "text": "Hi {{1}}, spring deals: {{2}}"}],
        **overrides,
    }
    return client.post(f"/{sim.waba_id}/message_templates", json=body)


def test_non_marketing_template_is_134100_or_131055(simulator, graph_client):
    assert (
        create_template(graph_client, simulator, name="order_update", category="UTILITY").status_code == 200
    )
    simulator.clock.advance(600)
    components = body_text("Ana", "x")
    assert_error(
        send(graph_client, simulator, send_body(name="order_update", components=components)), 400, 134100
    )
    simulator.config.non_marketing_code = 131055
    assert_error(
        send(graph_client, simulator, send_body(name="order_update", components=components)), 400, 131055
    )


def test_new_template_is_syncing_for_ten_minutes(frozen):
    sim, client = frozen
    assert create_template(client, sim).json()["status"] == "APPROVED"
    body = send_body(name="spring_sale", components=body_text("Ana", "20% off"))
    assert_error(send(client, sim, body), 400, 134101)
    sim.clock.advance(599)
    assert_error(send(client, sim, body), 400, 134101)
    sim.clock.advance(1)
    assert_accepted(send(client, sim, body))


def test_template_unused_for_seven_days_syncs_again(frozen):
    sim, client = frozen
    assert_accepted(send(client, sim, send_body()))
    sim.clock.advance(7 * 24 * 3600 + 1)
    assert_error(send(client, sim, send_body()), 400, 134101)
    sim.clock.advance(600)
    assert_accepted(send(client, sim, send_body()))


# Recipients and limits.


@pytest.mark.parametrize("to", ["16315552222", "+1 (212) 555-0123"])
def test_us_recipients_get_131049_synchronously(simulator, graph_client, to):
    error = assert_error(send(graph_client, simulator, send_body(to=to)), 400, 131049)
    assert error["message"] == "(#131049) Marketing messages to users in the United States are not supported"


@pytest.mark.parametrize("to", ["14165550123", "17875550123", "18765550123"])
def test_canada_puerto_rico_and_jamaica_are_not_us(simulator, graph_client, to):
    assert_accepted(send(graph_client, simulator, send_body(to=to)), to=to)


def test_throughput_limit_is_a_sliding_one_second_window(frozen):
    sim, client = frozen
    sim.config.mps = 3
    for i in range(3):
        assert_accepted(send(client, sim, send_body(to=f"91987654321{i}")), to=f"91987654321{i}")
    assert_error(send(client, sim, send_body(to="919876543219")), 400, 130429)
    sim.clock.advance(0.5)
    assert_error(send(client, sim, send_body(to="919876543219")), 400, 130429)
    sim.clock.advance(0.5)
    assert_accepted(send(client, sim, send_body(to="919876543219")), to="919876543219")


def test_default_throughput_is_80_mps(frozen):
    sim, client = frozen
    codes = [send(client, sim, send_body(to=f"9198765{i:05d}")).status_code for i in range(81)]
    assert codes.count(200) == 80 and codes[-1] == 400


def test_pair_rate_limit_same_recipient_within_six_seconds(frozen):
    sim, client = frozen
    assert_accepted(send(client, sim, send_body()))
    sim.clock.advance(5.9)
    assert_error(send(client, sim, send_body(name="flash_sale")), 400, 131056)
    assert_accepted(
        send(client, sim, send_body(to="447911123456")), to="447911123456"
    )  # other users unaffected
    sim.clock.advance(0.1)
    assert_accepted(send(client, sim, send_body()))
    sim.config.pair_interval_seconds = None
    assert_accepted(send(client, sim, send_body()))


def test_opted_out_user_gets_131050_in_the_answer_when_configured(simulator, graph_client):
    simulator.config.opt_out_sync = True
    simulator.user_preference(INDIA, "stop")
    assert_error(send(graph_client, simulator, send_body()), 400, 131050)
    simulator.user_preference(INDIA, "resume")
    assert_accepted(send(graph_client, simulator, send_body()))


# Onboarding.


def test_onboarded_sends_go_through_mm_api(simulator, graph_client):
    assert_accepted(send(graph_client, simulator, {**send_body(), "product_policy": "STRICT"}))
    assert simulator.messages()[-1].pricing_category == "marketing_lite"


def test_not_onboarded_falls_back_to_cloud_api_unless_strict(simulator, graph_client):
    simulator.set_onboarded(False)
    status = graph_client.get(
        f"/{simulator.waba_id}", params={"fields": "marketing_messages_onboarding_status"}
    ).json()
    assert status == {"marketing_messages_onboarding_status": "ELIGIBLE", "id": simulator.waba_id}
    assert_accepted(send(graph_client, simulator, send_body()))
    assert_accepted(
        send(graph_client, simulator, send_body(to="447911123456", product_policy="CLOUD_API_FALLBACK")),
        to="447911123456",
    )
    assert [m.pricing_category for m in simulator.messages()] == ["marketing", "marketing"]
    error = assert_error(
        send(graph_client, simulator, send_body(to="5511987654321", product_policy="STRICT")), 500, 134102
    )
    assert "onboard" in error["error_data"]["details"]
    simulator.config.strict_rejection_code = 100
    assert_error(
        send(graph_client, simulator, send_body(to="5511987654321", product_policy="STRICT")), 400, 100
    )


def test_fallback_ratio_is_deterministic_under_the_seed():
    def categories(seed: int) -> list[str]:
        with (
            Simulator(seed=seed, fallback_ratio=0.5, mps=None) as sim,
            httpx.Client(base_url=sim.base_url, headers=sim.auth_headers) as client,
        ):
            for i in range(40):
                assert send(client, sim, send_body(to=f"9198765{i:05d}")).status_code == 200
            return [m.pricing_category for m in sim.messages()]

    first = categories(7)
    assert first == categories(7)
    assert 5 < first.count("marketing") < 35 and "marketing_lite" in first


# Template management.


def test_create_list_read_and_edit_templates(simulator, graph_client):
    created = create_template(
        graph_client,
        simulator,
        message_send_ttl_seconds=43200,
        degrees_of_freedom_spec={
            "creative_features_spec": {"product_extensions": {"enroll_status": "OPT_OUT"}}
        },
    ).json()
    assert set(created) == {"id", "status", "category"}
    assert (created["status"], created["category"]) == ("APPROVED", "MARKETING")
    names = [t["name"] for t in graph_client.get(f"/{simulator.waba_id}/message_templates").json()["data"]]
    assert "spring_sale" in names
    node = graph_client.get(
        f"/{created['id']}", params={"fields": "name,status,category,message_send_ttl_seconds"}
    ).json()
    assert node == {
        "name": "spring_sale",
        "status": "APPROVED",
        "category": "MARKETING",
        "message_send_ttl_seconds": 43200,
        "id": created["id"],
    }
    edit = {
        "message_send_ttl_seconds": 86400,
        "degrees_of_freedom_spec": {
            "creative_features_spec": {"image_touchups": {"enroll_status": "OPT_OUT"}}
        },
    }
    assert graph_client.post(f"/{created['id']}", json=edit).json() == {"success": True}
    node = graph_client.get(f"/{created['id']}", params={"fields": "message_send_ttl_seconds"}).json()
    assert node["message_send_ttl_seconds"] == 86400


def test_template_degrees_of_freedom_spec_reads_as_meta_key_value_list(simulator, graph_client):
    spec = {
        "creative_features_spec": {
            "auto_promotion_tag": {"enroll_status": "OPT_IN"},
            "text_formatting_optimization": {"enroll_status": "OPT_OUT"},
        }
    }
    template_id = create_template(graph_client, simulator, degrees_of_freedom_spec=spec).json()["id"]
    body = graph_client.get(f"/{template_id}", params={"fields": "degrees_of_freedom_spec"}).json()
    assert body["id"] == template_id
    features = body["degrees_of_freedom_spec"]["creative_features_spec"]
    assert all(set(f) == {"key", "value"} and f["key"].isupper() for f in features)
    by_key = {f["key"]: f["value"] for f in features}
    assert by_key["AUTO_PROMOTION_TAG"] == {"enroll_status": "OPT_IN"}
    assert by_key["TEXT_FORMATTING_OPTIMIZATION"] == {"enroll_status": "OPT_OUT"}
    assert by_key["IMAGE_TOUCHUPS"] == {"enroll_status": "OPT_IN"}  # enabled by default


@pytest.mark.parametrize(
    "body",
    [
        {"message_send_ttl_seconds": 3600},
        {"message_send_ttl_seconds": 2592001},
        {
            "degrees_of_freedom_spec": {
                "creative_features_spec": {"image_touchups": {"enroll_status": "MAYBE"}}
            }
        },
        {
            "degrees_of_freedom_spec": {
                "creative_features_spec": {"image_touchup": {"enroll_status": "OPT_IN"}}
            }
        },
        {"quality": "HIGH"},
    ],
)
def test_template_edit_validation(simulator, graph_client, body):
    template_id = graph_client.get(
        f"/{simulator.waba_id}/message_templates", params={"name": "summer_sale"}
    ).json()["data"][0]["id"]
    assert_error(graph_client.post(f"/{template_id}", json=body), 400, 100)


def test_template_creation_validation(simulator, graph_client):
    assert_error(create_template(graph_client, simulator, name="festival_offer"), 400, 100)  # exists in en_US
    assert_error(create_template(graph_client, simulator, name="Bad Name"), 400, 100)
    assert_error(create_template(graph_client, simulator, category="PROMO"), 400, 100)
    assert_error(
        create_template(graph_client, simulator, components=[{"type": "BODY", "text": "{{2}}"}]), 400, 100
    )
    assert_error(create_template(graph_client, simulator, message_send_ttl_seconds=600), 400, 100)
    assert (
        create_template(
            graph_client, simulator, name="otp", category="UTILITY", message_send_ttl_seconds=600
        ).status_code
        == 200
    )


def test_named_template_needs_matching_parameter_names(frozen):
    sim, client = frozen
    components = [
        {"type": "HEADER", "format": "IMAGE"},
        {"type": "BODY", "text": "Hi {{first_name}}, {{discount}} off"},
        {
            "type": "BUTTONS",
            "buttons": [
                {"type": "URL", "text": "Shop", "url": "https://shop.example/{{1}}"},
                {"type": "QUICK_REPLY", "text": "Stop promos"},
            ],
        },
    ]
    assert (
        create_template(
            client, sim, name="named_sale", parameter_format="named", components=components
        ).status_code
        == 200
    )
    sim.clock.advance(600)

    def named(*pairs: tuple[str, str]) -> list[dict]:
        return [
            {"type": "header", "parameters": [{"type": "image", "image": {"id": "1339522734477770"}}]},
            {
                "type": "body",
                "parameters": [{"type": "text", "parameter_name": n, "text": v} for n, v in pairs],
            },
            {
                "type": "button",
                "sub_type": "url",
                "index": "0",
                "parameters": [{"type": "text", "text": "x1"}],
            },
        ]

    good = named(("discount", "20%"), ("first_name", "Ana"))
    assert_accepted(send(client, sim, send_body(name="named_sale", components=good)))
    sim.clock.advance(6)
    bad = named(("first_name", "Ana"), ("discont", "20%"))
    assert (
        "discont"
        in assert_error(send(client, sim, send_body(name="named_sale", components=bad)), 400, 132000)[
            "error_data"
        ]["details"]
    )
    no_button = good[:2]
    assert_error(send(client, sim, send_body(name="named_sale", components=no_button)), 400, 132000)
    no_header = good[1:]
    assert_error(send(client, sim, send_body(name="named_sale", components=no_header)), 400, 132000)


def test_waba_creative_optimizations_and_onboarding_status(simulator, graph_client):
    spec = {"creative_features_spec": {"image_animation": {"enroll_status": "OPT_OUT"}}}
    assert graph_client.post(f"/{simulator.waba_id}", json={"degrees_of_freedom_spec": spec}).json() == {
        "success": True
    }
    body = graph_client.get(f"/{simulator.waba_id}", params={"fields": "degrees_of_freedom_spec"}).json()
    [entry] = body["degrees_of_freedom_spec"]["data"]
    by_key = {f["key"]: f["value"]["enroll_status"] for f in entry["creative_features_spec"]}
    assert by_key["IMAGE_ANIMATION"] == "OPT_OUT" and by_key["IMAGE_TOUCHUPS"] == "OPT_IN"
    status = graph_client.get(
        f"/{simulator.waba_id}", params={"fields": "marketing_messages_onboarding_status"}
    ).json()
    assert status["marketing_messages_onboarding_status"] == "ONBOARDED"
    bad = {"creative_features_spec": {"sparkles": {"enroll_status": "OPT_IN"}}}
    assert_error(graph_client.post(f"/{simulator.waba_id}", json={"degrees_of_freedom_spec": bad}), 400, 100)
    assert_error(graph_client.get(f"/{simulator.waba_id}", params={"fields": "secret_field"}), 400, 100)


def test_template_list_paging(simulator, graph_client):
    query = {"limit": 3, "fields": "name,status"}
    first = graph_client.get(f"/{simulator.waba_id}/message_templates", params=query).json()
    assert len(first["data"]) == 3 and "next" in first["paging"]
    after = first["paging"]["cursors"]["after"]
    rest = graph_client.get(
        f"/{simulator.waba_id}/message_templates", params={**query, "after": after}
    ).json()
    assert len(rest["data"]) == 1 and "next" not in rest["paging"]
    # As on Graph, `next` is the full URL of the next page, the same query with `after`
    following = graph_client.get(first["paging"]["next"]).json()
    assert following == rest and set(following["data"][0]) == {"id", "name", "status"}


# Control API and inspection.


def test_control_api(simulator, graph_client):
    control = httpx.Client(base_url=simulator.root_url + "/_sim")
    assert control.get("/info").json()["base_url"] == simulator.base_url
    assert control.post("/config", json={"mps": 1, "error_rates": {"131000": 0.0}}).json()["mps"] == 1
    assert simulator.config.mps == 1 and simulator.config.error_rates == {131000: 0.0}
    assert control.post("/config", json={"nope": 1}).status_code == 400
    before = simulator.clock.now()
    assert control.post("/clock/advance", json={"seconds": 3600}).json()["now"] >= before + 3600
    assert_accepted(send(graph_client, simulator, send_body()))
    assert_error(send(graph_client, simulator, send_body(to="447911123456")), 400, 130429)
    requests = control.get("/requests", params={"path": "marketing_messages"}).json()["data"]
    assert [(r["status"], r["error_code"], r["recipient"]) for r in requests] == [
        (200, None, INDIA),
        (400, 130429, "447911123456"),
    ]
    assert (
        control.post("/templates/status", json={"name": "summer_sale", "status": "PAUSED"}).json()["status"]
        == "PAUSED"
    )
    assert control.get("/state").json()["templates"][1]["status"] == "PAUSED"
    assert control.post("/reset").json() == {"success": True}
    assert simulator.requests() == [] and simulator.messages() == []
    assert control.get("/state").json()["templates"][1]["status"] == "APPROVED"


def test_request_log_records_every_graph_request(simulator, graph_client):
    body = copy.deepcopy(seed("festival_offer"))
    send(graph_client, simulator, body)
    graph_client.get(f"/{simulator.waba_id}/message_templates")
    [post, get] = simulator.requests()
    assert (post.method, post.body, post.status, post.template) == ("POST", body, 200, "festival_offer")
    assert (get.method, get.path) == ("GET", f"/v25.0/{simulator.waba_id}/message_templates")
