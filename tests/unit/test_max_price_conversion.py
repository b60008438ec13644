"""A template's max price as money (meta-2026-updates section 5, [MAXP]): bid_amount per 1,000 deliveries in the
smallest currency unit <-> a price per delivery, exact both ways; and Meta's refusals in the domain's words."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mmcore.exceptions import Conflict, InvalidInput, NotFound, UpstreamFailed
from mmcore.meta import max_price as mp
from mmcore.meta.errors import GraphError
from mmcore.optimizations.errors import max_price_refusal
from mmcore.optimizations.max_price import convert, estimate_of, parse_countries
from mmcore.optimizations.models import Scope, Target
from mmcore.optimizations.pricing import MaxPriceUpdate

TEMPLATE = Target(Scope.TEMPLATE, "1234567890000002")


# ---------------------------------------------------------------- Meta's own examples, both ways


@pytest.mark.parametrize(
    ("price", "currency", "bid", "display"),
    [
        ("0.05", "USD", 5000, "0.05 USD per delivery"),  # [MAXP] $0.05 -> 5000
        ("0.87", "INR", 87000, "0.87 INR per delivery"),  # [MAXP] Rs 0.87 -> 87000
        ("5", "JPY", 5000, "5 JPY per delivery"),  # zero-decimal currency: the yen is the smallest unit
        ("0.5", "JPY", 500, "0.5 JPY per delivery"),
        ("0.004", "USD", 400, "0.004 USD per delivery"),  # the reach estimate example's bid
        ("0.012", "KWD", 12000, "0.012 KWD per delivery"),  # three decimals
    ],
)
def test_a_price_converts_to_metas_bid_amount_and_back(price, currency, bid, display):
    conversion = mp.to_bid_amount(Decimal(price), currency)
    assert conversion.bid_amount == bid and conversion.display == display
    back = mp.from_bid_amount(bid, currency)
    assert back.price == Decimal(price) and back.display == display


def test_the_answer_shows_the_conversion():
    formula = mp.to_bid_amount(Decimal("0.87"), "INR").formula
    assert formula == "0.87 INR per delivery x 1,000 deliveries x 10^2 (INR minor units) = 87000 (bid_amount)"


def test_a_display_keeps_the_currencys_decimals():
    assert mp.display(mp.to_price(50000, "USD"), "USD") == "0.50 USD per delivery"
    assert mp.display(mp.to_price(87000, "INR"), "INR") == "0.87 INR per delivery"


# ---------------------------------------------------------------- what is refused, and why


def test_a_price_that_is_not_a_whole_bid_amount_is_refused_with_the_nearest_exact_prices():
    with pytest.raises(mp.MaxPriceError) as caught:
        mp.to_bid_amount(Decimal("0.0001"), "JPY")  # 0.1 yen per 1,000 deliveries
    assert caught.value.field == "price"
    assert "not a whole number" in caught.value.reason
    assert "0.001 JPY per delivery" in caught.value.reason


def test_a_yen_price_with_cents_is_refused_but_the_same_in_dollars_converts():
    with pytest.raises(mp.MaxPriceError):
        mp.to_bid_amount(Decimal("0.00001"), "JPY")
    assert mp.to_bid_amount(Decimal("0.00001"), "USD").bid_amount == 1


@pytest.mark.parametrize("price", ["0", "-0.05", "NaN"])
def test_a_price_must_be_positive(price):
    with pytest.raises(mp.MaxPriceError) as caught:
        mp.to_bid_amount(Decimal(price), "USD")
    assert caught.value.field == "price" and "positive" in caught.value.reason


def test_a_price_above_int32_is_refused_naming_the_highest():
    with pytest.raises(mp.MaxPriceError) as caught:
        mp.to_bid_amount(Decimal("21474.84"), "USD")
    assert "int32" in caught.value.reason and "21474.83647 USD per delivery" in caught.value.reason


@pytest.mark.parametrize("bid", [0, -1, 2**31, True, 5000.0])
def test_a_bid_amount_must_be_a_positive_int32(bid):
    with pytest.raises(mp.MaxPriceError) as caught:
        mp.from_bid_amount(bid, "USD")
    assert caught.value.field == "bid_amount"


def test_an_unknown_currency_names_the_currency_field():
    with pytest.raises(mp.MaxPriceError) as caught:
        mp.to_bid_amount(Decimal("0.05"), "XTS")
    assert caught.value.field == "currency" and "XTS" in caught.value.reason


def test_a_currency_meta_counts_in_whole_units_warns_that_the_unit_is_unconfirmed():
    assert mp.to_bid_amount(Decimal("0.05"), "USD").warnings == []
    (warning,) = mp.to_bid_amount(Decimal("1"), "IDR").warnings
    assert "UNCONFIRMED" in warning


# ---------------------------------------------------------------- the request body


def test_the_request_gives_bid_amount_or_price_not_both_nor_neither():
    for body in ({}, {"bid_amount": 5000, "price": "0.05", "currency": "USD"}):
        with pytest.raises(InvalidInput) as caught:
            convert(MaxPriceUpdate(**body), "USD")
        assert caught.value.errors[0][0] == "bid_amount"


def test_a_price_in_another_currency_than_the_wabas_is_refused():
    with pytest.raises(InvalidInput) as caught:
        convert(MaxPriceUpdate(price="0.87", currency="INR"), "USD")
    assert caught.value.errors == [
        ("currency", "the WABA is billed in USD, and bid_amount is counted in it: give the price in USD")
    ]


def test_a_price_needs_its_currency():
    with pytest.raises(InvalidInput) as caught:
        convert(MaxPriceUpdate(price="0.05"), "USD")
    assert caught.value.errors[0][0] == "currency" and "required" in caught.value.errors[0][1]


@pytest.mark.parametrize("price", ["0,05", "$0.05", "1e-2", ".05", "0.05 USD"])
def test_a_price_is_a_plain_decimal_string(price):
    with pytest.raises(ValueError, match="decimal string"):
        MaxPriceUpdate(price=price, currency="USD")


def test_only_the_bid_cap_strategy_is_accepted():
    with pytest.raises(ValueError, match="LOWEST_COST_WITH_BID_CAP"):
        MaxPriceUpdate(bid_amount=5000, bid_strategy="LOWEST_COST")


# ---------------------------------------------------------------- reach estimate


def test_countries_are_iso_alpha_2_uppercased_and_deduplicated():
    assert parse_countries("in, BR,in") == ["IN", "BR"]
    for bad in ("", "IND", "IN,XX", "UA-43"):
        with pytest.raises(InvalidInput) as caught:
            parse_countries(bad)
        assert caught.value.errors[0][0] == "countries"


def test_each_cost_bound_is_shown_per_delivery_from_metas_example():
    raw = {"bid_amount": 400, "users": 1000, "cost_lower_bound": 389.74, "cost_upper_bound": 390.74}
    estimate = estimate_of(raw, "USD")
    assert estimate.bid_price.display == "0.004 USD per delivery"
    assert estimate.cost_lower_price.amount == "0.0038974"
    assert estimate.cost_upper_price.display == "0.0039074 USD per delivery"
    assert estimate.deliveries_lower_bound is None  # left out by Meta: null, not invented


# ---------------------------------------------------------------- Meta's refusals


def graph_error(code: int, message: str, status: int | None = 400) -> GraphError:
    return GraphError(code=code, message=message, http_status=status)


def test_an_unsigned_agreement_is_a_conflict_with_the_way_out():
    exc = graph_error(100, "(#100) You need to sign the testing legal agreement to use this feature")
    error = max_price_refusal(exc, TEMPLATE, changing=True)
    assert isinstance(error, Conflict) and "max_price_agreements" in error.message


def test_adding_a_max_price_to_a_template_created_without_one_is_a_conflict():
    exc = graph_error(100, "Max price cannot be added to a template created without one")
    assert isinstance(max_price_refusal(exc, TEMPLATE, changing=True), Conflict)


def test_another_invalid_parameter_names_optimization_spec_and_other_failures_map_as_usual():
    error = max_price_refusal(graph_error(100, "(#100) Invalid parameter"), TEMPLATE, changing=True)
    assert isinstance(error, InvalidInput) and error.errors[0][0] == "optimization_spec"
    assert isinstance(max_price_refusal(graph_error(100, "x", 404), TEMPLATE), NotFound)
    assert isinstance(max_price_refusal(graph_error(190, "bad token", 401), TEMPLATE), UpstreamFailed)
