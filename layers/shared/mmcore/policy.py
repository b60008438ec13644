"""The region policy in force: the built-in table (``mmcore.meta.regions``), changed by the operator's override
when ``POLICY_PARAMETER`` names an SSM parameter.

Read once per container, at the first use (the handler's first request or batch): a bad override is a
:class:`~mmcore.exceptions.NotConfigured` error naming each field at fault, raised every time the policy is
asked for, and never a silent fallback to the built-in table. :func:`describe` is what ``GET /policy`` shows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from typing import Literal

from pydantic import BaseModel, Field

from mmcore import clients
from mmcore.exceptions import NotConfigured
from mmcore.meta import overrides, regions
from mmcore.settings import get_settings

__all__ = ["Policy", "PolicyView", "describe", "in_force", "load"]


@dataclass(frozen=True, slots=True)
class Policy:
    """The rules to evaluate with, and the override that changed them (None: the built-in table)."""

    rules: tuple[regions.Rule, ...]
    parameter: str = ""
    override: overrides.Override | None = None


def load(parameter: str, text: str) -> Policy:
    """The policy of an override's ``text`` read from ``parameter``; NotConfigured names each bad field."""
    try:
        override = overrides.parse_override(text)
    except overrides.InvalidOverride as exc:
        raise NotConfigured(
            f"the region policy override in SSM parameter {parameter} is invalid (POLICY_PARAMETER): {exc}",
            exc.errors,
            parameter=parameter,
        ) from None
    return Policy(overrides.apply(override), parameter, override)


def in_force() -> Policy:
    """The policy of this container: read on first use, kept until the container ends. Raises NotConfigured
    (each time it is asked: a failure is not cached) when the override cannot be read or is invalid."""
    name = get_settings().policy_parameter.lstrip("/")
    # Hierarchical names: template.yaml passes the name without its leading slash (IAM's ARN wants it so).
    return _read_once(f"/{name}") if name else _BUILT_IN


@cache
def _read_once(name: str) -> Policy:
    return load(name, clients.operator_document(name, "POLICY_PARAMETER", "the region policy override"))


def reset() -> None:
    """Forget the policy read by this container (tests call it after changing the parameter)."""
    _read_once.cache_clear()


_BUILT_IN = Policy(regions.RULES)


# ---------------------------------------------------------------- GET /policy


class PlaceView(BaseModel):
    """One place of a rule, with its dates and where the entry comes from."""

    place: str = Field(description="ISO 3166-1 alpha-2 code, or ISO 3166-2 for the sanctioned regions")
    name: str | None = Field(description="The place's name, when this product knows it")
    since: dt.date | None = Field(description="In the rule from this date (null: as long as the rule)")
    until: dt.date | None = Field(description="Out of the rule from this date (null: no end)")
    origin: Literal["built-in", "override"]
    source: str = Field(description="Where the entry comes from (Meta's page and date, or the override)")
    removed_by: str | None = Field(description="The override that takes the place out on `until`")


class EffectView(BaseModel):
    """What a rule does to the business or the recipient, and when."""

    party: Literal["business", "recipient"]
    since: dt.date | None
    until: dt.date | None
    blocks: str | None = Field(description="Reason slug when the message is refused")
    code: int | None = Field(description="Meta's error code for the refusal, when it has one")
    disables: list[str] = Field(description="MM API features turned off")


class RuleView(BaseModel):
    """One row of the table."""

    name: str = Field(description="What an override names in `rules`")
    summary: str
    source: str
    effects: list[EffectView]
    places: list[PlaceView]


class OverrideView(BaseModel):
    """The override in force, as the operator wrote it."""

    parameter: str
    source: str
    effective: dt.date
    rules: dict[str, dict[str, list[str]]]


class PolicyView(BaseModel):
    """The region table in force: the built-in rules, changed by the override when there is one."""

    override: OverrideView | None
    rules: list[RuleView]


def describe(policy: Policy) -> PolicyView:
    """The policy as ``GET /policy`` shows it."""
    override = None
    if policy.override is not None:
        o = policy.override
        changes = {name: change.model_dump() for name, change in o.rules.items()}
        override = OverrideView(
            parameter=policy.parameter, source=o.source, effective=o.effective, rules=changes
        )
    rules = [
        RuleView(
            name=rule.name,
            summary=rule.summary,
            source=rule.source,
            effects=[
                EffectView(
                    party=e.party,
                    since=e.since,
                    until=e.until,
                    blocks=e.block,
                    code=e.code,
                    disables=sorted(e.disables),
                )
                for e in rule.effects
            ],
            places=[
                PlaceView(
                    place=m.place,
                    name=_name(m.place),
                    since=m.since,
                    until=m.until,
                    origin=m.origin,
                    source=m.source,
                    removed_by=m.removed_by or None,
                )
                for m in sorted(rule.members, key=lambda m: (m.place, m.since or dt.date.min))
            ],
        )
        for rule in policy.rules
    ]
    return PolicyView(override=override, rules=rules)


def _name(place: str) -> str | None:
    name = regions.place_name(place)
    return None if name == place else name
