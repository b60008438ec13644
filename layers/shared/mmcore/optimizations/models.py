"""The optimization configuration API's bodies and answers (pydantic, at the boundary), and what a change acts
on (:class:`Target`) and who asks (:class:`ChangeContext`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from mmcore.meta.messages import TTL_MAX, TTL_MIN

UNKNOWN = "unknown"


class Scope(StrEnum):
    """What a setting applies to: one template, or the whole WABA."""

    TEMPLATE = "template"
    WABA = "waba"


@dataclass(frozen=True, slots=True)
class Target:
    """The Graph node a call acts on."""

    scope: Scope
    id: str

    @property
    def label(self) -> str:
        return f"template {self.id}" if self.scope == Scope.TEMPLATE else f"WABA {self.id}"


# ---------------------------------------------------------------- API bodies


class EnrollObject(BaseModel):
    """Meta's own value shape, ``{"enroll_status": "OPT_IN"}``, accepted instead of the bare status."""

    model_config = ConfigDict(extra="forbid")

    enroll_status: str


class FeaturesUpdate(BaseModel):
    """``PUT .../optimizations``: the features to change; the others keep their current setting."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "features": {
                        "auto_promotion_tag": "OPT_IN",
                        "text_formatting_optimization": "OPT_OUT",
                        "product_extensions": "OPT_OUT",
                    },
                    "allow_unknown": False,
                }
            ]
        },
    )

    features: dict[str, str | EnrollObject] = Field(
        min_length=1,
        description="Feature -> OPT_IN | OPT_OUT. A feature is Meta's key in any case (auto_promotion_tag) "
        "or its display name ('Auto Promotion Tag'); a status may also be {\"enroll_status\": ...}.",
    )
    allow_unknown: StrictBool = Field(
        default=False,
        description="Pass a well-formed key outside the catalog (a feature Meta added later) to Meta as is, "
        "with a warning. Keys that look like a misspelt catalog key are refused anyway.",
    )

    def statuses(self) -> dict[str, str]:
        """Feature -> status as the caller wrote them (``{"enroll_status": ...}`` unwrapped)."""
        return {k: v if isinstance(v, str) else v.enroll_status for k, v in self.features.items()}


class TtlUpdate(BaseModel):
    """``PUT /templates/{template_id}/ttl``: how long Meta tries to deliver this template's messages."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"message_send_ttl_seconds": 43200}]}
    )

    message_send_ttl_seconds: int = Field(
        strict=True,
        ge=TTL_MIN,
        le=TTL_MAX,
        description=f"Seconds, {TTL_MIN} (12 hours) to {TTL_MAX} (30 days): Meta's range for marketing "
        "templates.",
    )


# ---------------------------------------------------------------- API answers


class FeatureView(BaseModel):
    """One creative optimization as this API shows it."""

    meta_key: str = Field(description="Meta's request key (lowercase); Meta's GET answers it in UPPERCASE")
    display_name: str | None = Field(
        description="The name users know (seeds); null for a key outside the catalog"
    )
    enroll_status: str = Field(description="OPT_IN or OPT_OUT (Meta's value, kept as is if it is new)")
    source: Literal["meta", "default"] = Field(
        description="meta: Meta reported it; default: Meta did not, so Meta's default applies "
        "('All optimization features are enabled by default': OPT_IN)"
    )
    state: Literal["active", "paused", "unknown"] = Field(
        description="paused: opting in is accepted but Meta may not apply it; unknown: not in the catalog"
    )
    key_confirmed: bool = Field(description="False: the key name comes from third-party docs only")
    notes: list[str] = Field(default_factory=list)


class FeatureOff(BaseModel):
    feature: str = Field(description="delivery_optimization | click_reporting | conversion_reporting")
    why: str


class RegionCaveats(BaseModel):
    """What Meta's region rules turn off for this business (``BUSINESS_COUNTRY``), and why."""

    business_country: str
    mm_api_available: bool
    off: list[FeatureOff] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class OptimizationsView(BaseModel):
    """``GET .../optimizations``: every catalog feature, plus any other key Meta reports."""

    scope: Scope
    id: str = Field(description="The template ID, or the WABA ID")
    features: list[FeatureView]
    region: RegionCaveats
    notes: list[str] = Field(default_factory=list)


class OptimizationsChange(OptimizationsView):
    """``PUT .../optimizations``: the settings Meta reports after the change, and what changed."""

    requested: dict[str, str] = Field(description="What was sent to Meta: lowercase key -> status")
    changed: list[str] = Field(description="Features whose effective status differs from before")
    warnings: list[str] = Field(default_factory=list)
    audit_id: str


class TtlChange(BaseModel):
    scope: Literal["template"] = "template"
    id: str
    message_send_ttl_seconds: int | None = Field(description="The TTL Meta reports after the change")
    before: int | None = Field(description="The TTL before the change; null: unset (Meta's default)")
    warnings: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    audit_id: str


Sends = Literal["mm_api", "cloud_api_fallback", "rejected"]


class Onboarding(BaseModel):
    """``GET /waba/onboarding``: the WABA's MM API onboarding and where sends will go."""

    waba_id: str
    marketing_messages_onboarding_status: str | None = Field(
        description="Meta's value: ONBOARDED or ELIGIBLE are documented; the full list is UNCONFIRMED"
    )
    onboarded: bool
    default_product_policy: Literal["CLOUD_API_FALLBACK", "STRICT"]
    disable_marketing_messages_on_cloud_api: bool | None = Field(
        default=None,
        description="Meta's WABA setting (None: not returned): true makes the Cloud API (/messages, and the "
        "CLOUD_API_FALLBACK of a WABA not onboarded) refuse marketing templates with 131063",
    )
    routes: dict[str, str] = Field(
        default_factory=dict, description="Where each template category is sent, by its latest category"
    )
    sends: Sends = Field(description="What a send with the default product_policy does now")
    by_product_policy: dict[str, Sends] = Field(
        description="The same for each product_policy a message may set"
    )
    explanation: str
    notes: list[str] = Field(default_factory=list)


class Who(BaseModel):
    """The caller's IAM identity, from the HttpApi IAM authorizer (``unknown`` when absent)."""

    user_arn: str = UNKNOWN
    caller_id: str = UNKNOWN
    account_id: str = UNKNOWN


class AuditRecord(BaseModel):
    """One change: who, what (route and request), before and after (full maps), when."""

    audit_id: str
    scope: Scope
    target_id: str
    at: str = Field(description="UTC, ISO 8601 with microseconds")
    who: Who
    route: str
    change: dict[str, Any]
    before: dict[str, Any]
    after: dict[str, Any]
    warnings: list[str] = Field(default_factory=list)
    request_id: str | None = None


class History(BaseModel):
    scope: Scope
    id: str
    items: list[AuditRecord] = Field(description="Newest first")
    next_token: str | None = Field(
        description="Pass as ?next_token= for the next page; null on the last page"
    )


@dataclass(frozen=True, slots=True)
class ChangeContext:
    """Who asks and through which route; the handler builds it from the request."""

    who: Who
    route: str
    request_id: str | None = None
