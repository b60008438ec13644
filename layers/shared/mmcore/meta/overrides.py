"""An operator's change to the region table: validated (pydantic), then applied to :data:`regions.RULES`.

Policy changes faster than releases, so an operator may add a place to a rule or take one out without a code
change. The override is JSON (read from SSM Parameter Store by ``mmcore.policy``)::

    {"rules": {"sanctioned": {"add": ["VE"]}, "no_optimization": {"add": ["NG", "ZA"], "remove": ["JP"]}},
     "source": "Meta get-started page, Updated 2026-11-30", "effective": "2026-11-30"}

``rules`` maps a rule's name (``sanctioned``, ``russia_belarus``, ``us``, ``no_optimization``) to the places
to ``add`` and to ``remove`` (ISO 3166-1 alpha-2 codes, or ``UA-43``-style codes for the sanctioned regions of
Ukraine); moving a place is a removal from one rule and an addition to another. ``effective`` is the date from
which the change applies (before it, the built-in table answers); ``source`` says where it comes from, and is
shown beside every place it touches.

Adding a place the rule already has keeps the built-in entry (a release may catch up with an override);
removing a place the rule does not have is an error (a typo would otherwise pass unnoticed).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from mmcore.meta.regions import PLACES, RULES, Member, Rule

__all__ = ["InvalidOverride", "Override", "RuleChange", "apply", "parse_override"]


def _known(place: str) -> str:
    if place not in PLACES:
        raise ValueError(f"{place!r} is not an ISO 3166-1 alpha-2 country code")
    return place


Place = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True), AfterValidator(_known)]


class InvalidDocument(ValueError):
    """An operator's document (this override, a rate card: :mod:`.ratecards`) cannot be used; ``errors`` are
    ``(field, reason)`` pairs."""

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in self.errors))


class InvalidOverride(InvalidDocument):
    """The override cannot be used, e.g. ``("rules.sanctioned.add.0", "'VX' is not an ISO 3166-1 alpha-2
    country code")``."""


class RuleChange(BaseModel):
    """The places to add to one rule and to take out of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    add: list[Place] = Field(default_factory=list, max_length=300)
    remove: list[Place] = Field(default_factory=list, max_length=300)

    @field_validator("add", "remove")
    @classmethod
    def _once(cls, places: list[str]) -> list[str]:
        if len(set(places)) != len(places):
            raise ValueError("lists a place twice")
        return places


class Override(BaseModel):
    """The whole override: which rules change, where the change comes from, and from when it applies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: dict[str, RuleChange] = Field(min_length=1)
    source: str = Field(min_length=1, max_length=300)
    effective: Annotated[dt.date, Field(strict=True)]


_RULE_NAMES = tuple(rule.name for rule in RULES)


def parse_override(text: str | bytes) -> Override:
    """Validate the override's JSON; :class:`InvalidOverride` names every field at fault and why."""
    try:
        override = Override.model_validate_json(text)
    except ValidationError as exc:
        raise InvalidOverride([field_error(err) for err in exc.errors(include_url=False)]) from None
    errors = []
    for name, change in override.rules.items():
        if name not in _RULE_NAMES:
            errors.append((f"rules.{name}", f"unknown rule: one of {', '.join(_RULE_NAMES)}"))
            continue
        for place in sorted(set(change.add) & set(change.remove)):
            errors.append((f"rules.{name}", f"{place} is both added and removed"))
        rule = next(r for r in RULES if r.name == name)
        for i, place in enumerate(change.remove):
            if place not in rule.places:
                errors.append((f"rules.{name}.remove.{i}", f"{place} is not in rule {name}"))
    if errors:
        raise InvalidOverride(errors)
    return override


def field_error(err: dict) -> tuple[str, str]:
    """One of pydantic's errors of an operator's document as ``(field, reason)``, the field dotted as written."""
    loc = [str(part) for part in err.get("loc", ())]
    if loc[-1:] == ["[key]"]:  # a bad dict key (a market code): pydantic names the key's place after it
        loc = loc[:-1]
    message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    if err.get("type") == "json_invalid":
        return "(document)", f"not valid JSON: {err.get('ctx', {}).get('error', message)}"
    return ".".join(loc) or "(document)", message


def apply(override: Override, rules: Sequence[Rule] = RULES) -> tuple[Rule, ...]:
    """``rules`` with ``override`` applied from its ``effective`` date: added places join on that date, removed
    ones leave on it. Pure: the table given is not changed."""
    source = f"override: {override.source}"
    changed = []
    for rule in rules:
        change = override.rules.get(rule.name)
        if change is None:
            changed.append(rule)
            continue
        members = [
            dataclasses.replace(m, until=_earlier(m.until, override.effective), removed_by=source)
            if m.place in change.remove
            else m
            for m in rule.members
        ]
        members += [
            Member(place, source, since=override.effective, origin="override")
            for place in change.add
            if place not in rule.places
        ]
        changed.append(dataclasses.replace(rule, members=tuple(members)))
    return tuple(changed)


def _earlier(until: dt.date | None, effective: dt.date) -> dt.date:
    return effective if until is None else min(until, effective)
