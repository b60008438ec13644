"""A full sync of ``GET /<WABA_ID>/message_templates`` into the registry, page by page.

Rate limits [PLAT]: 200 management calls per hour per app and WABA, 5,000 for a WABA with a registered
number (errors 4, 80007; reference section 9). A sync asks for 100 templates a page (Meta's per-WABA limit
is 250 for most businesses, so 1-3 calls) and stops after :data:`MAX_PAGES`; a throttling answer stops it at
once with the delay the error catalog gives (``mmcore.meta.errors``), never a loop of retries. What earlier
pages wrote stays; templates are marked unlisted only after a complete listing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from mmcore.exceptions import NotConfigured, Unavailable
from mmcore.graph.client import TokenUnavailable
from mmcore.meta import templates as meta
from mmcore.meta.errors import GraphError, backoff_delay
from mmcore.store.templates import Templates

# fields= of the listing: what the registry keeps (Meta's template node; quality_score is {score, date}).
FIELDS = (
    "id,name,language,status,category,quality_score,parameter_format,components,"
    "optimization_spec,message_send_ttl_seconds"
)
PAGE_SIZE = 100
MAX_PAGES = 20  # 2,000 templates: ~8x Meta's usual per-WABA limit; more means a paging loop
# Graph's throttling answers [PLAT][ERR]: 4 (app), 80007 (WhatsApp Business Management, per WABA), 130429
# (throughput). 80000-80014 are Graph's business-use-case limits, of which 80007 is the WhatsApp one; the
# others (e.g. 80008) are UNCONFIRMED for this edge but throttle the same way, so they are honoured too.
THROTTLING = frozenset({4, 17, 32, 613, 130429}) | frozenset(range(80000, 80015))


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one sync did."""

    added: int = 0
    changed: int = 0
    same: int = 0
    unlisted: int = 0
    pages: int = 0
    templates: int = 0

    def view(self) -> dict[str, int]:
        """As ``POST /templates/sync`` answers it."""
        return asdict(self)


class Registry:
    """Syncs one WABA's templates through ``graph`` (:class:`mmcore.graph.GraphClient`: ``call``)."""

    def __init__(self, graph: Any, store: Templates, clock: Callable[[], float], logger: Any) -> None:
        self.graph = graph
        self.store = store
        self.clock = clock
        self.logger = logger

    async def sync(self) -> SyncReport:
        """List every template of the WABA and keep each; mark those Meta no longer lists. Raises
        :class:`~mmcore.exceptions.Unavailable` naming the reason (``unreachable``, ``throttled``,
        ``refused``) when Meta cannot be read, :class:`~mmcore.exceptions.NotConfigured` without a WABA."""
        waba = self.store.waba_id
        if waba in ("", "-"):
            raise NotConfigured("WABA_ID is not configured: the template registry cannot be synced")
        now = int(self.clock())
        counts = {"added": 0, "changed": 0, "same": 0}
        seen: set[tuple[str, str]] = set()
        params: dict[str, Any] = {"fields": FIELDS, "limit": PAGE_SIZE}
        pages, cursors = 0, set()
        while True:
            if pages >= MAX_PAGES:
                raise Unavailable(
                    f"the template listing did not end after {MAX_PAGES} pages: sync stopped",
                    reason="too_many_pages",
                    pages=pages,
                )
            answer = await self._page(params, pages)
            pages += 1
            for node in answer.get("data") or []:
                listed = listed_template(node)
                if listed is None:
                    continue
                seen.add((listed["name"], listed["language"]))
                counts[self.store.record_listed(listed, now)] += 1
            paging = answer.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after or after in cursors:
                break
            cursors.add(after)
            params = {**params, "after": after}
        unlisted = 0
        for item in self.store.everything():
            where = (item.get("template_name"), item.get("language"))
            if where not in seen and item.get("unlisted_at") is None and all(where):
                self.store.mark_unlisted(where[0], where[1], now)
                unlisted += 1
        report = SyncReport(**counts, unlisted=unlisted, pages=pages, templates=len(seen))
        self.store.record_sync(int(self.clock()), report.view())
        self.logger.info("templates synced", extra={"waba_id": waba, **report.view()})
        return report

    async def _page(self, params: dict[str, Any], done: int) -> dict[str, Any]:
        try:
            return await self.graph.call("GET", f"/{self.store.waba_id}/message_templates", params=params)
        except TokenUnavailable as exc:
            raise Unavailable(
                f"Meta cannot be reached: {exc}", reason="token_unavailable", pages=done
            ) from None
        except GraphError as exc:
            extra = {"code": exc.code, "http_status": exc.http_status, "fbtrace_id": exc.fbtrace_id}
            self.logger.warning("template listing failed", extra=extra)
            raise unavailable(exc, done) from None


def unavailable(exc: GraphError, pages: int) -> Unavailable:
    """A failed listing call as the 503 a caller sees: why, Meta's code, and when to try again."""
    graph = {
        "code": exc.code,
        "message": exc.message,
        "http_status": exc.http_status,
        "fbtrace_id": exc.fbtrace_id,
    }
    if exc.code in THROTTLING or exc.http_status == 429:
        delay = max(1, backoff_delay(exc.rule, 1))
        return Unavailable(
            f"Meta throttled the template listing ({exc.rule.title}, code {exc.code}): retry after {delay} s",
            reason="throttled",
            retry_after_seconds=delay,
            pages=pages,
            graph=graph,
        )
    if exc.http_status is None or exc.http_status >= 500:
        return Unavailable(
            f"Meta cannot be reached for the template listing: {exc.message}",
            reason="unreachable",
            pages=pages,
            graph=graph,
        )
    return Unavailable(
        f"Meta refused the template listing (code {exc.code}): {exc.message}",
        reason="refused",
        pages=pages,
        graph=graph,
    )


def listed_template(node: Any) -> dict[str, Any] | None:
    """One node of the listing as the registry keeps it (None: a node without a name or language)."""
    if not isinstance(node, dict) or not node.get("name") or not node.get("language"):
        return None
    quality = node.get("quality_score")
    parameter_format = str(node.get("parameter_format") or "POSITIONAL").upper()
    return {
        "name": node["name"],
        "language": node["language"],
        "template_id": str(node["id"]) if node.get("id") is not None else None,
        "status": node.get("status"),
        "category": node.get("category"),
        "quality_score": quality.get("score") if isinstance(quality, dict) else quality,
        "parameter_format": parameter_format,
        "components": node.get("components") or [],
        "shape": meta.shape(node.get("components"), parameter_format).view(),
        "optimization_spec": node.get("optimization_spec"),
        "message_send_ttl_seconds": node.get("message_send_ttl_seconds"),
    }
