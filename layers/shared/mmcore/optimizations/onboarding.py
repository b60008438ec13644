"""The WABA's MM API onboarding (``marketing_messages_onboarding_status``) and where a send goes under each
product policy: onboarded, the MM API; not onboarded, the Cloud API (CLOUD_API_FALLBACK) or nowhere (STRICT)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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


def where_sends_go(waba_id: str, status: str | None, policy: str) -> Onboarding:
    """The onboarding answer: what a send does now under ``policy`` (and each policy), and why."""
    onboarded = status == ONBOARDED
    outcomes = {
        "CLOUD_API_FALLBACK": "mm_api" if onboarded else "cloud_api_fallback",
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
    notes = ["A message's own product_policy overrides DEFAULT_PRODUCT_POLICY."]
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
        sends=outcomes[policy],
        by_product_policy=outcomes,
        explanation=explanations[outcomes[policy]],
        notes=notes,
    )
