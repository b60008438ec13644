"""Automatic creative optimizations: the feature catalog and the wire shapes of `creative_features_spec`.

Requests use lowercase keys in an object, `{"image_touchups": {"enroll_status": "OPT_IN"}, ...}`, on
`POST /<WABA_ID>/message_templates`, `POST /<TEMPLATE_ID>` and `POST /<WABA_ID>`, wrapped in
`degrees_of_freedom_spec`. `GET /<TEMPLATE_ID>?fields=degrees_of_freedom_spec` answers UPPERCASE keys in a
list of `{key, value: {enroll_status}}`. Meta: "All optimization features are enabled by default".

Sources: Meta's send-marketing-messages page [MM-SEND] (Dec 2025 text, Mar 2026 excerpts) and changelog
[MM-CL]; display names and the paused list from the Hibot guide (seeds); third-party key names from dualhook
and ycloud, marked UNCONFIRMED.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EnrollStatus(StrEnum):
    """A feature's `enroll_status`."""

    OPT_IN = "OPT_IN"
    OPT_OUT = "OPT_OUT"


# [MM-SEND] "All optimization features are enabled by default": an unset feature behaves as OPT_IN.
DEFAULT_ENROLL_STATUS = EnrollStatus.OPT_IN


class FeatureState(StrEnum):
    """Whether Meta currently applies a feature."""

    ACTIVE = "active"
    PAUSED = "paused"  # opting in is accepted, but Meta may not apply it


@dataclass(frozen=True, slots=True)
class Feature:
    """One optimization: Meta's request key, the display name users know, and its state."""

    key: str
    display_name: str
    state: FeatureState
    source: str
    confirmed: bool = True  # False: the key name comes from third-party docs only


_ACTIVE, _PAUSED = FeatureState.ACTIVE, FeatureState.PAUSED

# Catalog as of Mar 2026. States follow the seeds' "Currently Paused Optimizations" list; Meta's own paused
# list was not readable. Meta's Mar 2026 page calls product extensions, auto promotion tag and link formatting
# "coming soon"; the seeds list them as available, so they are active here.
# Not in the catalog: "Image Cropping" (a feature in Meta's Dec 2025 page and in the seeds' paused list) has
# no request key; `dynamic_cta_text` and `image_end_card` appear only in ycloud's docs, undescribed and in no
# seeds list, so they stay out and pass only as unknown keys (allow_unknown), with a warning.
# fmt: off
FEATURES: tuple[Feature, ...] = (
    Feature("image_brightness_and_contrast", "Image Filtering", _ACTIVE, "[MM-SEND]"),
    # Touch-ups is in neither the seeds' available nor paused list, nor in Meta's Mar 2026 active list;
    # nothing says it is paused, so it stays active (state UNCONFIRMED).
    Feature("image_touchups", "Image Touch-ups", _ACTIVE, "[MM-SEND]"),
    Feature("add_text_overlay", "Text Overlay", _PAUSED, "[MM-SEND], added 2025-06-24 [MM-CL]"),
    Feature("image_animation", "Image Animation", _PAUSED, "[MM-SEND], added 2025-06-24 [MM-CL]"),
    Feature("image_background_gen", "Background Generation", _PAUSED, "[MM-SEND], added 2025-08-06 [MM-CL]"),
    Feature("text_extraction_for_headline", "Headline Extraction", _ACTIVE, "[MM-SEND], added 2025-10-20"),
    Feature("text_extraction_for_tap_target", "Tap Target Title", _ACTIVE, "[MM-SEND], added 2025-10-20"),
    Feature("text_formatting_optimization", "Text Formatting", _ACTIVE, "[MM-SEND], added 2025-10-31"),
    Feature("auto_promotion_tag", "Auto Promotion Tag", _ACTIVE, "[MM-SEND] Mar 2026"),
    Feature("product_extensions", "Product Extensions", _ACTIVE, "[MM-SEND], added 2025-10-31"),
    Feature("hyperlink_formatting", "Link Formatting", _ACTIVE, "ycloud, dualhook", confirmed=False),
    Feature("image_banner", "Image Banner", _ACTIVE, "ycloud, dualhook", confirmed=False),
)
# fmt: on

BY_KEY: dict[str, Feature] = {f.key: f for f in FEATURES}

# Features users may name that have no request key of their own.
KEYLESS = {"imagecropping": "Image Cropping has no request key: it cannot be set on its own"}

_WELL_FORMED_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
# difflib ratios on compacted names: above _SUGGEST a key gets a "did you mean"; above _TYPO it is taken for a
# misspelling and refused even with allow_unknown ('auto_promotion_tags', 'prodcut_extensions'), while a new
# key that only shares a prefix ('text_extraction_for_body', ~0.78) still passes.
_SUGGEST, _TYPO = 0.75, 0.9


def _compact(name: str) -> str:
    """'Auto Promotion Tag', 'AUTO_PROMOTION_TAG' and 'auto-promotion tag' all become 'autopromotiontag'."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


_ALIASES: dict[str, str] = {_compact(f.key): f.key for f in FEATURES} | {
    _compact(f.display_name): f.key for f in FEATURES
}


class FeatureSpecError(ValueError):
    """A creative features request that cannot be accepted (the API answers 422)."""


class UnknownFeatureError(FeatureSpecError):
    """Keys that are neither a catalog key nor a display name (nor allowed as unknown)."""

    def __init__(self, keys: Iterable[str], suggestions: Mapping[str, str]) -> None:
        self.keys = list(keys)
        self.suggestions = dict(suggestions)
        self.valid_keys = sorted(BY_KEY)
        parts = []
        for key in self.keys:
            if _compact(key) in KEYLESS:
                parts.append(f"{key!r}: {KEYLESS[_compact(key)]}")
            elif key in self.suggestions:
                parts.append(f"{key!r} (did you mean {self.suggestions[key]!r}?)")
            else:
                parts.append(repr(key))
        noun = "feature" if len(parts) == 1 else "features"
        valid = ", ".join(self.valid_keys)
        super().__init__(f"unknown creative {noun} {', '.join(parts)}; valid keys: {valid}")


class InvalidEnrollStatus(FeatureSpecError):
    """An enroll status other than OPT_IN / OPT_OUT."""

    def __init__(self, field_name: str, value: Any) -> None:
        self.field = field_name
        self.value = value
        allowed = ", ".join(s.value for s in EnrollStatus)
        super().__init__(f"{field_name}: enroll_status must be one of {allowed}, not {value!r}")


@dataclass(frozen=True)
class ResolvedSpec:
    """Normalized features (lowercase Meta key -> status) and the warnings worth showing the user."""

    features: dict[str, EnrollStatus]
    warnings: tuple[str, ...] = field(default_factory=tuple)


def resolve_features(requested: Mapping[str, Any], allow_unknown: bool = False) -> ResolvedSpec:
    """Normalize a user's `{feature: status}` request.

    Features are Meta keys or the seeds' display names, case-insensitive; statuses are OPT_IN / OPT_OUT,
    case-insensitive (a `{"enroll_status": ...}` object is accepted too). Opting in to a paused feature is
    accepted with a warning. A well-formed key outside the catalog (a feature Meta added later) passes
    through with a warning when `allow_unknown` is True, unless it is so close to a catalog key that it must
    be a typo.

    Raises UnknownFeatureError (lists the valid keys, suggests the closest), InvalidEnrollStatus, or
    FeatureSpecError when two spellings of one feature disagree.
    """
    features: dict[str, EnrollStatus] = {}
    warnings: list[str] = []
    unknown: list[str] = []
    suggestions: dict[str, str] = {}
    for name, raw_status in requested.items():
        status = _enroll_status(name, raw_status)
        key = _ALIASES.get(_compact(str(name)))
        if key is None:
            suggestion = _closest(str(name), _SUGGEST)
            lowered = str(name).strip().lower()
            passes = _WELL_FORMED_KEY.match(lowered) and _compact(lowered) not in KEYLESS
            if allow_unknown and passes and not _closest(lowered, _TYPO):
                key = lowered
                hint = f" (did you mean {suggestion!r}?)" if suggestion else ""
                warnings.append(f"{key!r} is not a known feature{hint}: sent to Meta as is")
            else:
                unknown.append(str(name))
                if suggestion:
                    suggestions[str(name)] = suggestion
                continue
        if features.get(key, status) != status:
            raise FeatureSpecError(f"{key} is given twice with different statuses")
        features[key] = status
        warnings.extend(_feature_warnings(key, status))
    if unknown:
        raise UnknownFeatureError(unknown, suggestions)
    return ResolvedSpec(features, tuple(dict.fromkeys(warnings)))


def _enroll_status(name: str, raw: Any) -> EnrollStatus:
    value = raw.get("enroll_status") if isinstance(raw, Mapping) else raw
    if isinstance(value, str):
        try:
            return EnrollStatus(value.strip().upper())
        except ValueError:
            pass
    raise InvalidEnrollStatus(str(name), value)


def _closest(name: str, cutoff: float) -> str | None:
    """The catalog key whose key or display name is closest to `name`, if at least `cutoff` alike."""
    match = difflib.get_close_matches(_compact(name), list(_ALIASES), n=1, cutoff=cutoff)
    return _ALIASES[match[0]] if match else None


def _feature_warnings(key: str, status: EnrollStatus) -> list[str]:
    feature = BY_KEY.get(key)
    if feature is None:
        return []
    warnings = []
    if feature.state is FeatureState.PAUSED and status is EnrollStatus.OPT_IN:
        warnings.append(f"{feature.display_name} ({key}) is paused by Meta: opted in, but may not be applied")
    if not feature.confirmed:
        warnings.append(f"{key}: key name from third-party docs, not confirmed by Meta")
    return warnings


def to_request_spec(features: Mapping[str, str]) -> dict[str, Any]:
    """`{"creative_features_spec": {key: {"enroll_status": status}}}` from resolved features.

    Pass `resolve_features(...).features`; keys are sent as given (lowercase), statuses as strings.
    """
    return {
        "creative_features_spec": {key: {"enroll_status": str(status)} for key, status in features.items()}
    }


def to_degrees_of_freedom_spec(features: Mapping[str, str]) -> dict[str, Any]:
    """The request body fragment `{"degrees_of_freedom_spec": {"creative_features_spec": {...}}}`."""
    return {"degrees_of_freedom_spec": to_request_spec(features)}


def from_graph(answer: Mapping[str, Any]) -> dict[str, str]:
    """Read Meta's settings into `{lowercase_key: status}`.

    Accepts the template GET answer (`creative_features_spec` as a list of `{key: "UPPER", value:
    {enroll_status}}`), the UNCONFIRMED WABA shape (`degrees_of_freedom_spec.data[].creative_features_spec`)
    and the request object shape (`{key: {enroll_status}}`), with or without the `degrees_of_freedom_spec`
    wrapper.
    Statuses are upper-cased but not validated, so a value Meta adds later is kept; items without a key or
    a status are skipped.
    """
    spec = answer.get("degrees_of_freedom_spec", answer) if isinstance(answer, Mapping) else None
    if not isinstance(spec, Mapping):
        return {}
    specs = [spec] + [item for item in spec.get("data") or [] if isinstance(item, Mapping)]
    result: dict[str, str] = {}
    for one in specs:
        result.update(_read_features(one.get("creative_features_spec")))
    return result


def _read_features(raw: Any) -> dict[str, str]:
    if isinstance(raw, Mapping):
        items = [{"key": key, "value": value} for key, value in raw.items()]
    elif isinstance(raw, list):
        items = []
        for item in raw:
            if isinstance(item, Mapping) and "key" in item:
                items.append(item)
            elif isinstance(item, Mapping):  # a flat {key: status} object inside the list
                items.extend({"key": key, "value": value} for key, value in item.items())
    else:
        return {}
    result = {}
    for item in items:
        key, value = item.get("key"), item.get("value")
        status = value.get("enroll_status") if isinstance(value, Mapping) else value
        if isinstance(key, str) and key and isinstance(status, str) and status:
            result[key.lower()] = status.upper()
    return result


def with_defaults(features: Mapping[str, str]) -> dict[str, str]:
    """Every catalog feature with its effective status: unset ones are OPT_IN, Meta's default."""
    effective = {f.key: DEFAULT_ENROLL_STATUS.value for f in FEATURES}
    effective.update({key: str(status) for key, status in features.items()})
    return effective
