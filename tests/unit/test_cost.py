"""Cost: the rate card (built-in sourced rates, an operator's card and its validation), the estimate by country
before sending, spend by country in the report (Meta's pricing.cost vs rate card x billable deliveries), where a
campaign stands against its budget, and the page showing it."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from unit.test_report_page import full_report, msg

from mmcore import pricing
from mmcore.campaigns import budget, facts, page
from mmcore.campaigns.models import CampaignCreate
from mmcore.campaigns.spend import against_budget, estimate, spend
from mmcore.campaigns.tally import total
from mmcore.exceptions import NotConfigured
from mmcore.meta.ratecards import InvalidRateCard, card, parse_rate_card
from mmcore.meta.rates import BUILT_IN_CARD

OCT_2026, SEP_2026 = dt.date(2026, 10, 1), dt.date(2026, 9, 30)
CARD = {
    "currency": "USD",
    "effective": "2027-01-01",
    "source": "Meta's USD rate card, Q1 2027",
    "rates": {"MX": {"marketing": 0.05, "utility": 0.01}, "br": {"marketing": 0.0625}},
}


def loaded(**changes: Any) -> str:
    return json.dumps(CARD | changes)


# ---------------------------------------------------------------- the rate card


def test_the_built_in_card_holds_only_the_sourced_mexico_rates_marked_unconfirmed():
    before, after = (BUILT_IN_CARD.rate("MX", "marketing", "USD", d) for d in (SEP_2026, OCT_2026))
    assert (before.amount, after.amount) == (Decimal("0.0305"), Decimal("0.0397"))
    assert not before.confirmed and not after.confirmed and "T-ES" in after.source
    # every other market, category or currency has no rate rather than a guess
    assert BUILT_IN_CARD.rate("BR", "marketing", "USD", OCT_2026) is None
    assert BUILT_IN_CARD.rate("MX", "utility", "USD", OCT_2026) is None
    assert BUILT_IN_CARD.rate("MX", "marketing", "MXN", OCT_2026) is None


def test_an_operators_card_applies_from_its_date_and_wins_over_the_built_in_rate():
    merged = card(parse_rate_card(loaded()))
    assert merged.rate("MX", "MARKETING", "USD", dt.date(2026, 12, 31)).amount == Decimal("0.0397")
    mx = merged.rate("MX", "marketing_lite", "USD", dt.date(2027, 1, 1))  # the MM API's SKU: marketing rate
    assert (mx.amount, mx.origin, mx.confirmed) == (Decimal("0.05"), "override", True)
    assert merged.rate("BR", "marketing", "USD", dt.date(2027, 2, 1)).amount == Decimal("0.0625")
    assert merged.rate("BR", "utility", "USD", dt.date(2027, 2, 1)) is None
    assert merged.currency == "USD" and "Q1 2027" in merged.source
    earlier = card(parse_rate_card(loaded(effective="2026-07-01")))  # older than the built-in Oct 2026 rate
    assert earlier.rate("MX", "marketing", "USD", OCT_2026).amount == Decimal(
        "0.05"
    )  # the operator's card wins
    assert earlier.rate("MX", "marketing", "USD", dt.date(2026, 6, 30)).amount == Decimal("0.0305")


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        (loaded(rates={"MX": {"marketing": -0.01}}), "rates.MX.marketing", "greater than or equal to 0"),
        (loaded(rates={"XX": {"marketing": 0.01}}), "rates.XX", "not an ISO 3166-1 alpha-2"),
        (loaded(rates={"MX": {"marketng": 0.01}}), "rates.MX.marketng", "Extra inputs"),
        (loaded(rates={"MX": {}}), "rates", "no rate given for MX"),
        (loaded(currency="USX"), "currency", "not a currency Meta publishes"),
        (loaded(effective="next quarter"), "effective", "date"),
        (json.dumps({k: v for k, v in CARD.items() if k != "source"}), "source", "Field required"),
        ('{"currency": "USD",', "(document)", "not valid JSON"),
    ],
)
def test_a_bad_card_names_the_field_and_why(text, field, reason):
    with pytest.raises(InvalidRateCard) as caught:
        parse_rate_card(text)
    assert any(f == field and reason in r for f, r in caught.value.errors), caught.value.errors


def test_a_bad_card_in_ssm_is_not_configured_naming_the_parameter_and_the_field():
    with pytest.raises(NotConfigured) as caught:
        pricing.load("/mm/rate-card", loaded(rates={"MX": {"marketing": "cheap"}}))
    assert "RATE_CARD_PARAMETER" in str(caught.value) and "/mm/rate-card" in str(caught.value)
    assert "rates.MX.marketing" in str(caught.value)


# ---------------------------------------------------------------- the estimate before sending


def test_the_estimate_prices_each_country_and_lists_the_markets_without_a_rate():
    found = estimate({"MX": 100, "BR": 5, "unknown": 2}, BUILT_IN_CARD, "MARKETING", None, OCT_2026)
    assert (found["currency"], found["category"], found["total"]) == ("USD", "marketing", 3.97)
    rows = {r["country"]: r for r in found["by_country"]}
    assert (
        rows["MX"]["cost"] == 3.97 and rows["MX"]["rate"] == 0.0397 and rows["MX"]["rate_confirmed"] is False
    )
    assert rows["BR"]["cost"] is None and rows["BR"]["rate"] is None
    assert found["missing"] == ["BR", "unknown"] and not found["complete"]
    assert "no rate for BR (5 messages)" in found["note"]


def test_an_estimate_in_a_currency_the_card_lacks_prices_nothing():
    found = estimate({"MX": 10}, BUILT_IN_CARD, None, "EUR", OCT_2026)
    assert found["total"] == 0 and found["missing"] == ["MX"] and found["currency"] == "EUR"


# ---------------------------------------------------------------- spend in the report


CAMPAIGN = {"created_at": 1_800_000_000, "definition": {"template": {"category": "MARKETING"}}}  # Jan 2027
MEXICO = (
    [msg(i, "delivered", "MX") for i in range(10)]  # 10 billable deliveries, priced by the card
    + [msg(10 + i, "read", "MX", cost={"amount": 0.035, "currency": "USD"}) for i in range(4)]  # Meta's cost
    + [msg(20 + i, "delivered", "MX", pricing_type="free_entry_point") for i in range(3)]  # not charged
    + [msg(30 + i, "sent", "MX") for i in range(2)]  # in flight
    + [msg(40 + i, "failed", "MX", error={"code": 131049}) for i in range(5)]  # never charged
    + [msg(50 + i, "delivered", "BR") for i in range(6)]  # no rate for Brazil
)


def test_spend_by_country_is_metas_cost_where_it_sent_one_and_rate_x_billable_deliveries_elsewhere():
    counts = total(MEXICO)
    found = spend(counts, BUILT_IN_CARD, "MARKETING", "USD", dt.date(2027, 1, 15))
    rows = {r["country"]: r for r in found.view()["by_country"]}
    mx = rows["MX"]
    assert (mx["delivered"], mx["meta_priced"], mx["free"], mx["billable_estimated"]) == (17, 4, 3, 10)
    assert mx["meta_cost"] == 0.14 and mx["estimated_cost"] == 0.397 and mx["cost"] == 0.537
    assert mx["in_flight"] == 2
    assert rows["BR"]["estimated_cost"] is None and found.missing == ("BR",)
    view = found.view()
    assert (view["total"], view["meta_total"], view["estimated_total"]) == (0.537, 0.14, 0.397)
    assert view["estimated"] and "estimated" in view["source"] and "Meta's estimate" in view["source"]
    assert found.in_flight == Decimal("0.0794")


def test_the_report_carries_spend_per_country_and_the_budget_line():
    campaign = {**CAMPAIGN, "status": "paused", "paused_reason": "budget"}
    campaign["definition"] = {**campaign["definition"], "budget": {"amount": "0.5", "currency": "USD"}}
    rep = full_report(MEXICO, **campaign)
    rep["cost"] = facts.cost(rep, total(MEXICO), campaign)
    assert rep["cost"]["budget"]["paused"] and rep["cost"]["budget"]["reached"]
    assert rep["cost"]["budget"]["status"] == "paused: budget reached, spent 0.537 USD of 0.5 USD"
    html = page.render(rep)
    assert 'data-country="MX" data-cost="0.537000"' in html and 'data-country="BR"' in html
    assert 'data-budget="paused"' in html and "paused: budget reached, spent 0.537 USD of 0.5 USD" in html
    assert "no rate for BR (6 messages)" in html


# ---------------------------------------------------------------- the budget's arithmetic


@pytest.mark.parametrize(
    ("spent", "in_flight", "reached"),
    [("0.90", "0.0999", False), ("0.90", "0.10", True), ("1.00", "0", True), ("0.5", "0.6", True)],
)
def test_a_budget_is_reached_once_spend_plus_in_flight_is_at_it(spent, in_flight, reached):
    found = against_budget(Decimal(1), "USD", Decimal(spent), Decimal(in_flight), False)
    assert found["reached"] is reached and found["paused"] is False
    assert found["status"].startswith("budget reached" if reached else "within budget")


def test_budget_terms_come_from_the_campaign_item_and_none_without_a_budget():
    item = {
        **CAMPAIGN,
        "definition": {**CAMPAIGN["definition"], "budget": {"amount": "12.5", "currency": "USD"}},
    }
    terms = budget.terms(item)
    assert (terms.amount, terms.currency, terms.category, terms.on) == (
        Decimal("12.5"),
        "USD",
        "MARKETING",
        dt.date(2027, 1, 15),
    )
    assert budget.terms(CAMPAIGN) is None


def test_a_budget_names_its_bad_fields():
    base = {
        "name": "x",
        "template": {"name": "t", "language": {"code": "en"}},
        "recipients": ["+5215512345678"],
    }
    with pytest.raises(ValidationError) as caught:
        CampaignCreate.model_validate({**base, "budget": {"amount": 0, "currency": "usd"}})
    assert [e["loc"] for e in caught.value.errors()] == [("budget", "amount")]
    with pytest.raises(ValidationError) as caught:
        CampaignCreate.model_validate({**base, "budget": {"amount": 5, "currency": "DOGE"}})
    assert [e["loc"] for e in caught.value.errors()] == [("budget", "currency")]
    ok = CampaignCreate.model_validate({**base, "budget": {"amount": "10.50", "currency": "usd"}})
    assert (ok.budget.amount, ok.budget.currency) == (Decimal("10.50"), "USD")
