"""What this API says beside the settings: the region caveats of the business country, every catalog feature
as a :class:`FeatureView`, and the notes of each scope."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from mmcore.meta import creative, regions
from mmcore.optimizations.models import FeatureOff, FeatureView, RegionCaveats, Scope

# ---------------------------------------------------------------- region caveats

_CREATIVE_NOTE = (
    "Meta names only delivery optimization and click/conversion reporting as off there; whether the "
    "creative optimizations apply is UNCONFIRMED."
)


def _place(country: str) -> str:
    if country in regions.EEA:
        return f"the EEA ({country})"
    name = regions.place_name(country)
    if name != country:
        return name
    if country in regions.PRIVACY_RESTRICTED:
        return f"{country}, which shares an EEA member's or the UK's calling code"
    return country


_LABELS = {
    regions.Feature.DELIVERY_OPTIMIZATION.value: "delivery optimization",
    regions.Feature.CLICK_REPORTING.value: "click reporting",
    regions.Feature.CONVERSION_REPORTING.value: "conversion reporting",
    regions.Feature.MAX_PRICE.value: "max price",
}
# How the built-in rules' places read; an operator's override (mmcore.policy) adds or removes places, named
# after the group (``_group``).
_GROUPS = {
    "no_optimization": "the EEA, the UK, Japan, South Korea, Nigeria and South Africa",
    "russia_belarus": "Russia and Belarus",
    "sanctioned": "sanctioned places (Cuba, Iran, North Korea, Syria, Venezuela, occupied Ukrainian regions)",
    "us": "the United States",
}


def _names(places: Sequence[str]) -> str:
    return ", ".join(regions.place_name(p) for p in places)


def _group(rule: regions.Rule, on: dt.date) -> str:
    """The rule's places as a reader knows them, with what the operator's override changed, on ``on``."""
    label = _GROUPS.get(rule.name) or _names(sorted(m.place for m in rule.members if m.active(on)))
    added = sorted(m.place for m in rule.members if m.origin == "override" and m.active(on))
    removed = sorted(m.place for m in rule.members if m.removed_by and not m.active(on))
    if rule.name in _GROUPS and added:
        label += f", and {_names(added)} (operator's override)"
    if removed:
        label += f", except {_names(removed)} (operator's override)"
    return label


def _recipient_note(rules: Sequence[regions.Rule], on: dt.date) -> str:
    """What the rules in force do per recipient, whatever the business country."""
    parts = []
    for rule in rules:
        for effect in rule.effects:
            if effect.party != "recipient" or not effect.active(on):
                continue
            if effect.block:
                parts.append(f"recipients in {_group(rule, on)} are not messaged")
            elif effect.disables:
                labels = " or ".join(_LABELS.get(f, f) for f in sorted(effect.disables))
                parts.append(f"recipients in {_group(rule, on)} get no {labels}")
    return (
        "Per message, whatever the business country (the sender applies and records this per message): "
        + "; ".join(parts)
        + "."
    )


def _why(feature: str, rule: regions.Rule, effect: regions.Effect, country: str, on: dt.date) -> str:
    label = _LABELS.get(feature, feature)
    since = f"since {effect.since.isoformat()}, " if effect.since else ""
    group = _group(rule, on)
    return f"{since}Meta turns {label} off for businesses in {group}; this business is in {_place(country)}"


def region_caveats(
    business_country: str, on: dt.date, rules: Sequence[regions.Rule] = regions.RULES
) -> RegionCaveats:
    """What ``rules`` (the region table in force) turn off for a business in ``business_country`` on ``on``,
    and why."""
    try:
        country = regions.normalize_business_country(business_country)
    except ValueError as exc:
        return RegionCaveats(business_country=business_country, mm_api_available=False, notes=[str(exc)])
    off: dict[str, str] = {}
    notes: list[str] = []
    available = True
    for rule, effect, _place_code in regions.applying("business", (country,), on, rules):
        if effect.block:
            available = False
            notes.append(
                f"MM API not available: businesses in {_place(country)} cannot use it ({effect.block})"
            )
            continue
        for feature in sorted(effect.disables):
            off.setdefault(feature, _why(feature, rule, effect, country, on))
    if off:
        notes.append(_CREATIVE_NOTE)
    notes.append(_recipient_note(rules, on))
    caveats = [FeatureOff(feature=f, why=why) for f, why in sorted(off.items())]
    return RegionCaveats(business_country=country, mm_api_available=available, off=caveats, notes=notes)


# ---------------------------------------------------------------- notes of each scope

_DEFAULT_NOTE = (
    "Features Meta does not report are OPT_IN: 'All optimization features are enabled by default'."
)
_MM_ONLY_NOTE = "Creative optimizations apply to MM API sends only; Cloud API fallbacks never get them."
_PRECEDENCE = (
    "Precedence between WABA and template settings is not documented by Meta (UNCONFIRMED): presumably a "
    "template's own setting overrides the WABA's (the seeds: 'unless overridden at the template level')."
)
NOTES: dict[Scope, list[str]] = {
    Scope.TEMPLATE: [
        "These settings apply to this template only; WABA-wide settings are at /waba/optimizations.",
        _PRECEDENCE,
        _DEFAULT_NOTE,
        _MM_ONLY_NOTE,
    ],
    Scope.WABA: [
        "These settings apply to the whole WABA (the seeds: 'all future templates'; whether existing "
        "templates change too is UNCONFIRMED); a template's own settings apply per template.",
        _PRECEDENCE,
        "Meta's answer to GET /<WABA_ID>?fields=degrees_of_freedom_spec is UNCONFIRMED; both the documented "
        "template shape and YCloud's data[] shape are read.",
        _DEFAULT_NOTE,
        _MM_ONLY_NOTE,
    ],
}

# ---------------------------------------------------------------- features


def _feature_notes(feature: creative.Feature) -> list[str]:
    notes = []
    if feature.state is creative.FeatureState.PAUSED:
        notes.append("paused (seeds' list): opting in is accepted, but Meta may not apply it")
    if not feature.confirmed:
        notes.append(f"key name from third-party docs ({feature.source}), not confirmed by Meta")
    return notes


def feature_views(reported: Mapping[str, str]) -> list[FeatureView]:
    """Every catalog feature (reported status, or Meta's default flagged as such), then any other key Meta
    reported, kept as is."""
    default = creative.DEFAULT_ENROLL_STATUS.value
    views = [
        FeatureView(
            meta_key=f.key,
            display_name=f.display_name,
            enroll_status=reported.get(f.key, default),
            source="meta" if f.key in reported else "default",
            state=f.state.value,
            key_confirmed=f.confirmed,
            notes=_feature_notes(f),
        )
        for f in creative.FEATURES
    ]
    views += [
        FeatureView(
            meta_key=key,
            display_name=None,
            enroll_status=status,
            source="meta",
            state="unknown",
            key_confirmed=False,
            notes=["not in this release's catalog: reported by Meta and shown as is"],
        )
        for key, status in reported.items()
        if key not in creative.BY_KEY
    ]
    return views


def changed(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """The features whose status differs between two full maps, sorted."""
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
