"""The Graph API: an ``httpx.AsyncClient`` per warm container (:class:`GraphClient`) and send pacing."""

from mmcore.graph.client import Accepted, GraphClient, TokenUnavailable
from mmcore.graph.limiter import NumberPacer

__all__ = ["Accepted", "GraphClient", "NumberPacer", "TokenUnavailable"]
