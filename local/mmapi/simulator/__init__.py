"""A local model of Meta's Graph API for the Marketing Messages API: sends, templates, webhooks, faults.

It is independent of ``mmcore`` on purpose, so the product's bugs show up against it.
"""

from .config import SimulatorConfig
from .errors import GraphError
from .server import Simulator, SimulatorServer
from .state import Clock, LoggedRequest, Message
from .webhooks import SIGNATURE_HEADER, Delivery, sign

__all__ = [
    "SIGNATURE_HEADER",
    "Clock",
    "Delivery",
    "GraphError",
    "LoggedRequest",
    "Message",
    "Simulator",
    "SimulatorConfig",
    "SimulatorServer",
    "sign",
]
