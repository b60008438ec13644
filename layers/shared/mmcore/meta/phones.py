"""Recipient phone numbers: parsing, country/region lookup and masking for logs.

Every part of the app that touches a recipient number goes through ``parse_recipient`` so that the same input
always gives the same ``to`` value and the same country. The country comes from libphonenumber's data
(``phonenumbers.region_code_for_number``), never from a prefix guess: +1 numbers are split into US, Canada,
Puerto Rico, Jamaica, ... by area code, +44 into GB, Guernsey, Jersey, Isle of Man, and so on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

__all__ = [
    "CRIMEA",
    "DONETSK",
    "LUHANSK",
    "SEVASTOPOL",
    "InvalidPhoneNumber",
    "PhoneNumber",
    "mask",
    "parse_recipient",
]

# ISO 3166-2 codes of the Ukrainian regions Meta cannot serve (they are regions, not countries).
CRIMEA = "UA-43"
SEVASTOPOL = "UA-40"  # a separate ISO subdivision; the region rules count it with Crimea
DONETSK = "UA-14"
LUHANSK = "UA-09"

# Number ranges known to belong to those regions: (country calling code, national-number prefix, subdivision).
# BEST EFFORT. A range only says where a number was issued, not where its user is: Ukrainian mobile numbers
# (+380 50, 67, 93, ...) and Russian mobile numbers from nationwide operators cannot be located at all, and a
# number issued in one of these regions may be used elsewhere (and the reverse).
_SUBDIVISION_RANGES: tuple[tuple[int, str, str], ...] = (
    # Ukrainian fixed-line area codes, from the ITU-T E.164 national numbering plan of Ukraine (the same table
    # as libphonenumber's resources/geocoding/en/380.txt: 38062 Donetsk, 38064 Luhansk, 38065 Crimea,
    # 38069 Sevastopol city).
    (380, "65", CRIMEA),  # 065x: Simferopol 0652, Yalta 0654, Kerch 06561, ...
    (380, "69", SEVASTOPOL),  # 069x: Sevastopol 0692
    (380, "62", DONETSK),  # 062x: the whole oblast, including the parts Ukraine controls (over-blocks)
    (380, "64", LUHANSK),  # 064x: the whole oblast, same caveat
    # Mobile operators set up in the occupied areas on +380 numbers not assigned by Ukraine.
    (380, "71", DONETSK),  # Phoenix ("DPR")
    (380, "72", LUHANSK),  # Lugacom ("LPR")
    # Ranges Russia assigned after the occupation; libphonenumber reports them as region RU. Taken from press
    # reports of the switch to +7 (Sevastopol +7 8692 in 2014; Phoenix and Lugacom moved to +7 in 2022-2023),
    # not from Russia's numbering registry: check them against it before relying on them.
    (7, "365", CRIMEA),  # Crimea fixed line (+7 365x), since 2015
    (7, "869", SEVASTOPOL),  # Sevastopol fixed line (+7 8692), since 2014
    (7, "978", CRIMEA),  # Crimean mobile operators (K-Telecom "Win Mobile", Volna)
    (7, "949", DONETSK),  # Phoenix after its move to +7
    (7, "959", LUHANSK),  # Lugacom after its move to +7
)
_RANGE_CODES = frozenset(code for code, _, _ in _SUBDIVISION_RANGES)

# WhatsApp accepts a number as digits with an optional leading '+' and common punctuation. Anything else
# (extensions, '#', '*', '/', vanity letters) is refused rather than guessed at.
_ALLOWED = re.compile(r"[0-9+\s().\-]*")
_PUNCTUATION = re.compile(r"[\s().\-]")
_BAD_CHARACTERS = "contains characters other than digits, '+', spaces, '-', '.', '(' and ')'"
_E164_MAX_DIGITS = 15

_POSSIBLE_REASONS = {
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.TOO_LONG: "too long",
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
}


class InvalidPhoneNumber(ValueError):
    """A recipient number that cannot be used; ``field`` names the input, ``reason`` says why."""

    def __init__(self, reason: str, field: str = "to") -> None:
        super().__init__(f"{field}: {reason}")
        self.reason = reason
        self.field = field

    def __reduce__(self):  # keep the two attributes when pickled (the default would pass only the message)
        return (type(self), (self.reason, self.field))


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A valid recipient number.

    ``digits``: E.164 without '+', the form WhatsApp's ``to`` takes ("919876543210").
    ``region``: ISO 3166-1 alpha-2 from libphonenumber ("IN", "US", "PR"), or "001" for non-geographic
    numbers (+800, +882, ...).
    ``subdivision``: an ISO 3166-2 code (``CRIMEA``, ``SEVASTOPOL``, ``DONETSK``, ``LUHANSK``) when the number
    falls in a range known for that region, else None. Best effort, see ``_SUBDIVISION_RANGES``.
    """

    digits: str
    region: str
    subdivision: str | None = None

    @property
    def e164(self) -> str:
        """The number with its '+' ("+919876543210")."""
        return "+" + self.digits


def parse_recipient(raw: str, field: str = "to") -> PhoneNumber:
    """Parse a recipient number the way WhatsApp takes it: country code first, '+' optional.

    Spaces, dashes, dots and parentheses are ignored. There is no default region, so a national number
    ("020 7946 0958") is read as if it started with a country code and usually rejected.
    Raises ``InvalidPhoneNumber`` (a ``ValueError``) naming ``field`` and the reason.
    """
    if not isinstance(raw, str):
        raise InvalidPhoneNumber("not a string" if raw is not None else "empty", field)
    text = raw.strip()
    if not text:
        raise InvalidPhoneNumber("empty", field)
    if any(ch.isalpha() for ch in text):
        raise InvalidPhoneNumber("contains letters", field)
    if not _ALLOWED.fullmatch(text):
        raise InvalidPhoneNumber(_BAD_CHARACTERS, field)
    compact = _PUNCTUATION.sub("", text)
    digits = compact.removeprefix("+")
    if "+" in digits:
        raise InvalidPhoneNumber("'+' is only allowed before the country code", field)
    if not digits:
        raise InvalidPhoneNumber("empty", field)
    if len(digits) > _E164_MAX_DIGITS:
        raise InvalidPhoneNumber(f"too long (at most {_E164_MAX_DIGITS} digits with the country code)", field)

    try:
        number = phonenumbers.parse("+" + digits, None)
    except NumberParseException as exc:
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE:
            raise InvalidPhoneNumber("unknown country code", field) from None
        if exc.error_type == NumberParseException.TOO_LONG:
            raise InvalidPhoneNumber("too long", field) from None
        # TOO_SHORT_NSN, TOO_SHORT_AFTER_IDD, and NOT_A_NUMBER (which, after the checks above, only means
        # there are too few digits to hold a country code and a number).
        raise InvalidPhoneNumber("too short", field) from None

    subdivision = _subdivision(number)
    if phonenumbers.is_valid_number(number):
        region = phonenumbers.region_code_for_number(number)
    elif subdivision is not None and phonenumbers.is_possible_number(number):
        # Ranges such as +380 71/72 were never assigned by Ukraine; if libphonenumber's metadata stops
        # listing them as valid, they must still be recognised (and blocked), not waved through as "invalid".
        region = phonenumbers.region_code_for_country_code(number.country_code)
    else:
        possible = phonenumbers.is_possible_number_with_reason(number)
        if possible in _POSSIBLE_REASONS:
            raise InvalidPhoneNumber(_POSSIBLE_REASONS[possible], field)
        if possible == ValidationResult.INVALID_LENGTH:
            raise InvalidPhoneNumber(f"wrong length for country code +{number.country_code}", field)
        raise InvalidPhoneNumber("not a valid phone number for any country", field)

    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return PhoneNumber(digits=e164[1:], region=region, subdivision=subdivision)


def _subdivision(number: phonenumbers.PhoneNumber) -> str | None:
    if number.country_code not in _RANGE_CODES:
        return None
    national = phonenumbers.national_significant_number(number)
    for code, prefix, subdivision in _SUBDIVISION_RANGES:
        if code == number.country_code and national.startswith(prefix):
            return subdivision
    return None


def mask(number: str) -> str:
    """Mask a phone number for logs: first 4 and last 2 digits kept ("9198******10").

    Never raises. Input with fewer than 7 digits, or no digits at all, is masked entirely (so a log line
    never shows a short number or a garbled field in clear).
    """
    try:
        text = number if isinstance(number, str) else "" if number is None else str(number)
    except Exception:  # a broken __str__ must not break the log line
        return "***"
    digits = "".join(ch for ch in text if "0" <= ch <= "9")
    if len(digits) <= 6:
        return "*" * min(max(len(digits), len(text.strip()), 3), 16)
    return digits[:4] + "*" * (len(digits) - 6) + digits[-2:]
