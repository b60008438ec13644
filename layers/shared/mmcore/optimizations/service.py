"""The optimization configuration service: Graph calls, audit records, answers.

Graph calls (reference sections 3 and 8):

- template: ``GET /<TEMPLATE_ID>?fields=degrees_of_freedom_spec`` answers UPPERCASE keys in a ``{key, value}``
  list; ``POST /<TEMPLATE_ID>`` takes ``{"degrees_of_freedom_spec": {"creative_features_spec": {lowercase:
  {enroll_status}}}}`` or ``{"message_send_ttl_seconds": N}``;
- WABA: ``POST /<WABA_ID>`` with the same ``degrees_of_freedom_spec``; ``GET /<WABA_ID>?fields=
  degrees_of_freedom_spec`` (read shape UNCONFIRMED, ``creative.from_graph`` reads both) and
  ``?fields=marketing_messages_onboarding_status``.

A change runs: validate -> read before -> POST -> read after -> write the audit record -> answer. So:

- a Graph failure (before-read or POST) writes nothing: no audit record claims a change Meta did not accept.
  A POST that got no answer may have been applied; the error says so and points to the read-back GET;
- a failed read-back after a successful POST still records the change, with ``after`` computed from
  ``before`` and what was sent, and the answer warns about it;
- a failed audit write after Graph succeeded is :class:`NotRecorded` and the whole record (who, what,
  before, after) is logged at ERROR, so an applied change is never lost silently.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from mmcore.exceptions import DomainError, NotConfigured, NotFound, NotRecorded
from mmcore.meta import creative
from mmcore.meta.errors import GraphError
from mmcore.optimizations.caveats import NOTES, changed, feature_views, region_caveats
from mmcore.optimizations.errors import invalid_features, map_graph_error
from mmcore.optimizations.models import (
    AuditRecord,
    ChangeContext,
    FeaturesUpdate,
    History,
    Onboarding,
    OptimizationsChange,
    OptimizationsView,
    Scope,
    Target,
    TtlChange,
    TtlUpdate,
)
from mmcore.settings import Settings
from mmcore.store.audit import AuditLog

HISTORY_DEFAULT, HISTORY_MAX = 20, 100

ONBOARDED = "ONBOARDED"
NO_WABA = "WABA_ID is not configured (template.yaml parameter WabaId)"

_TTL_NOTE = (
    "Meta stops trying to deliver this template's messages after the TTL; the sender also enforces each "
    "message's own time_to_live before sending."
)
_ONBOARD_NOTE = (
    "To onboard, a user with full control of the business portfolio accepts the MM API terms (WhatsApp "
    "Manager > Overview > Alerts, or App Dashboard > WhatsApp > Quickstart); the account_update webhook "
    "MM_LITE_TERMS_SIGNED says when it is done."
)


def _utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Optimizations:
    """The optimization configuration API's domain: Graph calls, audit records, answers.

    ``graph`` is a :class:`mmcore.graph.GraphClient` (``call`` is what is used), ``audit`` an
    :class:`~mmcore.store.audit.AuditLog` (``put`` and ``page``), ``logger`` the handler's Powertools logger
    (a stdlib logger by default: importing ``mmcore.observability`` here would build Powertools' objects
    before a test sets their environment); ``today`` and ``now`` are injectable clocks.
    """

    def __init__(
        self,
        graph: Any,
        audit: AuditLog,
        settings: Settings,
        *,
        logger: Any = None,
        today: Callable[[], dt.date] = _utc_today,
        now: Callable[[], str] = _utc_now,
    ) -> None:
        self.graph = graph
        self.audit = audit
        self.settings = settings
        self.logger = logger or logging.getLogger(__name__)
        self._today = today
        self._now = now

    # ------------------------------------------------------------ targets

    def template(self, template_id: str) -> Target:
        """A template node; never the WABA or the phone number (the path allows any digits)."""
        if template_id in (self.settings.waba_id, self.settings.phone_number_id):
            raise NotFound(f"{template_id} is the WABA or the phone number, not a template")
        return Target(Scope.TEMPLATE, template_id)

    def waba(self) -> Target:
        """The configured WABA node (:class:`NotConfigured` without ``WABA_ID``)."""
        if not self.settings.waba_id:
            raise NotConfigured(NO_WABA)
        return Target(Scope.WABA, self.settings.waba_id)

    # ------------------------------------------------------------ creative optimizations

    async def view(self, target: Target) -> OptimizationsView:
        """Every catalog feature as Meta reports it for ``target``."""
        return self._view(target, await self._read_features(target))

    async def update(
        self, target: Target, request: FeaturesUpdate, ctx: ChangeContext
    ) -> OptimizationsChange:
        """Validate against the catalog, send the lowercase object, read back, audit, answer."""
        try:
            resolved = creative.resolve_features(request.statuses(), allow_unknown=request.allow_unknown)
        except creative.FeatureSpecError as exc:
            raise invalid_features(exc) from None
        requested = {key: str(status) for key, status in resolved.features.items()}
        warnings = list(resolved.warnings)

        before = await self._read_features(target)
        await self._call(
            target, "POST", json_body=creative.to_degrees_of_freedom_spec(requested), changing=True
        )
        try:
            after = await self._read_features(target)
        except DomainError as exc:
            after = {**before, **requested}
            warnings.append(
                f"Meta accepted the change, but reading it back failed ({exc.message}): the settings shown "
                "are the previous ones with the change applied, not what Meta reports"
            )
        warnings += [
            f"{key}: Meta reports {after.get(key, 'nothing')} after {status} was sent"
            for key, status in requested.items()
            if after.get(key, status) != status
        ]
        full_before, full_after = creative.with_defaults(before), creative.with_defaults(after)
        change = {"features": requested, "allow_unknown": request.allow_unknown}
        record = self._record(target, ctx, change, full_before, full_after, warnings)
        self._write_audit(target, record)
        return OptimizationsChange(
            **self._view(target, after).model_dump(),
            requested=requested,
            changed=changed(full_before, full_after),
            warnings=warnings,
            audit_id=record.audit_id,
        )

    # ------------------------------------------------------------ template TTL

    async def set_ttl(self, target: Target, request: TtlUpdate, ctx: ChangeContext) -> TtlChange:
        """Set a template's ``message_send_ttl_seconds``, read it back, audit, answer."""
        ttl = request.message_send_ttl_seconds
        before = await self._read_ttl(target)
        await self._call(target, "POST", json_body={"message_send_ttl_seconds": ttl}, changing=True)
        warnings = []
        try:
            after = await self._read_ttl(target)
        except DomainError as exc:
            after = ttl
            warnings.append(f"Meta accepted the TTL, but reading it back failed ({exc.message})")
        if after != ttl:
            warnings.append(f"Meta reports message_send_ttl_seconds={after} after {ttl} was sent")
        record = self._record(
            target,
            ctx,
            {"message_send_ttl_seconds": ttl},
            {"message_send_ttl_seconds": before},
            {"message_send_ttl_seconds": after},
            warnings,
        )
        self._write_audit(target, record)
        return TtlChange(
            id=target.id,
            message_send_ttl_seconds=after,
            before=before,
            warnings=warnings,
            notes=[_TTL_NOTE],
            audit_id=record.audit_id,
        )

    # ------------------------------------------------------------ onboarding

    async def onboarding(self) -> Onboarding:
        """The WABA's MM API onboarding status, and what a send does under each product policy."""
        target = self.waba()
        answer = await self._call(target, "GET", params={"fields": "marketing_messages_onboarding_status"})
        status = answer.get("marketing_messages_onboarding_status")
        if isinstance(status, Mapping):  # the business-portfolio shape {"status": ..., "time": ...}
            status = status.get("status")
        status = status if isinstance(status, str) and status else None
        onboarded = status == ONBOARDED
        policy = self.settings.default_product_policy
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
            notes.append(_ONBOARD_NOTE)
        if status not in (ONBOARDED, "ELIGIBLE"):
            notes.append(
                "Only ONBOARDED and ELIGIBLE are documented; any other value is treated as not onboarded."
            )
        return Onboarding(
            waba_id=target.id,
            marketing_messages_onboarding_status=status,
            onboarded=onboarded,
            default_product_policy=policy,
            sends=outcomes[policy],
            by_product_policy=outcomes,
            explanation=explanations[outcomes[policy]],
            notes=notes,
        )

    # ------------------------------------------------------------ audit history

    def history(self, target: Target, limit: int = HISTORY_DEFAULT, next_token: str | None = None) -> History:
        """``target``'s audit records, newest first, one page of ``limit``."""
        items, following = self.audit.page(target.scope, target.id, limit, next_token)
        return History(
            scope=target.scope,
            id=target.id,
            items=[AuditRecord.model_validate(item) for item in items],
            next_token=following,
        )

    # ------------------------------------------------------------ internals

    async def _call(
        self,
        target: Target,
        method: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: dict[str, Any] | None = None,
        changing: bool = False,
    ) -> dict[str, Any]:
        try:
            return await self.graph.call(method, f"/{target.id}", params=params, json_body=json_body)
        except GraphError as exc:
            self.logger.warning(
                "graph call failed",
                extra={
                    "target": target.label,
                    "method": method,
                    "code": exc.code,
                    "fbtrace_id": exc.fbtrace_id,
                },
            )
            raise map_graph_error(exc, target, changing=changing) from None

    async def _read_features(self, target: Target) -> dict[str, str]:
        answer = await self._call(target, "GET", params={"fields": "degrees_of_freedom_spec"})
        return creative.from_graph(answer)

    async def _read_ttl(self, target: Target) -> int | None:
        answer = await self._call(target, "GET", params={"fields": "message_send_ttl_seconds"})
        value = answer.get("message_send_ttl_seconds")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def _view(self, target: Target, reported: Mapping[str, str]) -> OptimizationsView:
        return OptimizationsView(
            scope=target.scope,
            id=target.id,
            features=feature_views(reported),
            region=region_caveats(self.settings.business_country, self._today()),
            notes=list(NOTES[target.scope]),
        )

    def _record(
        self,
        target: Target,
        ctx: ChangeContext,
        change: dict[str, Any],
        before: dict[str, Any],
        after: dict[str, Any],
        warnings: list[str],
    ) -> AuditRecord:
        return AuditRecord(
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

    def _write_audit(self, target: Target, record: AuditRecord) -> None:
        """The last step of a change: Meta already has it, so a failure here is logged in full, never lost."""
        values = record.model_dump(mode="json")
        try:
            self.audit.put(values)
        except (
            Exception
        ) as exc:  # any failure: the change is applied at Meta, the record must survive in logs
            self.logger.exception(
                "change applied at Meta but its audit record was not written",
                extra={"audit": values, "table": self.audit.table},
            )
            raise NotRecorded(
                f"the change was applied to {target.label}, but its audit record could not be written "
                f"({type(exc).__name__}); the record is in the function's log under audit_id "
                f"{record.audit_id}",
                audit_id=record.audit_id,
                applied=record.change,
            ) from None
