"""The audit trail of the changes made through this API: a record per change applied at Meta (who, what,
before, after, when), written last; and the history of a target, newest first."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from mmcore.exceptions import NotRecorded
from mmcore.optimizations.models import AuditRecord, ChangeContext, History, Target
from mmcore.store.audit import AuditLog


class AuditTrail:
    """Records on an :class:`~mmcore.store.audit.AuditLog` (``put``, ``page`` and ``table``); ``now`` is the
    clock of ``at`` (UTC, ISO 8601 with microseconds)."""

    def __init__(self, log: AuditLog, logger: Any, now: Callable[[], str]) -> None:
        self.log = log
        self.logger = logger
        self._now = now

    def record(
        self,
        target: Target,
        ctx: ChangeContext,
        change: dict[str, Any],
        before: dict[str, Any],
        after: dict[str, Any],
        warnings: list[str],
    ) -> AuditRecord:
        """Write the record of a change Meta already applied. A failure is logged in full at ERROR (the record
        must survive somewhere) and raised as :class:`NotRecorded`."""
        record = AuditRecord(
            audit_id=str(uuid.uuid4()),
            scope=target.scope,
            target_id=target.id,
            at=self._now(),
            who=ctx.who,
            route=ctx.route,
            change=change,
            before=before,
            after=after,
            warnings=warnings,
            request_id=ctx.request_id,
        )
        values = record.model_dump(mode="json")
        try:
            self.log.put(values)
        except (
            Exception
        ) as exc:  # any failure: the change is applied at Meta, the record must survive in logs
            self.logger.exception(
                "change applied at Meta but its audit record was not written",
                extra={"audit": values, "table": self.log.table},
            )
            raise NotRecorded(
                f"the change was applied to {target.label}, but its audit record could not be written "
                f"({type(exc).__name__}); the record is in the function's log under audit_id "
                f"{record.audit_id}",
                audit_id=record.audit_id,
                applied=record.change,
            ) from None
        return record

    def history(self, target: Target, limit: int, next_token: str | None) -> History:
        """``target``'s records, newest first, one page of ``limit``."""
        items, following = self.log.page(target.scope, target.id, limit, next_token)
        return History(
            scope=target.scope,
            id=target.id,
            items=[AuditRecord.model_validate(item) for item in items],
            next_token=following,
        )
