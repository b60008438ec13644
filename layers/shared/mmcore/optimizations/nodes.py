"""The Graph calls on a template or WABA node, a Graph failure raised as a domain error
(:func:`~mmcore.optimizations.errors.map_graph_error`) after a log line with Graph's code and fbtrace_id."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from mmcore.exceptions import DomainError
from mmcore.meta import creative
from mmcore.meta.errors import GraphError
from mmcore.optimizations.errors import map_graph_error
from mmcore.optimizations.models import Target

ONBOARDING_FIELDS = "marketing_messages_onboarding_status,disable_marketing_messages_on_cloud_api"


class Nodes:
    """Reads and changes of a node through ``graph`` (a :class:`mmcore.graph.GraphClient`: ``call``)."""

    def __init__(self, graph: Any, logger: Any) -> None:
        self.graph = graph
        self.logger = logger

    async def features(self, target: Target) -> dict[str, str]:
        """The creative optimizations Meta reports, lowercase key -> status."""
        return creative.from_graph(await self.read(target, "degrees_of_freedom_spec"))

    async def ttl(self, target: Target) -> int | None:
        """The template's ``message_send_ttl_seconds`` (None: unset)."""
        value = (await self.read(target, "message_send_ttl_seconds")).get("message_send_ttl_seconds")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    async def onboarding(self, target: Target) -> dict[str, Any]:
        """The WABA's MM API onboarding status and its ``disable_marketing_messages_on_cloud_api`` setting
        (meta-2026-updates section 4), in one ``GET``."""
        return await self.read(target, ONBOARDING_FIELDS)

    async def read(self, target: Target, fields: str) -> dict[str, Any]:
        """``GET /<id>?fields=...``."""
        return await self._call(target, "GET", params={"fields": fields})

    async def read_edge(self, target: Target, edge: str, params: dict[str, Any]) -> dict[str, Any]:
        """``GET /<id>/<edge>?...``."""
        return await self._call(target, "GET", params=params, edge=edge)

    async def change(
        self, target: Target, body: dict[str, Any], *, refusal: Callable[..., Exception] = map_graph_error
    ) -> None:
        """``POST /<id>``; a POST without an answer says it may have been applied. ``refusal`` maps a Graph
        failure (default :func:`~mmcore.optimizations.errors.map_graph_error`)."""
        await self._call(target, "POST", json_body=body, changing=True, refusal=refusal)

    async def _call(
        self,
        target: Target,
        method: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: dict[str, Any] | None = None,
        changing: bool = False,
        edge: str | None = None,
        refusal: Callable[..., Exception] = map_graph_error,
    ) -> dict[str, Any]:
        path = f"/{target.id}/{edge}" if edge else f"/{target.id}"
        try:
            return await self.graph.call(method, path, params=params, json_body=json_body)
        except GraphError as exc:
            extra = {"target": target.label, "method": method, "code": exc.code, "fbtrace_id": exc.fbtrace_id}
            self.logger.warning("graph call failed", extra=extra)
            raise refusal(exc, target, changing=changing) from None


_T = TypeVar("_T")


async def read_back(read: Callable[[], Awaitable[_T]], sent: _T, what: str) -> tuple[_T, list[str]]:
    """What Meta reports after a change (``read()``); ``sent`` and a warning when reading it back failed."""
    try:
        return await read(), []
    except DomainError as exc:
        return sent, [f"Meta accepted {what}, but reading it back failed ({exc.message})"]
