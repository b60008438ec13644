"""What one POST carries, typed: the status events (:class:`mmcore.store.statuses.StatusEvent`), replies,
user preferences, template changes (status, category, quality), account changes, click and landing-page-view
events, and everything else, kept raw."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mmcore.store.status_events import StatusEvent


@dataclass(frozen=True, slots=True)
class Inbound:
    """A customer's message; ``message`` is the item as Meta sent it."""

    wamid: str
    sender: str | None
    type: str | None
    timestamp: int | None
    context_id: str | None
    message: dict[str, Any]
    contact: dict[str, Any] | None
    metadata: dict[str, Any]
    waba_id: str | None


@dataclass(frozen=True, slots=True)
class Preference:
    """A ``user_preferences`` item: ``value`` stop or resume (marketing messages), or another value Meta
    sends (e.g. ``signup``), kept; ``raw`` is the item as Meta sent it. ``user`` is the phone number's digits
    when Meta gave it, else the BSUID (the item's other identifiers are in :attr:`Batch.links`)."""

    user: str
    value: str
    category: str | None
    timestamp: int
    detail: str | None
    raw: str = ""


@dataclass(frozen=True, slots=True)
class TemplateChange:
    """A template's status change; ``waba_id`` is the WABA that owns it (the entry's id)."""

    waba_id: str | None
    name: str
    language: str | None
    event: str
    reason: str | None
    template_id: str | None
    at: int
    raw: str


@dataclass(frozen=True, slots=True)
class TemplateUpdate:
    """A template's category change (``event`` CATEGORY_UPDATE, or CATEGORY_IMPENDING: ``values`` hold the
    current category and the pending one) or quality change (QUALITY_UPDATE); ``values`` are what the
    template item records."""

    waba_id: str | None
    name: str
    language: str | None
    event: str
    values: dict[str, Any]
    template_id: str | None
    at: int
    raw: str


@dataclass(frozen=True, slots=True)
class UserAction:
    """A click on a marketing message's link, a landing page view, or another ``user_actions`` item. Meta
    names neither the message nor the recipient [CLICK]: it is told apart by ``click_id``/``tracking_token``."""

    waba_id: str | None
    phone_number_id: str | None
    action_type: str
    at: int
    click_component: str | None
    product_id: str | None
    click_id: str | None
    tracking_token: str | None
    raw: str


@dataclass(frozen=True, slots=True)
class AccountChange:
    """A WABA signed the MM API terms."""

    waba_id: str
    event: str
    owner_business_id: str | None
    at: int
    raw: str


@dataclass(frozen=True, slots=True)
class Other:
    """Kept raw: an unknown field, a system error, or an item that did not parse (``invalid``)."""

    kind: str
    at: int
    raw: str
    reason: str = ""


@dataclass
class Batch:
    """Everything one POST carries, in arrival order per kind."""

    statuses: list[StatusEvent] = field(default_factory=list)
    inbound: list[Inbound] = field(default_factory=list)
    preferences: list[Preference] = field(default_factory=list)
    templates: list[TemplateChange | TemplateUpdate] = field(default_factory=list)
    actions: list[UserAction] = field(default_factory=list)
    accounts: list[AccountChange] = field(default_factory=list)
    other: list[Other] = field(default_factory=list)
    links: list[tuple[str, ...]] = field(default_factory=list)  # identifiers naming one user each

    def __len__(self) -> int:
        return sum(
            map(
                len,
                (
                    self.statuses,
                    self.inbound,
                    self.preferences,
                    self.templates,
                    self.actions,
                    self.accounts,
                    self.other,
                ),
            )
        )
