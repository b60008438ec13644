"""The local stack, started once for every end-to-end test: the handlers' warm-container caches (clients,
services) live in this process, so a second stack would find them pointing at the first one's endpoints."""

from __future__ import annotations

import httpx
import pytest

from mmapi.runtime import Runtime


@pytest.fixture(scope="session")
def stack():
    options = {
        "mps": 200,
        "fallback_ratio": 0.25,
        "failure_ratios": {131026: 0.05},
        "webhook_batch_size": 20,
        "pair_interval_seconds": None,
        "read_ratio": 0.5,
    }
    params = {"ThroughputMps": "1000", "SendMaxConcurrency": "2"}
    with Runtime(port=0, seed=3, simulator_options=options, parameters=params) as runtime:
        yield runtime


@pytest.fixture(scope="session")
def api(stack):
    with httpx.Client(base_url=stack.api_url, timeout=60) as client:
        yield client
