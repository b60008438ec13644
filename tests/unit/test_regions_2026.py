"""The region table as Meta has it since 2026-05-21 (meta-2026-updates section 2, [START]): Venezuela sanctioned,
Nigeria and South Africa with the EEA/UK/Japan/South Korea, Belarus with Russia, no max price for recipients in
Russia and Belarus; and the operator's override (mmcore.meta.overrides), validated then applied by date."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from mmcore.meta.overrides import InvalidOverride, apply, parse_override
from mmcore.meta.regions import RULES, evaluate

BEFORE, ON = dt.date(2026, 5, 20), dt.date(2026, 5, 21)
NO_OPTIMIZATION = frozenset({"delivery_optimization", "click_reporting", "conversion_reporting"})
REPORTING = frozenset({"click_reporting", "conversion_reporting"})
VE, NG, ZA, BY, RU = (
    "+58 412 123 4567",
    "+234 803 123 4567",
    "+27 82 123 4567",
    "+375 29 123 4567",
    "+7 916 123 4567",
)

# --- Venezuela: sanctioned from 2026-05-21 ---


def test_given_a_venezuelan_recipient_from_2026_05_21_then_blocked_as_sanctioned() -> None:
    verdict = evaluate(VE, "IN", ON)

    assert (verdict.allowed, verdict.reason, verdict.recipient_country) == (
        False,
        "sanctioned_recipient",
        "VE",
    )
    assert verdict.message == "Users in Venezuela cannot receive messages from the WhatsApp Business Platform"
    assert evaluate(VE, "IN", BEFORE).allowed  # the Feb 2026 copy of Meta's table did not list it


def test_given_a_venezuelan_business_then_every_recipient_is_blocked() -> None:
    verdict = evaluate("919876543210", "VE", ON)

    assert (verdict.allowed, verdict.reason) == (False, "sanctioned_business")
    assert verdict.message == "Businesses in Venezuela cannot use the WhatsApp Business Platform"


# --- Nigeria and South Africa: no optimization, no click or conversion metrics from 2026-05-21 ---


@pytest.mark.parametrize(("number", "country"), [(NG, "NG"), (ZA, "ZA")])
def test_given_a_nigerian_or_south_african_recipient_then_optimization_and_metrics_off_from_2026_05_21(
    number: str, country: str
) -> None:
    verdict = evaluate(number, "IN", ON)

    assert (verdict.allowed, verdict.recipient_country) == (True, country)
    assert verdict.disabled_features == NO_OPTIMIZATION
    assert evaluate(number, "IN", BEFORE).disabled_features == frozenset()


@pytest.mark.parametrize("business", ["NG", "ZA"])
def test_given_a_business_in_nigeria_or_south_africa_then_optimization_and_metrics_off(business: str) -> None:
    assert evaluate("919876543210", business, ON).disabled_features == NO_OPTIMIZATION
    assert evaluate("919876543210", business, BEFORE).disabled_features == frozenset()


def test_max_price_is_not_turned_off_for_the_eea_group_since_meta_does_not_say_so() -> None:
    # Whether max price applies to recipients in the EEA/NG/ZA group is UNCONFIRMED (meta-2026-updates §2).
    assert "max_price" not in evaluate("+49 151 23456789", "IN", ON).disabled_features


# --- Belarus: with Russia (its dates), and no max price for recipients there ---


@pytest.mark.parametrize(("number", "country"), [(BY, "BY"), (RU, "RU")])
def test_given_a_recipient_in_belarus_or_russia_then_no_click_metrics_and_no_max_price(
    number: str, country: str
) -> None:
    verdict = evaluate(number, "IN", ON)

    assert (verdict.allowed, verdict.recipient_country) == (True, country)
    assert verdict.disabled_features == REPORTING | {"max_price"}
    assert (
        "delivery_optimization" not in verdict.disabled_features
    )  # only the business's country turns it off
    # Max price was dated by the [START] copy that first says so; click metrics off since 2025-06-20.
    assert evaluate(number, "IN", BEFORE).disabled_features == REPORTING


@pytest.mark.parametrize(
    ("on", "allowed", "disabled"),
    [(dt.date(2025, 6, 19), False, frozenset()), (dt.date(2025, 6, 20), True, NO_OPTIMIZATION)],
)
def test_given_a_business_in_belarus_then_it_follows_russias_dates(
    on: dt.date, allowed: bool, disabled: frozenset[str]
) -> None:
    verdict = evaluate("919876543210", "BY", on)

    assert (verdict.allowed, verdict.disabled_features) == (allowed, disabled)
    if not allowed:
        assert (
            verdict.message
            == "The Marketing Messages API is not available to businesses in Belarus before 2025-06-20"
        )


def test_every_new_entry_keeps_its_source_and_effective_date() -> None:
    members = {(rule.name, m.place): m for rule in RULES for m in rule.members}
    for key in [("sanctioned", "VE"), ("no_optimization", "NG"), ("no_optimization", "ZA")]:
        assert members[key].since == ON
        assert "May 21, 2026" in members[key].source
    assert "May 21, 2026" in members[("russia_belarus", "BY")].source


# --- The override: validated, then applied from its effective date ---


def override(**rules: dict[str, list[str]]) -> str:
    return json.dumps({"rules": rules, "source": "ops ticket 4711", "effective": "2026-12-01"})


def test_an_override_moves_a_country_between_rules_from_its_effective_date() -> None:
    # Given Japan moved out of the no-optimization rule and Argentina made sanctioned, from 2026-12-01
    text = override(no_optimization={"remove": ["JP"]}, sanctioned={"add": ["ar"]})
    rules = apply(parse_override(text))
    japan, argentina = "+81 90 1234 5678", "+54 9 11 2345 6789"
    # Then the built-in table answers before that date, the changed one from it
    assert evaluate(japan, "IN", dt.date(2026, 11, 30), rules).disabled_features == NO_OPTIMIZATION
    assert evaluate(japan, "IN", dt.date(2026, 12, 1), rules).disabled_features == frozenset()
    assert evaluate(argentina, "IN", dt.date(2026, 11, 30), rules).allowed
    assert evaluate(argentina, "IN", dt.date(2026, 12, 1), rules).reason == "sanctioned_recipient"
    # And the built-in table is unchanged
    assert evaluate(argentina, "IN", dt.date(2026, 12, 1)).allowed


def test_an_override_adding_what_the_table_already_has_keeps_the_built_in_entry() -> None:
    rules = apply(parse_override(override(sanctioned={"add": ["VE"]})))
    venezuela = [m for r in rules if r.name == "sanctioned" for m in r.members if m.place == "VE"]

    assert [(m.origin, m.since) for m in venezuela] == [("built-in", ON)]


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        (override(sanctionned={"add": ["VE"]}), "rules.sanctionned", "unknown rule"),
        (override(sanctioned={"add": ["VE", "VX"]}), "rules.sanctioned.add.1", "'VX' is not an ISO 3166-1"),
        (override(sanctioned={"add": ["Venezuela"]}), "rules.sanctioned.add.0", "not an ISO 3166-1"),
        (override(us={"remove": ["CA"]}), "rules.us.remove.0", "CA is not in rule us"),
        (override(us={"add": ["PR"], "remove": ["PR"]}), "rules.us", "both added and removed"),
        (override(us={"add": ["PR", "PR"]}), "rules.us.add", "twice"),
        (override(us={"drop": ["US"]}), "rules.us.drop", "Extra inputs"),
        (override(), "rules", "at least 1"),
        ('{"rules": {"us": {"add": ["PR"]}}, "source": "x", "effective": "2026-02-30"}', "effective", "date"),
        ('{"rules": {"us": {"add": ["PR"]}}, "source": "x", "effective": 20261201}', "effective", "date"),
        ('{"rules": {"us": {"add": ["PR"]}}, "effective": "2026-12-01"}', "source", "required"),
        (
            '{"rules": {"us": {"add": ["PR"]}}, "source": "", "effective": "2026-12-01"}',
            "source",
            "at least 1",
        ),
        ('{"rules": {"us": {"add": ["PR"]}', "(document)", "not valid JSON"),
        ("[]", "(document)", "object"),
    ],
)
def test_a_bad_override_is_refused_naming_the_field(text: str, field: str, reason: str) -> None:
    with pytest.raises(InvalidOverride) as raised:
        parse_override(text)

    assert any(f == field and reason in r for f, r in raised.value.errors), raised.value.errors
    assert field in str(raised.value)
