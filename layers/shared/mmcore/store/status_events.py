"""What a delivery status is: Meta's statuses that move a message's state (:class:`DeliveryStatus`), their
precedence (:data:`RANK`), the route a pricing category names (:func:`path_for`), and one ``statuses[]`` item
as the webhook parsed it (:class:`StatusEvent`). How they advance a message: :mod:`mmcore.store.statuses`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from mmcore.store import keys
from mmcore.store.codec import to_item
from mmcore.store.messages import RETENTION_SECONDS


class DeliveryStatus(StrEnum):
    """The statuses Meta sends that move a message's delivery state (others are kept as events only)."""

    SENT = "sent"
    FAILED = "failed"
    DELIVERED = "delivered"
    READ = "read"


# The precedence, its one definition: a status moves the state only past a lower rank.
RANK: Mapping[str, int] = MappingProxyType(
    {DeliveryStatus.SENT: 1, DeliveryStatus.FAILED: 2, DeliveryStatus.DELIVERED: 3, DeliveryStatus.READ: 4}
)

# pricing.category (or conversation.origin.type before v24) -> the route the message took [MM-SEND].
PATHS: Mapping[str, str] = MappingProxyType({"marketing_lite": "mm_api", "marketing": "cloud_api_fallback"})

_ORDER_SCALE = 10**11  # rank-major, timestamp-minor ordering: rank * scale + epoch seconds


def path_for(category: str | None) -> str | None:
    """``mm_api`` / ``cloud_api_fallback`` for the two marketing categories; any other category as-is."""
    if not category:
        return None
    return PATHS.get(category, category)


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """One ``statuses[]`` item, parsed. ``raw`` is the item as Meta sent it (JSON text)."""

    wamid: str
    status: str
    timestamp: int
    recipient_id: str = ""
    recipient_user_id: str | None = None
    identity: tuple[tuple[str, str], ...] = ()  # (name, value): parent BSUID, username, country_code [BSUID]
    pricing_category: str | None = None
    billable: bool | None = None
    pricing_model: str | None = None
    pricing_type: str | None = None
    cost: Mapping[str, Any] | None = None  # {"amount": Decimal, "currency": "USD"}, max-price templates
    origin_type: str | None = None
    errors: tuple[Mapping[str, Any], ...] = ()
    biz_opaque_callback_data: str | None = None
    phone_number_id: str | None = None
    waba_id: str | None = None
    raw: str = "{}"
    raw_truncated: bool = False
    # Fields Meta sent that the parser does not know (a new API version's): a ranked status then keeps its
    # own ``EVT#`` item with ``raw`` too, so nothing Meta said is lost (issue 15 keeps the others on the state).
    unknown_fields: bool = False

    @property
    def rank(self) -> int:
        """Precedence rank; 0 for statuses that never change the state."""
        return RANK.get(self.status, 0)

    @property
    def order(self) -> int:
        return self.rank * _ORDER_SCALE + self.timestamp

    @property
    def path(self) -> str | None:
        return path_for(self.pricing_category or self.origin_type)

    @property
    def sk(self) -> str:
        return keys.status_event(self.wamid, self.timestamp, self.status)["sk"]["S"]

    @property
    def key(self) -> tuple[str, str]:
        """The dedupe key: wamid + status + timestamp."""
        return (self.wamid, self.sk)

    def pricing(self) -> dict[str, Any]:
        if not (self.pricing_category or self.origin_type):
            return {}
        return {
            "pricing_category": self.pricing_category or self.origin_type,
            "billable": self.billable,
            "pricing_model": self.pricing_model,
            "pricing_type": self.pricing_type,
            "cost": dict(self.cost) if self.cost else None,
            "origin_type": self.origin_type,
            "path": self.path,
        }

    def user(self) -> dict[str, Any]:
        """Who received it as Meta named them: the BSUIDs, username and country code (empty: none given)."""
        values = {"recipient_user_id": self.recipient_user_id, **dict(self.identity)}
        return {k: v for k, v in values.items() if v}

    def pricing_map(self) -> dict[str, Any]:
        """Meta's ``pricing`` object (and ``conversation.origin.type``) as the state keeps it."""
        values = {
            "category": self.pricing_category,
            "billable": self.billable,
            "pricing_model": self.pricing_model,
            "type": self.pricing_type,
            "cost": dict(self.cost) if self.cost else None,
            "origin_type": self.origin_type,
        }
        return {k: v for k, v in values.items() if v is not None}

    def event_item(self, now: int) -> dict[str, Any]:
        """The ``EVT#`` item: the raw event plus its parsed fields."""
        return to_item(
            {
                **keys.plain(keys.status_event(self.wamid, self.timestamp, self.status)),
                "wamid": self.wamid,
                "status": self.status,
                "timestamp": self.timestamp,
                "recipient_id": self.recipient_id or None,
                "recipient_user_id": self.recipient_user_id,
                **dict(self.identity),
                "biz_opaque_callback_data": self.biz_opaque_callback_data,
                "errors": list(self.errors) or None,
                "phone_number_id": self.phone_number_id,
                "waba_id": self.waba_id,
                **self.pricing(),
                "raw": self.raw,
                "raw_truncated": self.raw_truncated or None,
                "received_at": now,
                "expires_at": now + RETENTION_SECONDS,
            }
        )
