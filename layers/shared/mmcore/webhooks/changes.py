"""What the changes other than statuses and replies do: a template's status (PAUSED and DISABLED halt its
queued traffic, APPROVED and REINSTATED release it), a WABA's MM API onboarding, and the rest kept raw."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from mmcore.meta.errors import Scope
from mmcore.observability import logger
from mmcore.store import halts
from mmcore.store.accounts import Accounts
from mmcore.store.inbound import Unhandled
from mmcore.store.messages import Ledger
from mmcore.store.templates import Templates
from mmcore.webhooks.batch import AccountChange, Other, TemplateChange
from mmcore.webhooks.wire import cap

# event -> (seconds halted, error code the sender would get)
TEMPLATE_HALTS: Mapping[str, tuple[int, int]] = {
    "PAUSED": (7 * 24 * 3600, 132015),
    "DISABLED": (30 * 24 * 3600, 132016),
}
TEMPLATE_RELEASES = frozenset({"APPROVED", "REINSTATED"})


class Changes:
    """Applies template, account and other changes on a low-level DynamoDB client."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table
        self.ledger = Ledger(client, table)
        self.accounts = Accounts(client, table)
        self.unhandled = Unhandled(client, table)

    def templates(self, group: Iterable[TemplateChange], now: int) -> Counter[str]:
        """One template's changes, oldest first: each kept, the latest status moved forward by event time
        (a late event decides nothing), and the template's halt set or lifted with it."""
        done: Counter[str] = Counter()
        for t in sorted(group, key=lambda t: t.at):
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
                done.update(self._halt(t, now))
        return done

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

    def other(self, o: Other, now: int) -> Counter[str]:
        """Kept raw, once."""
        self.unhandled.keep(o.kind, o.at, o.raw, o.reason, now)
        return Counter()
