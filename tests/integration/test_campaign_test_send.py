"""Test sends and held campaigns (issue 13, "Test send"): the campaign API, the send function and the webhook
handler in-process on one moto stack, the Graph simulator over HTTP posting its status webhooks to the webhook
handler."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from integration.campaignworld import World as Base
from integration.campaignworld import campaign_world

OWN, OTHER = "919876500001", "919876500002"  # the business's own numbers
AUDIENCE = ["919876543210", "919876543211", "919876543212"]
FESTIVAL = {
    "name": "festival_offer",
    "language": {"code": "en_US"},
    "components": [{"type": "body", "parameters": [{"type": "text", "text": "{{offer}}"}]}],
}


class World(Base):
    def create(self, campaign_id: str, **extra: Any) -> tuple[int, dict[str, Any]]:
        recipients = [{"to": n, "variables": {"offer": f"{10 + i}% OFF"}} for i, n in enumerate(AUDIENCE)]
        body = {
            "name": campaign_id,
            "campaign_id": campaign_id,
            "template": FESTIVAL,
            "recipients": recipients,
        }
        return self.call("POST", "/campaigns", {**body, **extra})

    def posted_to(self) -> list[str | None]:
        suffix = f"/{self.sim.phone_number_id}/marketing_messages"
        return [r.recipient for r in self.sim.requests(suffix) if r.path.endswith(suffix)]


@pytest.fixture
def world(aws, sim, monkeypatch) -> Iterator[World]:
    with campaign_world(aws, sim, monkeypatch, "ts", read_ratio=0.0, fallback_ratio=0.0) as w:
        yield World(w.send, w.api, w.receiver, w.aws)


def test_a_test_send_reports_marketing_lite_delivered_and_the_preview(world):
    # Given a campaign with the business's own number as its test recipient
    assert world.create("fest", test_recipients=["+91 98765 00001"])[0] == 202
    world.deliver()
    sent_to_audience = len(world.posted_to())
    # When it is test-sent: 202 at once, with the test's id and its message pending
    status, started = world.call("POST", "/campaigns/fest/test")
    assert status == 202, started
    assert started["test_id"].startswith("t") and started["verdict"] == "pending"
    # Then once Meta's webhooks are in, the test passed through the MM API
    world.deliver()
    status, test = world.call("GET", "/campaigns/fest/test")
    assert status == 200 and test["verdict"] == "passed"
    [message] = test["messages"]
    assert message["to"] == OWN and message["status"] == "delivered"
    assert message["pricing_category"] == "marketing_lite" and message["via"] == "MM API (marketing_lite)"
    # with the first recipient's variables filled into the template's text, as the registry knows it
    assert test["preview"]["body"] == "Festival offer: 10% OFF. Tap to see the deals."
    assert test["preview"]["footer"] == "Reply STOP to opt out"
    assert test["warnings"] == []
    # And the same test is found by its id; the simulator got exactly one more POST, to the test number
    assert world.call("GET", f"/campaigns/fest/tests/{started['test_id']}")[1]["verdict"] == "passed"
    assert world.posted_to()[sent_to_audience:] == [OWN]


def test_test_messages_are_not_in_the_campaign_report(world):
    assert world.create("counted", test_recipients=[OWN, OTHER])[0] == 202
    world.deliver()
    before = world.report("counted")
    status, _ = world.call("POST", "/campaigns/counted/test", {"variables": {"offer": "TEST"}})
    assert status == 202
    world.deliver()
    assert world.call("GET", "/campaigns/counted/test")[1]["verdict"] == "passed"
    after = world.report("counted")
    assert after["messages"] == before["messages"] == len(AUDIENCE)
    assert after["by_status"] == before["by_status"]
    assert after["by_pricing_category"] == before["by_pricing_category"]
    listed = world.call("GET", "/campaigns/counted/messages")[1]["messages"]
    assert {m["to"] for m in listed} == set(AUDIENCE)


def test_a_held_campaign_is_released_only_after_a_passing_test(world):
    # Given a held campaign: its recipients recorded, nothing POSTed
    status, created = world.create("held", hold=True, test_recipients=[OWN])
    assert status == 202 and created["status"] == "held" and created["counts"]["queued"] == 3
    world.deliver()
    assert world.posted_to() == []
    assert world.call("GET", "/campaigns/held")[1]["status"] == "held"
    # When it is released before any test: 409 naming why, and still nothing queued
    status, refused = world.call("PATCH", "/campaigns/held", {"status": "running"})
    assert status == 409 and refused["errors"][0]["field"] == "status"
    assert "no test send of this campaign has passed" in refused["message"]
    world.deliver()
    assert world.posted_to() == []
    # And while its test is still pending, also 409
    assert world.call("POST", "/campaigns/held/test")[0] == 202
    status, refused = world.call("PATCH", "/campaigns/held", {"status": "running"})
    assert status == 409 and "pending" in refused["message"] and refused["tests"][0]["verdict"] == "pending"
    # Once the test passed, the release queues the campaign's messages
    world.deliver()
    assert world.posted_to() == [OWN]
    status, released = world.call("PATCH", "/campaigns/held", {"status": "running"})
    assert status == 200 and released["status"] == "running" and released["counts"]["queued"] == 3
    world.deliver()
    assert sorted(world.posted_to()[1:]) == AUDIENCE
    report = world.report("held")
    assert report["status"] == "completed" and report["by_status"]["delivered"] == 3  # every message final
    # A second release: 409, the campaign is no longer held
    status, again = world.call("PATCH", "/campaigns/held", {"status": "running"})
    assert status == 409 and "completed" in again["errors"][0]["reason"]


def test_a_failed_test_keeps_the_campaign_held(world):
    # A test number that opted out: the sender suppresses the test message, the test fails
    world.sim.user_preference(OWN, "stop")
    world.sim.wait_for_webhooks_idle(10)
    assert world.create("stopped", hold=True, test_recipients=[OWN])[0] == 202
    assert world.call("POST", "/campaigns/stopped/test")[0] == 202
    world.deliver()
    test = world.call("GET", "/campaigns/stopped/test")[1]
    assert test["verdict"] == "failed" and test["messages"][0]["status"] == "suppressed"
    status, refused = world.call("PATCH", "/campaigns/stopped", {"status": "running"})
    assert status == 409 and "failed" in refused["message"]


@pytest.mark.parametrize(
    ("create", "body", "field"),
    [
        ({}, None, "recipients"),  # no numbers in the request nor on the campaign
        ({}, {"recipients": ["+91 98765 00001", "12ab"]}, "recipients.1"),  # a malformed number
        ({}, {"recipients": [OWN], "variables": {"other": "x"}}, "variables.offer"),  # a missing variable
    ],
)
def test_bad_test_requests_are_422_naming_the_field(world, create, body, field):
    assert world.create("bad", **create)[0] == 202
    world.deliver()
    posts = len(world.posted_to())
    status, answer = world.call("POST", "/campaigns/bad/test", body)
    assert status == 422, answer
    assert field in [e["field"] for e in answer["errors"]]
    assert world.call("GET", "/campaigns/bad/test")[0] == 404  # nothing recorded
    world.deliver()
    assert len(world.posted_to()) == posts


def test_a_malformed_test_recipient_on_creation_is_422_and_nothing_is_written(world):
    status, answer = world.create("badnum", test_recipients=[OWN, "+91 12"])
    assert status == 422 and [e["field"] for e in answer["errors"]] == ["test_recipients.1"]
    assert world.call("GET", "/campaigns/badnum")[0] == 404


def test_a_held_campaign_cannot_be_paused_and_completed_is_no_change_a_campaign_takes(world):
    assert world.create("paused", hold=True)[0] == 202
    status, answer = world.call("PATCH", "/campaigns/paused", {"status": "paused"})
    assert status == 409 and answer["errors"][0]["field"] == "status" and "is held" in answer["message"]
    status, answer = world.call("PATCH", "/campaigns/paused", {"status": "completed"})
    assert status == 422 and answer["errors"][0]["field"] == "status"
