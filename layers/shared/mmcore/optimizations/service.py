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
- a failed audit write after Graph succeeded is :class:`~mmcore.exceptions.NotRecorded` and the whole record
  (who, what, before, after) is logged at ERROR (:mod:`~mmcore.optimizations.trail`), so an applied change is
  never lost silently.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mmcore.exceptions import DomainError, NotConfigured, NotFound
from mmcore.meta import creative, regions
from mmcore.optimizations.caveats import NOTES, changed, feature_views, region_caveats
from mmcore.optimizations.errors import invalid_features
from mmcore.optimizations.max_price import MaxPrices
from mmcore.optimizations.models import (
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
from mmcore.optimizations.nodes import Nodes, read_back
from mmcore.optimizations.onboarding import cloud_api_marketing_disabled, onboarding_status, where_sends_go
from mmcore.optimizations.trail import AuditTrail
from mmcore.settings import Settings
from mmcore.store.audit import AuditLog

HISTORY_DEFAULT, HISTORY_MAX = 20, 100

NO_WABA = "WABA_ID is not configured (template.yaml parameter WabaId)"

_TTL_NOTE = (
    "Meta stops trying to deliver this template's messages after the TTL; the sender also enforces each "
    "message's own time_to_live before sending."
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
    before a test sets their environment); ``rules`` the region table in force (``mmcore.policy``), whose
    caveats every view shows; ``today`` and ``now`` are injectable clocks. ``max_price`` holds the template
    max price and the WABA reach estimate (:class:`~mmcore.optimizations.max_price.MaxPrices`).
    """

    def __init__(
        self,
        graph: Any,
        audit: AuditLog,
        settings: Settings,
        *,
        logger: Any = None,
        rules: Sequence[regions.Rule] = regions.RULES,
        today: Callable[[], dt.date] = _utc_today,
        now: Callable[[], str] = _utc_now,
    ) -> None:
        self.settings = settings
        self.logger = logger or logging.getLogger(__name__)
        self.nodes = Nodes(graph, self.logger)
        self.trail = AuditTrail(audit, self.logger, now)
        self.rules = rules
        self.max_price = MaxPrices(self.nodes, self.trail, settings.waba_id)
        self._today = today

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
        return self._view(target, await self.nodes.features(target))

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

        before = await self.nodes.features(target)
        await self.nodes.change(target, creative.to_degrees_of_freedom_spec(requested))
        try:
            after = await self.nodes.features(target)
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
        record = self.trail.record(target, ctx, change, full_before, full_after, warnings)
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
        before = await self.nodes.ttl(target)
        await self.nodes.change(target, {"message_send_ttl_seconds": ttl})
        after, warnings = await read_back(lambda: self.nodes.ttl(target), ttl, "the TTL")
        if after != ttl:
            warnings.append(f"Meta reports message_send_ttl_seconds={after} after {ttl} was sent")
        record = self.trail.record(
            target,
            ctx,
            {"message_send_ttl_seconds": ttl},
            {"message_send_ttl_seconds": before},
            {"message_send_ttl_seconds": after},
            warnings,
        )
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
        """The WABA's MM API onboarding status, its Cloud API marketing setting, and what a send does under each
        product policy."""
        target = self.waba()
        answer = await self.nodes.onboarding(target)
        return where_sends_go(
            target.id,
            onboarding_status(answer),
            self.settings.default_product_policy,
            cloud_api_marketing_disabled(answer),
        )

    # ------------------------------------------------------------ audit history

    def history(self, target: Target, limit: int = HISTORY_DEFAULT, next_token: str | None = None) -> History:
        """``target``'s audit records, newest first, one page of ``limit``."""
        return self.trail.history(target, limit, next_token)

    # ------------------------------------------------------------ internals

    def _view(self, target: Target, reported: Mapping[str, str]) -> OptimizationsView:
        return OptimizationsView(
            scope=target.scope,
            id=target.id,
            features=feature_views(reported),
            region=region_caveats(self.settings.business_country, self._today(), self.rules),
            notes=list(NOTES[target.scope]),
        )
