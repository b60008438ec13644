"""Meta's geographic rules for marketing messages, as data with effective dates.

``evaluate(recipient, business_country, on)`` answers: may this message be sent, and if so, which MM API
features are off. The table is :data:`RULES`: one :class:`Rule` per row of Meta's table, each with what it does
(its :class:`Effect` on the business or the recipient, dated) and the places it covers (each a dated
:class:`Member` with its source). An operator's override (``mmcore.meta.overrides``) adds or removes places and
gives ``evaluate`` the changed table through ``rules=``.

Sources: design.md "Region rules"; the MM API reference, section 7 "Geographic rules" (Meta's get-started,
support "Country restrictions", pricing "Country calling codes" and changelog pages, Dec 2025); and
meta-2026-updates.md section 2, [START] = marketing-messages/get-started "Updated May 21, 2026": Nigeria and South
Africa join the EEA/UK/Japan/South Korea row, Venezuela the sanctioned row, Belarus the Russia row. The Feb 10,
2026 copy still had none of them, so May 21, 2026 (the first copy that shows them) is their effective date.

Places are ISO 3166-1 alpha-2 country codes as libphonenumber reports them for the recipient's number, or the
ISO 3166-2 codes of Crimea, Sevastopol, Donetsk and Luhansk (see ``mmcore.meta.phones`` for how a number is placed
there, best effort).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
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
    "PLACES",
    "PRIVACY_RESTRICTED",
    "RULES",
    "SANCTIONED",
    "US_BLOCKED",
    "US_MESSAGE",
    "Effect",
    "Feature",
    "Member",
    "Rule",
    "Verdict",
    "applying",
    "evaluate",
    "normalize_business_country",
    "place_name",
]


class Feature(StrEnum):
    """MM API features a rule can turn off (values are the plain strings found in ``disabled_features``)."""

    DELIVERY_OPTIMIZATION = "delivery_optimization"
    CLICK_REPORTING = "click_reporting"
    CONVERSION_REPORTING = "conversion_reporting"
    MAX_PRICE = "max_price"


ALL_FEATURES: frozenset[str] = frozenset(f.value for f in Feature)
_REPORTING = frozenset({Feature.CLICK_REPORTING.value, Feature.CONVERSION_REPORTING.value})
# What Meta's "no delivery optimization, no click or conversion metrics" turns off. Whether max price applies
# to recipients in the EEA/NG/ZA group is UNCONFIRMED (meta-2026-updates section 2), so it is not in here.
_NO_OPTIMIZATION = _REPORTING | {Feature.DELIVERY_OPTIMIZATION.value}

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

# The Dec 2025 "no delivery optimization, no click/conversion metrics" group: the EEA, the UK, Japan, South
# Korea. Meta does not say how it maps a number to the EEA; it prices by country calling code, so the places
# libphonenumber splits off a member's calling code are included too (turning reporting off is the safe
# mistake): Aland (+358), the French overseas departments and collectivities on +590/+262/+594/+596, Svalbard
# (+47), the Vatican (+39), and Guernsey, Jersey and the Isle of Man (+44).
PRIVACY_RESTRICTED = (
    EEA
    | {"GB", "JP", "KR"}
    | {"AX", "GP", "BL", "MF", "RE", "YT", "GF", "MQ", "SJ", "VA"}  # share an EEA member's calling code
    | {"GG", "JE", "IM"}  # share the UK's +44
)

Party = Literal["recipient", "business"]


@dataclass(frozen=True, slots=True)
class Effect:
    """What a rule does to one party (the business or the recipient) while ``since <= on < until``.

    ``block`` (a reason slug) stops the message, with ``code`` if Meta has one; otherwise ``disables`` turns
    features off.
    """

    party: Party
    since: dt.date | None = None
    until: dt.date | None = None
    block: str | None = None
    code: int | None = None
    disables: frozenset[str] = frozenset()

    def active(self, on: dt.date) -> bool:
        """Whether the effect is in force on ``on``."""
        return _between(on, self.since, self.until)


@dataclass(frozen=True, slots=True)
class Member:
    """One place in a rule, in it while ``since <= on < until`` (None = as long as the rule itself).

    ``origin`` is "built-in" (this release) or "override" (an operator's override, named in ``source``);
    ``removed_by`` names the override that took a built-in place out on ``until``.
    """

    place: str
    source: str
    since: dt.date | None = None
    until: dt.date | None = None
    origin: Literal["built-in", "override"] = "built-in"
    removed_by: str = ""

    def active(self, on: dt.date) -> bool:
        """Whether the place is in the rule on ``on``."""
        return _between(on, self.since, self.until)


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of Meta's table: its ``name`` (what an override names), Meta's words, its effects, its places."""

    name: str
    summary: str
    source: str
    effects: tuple[Effect, ...]
    members: tuple[Member, ...]

    def covers(self, place: str, on: dt.date) -> bool:
        """Whether ``place`` is in this rule on ``on``."""
        return any(m.place == place and m.active(on) for m in self.members)

    @property
    def places(self) -> frozenset[str]:
        """Every place the rule names, whatever the date."""
        return frozenset(m.place for m in self.members)


def _between(on: dt.date, since: dt.date | None, until: dt.date | None) -> bool:
    return (since is None or on >= since) and (until is None or on < until)


def _members(
    places: frozenset[str] | set[str], source: str, since: dt.date | None = None
) -> tuple[Member, ...]:
    return tuple(Member(p, source, since) for p in sorted(places))


_DEC_2025 = "MM API reference section 7 [MM-START][PUL][SUP] (Dec 2025)"
_START_2026 = "[START] marketing-messages/get-started, Updated May 21, 2026"
_MAY_21_2026 = dt.date(2026, 5, 21)
_RUSSIA_OPENS = dt.date(2025, 6, 20)

RULES: tuple[Rule, ...] = (
    # [SUP][MM-START][MM-ONB]: businesses in sanctioned places cannot onboard; users there cannot be messaged.
    Rule(
        "sanctioned",
        "Businesses cannot onboard, and users there cannot be messaged (all APIs)",
        _DEC_2025,
        (Effect("business", block="sanctioned_business"), Effect("recipient", block="sanctioned_recipient")),
        _members(SANCTIONED, _DEC_2025) + _members({"VE"}, _START_2026, _MAY_21_2026),
    ),
    # [MM-START][MM-CL]: MM API opened to businesses in Russia on 2025-06-20; businesses there get no delivery
    # optimization, and messages from or to numbers there no click or conversion metrics (design.md: business in
    # Russia -> all three off). [START] 2026: Belarus in the same row ("usable since Jun 20, 2025", so it follows
    # Russia's dates), and "messages to users in these countries do not use optimization features such as max
    # pricing": max price off for recipients there from that copy's date.
    Rule(
        "russia_belarus",
        "Usable since 2025-06-20; businesses there get no delivery optimization; no click or conversion "
        "metrics for numbers or users there; no max price for users there",
        "[MM-START][MM-CL] (Dec 2025); " + _START_2026,
        (
            Effect("business", until=_RUSSIA_OPENS, block="business_country_unavailable"),
            Effect("business", since=_RUSSIA_OPENS, disables=_NO_OPTIMIZATION),
            Effect("recipient", since=_RUSSIA_OPENS, disables=_REPORTING),
            Effect("recipient", since=_MAY_21_2026, disables=frozenset({Feature.MAX_PRICE.value})),
        ),
        _members({"RU"}, _DEC_2025) + _members({"BY"}, _START_2026),
    ),
    # [MM-START][PUL]: from 2025-04-01 marketing templates to US numbers are not delivered: error 131049.
    Rule(
        "us",
        "Marketing messages to US numbers are not delivered (131049); US businesses may message others",
        _DEC_2025,
        (Effect("recipient", since=dt.date(2025, 4, 1), block="us_recipient", code=131049),),
        _members(US_BLOCKED, _DEC_2025),
    ),
    # [MM-START][PUL], [START] 2026: business phone number or consumer in these places.
    Rule(
        "no_optimization",
        "Business number or recipient there: no delivery optimization, no click or conversion metrics, "
        "per-user marketing limits not active",
        _DEC_2025,
        (Effect("business", disables=_NO_OPTIMIZATION), Effect("recipient", disables=_NO_OPTIMIZATION)),
        _members(PRIVACY_RESTRICTED, _DEC_2025) + _members({"NG", "ZA"}, _START_2026, _MAY_21_2026),
    ),
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
    "VE": "Venezuela",
    "RU": "Russia",
    "BY": "Belarus",
    "NG": "Nigeria",
    "ZA": "South Africa",
    "GB": "the UK",
    "JP": "Japan",
    "KR": "South Korea",
    "US": "the United States",
    CRIMEA: "Crimea",
    SEVASTOPOL: "Sevastopol (Crimea)",
    DONETSK: "the Donetsk region",
    LUHANSK: "the Luhansk region",
}


def place_name(place: str) -> str:
    """A place's name in messages (its code when it has no name here)."""
    return _PLACE_NAMES.get(place, place)


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
# Every place a rule may name, and a business may be placed in: the countries and the sanctioned regions.
PLACES = _COUNTRIES | {CRIMEA, SEVASTOPOL, DONETSK, LUHANSK}


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
    if code not in PLACES:
        raise ValueError(f"business_country {business_country!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def applying(
    party: Party, places: Sequence[str], on: dt.date, rules: Sequence[Rule] = RULES
) -> Iterator[tuple[Rule, Effect, str]]:
    """Every (rule, effect, place) in force on ``on`` for ``party`` at the first of ``places`` a rule covers
    (a recipient is tried at its subdivision, then its country), in table order."""
    for rule in rules:
        place = next((p for p in places if p and rule.covers(p, on)), None)
        if place is None:
            continue
        for effect in rule.effects:
            if effect.party == party and effect.active(on):
                yield rule, effect, place


def evaluate(
    recipient: str | PhoneNumber, business_country: str, on: dt.date, rules: Sequence[Rule] = RULES
) -> Verdict:
    """Apply ``rules`` (this release's table unless an override's is given) to one message: may it be sent on
    ``on``, and which features are off.

    ``recipient`` is the raw number (or an already parsed ``PhoneNumber``). An invalid number never raises:
    it gives ``allowed=False, reason="invalid_number"``. An unknown ``business_country`` raises ``ValueError``
    (it is a configuration error, not a per-recipient one). ``on`` is the sending date (UTC); a ``datetime``
    is reduced to its date. Business blocks come before recipient blocks (they stop the whole campaign); the
    first block in table order gives the reason.
    """
    business = normalize_business_country(business_country)
    if isinstance(on, dt.datetime):  # datetime is a date subclass but cannot be compared with one
        on = on.date()
    try:
        number = recipient if isinstance(recipient, PhoneNumber) else parse_recipient(recipient)
    except InvalidPhoneNumber as exc:
        return Verdict(False, None, "invalid_number", exc.reason, None, None)

    disabled: set[str] = set()
    for party, places in (("business", (business,)), ("recipient", (number.subdivision, number.region))):
        for _rule, effect, place in applying(party, places, on, rules):  # type: ignore[arg-type]
            if effect.block:
                message = _MESSAGES[effect.block].format(place=place_name(place))
                return Verdict(False, effect.code, effect.block, message, number.region, number.digits)
            disabled |= effect.disables
    return Verdict(True, None, "", "", number.region, number.digits, frozenset(disabled))
