"""Shared fixtures. Paths resolve from this file; pytest's ``pythonpath`` puts layers/shared, local and tests
on sys.path."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import awscalls
import pytest
from webhookhttp import WebhookReceiver

from mmapi import motoserver

# Set before any handler or mmcore.observability import: Powertools reads them at construction.
for _var, _value in {
    "POWERTOOLS_SERVICE_NAME": "whatsapp-mm-campaigns",
    "POWERTOOLS_METRICS_NAMESPACE": "WhatsAppMarketing",
    "POWERTOOLS_TRACE_DISABLED": "true",
}.items():
    os.environ.setdefault(_var, _value)


def _serialize_moto() -> None:
    """moto's in-process backends are not thread-safe (the sender and the webhook make DynamoDB calls from a
    thread pool); real DynamoDB applies each request atomically. One lock per request gives tests that."""
    from moto.core.botocore_stubber import BotocoreStubber

    lock, handle = threading.RLock(), BotocoreStubber.__call__

    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return handle(self, *args, **kwargs)

    BotocoreStubber.__call__ = locked  # type: ignore[method-assign]


_serialize_moto()
motoserver.install()  # the same moto the local stack serves (its transactions roll back touched items only)
awscalls.install()  # what each handler asks of AWS, checked against template.yaml's grants (test_least_privilege)

if TYPE_CHECKING:
    import httpx

    from mmapi.simulator import Simulator


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    """A started Graph API simulator (default config, seed 0) on 127.0.0.1; stopped after the test.

    Change knobs on ``simulator.config``, move time with ``simulator.clock.advance(seconds)``.
    """
    from mmapi.simulator import Simulator  # imported here: unit tests never pay for aiohttp

    with Simulator() as sim:
        yield sim


@pytest.fixture
def graph_client(simulator: Simulator) -> Iterator[httpx.Client]:
    """An httpx client on the simulator's ``base_url`` with its Bearer token."""
    import httpx

    with httpx.Client(base_url=simulator.base_url, headers=simulator.auth_headers, timeout=5) as client:
        yield client


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The check of the AWS calls handlers made runs after every test that may call one."""
    last = [i for i in items if i.name == "test_every_aws_call_a_handler_made_is_granted"]
    items[:] = [i for i in items if i not in last] + last


def pytest_sessionfinish(session: pytest.Session) -> None:
    """With ``AWSCALLS_DIR`` set, each test process leaves the AWS calls its handlers made there, for the
    check in a later session (``make test``: the parallel run of unit and integration tests, then the e2e
    tests and the check)."""
    folder = os.environ.get("AWSCALLS_DIR")
    if folder:
        worker = getattr(session.config, "workerinput", {}).get("workerid", "main")
        awscalls.save(Path(folder), f"{worker}-{os.getpid()}")
