"""Business-scoped user IDs (BSUIDs): how to tell one from a phone number, and what its prefix says.

Forms, as Meta documents them (meta-2026-updates section 3, [BSUID] Feb 6 and Jun 29, 2026 editions):

| form | example | since |
|---|---|---|
| BSUID | ``US.13491208655302741918``: ISO 3166 alpha-2 country, ``.``, <= 128 letters and digits | 2026-02-06 |
| parent BSUID | ``US.ENT.1181...``: the same with ``ENT.`` after the country | 2026-02-06 |
| older form | ``user.9373795779eb...`` (<= 256 characters), still in Meta's and SDKs' example webhooks | 2025 |

The value is sent whole. The country prefix is where Meta placed the user when it issued the ID (it replaced
the webhook's ``country_code`` property); the older form carries no country.

Region rules for a BSUID (:func:`evaluate_user`): the prefix stands in for the number's country, so a
sanctioned or blocked country is refused and a country's disabled features apply; rules on regions inside a
country (Crimea, Donetsk...) cannot be known from a BSUID and are not applied; the older form has no country
and gets no region rule. Every BSUID send is recorded without MM delivery optimization, which Meta does not
give BSUID-addressed sends [SEND]. Whether Meta itself applies its region table by this prefix is not stated
in its pages: UNCONFIRMED.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import replace

import phonenumbers

from mmcore.meta.phones import PhoneNumber
from mmcore.meta.regions import RULES, Feature, Rule, Verdict, evaluate

__all__ = ["bsuid_country", "evaluate_user", "is_bsuid", "user_key"]

_CURRENT = re.compile(r"^(?P<country>[A-Z]{2})\.(?:ENT\.)?[A-Za-z0-9]{1,128}$")
_OLDER = re.compile(r"^user\.[A-Za-z0-9._-]{1,251}$")


def is_bsuid(value: str) -> bool:
    """Whether ``value`` is a BSUID or parent BSUID, in any documented form."""
    return bool(_CURRENT.match(value) or _OLDER.match(value))


def bsuid_country(value: str) -> str | None:
    """The ISO country of a BSUID's prefix (``US.1349...`` -> ``US``); None for the older ``user.`` form."""
    found = _CURRENT.match(value)
    return found["country"] if found else None


def user_key(value: str | None) -> str | None:
    """The identifier a user is stored under: a BSUID as Meta sent it, a phone number as its digits (the
    ``wa_id`` form); None when ``value`` is neither (empty, as pre-2026 webhooks sent for a missing one)."""
    if not value:
        return None
    if is_bsuid(value):
        return value
    # ASCII digits whatever digits Meta wrote (Arabic-Indic, full-width...): the key the sender looks up.
    digits = phonenumbers.normalize_digits_only(value)
    return digits if 5 <= len(digits) <= 20 else None


def evaluate_user(
    user: str, business_country: str, on: dt.date, rules: Sequence[Rule] = RULES
) -> Verdict | None:
    """The region verdict for a phone number or a BSUID (see the module's docstring); None when no rule can
    apply (an older-form BSUID: no country)."""
    if not is_bsuid(user):
        return evaluate(user, business_country, on, rules)
    country = bsuid_country(user)
    if country is None:
        return None
    verdict = evaluate(PhoneNumber(user, country), business_country, on, rules)
    if not verdict.allowed:
        return verdict
    return replace(
        verdict, disabled_features=verdict.disabled_features | {Feature.DELIVERY_OPTIMIZATION.value}
    )
