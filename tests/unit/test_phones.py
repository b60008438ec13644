"""mmcore.meta.phones: parsing recipient numbers, locating them, masking them."""

from __future__ import annotations

import dataclasses
import pickle

import phonenumbers
import pytest

from mmcore.meta import phones
from mmcore.meta.phones import (
    CRIMEA,
    DONETSK,
    LUHANSK,
    SEVASTOPOL,
    InvalidPhoneNumber,
    PhoneNumber,
    mask,
    parse_recipient,
)

# --- Given a number in any of the forms WhatsApp accepts, when parsed, then it has one canonical form ---


@pytest.mark.parametrize(
    "raw",
    [
        "919876543210",
        "+919876543210",
        "+91 98765 43210",
        "+91-98765-43210",
        "91.98765.43210",
        "(+91) 98765 43210",
        "  +91 (987) 654-3210  ",
        "+91\u00a098765\t43210",  # no-break space and tab, as spreadsheets export them
    ],
)
def test_given_formatted_number_when_parsed_then_digits_are_e164_without_plus(raw: str) -> None:
    number = parse_recipient(raw)

    assert number == PhoneNumber(digits="919876543210", region="IN", subdivision=None)
    assert number.e164 == "+919876543210"


def test_given_a_national_trunk_zero_after_the_country_code_when_parsed_then_it_is_dropped() -> None:
    # "+44 (0)20 ..." is a common way of writing UK numbers; libphonenumber normalizes it.
    assert parse_recipient("+44 (0)20 7946 0958").digits == "442079460958"


# --- Given numbers from around the world, when parsed, then the region comes from libphonenumber's data ---


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("+1 202 555 0173", "US"),  # Washington DC
        ("+1 212 555 0100", "US"),  # New York
        ("+1 416 555 0123", "CA"),  # Toronto: +1 but Canada
        ("+1 613 555 0100", "CA"),
        ("+1 787 555 0123", "PR"),  # Puerto Rico: +1 but its own region
        ("+1 939 555 0123", "PR"),
        ("+1 876 555 0123", "JM"),  # Jamaica
        ("+1 809 555 0123", "DO"),  # Dominican Republic, all three area codes
        ("+1 829 555 0123", "DO"),
        ("+1 849 555 0123", "DO"),
        ("+1 340 555 0123", "VI"),  # US Virgin Islands
        ("+1 671 555 0123", "GU"),  # Guam
        ("+53 5 123 4567", "CU"),
        ("+98 912 123 4567", "IR"),
        ("+850 2 123 4567", "KP"),
        ("+963 944 567 890", "SY"),
        ("+49 151 23456789", "DE"),
        ("+33 6 12 34 56 78", "FR"),
        ("+47 912 34 567", "NO"),
        ("+354 611 1234", "IS"),
        ("+41 78 123 45 67", "CH"),
        ("+44 7400 123456", "GB"),
        ("+44 7781 123456", "GG"),  # +44 but Guernsey
        ("+81 90 1234 5678", "JP"),
        ("+82 10 1234 5678", "KR"),
        ("+7 916 123 4567", "RU"),
        ("+380 44 123 4567", "UA"),
    ],
)
def test_given_number_when_parsed_then_region_is_from_libphonenumber(raw: str, region: str) -> None:
    number = parse_recipient(raw)

    assert number.region == region
    assert number.subdivision is None


# --- Given a number from Crimea, Sevastopol, Donetsk or Luhansk ranges, then the subdivision is set ---


@pytest.mark.parametrize(
    ("raw", "region", "subdivision"),
    [
        # Ukrainian fixed-line area codes
        ("+380 652 123456", "UA", CRIMEA),  # Simferopol
        ("+380 654 123456", "UA", CRIMEA),  # Yalta
        ("+380 692 123456", "UA", SEVASTOPOL),
        ("+380 622 123456", "UA", DONETSK),
        ("+380 642 123456", "UA", LUHANSK),
        # operators of the occupied areas on +380
        ("+380 71 123 4567", "UA", DONETSK),  # Phoenix
        ("+380 72 123 4567", "UA", LUHANSK),  # Lugacom
        # Russian-assigned ranges: libphonenumber says RU, the subdivision still says where they are
        ("+7 365 212 3456", "RU", CRIMEA),
        ("+7 869 212 3456", "RU", SEVASTOPOL),
        ("+7 978 123 4567", "RU", CRIMEA),
        ("+7 949 123 4567", "RU", DONETSK),
        ("+7 959 123 4567", "RU", LUHANSK),
    ],
)
def test_given_number_in_known_region_range_when_parsed_then_subdivision_is_set(
    raw: str, region: str, subdivision: str
) -> None:
    number = parse_recipient(raw)

    assert (number.region, number.subdivision) == (region, subdivision)


@pytest.mark.parametrize(
    "raw",
    [
        "+380 44 123 4567",  # Kyiv
        "+380 50 123 4567",  # Ukrainian mobile: cannot be located
        "+380 63 123 4567",  # lifecell mobile, starts with 6 like the fixed-line codes
        "+380 61 212 3456",  # Zaporizhzhia fixed line
        "+7 495 123 4567",  # Moscow
        "+7 862 212 3456",  # Sochi: 86x but not 869
    ],
)
def test_given_number_outside_those_ranges_when_parsed_then_no_subdivision(raw: str) -> None:
    assert parse_recipient(raw).subdivision is None


def test_given_libphonenumber_stops_listing_a_region_range_as_valid_when_parsed_then_it_is_still_located(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given: metadata that no longer considers any number valid (as could happen to +380 71/72)
    monkeypatch.setattr(phones.phonenumbers, "is_valid_number", lambda _number: False)

    # When / Then: a number in a known range is still recognised, with its country from the calling code
    assert parse_recipient("+380 71 123 4567") == PhoneNumber("380711234567", "UA", DONETSK)
    assert parse_recipient("+7 365 212 3456") == PhoneNumber("73652123456", "RU", CRIMEA)
    # and anything else is rejected as usual
    with pytest.raises(InvalidPhoneNumber, match="not a valid phone number"):
        parse_recipient("+380 44 123 4567")


# --- Given an unusable number, when parsed, then InvalidPhoneNumber says which field and why ---


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("()-", "empty"),
        ("+", "empty"),
        (None, "empty"),
        (919876543210, "not a string"),
        ("12", "too short"),
        ("+1 2", "too short"),
        ("+123", "too short"),
        ("+91 12", "too short"),
        ("+91 98765 4321 0123 4567", "too long"),
        ("1234567890123456", "too long"),
        ("+91 98765 abcde", "contains letters"),
        ("1-800-FLOWERS", "contains letters"),
        ("+1 202 555 0173 ext 12", "contains letters"),
        ("+1 202 555 0173 x12", "contains letters"),
        ("+91 98765#43210", "contains characters other than digits"),
        ("+91/98765/43210", "contains characters other than digits"),
        ("91+9876543210", "'+' is only allowed before the country code"),
        ("++919876543210", "'+' is only allowed before the country code"),
        ("+999 123 456 789", "unknown country code"),
        ("0044 20 7946 0958", "unknown country code"),  # '00' is a dialling prefix, not part of the number
        ("+1 555 123 4567", "not a valid phone number for any country"),  # no such area code
        ("+1 268 555 1234", "not a valid phone number for any country"),
    ],
)
def test_given_unusable_number_when_parsed_then_invalid_with_reason(raw: object, reason: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as caught:
        parse_recipient(raw)  # type: ignore[arg-type]

    assert caught.value.reason.startswith(reason)
    assert caught.value.field == "to"
    assert isinstance(caught.value, ValueError)
    assert str(caught.value) == f"to: {caught.value.reason}"


def test_given_a_field_name_when_the_number_is_invalid_then_the_error_names_that_field() -> None:
    with pytest.raises(InvalidPhoneNumber) as caught:
        parse_recipient("not a number", field="recipients[3].phone")

    assert caught.value.field == "recipients[3].phone"
    assert str(caught.value) == "recipients[3].phone: contains letters"


def test_given_an_invalid_phone_number_error_when_pickled_then_field_and_reason_survive() -> None:
    error = pickle.loads(pickle.dumps(InvalidPhoneNumber("too short", field="phone")))

    assert (error.reason, error.field, str(error)) == ("too short", "phone", "phone: too short")


def test_given_a_phone_number_then_it_is_frozen() -> None:
    number = parse_recipient("+919876543210")

    with pytest.raises(dataclasses.FrozenInstanceError):
        number.digits = "1"  # type: ignore[misc]


def test_the_region_ranges_are_all_numbers_libphonenumber_knows_the_country_code_of() -> None:
    # A typo in the table (e.g. a country code that does not exist) would silently never match.
    for code, prefix, subdivision in phones._SUBDIVISION_RANGES:
        assert phonenumbers.region_code_for_country_code(code) in {"UA", "RU"}
        assert prefix.isdigit()
        assert subdivision in {CRIMEA, SEVASTOPOL, DONETSK, LUHANSK}


# --- mask() for logs ---


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("919876543210", "9198******10"),
        ("+91 98765 43210", "9198******10"),
        ("12025550173", "1202*****73"),
        ("1234567", "1234*67"),
        ("123456", "******"),  # too short to show any of it
        ("12", "***"),
        ("", "***"),
        ("garbage", "*******"),
        ("x" * 1000, "*" * 16),  # garbage never floods a log line
        (None, "***"),
        (919876543210, "9198******10"),
    ],
)
def test_given_value_when_masked_then_only_first_four_and_last_two_digits_show(
    value: object, masked: str
) -> None:
    assert mask(value) == masked  # type: ignore[arg-type]


def test_given_an_object_whose_str_fails_when_masked_then_mask_does_not_raise() -> None:
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("boom")

    assert mask(Broken()) == "***"  # type: ignore[arg-type]
