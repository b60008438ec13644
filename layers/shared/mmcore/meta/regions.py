"""Meta's geographic rules for marketing messages, as data with effective dates.

``evaluate(recipient, business_country, on)`` answers: may this message be sent, and if so, which MM API
features are off. Sources: design.md "Region rules" and the MM API reference, section 7 "Geographic rules"
(Meta's get-started, support "Country restrictions", pricing "Country calling codes" and changelog pages).

Places are ISO 3166-1 alpha-2 country codes as libphonenumber reports them for the recipient's number, or the
ISO 3166-2 codes of Crimea, Sevastopol, Donetsk and Luhansk (see ``mmcore.meta.phones`` for how a number is placed
there, best effort).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Literal

import phonenumbers

from mmcore.meta.phones import (
    CRIMEA,
    DONETSK,
    LUHANSK,
    SEVASTOPOL,
    InvalidPhoneNumber,
    PhoneNumber,
    parse_recipient,
)

__all__ = [
    "ALL_FEATURES",
    "EEA",
    "PRIVACY_RESTRICTED",
    "RULES",
    "SANCTIONED",
    "US_BLOCKED",
    "US_MESSAGE",
    "Feature",
    "Rule",
    "Verdict",
    "evaluate",
    "normalize_business_country",
]


class Feature(StrEnum):
    """MM API features a rule can turn off (values are the plain strings found in ``disabled_features``)."""

    DELIVERY_OPTIMIZATION = "delivery_optimization"
    CLICK_REPORTING = "click_reporting"
    CONVERSION_REPORTING = "conversion_reporting"


ALL_FEATURES: frozenset[str] = frozenset(f.value for f in Feature)
_REPORTING: frozenset[str] = frozenset({Feature.CLICK_REPORTING.value, Feature.CONVERSION_REPORTING.value})

US_MESSAGE = "Marketing messages to users in the United States are not supported"

# "+1 and a US area code" is whatever libphonenumber calls US. Puerto Rico (+1 787/939), the US Virgin
# Islands, Guam, American Samoa and the Northern Mariana Islands have their own region codes, and Meta's
# pricing table puts Puerto Rico in "Rest of Latin America", not "United States"; whether the marketing block
# covers them is UNCONFIRMED (reference section 7), so they are NOT blocked. If Meta confirms, this is the
# one line to change: frozenset({"US", "PR", "VI", "GU", "AS", "MP"}).
US_BLOCKED = frozenset({"US"})

SANCTIONED = frozenset({"CU", "IR", "KP", "SY", CRIMEA, SEVASTOPOL, DONETSK, LUHANSK})

# EU-27 plus Iceland, Liechtenstein and Norway. Switzerland is not in the EEA.
EEA = frozenset(
    {
        *("AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE"),
        *("IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"),
        *("IS", "LI", "NO"),
    }
)

# Where the "no delivery optimization, no click/conversion metrics" rule applies: the EEA, the UK, Japan,
# South Korea. Meta does not say how it maps a number to the EEA; it prices by country calling code, so the
# places libphonenumber splits off a member's calling code are included too (turning reporting off is the
# safe mistake): Aland (+358), the French overseas departments and collectivities on +590/+262/+594/+596,
# Svalbard (+47), the Vatican (+39), and Guernsey, Jersey and the Isle of Man (+44).
PRIVACY_RESTRICTED = (
    EEA
    | {"GB", "JP", "KR"}
    | {"AX", "GP", "BL", "MF", "RE", "YT", "GF", "MQ", "SJ", "VA"}  # share an EEA member's calling code
    | {"GG", "JE", "IM"}  # share the UK's +44
)

Party = Literal["recipient", "business"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One line of the rules table.

    It applies when ``party``'s place is in ``places`` and ``since <= on < until`` (None = unbounded).
    A rule with ``block`` (a reason slug) stops the message, with ``code`` if Meta has one; the first such
    rule in ``RULES`` order wins. A rule without ``block`` turns ``disables`` off.
    """

    party: Party
    places: frozenset[str]
    since: dt.date | None = None
    until: dt.date | None = None
    block: str | None = None
    code: int | None = None
    disables: frozenset[str] = frozenset()

    def active(self, on: dt.date) -> bool:
        """Whether the rule is in force on ``on``."""
        return (self.since is None or on >= self.since) and (self.until is None or on < self.until)


_RUSSIA = frozenset({"RU"})
_RUSSIA_OPENS = dt.date(2025, 6, 20)

# Order matters: the first blocking rule that applies gives the reason. Business-level blocks come first
# because they stop every recipient of the campaign.
RULES: tuple[Rule, ...] = (
    # [SUP][MM-START][MM-ONB]: businesses in sanctioned places cannot onboard or use the platform.
    Rule("business", SANCTIONED, block="sanctioned_business"),
    # [MM-START][MM-CL]: MM API opened to businesses in Russia on 2025-06-20.
    Rule("business", _RUSSIA, until=_RUSSIA_OPENS, block="business_country_unavailable"),
    # [SUP]: users in sanctioned places cannot receive messages from the platform.
    Rule("recipient", SANCTIONED, block="sanctioned_recipient"),
    # [MM-START][PUL]: from 2025-04-01 marketing templates to US numbers are not delivered: error 131049.
    Rule("recipient", US_BLOCKED, since=dt.date(2025, 4, 1), block="us_recipient", code=131049),
    # [MM-START][PUL]: business phone number or consumer in the EEA, the UK, Japan or South Korea.
    Rule("business", PRIVACY_RESTRICTED, disables=ALL_FEATURES),
    Rule("recipient", PRIVACY_RESTRICTED, disables=ALL_FEATURES),
    # [MM-START][MM-CL]: from 2025-06-20, businesses in Russia: no delivery optimization, and messages from or
    # to Russian numbers: no click or conversion metrics (design.md: business in Russia -> all three off).
    Rule("business", _RUSSIA, since=_RUSSIA_OPENS, disables=ALL_FEATURES),
    Rule("recipient", _RUSSIA, since=_RUSSIA_OPENS, disables=_REPORTING),
)

# Human text for each blocking reason; {place} is the place's name.
_MESSAGES = {
    "sanctioned_business": "Businesses in {place} cannot use the WhatsApp Business Platform",
    "business_country_unavailable": "The Marketing Messages API is not available to businesses in {place} "
    "before 2025-06-20",
    "sanctioned_recipient": "Users in {place} cannot receive messages from the WhatsApp Business Platform",
    "us_recipient": US_MESSAGE,
}
_PLACE_NAMES = {
    "CU": "Cuba",
    "IR": "Iran",
    "KP": "North Korea",
    "SY": "Syria",
    "RU": "Russia",
    CRIMEA: "Crimea",
    SEVASTOPOL: "Sevastopol (Crimea)",
    DONETSK: "the Donetsk region",
    LUHANSK: "the Luhansk region",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer for one (recipient, business country, date).

    ``reason`` is a stable slug ("" when allowed): "invalid_number", "sanctioned_business",
    "business_country_unavailable", "sanctioned_recipient", "us_recipient". ``message`` is human text (for an
    invalid number, the parse reason). ``recipient_digits`` is the normalized ``to`` value (None if invalid).
    ``disabled_features`` is empty when the message is blocked.
    """

    allowed: bool
    code: int | None
    reason: str
    message: str
    recipient_country: str | None
    recipient_digits: str | None
    disabled_features: frozenset[str] = frozenset()


# libphonenumber's regions are the ISO 3166-1 alpha-2 codes that have a telephone plan (plus XK Kosovo, AC
# Ascension, TA Tristan da Cunha); the officially assigned codes without one are added so none is refused.
_COUNTRIES = frozenset(phonenumbers.SUPPORTED_REGIONS) | {"AQ", "BV", "GS", "HM", "PN", "TF", "UM"}
# A business may also be placed in one of the sanctioned Ukrainian regions by its ISO 3166-2 code.
_BUSINESS_PLACES = _COUNTRIES | {CRIMEA, SEVASTOPOL, DONETSK, LUHANSK}


def normalize_business_country(business_country: str) -> str:
    """Return the business country as an uppercase ISO 3166-1 alpha-2 code (or "UA-43"-style code).

    Raises ``ValueError`` naming ``business_country`` when it is not a known code.
    """
    if not isinstance(business_country, str):
        raise ValueError(f"business_country must be an ISO 3166-1 alpha-2 code, got {business_country!r}")
    return _normalize_business_country(business_country)


@lru_cache(maxsize=512)  # called once per recipient with the same few values
def _normalize_business_country(business_country: str) -> str:
    code = business_country.strip().upper()
    if code not in _BUSINESS_PLACES:
        raise ValueError(f"business_country {business_country!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def evaluate(recipient: str | PhoneNumber, business_country: str, on: dt.date) -> Verdict:
    """Apply ``RULES`` to one message: may it be sent on ``on``, and which features are off.

    ``recipient`` is the raw number (or an already parsed ``PhoneNumber``). An invalid number never raises:
    it gives ``allowed=False, reason="invalid_number"``. An unknown ``business_country`` raises ``ValueError``
    (it is a configuration error, not a per-recipient one). ``on`` is the sending date (UTC); a ``datetime``
    is reduced to its date.
    """
    business = normalize_business_country(business_country)
    if isinstance(on, dt.datetime):  # datetime is a date subclass but cannot be compared with one
        on = on.date()
    try:
        number = recipient if isinstance(recipient, PhoneNumber) else parse_recipient(recipient)
    except InvalidPhoneNumber as exc:
        return Verdict(False, None, "invalid_number", exc.reason, None, None)

    disabled: set[str] = set()
    for rule in RULES:
        if not rule.active(on):
            continue
        if rule.party == "business":
            place = business if business in rule.places else None
        elif number.subdivision in rule.places:
            place = number.subdivision
        else:
            place = number.region if number.region in rule.places else None
        if place is None:
            continue
        if rule.block:
            message = _MESSAGES[rule.block].format(place=_PLACE_NAMES.get(place, place))
            return Verdict(False, rule.code, rule.block, message, number.region, number.digits)
        disabled |= rule.disables
    return Verdict(True, None, "", "", number.region, number.digits, frozenset(disabled))
