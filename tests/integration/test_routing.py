"""Routing by category end to end (issue 13; meta-2026-updates section 4): the campaign API, the send function
and the webhook handler in-process on one moto stack, the Graph simulator over HTTP posting its webhooks to the
webhook handler."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from handlers import LambdaContext, load_event
from integration.campaignworld import World as Base
from integration.campaignworld import campaign_world

from mmcore.meta.errors import Scope
from mmcore.store.halts import account_halt_key

ONE, TWO = "919876543210", "919876543211"
UTILITY_TEMPLATE = {
    "name": "order_update",
    "language": "en_US",
    "category": "UTILITY",
    "components": [{"type": "BODY", "text": "Your order has shipped."}],
}


class World(Base):
    def campaign(self, campaign_id: str, template: dict[str, Any], *recipients: str, **extra: Any) -> int:
        evt = load_event("campaigns_post.json")
        body = {"name": campaign_id, "campaign_id": campaign_id, "template": template, **extra}
        evt["body"] = json.dumps({**body, "recipients": list(recipients)})
        return self.api.lambda_handler(evt, LambdaContext())["statusCode"]


@pytest.fixture
def world(aws, sim, monkeypatch) -> Iterator[World]:
    with campaign_world(aws, sim, monkeypatch, "rt", read_ratio=0.0) as w:
        yield World(w.send, w.api, w.receiver, w.aws)


def create_template(sim, body: dict[str, Any]) -> None:
    answer = httpx.post(
        f"{sim.base_url}/{sim.waba_id}/message_templates", json=body, headers=sim.auth_headers
    )
    assert answer.status_code == 200, answer.text


def test_a_utility_template_campaign_is_carried_by_messages_and_reported_so(world):
    # Given a utility template at Meta, and a campaign that says its category (the product has not heard of it)
    create_template(world.sim, UTILITY_TEMPLATE)
    template = {"name": "order_update", "language": {"code": "en_US"}, "category": "utility"}
    assert world.campaign("util", template, ONE, TWO) == 202
    # When the queue is drained and Meta's status webhooks arrive
    world.send.drain()
    world.settle()
    # Then both went to /messages on the same number, none to /marketing_messages
    assert sorted(world.posts("messages")) == [(ONE, 200, None), (TWO, 200, None)]
    assert world.posts("marketing_messages") == []
    # And Meta got the Cloud API body: no MM API field
    bodies = [r.body for r in world.sim.requests("/messages") if r.path.endswith("/messages")]
    assert all("product_policy" not in b and "message_activity_sharing" not in b for b in bodies)
    # And the report says which endpoint carried them and which path Meta took
    report = world.report("util")
    assert report["by_endpoint"] == {"marketing_messages": 0, "messages": 2}
    assert report["by_path"] == {"mm_api": 0, "cloud_api_fallback": 0, "cloud_api": 2}
    assert report["by_pricing_category"]["utility"] == 2


def test_a_template_recategorised_mid_campaign_switches_endpoint_for_its_queued_messages(world):
    # Given a campaign of a marketing template, its first message sent through the MM API
    template = {"name": "summer_sale", "language": {"code": "en_US"}}
    assert world.campaign("recat", template, ONE, TWO) == 202
    world.send.poll_once(batch=1)
    assert world.posts("marketing_messages") == [(ONE, 200, None)]
    # When Meta recategorises the template as UTILITY (the completed template_category_update webhook)
    world.sim.set_template_category("summer_sale", "UTILITY")
    world.settle()
    # And the rest of the campaign is sent
    world.send.drain()
    world.settle()
    # Then the message still queued went to /messages, by the template's new category
    assert world.posts("messages") == [(TWO, 200, None)]
    assert world.posts("marketing_messages") == [(ONE, 200, None)]
    report = world.report("recat")
    assert report["by_endpoint"] == {"marketing_messages": 1, "messages": 1}
    assert report["by_path"] == {"mm_api": 1, "cloud_api_fallback": 0, "cloud_api": 1}


def test_131063_on_messages_re_routes_the_message_to_marketing_messages_without_a_halt(world):
    # Given a WABA that keeps marketing off the Cloud API, and a request that wrongly calls a marketing
    # template utility (the product has not heard of the template: no preflight, so no registry sync)
    world.sim.set_cloud_api_marketing_disabled(True)
    template = {"name": "summer_sale", "language": {"code": "en_US"}, "category": "UTILITY"}
    assert world.campaign("wrong", template, ONE, skip_preflight=True) == 202
    # When the queue is drained
    world.send.drain()
    # Then Meta refused it on /messages (131063) and it was sent again through /marketing_messages
    assert world.posts("messages") == [(ONE, 400, 131063)]
    assert world.posts("marketing_messages") == [(ONE, 200, None)]
    message = world.send.message("wrong-0")
    assert message["state"] == "accepted" and message["endpoint"] == "marketing_messages"
    assert message["reroute"] == "marketing_messages"
    # And the WABA is not halted: the setting concerns the Cloud API only
    assert not halted(world)


def test_131063_on_the_fallback_halts_the_waba(world):
    # Given a WABA not onboarded that keeps marketing off the Cloud API: Meta refuses the fallback [SEND]
    world.sim.set_onboarded(False)
    world.sim.set_cloud_api_marketing_disabled(True)
    assert world.campaign("halt", {"name": "summer_sale", "language": {"code": "en_US"}}, ONE) == 202
    # When the message is sent
    world.send.poll_once()
    # Then the WABA's sending is halted with 131063 and the message waits, not failed
    assert world.posts("marketing_messages") == [(ONE, 400, 131063)]
    assert world.posts("messages") == []
    assert halted(world) == 131063
    assert world.send.message("halt-0")["state"] == "retry"


def test_a_max_price_template_routed_to_the_cloud_api_is_never_posted(world):
    # Given a max-price campaign (a bid multiplier) whose template Meta has just moved to UTILITY
    world.sim.set_template_category("summer_sale", "UTILITY")
    world.settle()
    template = {"name": "summer_sale", "language": {"code": "en_US"}}
    multiplier = {"per_message_bid_multiplier": 1.5}
    assert world.campaign("maxp", template, ONE, bid_spec=multiplier) == 202
    # When the queue is drained
    world.send.drain()
    # Then nothing was POSTed anywhere: Meta would refuse it on /messages (131061)
    assert world.posts("messages") == [] and world.posts("marketing_messages") == []
    message = world.send.message("maxp-0")
    assert message["state"] == "failed" and message["code"] == 131061
    assert message["reason"] == "max_price_on_cloud_api"
    assert world.report("maxp")["failures_by_code"] == {"131061": 1}


def halted(world: World) -> int | None:
    """The code of the WABA's live halt, if any."""
    key = (Scope.ACCOUNT, account_halt_key(world.sim.waba_id))
    pre = world.send.handler.sender().ledger.prefetch([], [key], int(time.time()))
    return pre.halted[key].code if key in pre.halted else None
