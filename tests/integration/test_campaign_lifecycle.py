"""Issue 14's campaign lifecycle through the campaigns and send handlers (moto and the simulator): PATCH pause,
resume and cancel with their 409s, the sender honouring the state in its batch, GET /campaigns paged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from handlers import LambdaContext, load_event
from integration.campaignworld import World as Base
from integration.campaignworld import campaign_world

AUDIENCE = [f"9198765432{n:02d}" for n in range(12)]
FESTIVAL = {
    "name": "festival_offer",
    "language": {"code": "en_US"},
    "components": [{"type": "body", "parameters": [{"type": "text", "text": "{{offer}}"}]}],
}


class World(Base):
    def create(self, campaign_id: str, **extra: Any) -> tuple[int, dict[str, Any]]:
        recipients = [{"to": n, "variables": {"offer": "10% OFF"}} for n in AUDIENCE]
        body = {
            "name": campaign_id,
            "campaign_id": campaign_id,
            "template": FESTIVAL,
            "recipients": recipients,
        }
        return self.call("POST", "/campaigns", {**body, **extra})

    def patch(self, campaign_id: str, status: str) -> tuple[int, dict[str, Any]]:
        return self.call("PATCH", f"/campaigns/{campaign_id}", {"status": status})

    def listing(self, **query: Any) -> tuple[int, dict[str, Any]]:
        evt = load_event("campaigns_get.json")
        evt["rawPath"] = evt["requestContext"]["http"]["path"] = "/campaigns"
        evt["requestContext"]["http"]["method"] = "GET"
        evt["pathParameters"] = {}
        evt["queryStringParameters"] = {k: str(v) for k, v in query.items()}
        evt["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
        answer = self.api.lambda_handler(evt, LambdaContext())
        return answer["statusCode"], json.loads(answer["body"])

    def posted(self) -> int:
        return len(self.posts("marketing_messages"))


@pytest.fixture
def world(aws, sim, monkeypatch) -> Iterator[World]:
    with campaign_world(aws, sim, monkeypatch, "lc", read_ratio=0.0, fallback_ratio=0.0) as w:
        yield World(w.send, w.api, w.receiver, w.aws)


def test_the_listing_answers(world):
    assert world.create("spring")[0] == 202
    status, page = world.listing(limit=1)
    assert status == 200, page
