"""The WABA's MM API onboarding (``marketing_messages_onboarding_status``) and where a send goes under each
product policy: onboarded, the MM API; not onboarded, the Cloud API (CLOUD_API_FALLBACK) or nowhere (STRICT,
or CLOUD_API_FALLBACK when ``disable_marketing_messages_on_cloud_api`` is on: 131063). Utility and
authentication templates go to ``/messages`` whatever the onboarding (meta-2026-updates section 4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mmcore.meta.routing import ROUTES
from mmcore.optimizations.models import Onboarding

ONBOARDED, ELIGIBLE = "ONBOARDED", "ELIGIBLE"

_HOW_TO_ONBOARD = (
    "To onboard, a user with full control of the business portfolio accepts the MM API terms (WhatsApp "
    "Manager > Overview > Alerts, or App Dashboard > WhatsApp > Quickstart); the account_update webhook "
    "MM_LITE_TERMS_SIGNED says when it is done."
)


def onboarding_status(answer: Mapping[str, Any]) -> str | None:
    """Meta's status from ``GET /<WABA_ID>?fields=marketing_messages_onboarding_status`` (None: not given)."""
    status = answer.get("marketing_messages_onboarding_status")
    if isinstance(status, Mapping):  # the business-portfolio shape {"status": ..., "time": ...}
        status = status.get("status")
    return status if isinstance(status, str) and status else None


def cloud_api_marketing_disabled(answer: Mapping[str, Any]) -> bool | None:
    """Meta's ``disable_marketing_messages_on_cloud_api`` (None: not given; default false [SEND])."""
    value = answer.get("disable_marketing_messages_on_cloud_api")
    return value if isinstance(value, bool) else None


def where_sends_go(waba_id: str, status: str | None, policy: str, disabled: bool | None = None) -> Onboarding:
    """The onboarding answer: what a marketing send does now under ``policy`` (and each policy), and why;
    ``disabled``: the WABA's ``disable_marketing_messages_on_cloud_api``."""
    onboarded = status == ONBOARDED
    outcomes = {
        "CLOUD_API_FALLBACK": "mm_api" if onboarded else ("rejected" if disabled else "cloud_api_fallback"),
        "STRICT": "mm_api" if onboarded else "rejected",
    }
    explanations = {
        "mm_api": "The WABA is onboarded: sends go through the MM API (pricing category marketing_lite). "
        "Each message's status webhook still tells which path it really took.",
        "cloud_api_fallback": f"The WABA is not onboarded ({status or 'no status'}): with "
        "CLOUD_API_FALLBACK, Meta sends through the Cloud API instead (pricing category marketing, no "
        "creative optimizations).",
        "rejected": f"The WABA is not onboarded ({status or 'no status'}): with STRICT, Meta rejects the "
        "sends (exact error code UNCONFIRMED; 134102 is the closest documented) and they are recorded as "
        "failed.",
    }
    if disabled and not onboarded and policy == "CLOUD_API_FALLBACK":
        explanations["rejected"] = (
            f"The WABA is not onboarded ({status or 'no status'}) and disable_marketing_messages_on_cloud_api "
            "is on: Meta refuses the Cloud API fallback with 131063; the sender halts the WABA until "
            "onboarding is done or the setting is off."
        )
    notes = [
        "A message's own product_policy overrides DEFAULT_PRODUCT_POLICY.",
        "Each message goes by its template's latest category: MARKETING to /marketing_messages, UTILITY and "
        "AUTHENTICATION to /messages on the same number (Meta's routing guide, Sep 21, 2026).",
    ]
    if disabled:
        notes.append(
            "disable_marketing_messages_on_cloud_api is on: /messages refuses marketing templates (131063). "
            "A message routed there whose template Meta calls marketing is re-routed to /marketing_messages "
            "once (the re-route is a third-party remedy, UNCONFIRMED by Meta)."
        )
        if not onboarded:
            notes.append("Meta applies the setting fully only to onboarded WABAs: enable it once ONBOARDED.")
    elif disabled is False:
        notes.append(
            "disable_marketing_messages_on_cloud_api is off: a marketing template sent to /messages goes "
            "through the Cloud API (pricing marketing, no MM API features), except max-price templates "
            "(131061)."
        )
    if not onboarded:
        notes.append(_HOW_TO_ONBOARD)
    if status not in (ONBOARDED, ELIGIBLE):
        notes.append(
            "Only ONBOARDED and ELIGIBLE are documented; any other value is treated as not onboarded."
        )
    return Onboarding(
        waba_id=waba_id,
        marketing_messages_onboarding_status=status,
        onboarded=onboarded,
        default_product_policy=policy,
        disable_marketing_messages_on_cloud_api=disabled,
        routes={category: f"/{endpoint}" for category, endpoint in ROUTES.items()},
        sends=outcomes[policy],
        by_product_policy=outcomes,
        explanation=explanations[outcomes[policy]],
        notes=notes,
    )
