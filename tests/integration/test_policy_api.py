"""The region policy in force, through the handlers: GET /policy shows the table (built-in or changed by the
operator's override in SSM, moto), campaigns are planned and sent under it, and a bad override is a clear error,
never a fallback to the built-in table."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws import create_stack, use_stack
from handlers import LambdaContext, load_event, load_handler

from mmapi.sqsevents import lambda_event, receive, settle
from mmcore import clients, policy

PARAMETER = "/mm/region-policy"
VE, NG, BY, IN = "+58 412 123 4567", "+234 803 123 4567", "+375 29 123 4567", "919876543210"
AR = "+54 9 11 2345 6789"


@pytest.fixture
def stack(aws, sim, monkeypatch):
    """One stack for the campaigns and send functions, the send function talking to the simulator."""
    s = create_stack(aws, "pol", access_token=sim.access_token, app_secret=sim.app_secret)
    use_stack(monkeypatch, s, sim, POLICY_PARAMETER="")
    policy.reset()
    yield s
    clients.reset()
    policy.reset()


def with_override(aws, monkeypatch, value: str) -> None:
    aws.client("ssm").put_parameter(Name=PARAMETER, Value=value, Type="String")
    monkeypatch.setenv("POLICY_PARAMETER", PARAMETER.lstrip("/"))  # as template.yaml passes it (no slash)
    clients.reset()


def call(handler: Any, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    answer = handler.lambda_handler(event, LambdaContext())
    return answer["statusCode"], json.loads(answer["body"])


def get(handler: Any, path: str) -> tuple[int, dict[str, Any]]:
    event = load_event("campaigns_get.json" if path.startswith("/campaigns/") else "policy_get.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    if path.startswith("/campaigns/"):
        event["pathParameters"] = {"campaign_id": path.split("/")[2]}
    return call(handler, event)


def message(handler: Any, message_id: str) -> dict[str, Any]:
    event = load_event("messages_get.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/messages/{message_id}"
    event["pathParameters"] = {"message_id": message_id}
    return call(handler, event)[1]["message"]


def post_campaign(handler: Any, campaign_id: str, *numbers: str) -> tuple[int, dict[str, Any]]:
    event = load_event("campaigns_post.json")
    body = json.loads(event["body"])
    body.update(
        campaign_id=campaign_id, recipients=[{"to": n, "variables": {"offer": "20% off"}} for n in numbers]
    )
    event["body"] = json.dumps(body)
    return call(handler, event)


def rule(view: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in view["rules"] if r["name"] == name)


def places(view: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    return {p["place"]: p for p in rule(view, name)["places"]}


# ---------------------------------------------------------------- GET /policy


def test_without_an_override_get_policy_shows_the_built_in_table_with_sources_and_dates(stack):
    status, view = get(load_handler("campaigns"), "/policy")

    assert status == 200
    assert view["override"] is None
    assert [r["name"] for r in view["rules"]] == ["sanctioned", "russia_belarus", "us", "no_optimization"]
    venezuela = places(view, "sanctioned")["VE"]
    assert (venezuela["name"], venezuela["since"], venezuela["origin"]) == (
        "Venezuela",
        "2026-05-21",
        "built-in",
    )
    assert "May 21, 2026" in venezuela["source"]
    assert places(view, "sanctioned")["CU"]["since"] is None  # in Meta's table since before Dec 2025
    assert {"NG", "ZA", "DE", "GB", "JP", "KR"} <= set(places(view, "no_optimization"))
    assert places(view, "no_optimization")["NG"]["since"] == "2026-05-21"
    assert set(places(view, "russia_belarus")) == {"RU", "BY"}
    max_price = [e for e in rule(view, "russia_belarus")["effects"] if "max_price" in e["disables"]]
    assert max_price == [
        {
            "party": "recipient",
            "since": "2026-05-21",
            "until": None,
            "blocks": None,
            "code": None,
            "disables": ["max_price"],
        }
    ]
    assert rule(view, "us")["effects"][0]["code"] == 131049


def test_an_override_in_ssm_changes_the_table_and_get_policy_says_where_each_entry_came_from(
    stack, aws, monkeypatch
):
    # Given an operator's override: Argentina sanctioned, Cuba out of the sanctioned rule, from 2026-11-01
    override = {
        "rules": {"sanctioned": {"add": ["AR"], "remove": ["CU"]}},
        "source": "ops ticket 4711",
        "effective": "2026-11-01",
    }
    with_override(aws, monkeypatch, json.dumps(override))
    handler = load_handler("campaigns")
    # When the policy is read
    status, view = get(handler, "/policy")
    # Then it shows the override as written and each entry's origin
    assert status == 200
    assert view["override"] == {
        "parameter": PARAMETER,
        "source": "ops ticket 4711",
        "effective": "2026-11-01",
        "rules": {"sanctioned": {"add": ["AR"], "remove": ["CU"]}},
    }
    sanctioned = places(view, "sanctioned")
    assert sanctioned["AR"] | {"name": None} == {
        "place": "AR",
        "name": None,
        "since": "2026-11-01",
        "until": None,
        "origin": "override",
        "source": "override: ops ticket 4711",
        "removed_by": None,
    }
    assert (sanctioned["CU"]["until"], sanctioned["CU"]["removed_by"]) == (
        "2026-11-01",
        "override: ops ticket 4711",
    )
    assert sanctioned["VE"]["origin"] == "built-in"
    # And campaigns are planned under it: Argentina blocked, Cuba no longer
    status, answer = post_campaign(handler, "override", AR, "+53 5 123 4567", IN)
    assert status == 202
    assert answer["counts"]["blocked_by_reason"] == {"sanctioned_recipient": 1}
    assert message(handler, "override-0")["reason"] == "sanctioned_recipient"
    assert message(handler, "override-1")["state"] == "queued"


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (
            '{"rules": {"sanctionned": {"add": ["VE"]}}, "source": "x", "effective": "2026-11-30"}',
            "rules.sanctionned",
        ),
        (
            '{"rules": {"sanctioned": {"add": ["VX"]}}, "source": "x", "effective": "2026-11-30"}',
            "rules.sanctioned.add.0",
        ),
        ('{"rules": {"sanctioned": {"add": ["VE"]}}, "source": "x", "effective": "30/11/2026"}', "effective"),
        ('{"rules": {"sanctioned": {"add": ["VE"]}, "source": "x"', "(document)"),
    ],
)
def test_a_bad_override_is_a_clear_error_and_nothing_is_planned_under_the_built_in_table(
    stack, aws, monkeypatch, value, field
):
    with_override(aws, monkeypatch, value)
    handler = load_handler("campaigns")

    status, answer = get(handler, "/policy")
    assert status == 500
    assert answer["error"] == "not_configured"
    assert PARAMETER in answer["message"] and "POLICY_PARAMETER" in answer["message"]
    assert field in [e["field"] for e in answer["errors"]]
    # And a campaign is refused the same way: nothing recorded, nothing queued
    status, answer = post_campaign(handler, "refused", IN)
    assert (status, answer["error"]) == (500, "not_configured")
    assert aws.client("dynamodb").scan(TableName=stack.table)["Items"] == []
    assert "Messages" not in aws.client("sqs").receive_message(QueueUrl=stack.queue_url)


def test_a_missing_parameter_is_a_clear_error(stack, monkeypatch):
    monkeypatch.setenv("POLICY_PARAMETER", "/mm/not-there")
    clients.reset()

    status, answer = get(load_handler("campaigns"), "/policy")

    assert (status, answer["error"]) == (500, "not_configured")
    assert "/mm/not-there" in answer["message"]
    assert answer["errors"] == [{"field": "POLICY_PARAMETER", "reason": "cannot be read"}]


def test_the_send_function_refuses_a_batch_under_a_bad_override(stack, aws, monkeypatch):
    with_override(
        aws, monkeypatch, '{"rules": {"us": {"add": ["CA"]}}, "source": "", "effective": "2026-11-30"}'
    )
    sender = load_handler("send")

    with pytest.raises(Exception, match="source"):
        sender.sender()


# ---------------------------------------------------------------- Must show: Venezuela, Nigeria, Belarus


def test_a_campaign_to_venezuela_nigeria_and_belarus_is_blocked_sent_without_optimization_sent_without_clicks(
    stack, aws, sim
):
    campaigns = load_handler("campaigns")
    # Given a campaign from an Indian business to a Venezuelan, a Nigerian and a Belarusian number
    status, answer = post_campaign(campaigns, "2026-policy", VE, NG, BY)
    # Then the answer says the Venezuelan is blocked, and why
    assert status == 202
    assert answer["counts"]["queued"] == 2
    assert answer["counts"]["blocked_by_reason"] == {"sanctioned_recipient": 1}
    venezuelan = message(campaigns, "2026-policy-0")
    assert (venezuelan["state"], venezuelan["country"], venezuelan["reason"]) == (
        "blocked",
        "VE",
        "sanctioned_recipient",
    )
    assert (
        venezuelan["details"]
        == "Users in Venezuela cannot receive messages from the WhatsApp Business Platform"
    )

    # When the send function drains the queue
    sender = load_handler("send")
    sqs = aws.client("sqs")

    queue_arn = sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    while messages := receive(sqs, stack.queue_url, 10):
        event = lambda_event(messages, queue_arn)
        settle(sqs, stack.queue_url, event, sender.lambda_handler(event, LambdaContext()))

    # Then the Nigerian and the Belarusian are sent (Meta accepted them), each with the features Meta turns off there
    nigerian, belarusian = message(campaigns, "2026-policy-1"), message(campaigns, "2026-policy-2")
    assert (nigerian["state"], nigerian["country"]) == ("accepted", "NG")
    assert nigerian["disabled_features"] == [
        "click_reporting",
        "conversion_reporting",
        "delivery_optimization",
    ]
    assert (belarusian["state"], belarusian["country"]) == ("accepted", "BY")
    assert belarusian["disabled_features"] == ["click_reporting", "conversion_reporting", "max_price"]
    assert sorted(r.body["to"] for r in sim.requests("marketing_messages")) == [
        "2348031234567",
        "375291234567",
    ]
    # And the report counts them, with the blocked one by its reason
    status, report = get(campaigns, "/campaigns/2026-policy")
    assert status == 200
    assert report["enqueue"]["blocked_by_reason"] == {"sanctioned_recipient": 1}
