"""Which endpoint carries a template message: Meta's routing by template category, and the errors that say a
message went to the wrong one (meta-2026-updates sections 4, 5 and 11).

Sources: [ROUTE] route-template-messages (Sep 21, 2026): MARKETING -> ``/marketing_messages``, every other
category -> ``/messages``, by the template's *latest* category (the completed ``template_category_update``).
[SEND][CL] (Apr 6, 2026): 131063 when ``/messages`` gets a MARKETING template on a WABA with
``disable_marketing_messages_on_cloud_api``. [MAXP] (Jun 26, 2026): 131061, a max-price template on
``/messages``. Reference section 5: 134100 / 131055, a non-marketing template on ``/marketing_messages``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Endpoint(StrEnum):
    """The edge of ``/<PHONE_NUMBER_ID>/`` a message is POSTed to (what the ledger's ``endpoint`` records)."""

    MARKETING_MESSAGES = "marketing_messages"  # the MM API
    MESSAGES = "messages"  # the Cloud API


MARKETING = "MARKETING"
# The categories a template may have [ROUTE][TCU]; any other value Meta adds routes like these two ([ROUTE]:
# "every other category").
CATEGORIES = (MARKETING, "UTILITY", "AUTHENTICATION")

# 2026-09-21 [ROUTE]: the category -> endpoint table; a category not listed goes to /messages.
ROUTES: Mapping[str, Endpoint] = MappingProxyType(
    {
        MARKETING: Endpoint.MARKETING_MESSAGES,
        "UTILITY": Endpoint.MESSAGES,
        "AUTHENTICATION": Endpoint.MESSAGES,
    }
)

# (endpoint, code) -> where to send the message instead. Meta's answer says the template is of the other kind
# than the product believed (its category changed since the product last heard, or the template was not known
# and the request's hint was wrong). One re-route per message, never back and forth.
# - 131063 on /messages [SEND][CL]: the template is MARKETING and the WABA keeps marketing off the Cloud API.
#   Retrying via /marketing_messages is the third-party remedy [T-SDK]: UNCONFIRMED by Meta.
# - 131061 on /messages [MAXP]: a max-price template; Meta says to resend via /marketing_messages.
# - 134100 / 131055 on /marketing_messages (reference section 5): "only marketing templates": /messages.
REROUTES: Mapping[tuple[Endpoint, int], Endpoint] = MappingProxyType(
    {
        (Endpoint.MESSAGES, 131063): Endpoint.MARKETING_MESSAGES,
        (Endpoint.MESSAGES, 131061): Endpoint.MARKETING_MESSAGES,
        (Endpoint.MARKETING_MESSAGES, 134100): Endpoint.MESSAGES,
        (Endpoint.MARKETING_MESSAGES, 131055): Endpoint.MESSAGES,
    }
)

# [MAXP] 131061: Meta refuses a max-price template on /messages; the product ends such a message unsent.
MAX_PRICE_OFF_CLOUD_API = (
    "a max-price template never goes to /messages: Meta refuses it there (131061) and max price is MM API "
    "only; the template's category routes it to the Cloud API, so it was not sent"
)


def endpoint_for(category: str | None, hint: str | None = None) -> Endpoint:
    """Where a template message goes, by the template's latest ``category`` as Meta last told it [ROUTE].

    An unknown category (the template is not known yet: no sync and no category webhook) falls back to the
    request's own ``hint`` (its ``template_category``), and with no hint to ``/marketing_messages``: the
    product's traffic is marketing unless told otherwise, and Meta answers a non-marketing template there
    with 134100/131055, which re-routes it (:data:`REROUTES`).
    """
    known = (category or hint or MARKETING).upper()
    return ROUTES.get(known, Endpoint.MESSAGES)


def reroute(endpoint: Endpoint, code: int | None) -> Endpoint | None:
    """The other endpoint when Meta's ``code`` on ``endpoint`` says the template is of the other kind."""
    return REROUTES.get((endpoint, code)) if code is not None else None
