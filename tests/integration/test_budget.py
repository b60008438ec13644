"""A campaign with a budget stops at it: the aggregator (functions/aggregator, moto's stream delivered as Lambda
would) pauses it (``paused``, reason ``budget``) once its spend plus what is in flight reaches the budget, once,
never a cancelled one; its report shows spend per country and the budget line, with no counter drift. And the
campaigns API answers a cost estimate by country (dry run and create), priced by an operator's card in SSM."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from aws import create_stack, use_stack
from handlers import load_handler
from integration.test_campaigns_api import PHONE_NUMBER_ID, WABA_ID, Api, body

from mmcore import clients, pricing
from mmcore.campaigns.service import Campaigns
from mmcore.settings import Settings
from mmcore.store import messages as L

CREATED = 1_800_000_000  # Jan 2027: Mexico's built-in (unconfirmed) marketing rate is USD 0.0397


@pytest.fixture
def stack(aws, monkeypatch):
    s = create_stack(aws, "bud", access_token="t", app_secret="s")
    use_stack(monkeypatch, s, RATE_CARD_PARAMETER="")
    pricing.reset()
    s.aggregate(aws)  # loads functions/aggregator/app.py as the stream's reader keeps it
    reached: list[str] = []
    handler = sys.modules["function_aggregator_app"]
    handler.aggregator().budgets.reached = reached.append  # the handler's metric, counted here
    yield s, reached
    clients.reset()
    pricing.reset()


@pytest.fixture
def api(aws, sim, monkeypatch):
    """The campaigns function on its own stack, the simulator as Meta for the preflight's registry."""
    s = create_stack(aws, "est", access_token=sim.access_token, app_secret=sim.app_secret)
    use_stack(monkeypatch, s, sim, PHONE_NUMBER_ID=PHONE_NUMBER_ID, WABA_ID=WABA_ID, RATE_CARD_PARAMETER="")
    pricing.reset()
    yield Api(load_handler("campaigns"), aws.client("sqs"), aws.client("dynamodb"), s.table, s.queue_url)
    clients.reset()
    pricing.reset()


def service(aws: Any, table: str) -> Campaigns:
    return Campaigns(Settings(phone_number_id="1"), aws.client("dynamodb"), None, table=table)


def campaign(aws: Any, table: str, campaign_id: str, status: str = "enqueued", amount: str = "0.1") -> None:
    definition = {
        "template": {"name": "offer", "category": "MARKETING"},
        "budget": {"amount": amount, "currency": "USD"},
    }
    values = {"name": campaign_id, "status": status, "definition": definition, "created_at": CREATED}
    service(aws, table).records.create(campaign_id, values, CREATED)


def messages(aws: Any, table: str, campaign_id: str, statuses: list[str], start: int = 0) -> None:
    items = []
    for i, status in enumerate(statuses, start):
        fields = {"campaign_id": campaign_id, "country": "MX", "wamid": f"wamid.{campaign_id}.{i}"}
        items.append(L.message_item(f"{campaign_id}-{i}", status=status, state="accepted", **fields))
    L.Ledger(aws.client("dynamodb"), table).write(items)


def test_a_campaign_pauses_itself_exactly_when_spend_plus_in_flight_reaches_its_budget(aws, stack):
    s, reached = stack
    # Given a USD 0.10 budget and two messages delivered in Mexico (2 x 0.0397 = 0.0794)
    campaign(aws, s.table, "b-1")
    messages(aws, s.table, "b-1", ["delivered", "delivered"])
    s.aggregate(aws)
    assert service(aws, s.table).campaign("b-1")["status"] == "enqueued" and reached == []
    # When a third is accepted by Meta (in flight: 0.1191 >= 0.10 once delivered)
    messages(aws, s.table, "b-1", ["accepted"], start=2)
    s.aggregate(aws)
    # Then the campaign paused itself, for its budget, once
    item = service(aws, s.table).campaign("b-1")
    assert (item["status"], item["paused_reason"]) == ("paused", "budget") and reached == ["b-1"]
    # And more deliveries neither pause it again nor count the metric twice
    messages(aws, s.table, "b-1", ["delivered"], start=3)
    s.aggregate(aws)
    assert reached == ["b-1"]
    # And its report says so, with the spend per country, and the counters have no drift
    report = service(aws, s.table).report("b-1")
    cost = report["cost"]
    assert report["status"] == "paused"
    assert cost["budget"]["status"] == "paused: budget reached, spent 0.1191 USD of 0.1 USD"
    assert [(r["country"], r["delivered"], r["cost"], r["in_flight"]) for r in cost["by_country"]] == [
        ("MX", 3, 0.1191, 1)
    ]
    assert cost["estimated"] and service(aws, s.table).audit("b-1")["drift"] == {}


def test_a_cancelled_or_unbudgeted_campaign_is_never_paused(aws, stack):
    s, reached = stack
    # Given a cancelled campaign over its budget, and one with no budget
    campaign(aws, s.table, "b-2", status="cancelled", amount="0.01")
    service(aws, s.table).records.create(
        "b-3", {"name": "b-3", "status": "enqueued", "created_at": CREATED}, CREATED
    )
    messages(aws, s.table, "b-2", ["delivered"] * 3)
    messages(aws, s.table, "b-3", ["delivered"] * 3)
    # When the stream is counted
    s.aggregate(aws)
    # Then neither changes state
    assert service(aws, s.table).campaign("b-2")["status"] == "cancelled"
    assert service(aws, s.table).campaign("b-3")["status"] == "enqueued" and reached == []


# ---------------------------------------------------------------- the estimate through the API


MX, BR = "+52 55 1234 5678", "+55 11 91234 5678"


def test_the_dry_run_and_the_create_answer_estimate_cost_by_country_with_an_operators_card(
    api,
    aws,
    monkeypatch,
):
    aws.client("ssm").put_parameter(
        Name="/mm/rate-card",
        Type="String",
        Value='{"currency": "USD", "effective": "2026-01-01", "source": "Meta USD card (test)",'
        ' "rates": {"MX": {"marketing": 0.05}}}',
    )
    monkeypatch.setenv("RATE_CARD_PARAMETER", "mm/rate-card")
    clients.reset()
    pricing.reset()
    api.handler.campaigns.cache_clear()
    request = body(campaign_id="est", recipients=[offer(MX), offer(BR), offer("+1 202 555 0173")])
    # When the campaign is rehearsed, then created
    dry = api.call(_dry_run(request))[1]["cost_estimate"]
    status, created = api.post(request)
    assert status == 202, created
    # Then both estimate the sendable recipients by country (the US one is blocked) and name the missing market
    assert status == 202 and created["cost_estimate"] == dry
    assert [(r["country"], r["messages"], r["cost"]) for r in dry["by_country"]] == [
        ("BR", 1, None),
        ("MX", 1, 0.05),
    ]
    assert dry["total"] == 0.05 and dry["missing"] == ["BR"] and "no rate for BR" in dry["note"]
    assert dry["rate_card"] == "override: Meta USD card (test)"
    pricing.reset()


def offer(to: str) -> dict[str, Any]:
    return {"to": to, "variables": {"offer": "20% off"}}


def _dry_run(request: dict[str, Any]) -> dict[str, Any]:
    import json

    from handlers import load_event

    evt = load_event("campaigns_post.json")
    evt["body"] = json.dumps(request)
    evt["rawQueryString"] = "dry_run=true"
    evt["queryStringParameters"] = {"dry_run": "true"}
    return evt
