"""Quiet hours: a campaign's ``send_window`` read in each recipient's local time.

The recipient's time zones come from libphonenumber's data (``phonenumbers.timezone``, the full package, not
``phonenumberslite``): a number gives one zone where its prefix places it (+1 212 -> New York) and every zone
of its country where it does not (a US toll-free number, a Russian or Australian mobile).

Business rules (documented in the README, "Quiet hours"):

- ALL zones: a message is sent only when the window is open in every zone its number may be in (the
  conservative reading: nobody is messaged at night). A Russian mobile (UTC+2 to +12) with 09:00-20:00 gets
  the hour 07:00-08:00 UTC, a +1 800 number (every NANP zone, Guam to Pago Pago) 23:00-23:30 UTC; a number
  whose zones never share an open minute (a Russian mobile with 09:00-17:00) has no opening
  (:func:`next_opening` answers None) and is not sent (``blocked``, reason ``no_send_window``).
- A BSUID (no phone number) is placed by its country prefix (``US.1349...``: every zone of the country's
  calling code, +1 being all of NANP); a number libphonenumber places nowhere (``Etc/Unknown``) by its
  country; an older ``user.`` BSUID with no country by the business's country (``BUSINESS_COUNTRY``).
- A window may cross midnight (``22:00``-``06:00``: open from 22:00 to 06:00 the next morning); ``start ==
  end`` is refused (empty or all day: leave ``send_window`` out to send at any hour). Bounds: start
  inclusive, end exclusive, to the minute.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as phone_zones
from phonenumbers.tzdata import TIMEZONE_DATA

__all__ = ["HORIZON_DAYS", "SendWindow", "next_opening", "zones_of_country", "zones_of_number"]

HHMM = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$")
HORIZON_DAYS = 8  # how far ahead an opening is looked for (a window opens daily: 2 days would do; DST slack)
_UNKNOWN = "Etc/Unknown"


def parse_hhmm(text: str) -> time:
    """``"09:30"`` -> 09:30; ValueError naming the expected form otherwise."""
    if not isinstance(text, str) or not HHMM.match(text):
        raise ValueError(f"{text!r} is not a time of day as HH:MM (00:00 to 23:59)")
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


@dataclass(frozen=True, slots=True)
class SendWindow:
    """The hours of the day, local to the recipient, when a campaign's messages may be sent."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("start and end are equal: leave send_window out to send at any hour")

    @classmethod
    def parse(cls, start: str, end: str) -> SendWindow:
        """A window from ``HH:MM`` strings (ValueError naming what is wrong)."""
        return cls(parse_hhmm(start), parse_hhmm(end))

    @property
    def crosses_midnight(self) -> bool:
        """``22:00``-``06:00``: open from start to midnight and from midnight to end."""
        return self.start > self.end

    def is_open(self, local: time) -> bool:
        """Whether a local time of day is inside the window (start inclusive, end exclusive)."""
        local = local.replace(second=0, microsecond=0, tzinfo=None)
        if self.crosses_midnight:
            return local >= self.start or local < self.end
        return self.start <= local < self.end

    def open_in_all(self, zones: Iterable[ZoneInfo], instant: datetime) -> bool:
        """Whether the window is open at ``instant`` in every zone."""
        return all(self.is_open(instant.astimezone(zone).time()) for zone in zones)


def zones_of_number(digits: str) -> tuple[str, ...]:
    """The time zones libphonenumber gives a number (E.164 digits); its country's when it gives none."""
    number = phonenumbers.parse("+" + digits, None)
    zones = tuple(z for z in phone_zones.time_zones_for_number(number) if z != _UNKNOWN)
    return zones or _calling_code_zones(number.country_code)


def zones_of_country(region: str) -> tuple[str, ...]:
    """Every time zone of a country's calling code (``US`` -> all of NANP's); () for an unknown country."""
    return _calling_code_zones(phonenumbers.country_code_for_region(region.upper()))


def _calling_code_zones(code: int) -> tuple[str, ...]:
    return tuple(z for z in TIMEZONE_DATA.get(str(code), ()) if z != _UNKNOWN) if code else ()


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def next_opening(window: SendWindow, zones: Iterable[str], now: datetime) -> datetime | None:
    """The first instant at or after ``now`` (aware) when the window is open in every zone: ``now`` itself
    when it is open now; None when no such instant comes within :data:`HORIZON_DAYS` (the zones never share
    an open minute). The answer is exact: an intersection of windows opens when one of them opens, so the
    candidates are ``now`` and each zone's local ``start`` on each day, converted with its DST rules."""
    tz = [_zone(name) for name in dict.fromkeys(zones)]
    if not tz:
        raise ValueError("no time zone to read the send window in")
    now = now.astimezone(UTC)
    if window.open_in_all(tz, now):
        return now
    candidates = sorted(
        {
            start
            for zone in tz
            for day in _days(now.astimezone(zone).date())
            if (start := _local(day, window.start, zone)) > now
        }
    )
    return next((c for c in candidates if window.open_in_all(tz, c)), None)


def _days(first: date) -> Iterable[date]:
    return (first + timedelta(days=n) for n in range(-1, HORIZON_DAYS))


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    """``at`` on ``day`` in ``zone`` as a UTC instant. A time a DST change skips (02:30 on a spring-forward
    day) is read with the offset before the change, i.e. an hour later on the new clock."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
