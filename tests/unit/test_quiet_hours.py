"""Quiet hours: a send window read in the recipient's time zones (libphonenumber's), every zone open."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from mmcore.campaigns.models import CampaignCreate
from mmcore.campaigns.windows import zones_of
from mmcore.meta.quiet_hours import SendWindow, next_opening, zones_of_country, zones_of_number

DAY = SendWindow.parse("09:00", "20:00")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_number_placed_in_one_zone_opens_at_its_local_start():
    assert zones_of_number("4915123456789") == ("Europe/Berlin",)
    # 07:00 in Berlin (UTC+1 in winter): the window opens at 09:00 local, 08:00 UTC
    assert next_opening(DAY, ["Europe/Berlin"], at(2026, 11, 30, 6, 0)) == at(2026, 11, 30, 8, 0)
    # inside the window: now
    assert next_opening(DAY, ["Europe/Berlin"], at(2026, 11, 30, 12, 34, 56)) == at(2026, 11, 30, 12, 34, 56)
    # 20:00 local is closed (end exclusive): the next morning
    assert next_opening(DAY, ["Europe/Berlin"], at(2026, 11, 30, 19, 0)) == at(2026, 12, 1, 8, 0)


def test_a_us_number_of_many_zones_waits_until_every_zone_is_open():
    zones = zones_of_number("18005551234")  # toll-free: libphonenumber knows only "somewhere in NANP"
    assert len(zones) >= 4 and {"America/New_York", "Pacific/Honolulu", "Pacific/Guam"} <= set(zones)
    opening = next_opening(DAY, zones, at(2026, 11, 30, 12, 0))
    assert opening == at(2026, 11, 30, 23, 0)  # 09:00 in Guam, 18:00 in New York, 13:00 in Honolulu
    for name in zones:
        assert time(9) <= opening.astimezone(ZoneInfo(name)).time() < time(20), name
    before = opening - timedelta(minutes=1)
    assert not all(time(9) <= before.astimezone(ZoneInfo(n)).time() < time(20) for n in zones)
    # a New York number is not held for Guam
    assert zones_of_number("12025550173") == ("America/New_York",)
    assert next_opening(DAY, zones_of_number("12025550173"), at(2026, 11, 30, 12, 0)) == at(
        2026, 11, 30, 14, 0
    )


def test_zones_that_never_share_an_open_minute_have_no_opening():
    zones = zones_of_number("79161234567")  # a Russian mobile: UTC+2 to UTC+12
    assert len(zones) > 10
    assert next_opening(DAY, zones, at(2026, 11, 30, 12, 0)) == at(2026, 12, 1, 7, 0)  # the one shared hour
    assert next_opening(SendWindow.parse("09:00", "17:00"), zones, at(2026, 11, 30, 12, 0)) is None


def test_a_window_may_cross_midnight():
    night = SendWindow.parse("22:00", "06:00")
    assert night.crosses_midnight
    assert [night.is_open(time(h, m)) for h, m in ((22, 0), (23, 59), (0, 0), (5, 59), (6, 0), (12, 0))] == [
        True, True, True, True, False, False,
    ]  # fmt: skip
    assert next_opening(night, ["Europe/Berlin"], at(2026, 11, 30, 12, 0)) == at(2026, 11, 30, 21, 0)
    assert next_opening(night, ["Europe/Berlin"], at(2026, 11, 30, 23, 0)) == at(2026, 11, 30, 23, 0)


def test_the_next_opening_follows_daylight_saving_changes():
    # Berlin springs forward on Sunday 2027-03-28: Saturday's 09:00 is 08:00 UTC, Sunday's 07:00 UTC
    assert next_opening(DAY, ["Europe/Berlin"], at(2027, 3, 27, 20, 0)) == at(2027, 3, 28, 7, 0)
    # New York falls back on Sunday 2026-11-01: 09:00 EST is 14:00 UTC, not 13:00 as on Saturday
    assert next_opening(DAY, ["America/New_York"], at(2026, 10, 31, 12, 0)) == at(2026, 10, 31, 13, 0)
    assert next_opening(DAY, ["America/New_York"], at(2026, 11, 1, 1, 0)) == at(2026, 11, 1, 14, 0)


def test_bsuids_are_placed_by_their_country_else_the_business_country():
    assert set(zones_of("US.13491208655302741918", "IN")) == set(zones_of_country("US"))
    assert "America/New_York" in zones_of_country("US")
    assert zones_of("user.9373795779eb", "IN") == ("Asia/Calcutta",)
    assert zones_of("919876543210", "DE") == ("Asia/Calcutta",)


@pytest.mark.parametrize(
    ("window", "reason"),
    [
        ({"start": "9:00", "end": "20:00"}, "not a time of day as HH:MM"),
        ({"start": "09:00", "end": "24:00"}, "not a time of day as HH:MM"),
        ({"start": "09:00", "end": "09:00"}, "start and end are equal"),
        ({"start": "09:00"}, "Field required"),
    ],
)
def test_a_bad_send_window_is_refused_naming_it(window, reason):
    body = {
        "name": "n",
        "template": {"name": "t", "language": {"code": "en_US"}},
        "recipients": ["919876543210"],
        "send_window": window,
    }
    with pytest.raises(ValidationError) as err:
        CampaignCreate.model_validate(body)
    (error,) = err.value.errors()
    assert error["loc"][0] == "send_window" and reason in error["msg"]


def test_send_at_needs_a_timezone_and_neither_it_nor_a_send_window_goes_with_hold():
    base = {"name": "n", "template": {"name": "t", "language": {"code": "en_US"}}}
    with pytest.raises(ValidationError, match="must include a timezone"):
        CampaignCreate.model_validate(
            {**base, "recipients": ["919876543210"], "send_at": "2030-01-01T09:00:00"}
        )
    with pytest.raises(ValidationError, match="send_window: not with hold"):
        CampaignCreate.model_validate(
            {**base, "recipients": ["1"], "send_window": {"start": "09:00", "end": "20:00"}, "hold": True}
        )
    with pytest.raises(ValidationError, match="send_at: not with hold"):
        CampaignCreate.model_validate(
            {**base, "recipients": ["919876543210"], "send_at": "2030-01-01T09:00:00Z", "hold": True}
        )
    timed = {"send_at": "2030-01-01T09:00:00Z", "send_window": {"start": "09:00", "end": "20:00"}}
    s3 = CampaignCreate.model_validate({**base, **timed, "audience": {"upload": True}})  # both go with S3
    assert s3.send_at is not None and s3.definition().send_window is not None
