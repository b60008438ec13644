"""What the changes other than statuses and replies do: a template's status (PAUSED, DISABLED and ARCHIVED halt
its queued traffic, APPROVED, REINSTATED and UNARCHIVED release it), category and quality (on the template
item), a WABA's MM API onboarding, click and landing-page-view events (stored and counted), preferences other
than stop/resume (kept), and the rest kept raw."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from mmcore.meta.errors import Scope
from mmcore.observability import logger
from mmcore.store import halts
from mmcore.store.accounts import Accounts
from mmcore.store.clicks import CLICK, LANDING_PAGE_VIEW, Clicks
from mmcore.store.inbound import Unhandled
from mmcore.store.messages import Ledger
from mmcore.store.templates import Templates
from mmcore.webhooks.batch import AccountChange, Other, Preference, TemplateChange, TemplateUpdate, UserAction
from mmcore.webhooks.wire import cap

# event -> (seconds halted, error code the sender would get). [MTSU, Apr 13, 2026] adds ARCHIVED/UNARCHIVED:
# an archived template is out of use until it is unarchived, so it halts like DISABLED (the first send after
# the halt probes Meta) and UNARCHIVED releases it. The code a send of an archived template gets is
# UNCONFIRMED: none is recorded.
TEMPLATE_HALTS: Mapping[str, tuple[int, int | None]] = {
    "PAUSED": (7 * 24 * 3600, 132015),
    "DISABLED": (30 * 24 * 3600, 132016),
    "ARCHIVED": (30 * 24 * 3600, None),
}
TEMPLATE_RELEASES = frozenset({"APPROVED", "REINSTATED", "UNARCHIVED"})

# A category or quality event -> (the item's clock attribute, attributes it clears, its Summary count).
# [TCU]: a completed change ends the announced one; [ROUTE]: route on the completed change only.
TEMPLATE_UPDATES: Mapping[str, tuple[str, tuple[str, ...], str]] = {
    "CATEGORY_UPDATE": ("category_at", ("pending_category", "pending_category_at"), "template_categories"),
    "CATEGORY_IMPENDING": ("category_at", (), "template_categories_impending"),
    "QUALITY_UPDATE": ("quality_at", (), "template_qualities"),
}
ACTION_COUNTS = {CLICK: "clicks", LANDING_PAGE_VIEW: "landing_page_views"}  # others: "user_actions_other"


class Changes:
    """Applies template, account and other changes on a low-level DynamoDB client."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table
        self.ledger = Ledger(client, table)
        self.accounts = Accounts(client, table)
        self.unhandled = Unhandled(client, table)

    def templates(self, group: Iterable[TemplateChange | TemplateUpdate], now: int) -> Counter[str]:
        """One template's changes, oldest first: each kept; its status, category and quality each moved
        forward by event time (a late event decides nothing), and the template's halt set or lifted with
        its status."""
        done: Counter[str] = Counter()
        for t in sorted(group, key=lambda t: t.at):
            if isinstance(t, TemplateUpdate):
                done.update(self._update(t, now))
                continue
            moved = Templates(self.client, self.table, t.waba_id or "").record_status(
                t.name,
                t.language,
                t.event,
                t.at,
                now,
                reason=cap(t.reason),
                template_id=t.template_id,
                raw=t.raw,
            )
            if moved:
                done["template_statuses"] += 1
                done.update(self._halt(t, now))
        return done

    def _update(self, t: TemplateUpdate, now: int) -> Counter[str]:
        clock, remove, count = TEMPLATE_UPDATES[t.event]
        moved = Templates(self.client, self.table, t.waba_id or "").record_update(
            t.name,
            t.language,
            t.event,
            t.at,
            now,
            clock=clock,
            values=t.values,
            remove=remove,
            template_id=t.template_id,
            raw=t.raw,
        )
        log = {"template": t.name, "language": t.language, "waba_id": t.waba_id, "event": t.event, **t.values}
        if not moved:
            logger.info("late template update kept, not applied", extra=log)
            return Counter()
        logger.info("template %s", t.event.lower(), extra=log)
        return Counter({count: 1})

    def _halt(self, t: TemplateChange, now: int) -> Counter[str]:
        key = halts.template_halt_key(t.waba_id or "", t.name, t.language or "")
        log = {"template": key, "waba_id": t.waba_id, "event": t.event, "reason": t.reason}
        if t.language is None and (t.event in TEMPLATE_HALTS or t.event in TEMPLATE_RELEASES):
            logger.warning("template status without language: no halt change", extra=log)
        elif t.event in TEMPLATE_HALTS:
            seconds, code = TEMPLATE_HALTS[t.event]
            self.ledger.halt(
                Scope.TEMPLATE, key, now + seconds, code, f"template {t.event}: {t.reason or ''}"
            )
            logger.error("template halted by webhook", extra=log)
            return Counter(template_halts=1)
        elif t.event in TEMPLATE_RELEASES:
            halts.release(self.client, self.table, Scope.TEMPLATE, key)
            logger.info("template released by webhook", extra=log)
            return Counter(template_releases=1)
        else:
            logger.info("template status recorded", extra=log)
        return Counter()

    def account(self, a: AccountChange, now: int) -> Counter[str]:
        """MM API terms signed: the WABA's onboarding, forward by event time."""
        if not self.accounts.record_onboarding(
            a.waba_id, a.at, now, event=a.event, owner_business_id=a.owner_business_id, raw=a.raw
        ):
            return Counter()
        logger.info("MM API terms signed", extra={"waba_id": a.waba_id})
        return Counter(onboarded=1)

    def action(self, a: UserAction, now: int) -> Counter[str]:
        """A click or landing page view (or another user action): stored and counted once."""
        fields = {
            "phone_number_id": a.phone_number_id,
            "click_component": a.click_component,
            "product_id": a.product_id,
            "click_id": a.click_id,
            "tracking_token": a.tracking_token,
        }
        if not Clicks(self.client, self.table, a.waba_id).record(a.action_type, a.at, fields, a.raw, now):
            return Counter(duplicates=1)
        return Counter({ACTION_COUNTS.get(a.action_type, "user_actions_other"): 1})

    def preference(self, p: Preference, now: int) -> Counter[str]:
        """A preference other than stop/resume (e.g. ``signup``): kept by value, with its user; not applied."""
        self.unhandled.keep(
            f"user_preferences.{p.value}",
            p.timestamp,
            p.raw,
            None,
            now,
            user=p.user,
            value=p.value,
            category=p.category,
            detail=cap(p.detail),
        )
        return Counter()

    def other(self, o: Other, now: int) -> Counter[str]:
        """Kept raw, once."""
        self.unhandled.keep(o.kind, o.at, o.raw, o.reason, now)
        return Counter()
