"""The Graph API: an ``httpx.AsyncClient`` per warm container (:class:`GraphClient`) and send pacing."""

from mmcore.graph.client import Accepted, GraphClient, TokenUnavailable
from mmcore.graph.limiter import RateLimiter

__all__ = ["Accepted", "GraphClient", "RateLimiter", "TokenUnavailable"]
