"""mmcore.meta.regions: Meta's geographic rules evaluated for (recipient, business country, date)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from mmcore.meta.phones import parse_recipient
from mmcore.meta.regions import (
    ALL_FEATURES,
    EEA,
    PRIVACY_RESTRICTED,
    RULES,
    US_BLOCKED,
    US_MESSAGE,
    Feature,
    Verdict,
    evaluate,
    normalize_business_country,
)

NONE: frozenset[str] = frozenset()
ALL = frozenset({"delivery_optimization", "click_reporting", "conversion_reporting"})
REPORTING = frozenset({"click_reporting", "conversion_reporting"})

TODAY = dt.date(2025, 9, 1)  # after every dated rule took effect

# --- Given a recipient, a business in India, and a date after all rules took effect ---


@pytest.mark.parametrize(
    ("recipient", "country", "disabled"),
    [
        ("919876543210", "IN", NONE),  # the seeds' number
        ("+1 416 555 0123", "CA", NONE),  # Canada is +1 but not the US
        ("+1 787 555 0123", "PR", NONE),  # Puerto Rico: not treated as the US (UNCONFIRMED at Meta)
        ("+1 939 555 0123", "PR", NONE),
        ("+1 340 555 0123", "VI", NONE),  # US Virgin Islands: same choice as Puerto Rico
        ("+1 876 555 0123", "JM", NONE),  # Caribbean +1
        ("+1 809 555 0123", "DO", NONE),
        ("+380 44 123 4567", "UA", NONE),  # Kyiv
        ("+380 50 123 4567", "UA", NONE),  # Ukrainian mobile: cannot be located, so not blocked
        ("+41 78 123 45 67", "CH", NONE),  # Switzerland is not in the EEA
        ("+86 138 0013 8000", "CN", NONE),
        ("+49 151 23456789", "DE", ALL),
        ("+33 6 12 34 56 78", "FR", ALL),
        ("+47 912 34 567", "NO", ALL),
        ("+354 611 1234", "IS", ALL),
        ("+44 7400 123456", "GB", ALL),
        ("+44 7781 123456", "GG", ALL),  # Guernsey shares +44: counted with the UK
        ("+358 18 123 4567", "AX", ALL),  # Aland is part of Finland and the EU
        ("+81 90 1234 5678", "JP", ALL),
        ("+82 10 1234 5678", "KR", ALL),
        ("+7 916 123 4567", "RU", REPORTING),
        ("+7 495 123 4567", "RU", REPORTING),
    ],
)
def test_given_allowed_recipient_when_evaluated_then_allowed_with_the_features_off(
    recipient: str, country: str, disabled: frozenset[str]
) -> None:
    verdict = evaluate(recipient, "IN", TODAY)

    assert verdict.allowed
    assert (verdict.code, verdict.reason, verdict.message) == (None, "", "")
    assert verdict.recipient_country == country
    assert verdict.disabled_features == disabled


def test_given_the_seeds_number_when_evaluated_then_the_whole_verdict_is_as_expected() -> None:
    assert evaluate("919876543210", "IN", TODAY) == Verdict(
        allowed=True,
        code=None,
        reason="",
        message="",
        recipient_country="IN",
        recipient_digits="919876543210",
        disabled_features=frozenset(),
    )


# --- US recipients: blocked with 131049 from 2025-04-01 ---


@pytest.mark.parametrize("recipient", ["+1 202 555 0173", "12125550100", "+1 (415) 555-0132"])
@pytest.mark.parametrize("on", [dt.date(2025, 4, 1), dt.date(2026, 1, 1)])
def test_given_us_recipient_on_or_after_2025_04_01_when_evaluated_then_blocked_with_131049(
    recipient: str, on: dt.date
) -> None:
    verdict = evaluate(recipient, "IN", on)

    assert not verdict.allowed
    assert verdict.code == 131049
    assert verdict.reason == "us_recipient"
    assert verdict.message == "Marketing messages to users in the United States are not supported"
    assert verdict.recipient_country == "US"
    assert verdict.recipient_digits == parse_recipient(recipient).digits
    assert verdict.disabled_features == frozenset()


def test_given_us_recipient_on_2025_03_31_when_evaluated_then_allowed() -> None:
    verdict = evaluate("+1 202 555 0173", "IN", dt.date(2025, 3, 31))

    assert verdict.allowed
    assert verdict.code is None
    assert verdict.recipient_country == "US"


def test_given_a_us_business_when_messaging_outside_the_us_then_allowed() -> None:
    # The recipient's number decides, not the business's country.
    assert evaluate("919876543210", "US", TODAY).allowed


def test_us_territories_are_a_one_line_decision() -> None:
    # Puerto Rico and the other territories stay out until Meta confirms (reference section 7: UNCONFIRMED).
    assert frozenset({"US"}) == US_BLOCKED
    assert US_MESSAGE == "Marketing messages to users in the United States are not supported"


# --- Sanctioned places: always blocked, for recipients and businesses ---


@pytest.mark.parametrize(
    ("recipient", "country", "place_name"),
    [
        ("+53 5 123 4567", "CU", "Cuba"),
        ("+98 912 123 4567", "IR", "Iran"),
        ("+850 2 123 4567", "KP", "North Korea"),
        ("+963 944 567 890", "SY", "Syria"),
        # Crimea, Sevastopol, Donetsk, Luhansk: Ukrainian fixed-line codes
        ("+380 652 123456", "UA", "Crimea"),
        ("+380 692 123456", "UA", "Sevastopol"),
        ("+380 622 123456", "UA", "Donetsk"),
        ("+380 642 123456", "UA", "Luhansk"),
        # operators of the occupied areas
        ("+380 71 123 4567", "UA", "Donetsk"),
        ("+380 72 123 4567", "UA", "Luhansk"),
        # Russian-assigned ranges (libphonenumber: RU)
        ("+7 365 212 3456", "RU", "Crimea"),
        ("+7 869 212 3456", "RU", "Sevastopol"),
        ("+7 978 123 4567", "RU", "Crimea"),
        ("+7 949 123 4567", "RU", "Donetsk"),
        ("+7 959 123 4567", "RU", "Luhansk"),
    ],
)
@pytest.mark.parametrize("on", [dt.date(2020, 1, 1), TODAY])
def test_given_sanctioned_recipient_when_evaluated_then_always_blocked(
    recipient: str, country: str, place_name: str, on: dt.date
) -> None:
    verdict = evaluate(recipient, "IN", on)

    assert not verdict.allowed
    assert verdict.reason == "sanctioned_recipient"
    assert verdict.code is None
    assert place_name in verdict.message
    assert verdict.recipient_country == country


@pytest.mark.parametrize(
    "business", ["CU", "IR", "KP", "SY", "ir", " sy ", "UA-43", "UA-40", "ua-14", "UA-09"]
)
@pytest.mark.parametrize("on", [dt.date(2020, 1, 1), TODAY])
def test_given_sanctioned_business_when_evaluated_then_blocked_for_every_recipient(
    business: str, on: dt.date
) -> None:
    verdict = evaluate("919876543210", business, on)

    assert not verdict.allowed
    assert verdict.reason == "sanctioned_business"
    assert verdict.message.startswith("Businesses in ")
    assert verdict.recipient_digits == "919876543210"


def test_given_sanctioned_business_and_us_recipient_then_the_business_reason_wins() -> None:
    # Business-level blocks come first: they stop the whole campaign, which is what the caller must see.
    assert evaluate("+1 202 555 0173", "IR", TODAY).reason == "sanctioned_business"


# --- EEA, UK, Japan, South Korea businesses: allowed, the three features off ---


@pytest.mark.parametrize("business", ["DE", "FR", "NO", "IS", "LI", "GB", "JP", "KR", "de", "gb"])
def test_given_business_in_privacy_restricted_country_when_evaluated_then_all_three_features_off(
    business: str,
) -> None:
    verdict = evaluate("919876543210", business, TODAY)

    assert verdict.allowed
    assert verdict.disabled_features == ALL


def test_given_swiss_business_when_evaluated_then_nothing_is_off() -> None:
    assert evaluate("919876543210", "CH", TODAY).disabled_features == frozenset()


def test_the_eea_is_listed_explicitly() -> None:
    assert len(EEA) == 30  # EU-27 + IS, LI, NO
    assert {"IS", "LI", "NO", "DE", "FR", "IE", "CY", "MT"} <= EEA
    assert "CH" not in EEA and "GB" not in EEA
    assert EEA | {"GB", "JP", "KR"} <= PRIVACY_RESTRICTED
    assert "CH" not in PRIVACY_RESTRICTED


# --- Russia: the 2025-06-20 boundary ---


@pytest.mark.parametrize(
    ("on", "allowed", "reason", "disabled"),
    [
        (dt.date(2025, 1, 1), False, "business_country_unavailable", NONE),
        (dt.date(2025, 6, 19), False, "business_country_unavailable", NONE),
        (dt.date(2025, 6, 20), True, "", ALL),
        (dt.date(2026, 1, 1), True, "", ALL),
    ],
)
def test_given_business_in_russia_when_evaluated_then_unavailable_before_2025_06_20_and_restricted_after(
    on: dt.date, allowed: bool, reason: str, disabled: frozenset[str]
) -> None:
    verdict = evaluate("919876543210", "RU", on)

    assert (verdict.allowed, verdict.reason, verdict.disabled_features) == (allowed, reason, disabled)
    if not allowed:
        assert (
            verdict.message
            == "The Marketing Messages API is not available to businesses in Russia before 2025-06-20"
        )


@pytest.mark.parametrize(
    ("on", "disabled"),
    [
        (dt.date(2025, 6, 19), NONE),  # still allowed: only the business side was unavailable
        (dt.date(2025, 6, 20), REPORTING),
    ],
)
def test_given_recipient_in_russia_when_evaluated_then_reporting_off_from_2025_06_20(
    on: dt.date, disabled: frozenset[str]
) -> None:
    verdict = evaluate("+7 916 123 4567", "IN", on)

    assert verdict.allowed
    assert verdict.recipient_country == "RU"
    assert verdict.disabled_features == disabled


def test_given_russian_business_and_german_recipient_then_the_features_off_are_the_union() -> None:
    assert evaluate("+49 151 23456789", "RU", TODAY).disabled_features == ALL
    assert evaluate("+7 916 123 4567", "DE", TODAY).disabled_features == ALL


# --- Invalid numbers never raise from evaluate ---


@pytest.mark.parametrize(
    ("recipient", "message"),
    [
        ("", "empty"),
        ("12", "too short"),
        ("+91 98765 abcde", "contains letters"),
        ("+999 123 456 789", "unknown country code"),
        ("+1 555 123 4567", "not a valid phone number for any country"),
        (None, "empty"),
    ],
)
def test_given_invalid_number_when_evaluated_then_blocked_with_the_parse_reason(
    recipient: object, message: str
) -> None:
    verdict = evaluate(recipient, "IN", TODAY)  # type: ignore[arg-type]

    assert not verdict.allowed
    assert verdict.reason == "invalid_number"
    assert verdict.message == message
    assert verdict.code is None
    assert verdict.recipient_country is None
    assert verdict.recipient_digits is None


# --- The business country is validated ---


@pytest.mark.parametrize("business", ["ZZ", "", "DEU", "U", "UK", "EU", "UA-30", None, 49])
def test_given_unknown_business_country_when_evaluated_then_value_error_names_business_country(
    business: object,
) -> None:
    with pytest.raises(ValueError, match="business_country"):
        evaluate("919876543210", business, TODAY)  # type: ignore[arg-type]


@pytest.mark.parametrize(("raw", "code"), [("in", "IN"), (" gb ", "GB"), ("XK", "XK"), ("aq", "AQ")])
def test_given_business_country_in_any_case_when_normalized_then_uppercase_iso_code(
    raw: str, code: str
) -> None:
    assert normalize_business_country(raw) == code


# --- Inputs and outputs ---


def test_given_a_datetime_instead_of_a_date_when_evaluated_then_its_date_is_used() -> None:
    assert evaluate("+1 202 555 0173", "IN", dt.datetime(2025, 3, 31, 23, 59)).allowed
    assert not evaluate("+1 202 555 0173", "IN", dt.datetime(2025, 4, 1, 0, 0)).allowed


def test_given_an_already_parsed_number_when_evaluated_then_same_verdict_as_raw() -> None:
    number = parse_recipient("+49 151 23456789")

    assert evaluate(number, "IN", TODAY) == evaluate("+49 151 23456789", "IN", TODAY)


def test_feature_names_are_plain_strings() -> None:
    assert Feature.DELIVERY_OPTIMIZATION == "delivery_optimization"
    assert Feature.CLICK_REPORTING == "click_reporting"
    assert Feature.CONVERSION_REPORTING == "conversion_reporting"
    assert Feature.MAX_PRICE == "max_price"
    assert ALL | {"max_price"} == ALL_FEATURES
    assert all(type(feature) is str for feature in ALL_FEATURES)
    assert Feature.CLICK_REPORTING in evaluate("+7 916 123 4567", "IN", TODAY).disabled_features


def test_verdict_is_frozen() -> None:
    verdict = evaluate("919876543210", "IN", TODAY)

    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.allowed = False  # type: ignore[misc]


def test_every_rule_uses_the_feature_vocabulary_and_a_known_party() -> None:
    for rule in RULES:
        assert rule.source and rule.members and rule.effects
        for effect in rule.effects:
            assert effect.party in {"recipient", "business"}
            assert effect.disables <= ALL_FEATURES
            assert bool(effect.block) != bool(effect.disables)  # either blocks or turns features off
        assert all(member.source for member in rule.members)  # every place says where it comes from
