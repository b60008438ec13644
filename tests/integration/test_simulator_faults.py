"""Fault injection, the duplicate-send detector and the standalone CLI of the Graph API simulator."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from mmapi.simulator import Simulator, SimulatorConfig
from mmapi.simulator.faults import choose_fault

INDIA = "919876543210"
LOCAL = Path(__file__).resolve().parents[2] / "local"


def body(to: str = INDIA, name: str = "summer_sale") -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": {"name": name, "language": {"code": "en_US"}},
    }


def send(client: httpx.Client, sim: Simulator, to: str = INDIA, **kwargs: Any) -> httpx.Response:
    return client.post(f"/{sim.phone_number_id}/marketing_messages", json=body(to), **kwargs)


def test_fixed_latency(simulator, graph_client):
    simulator.config.latency_ms = 80
    started = time.perf_counter()
    assert send(graph_client, simulator).status_code == 200
    assert time.perf_counter() - started >= 0.08


@pytest.mark.parametrize("distribution", ["uniform", "normal"])
def test_distributed_latency_is_seeded(distribution):
    config = SimulatorConfig(latency_ms=50, latency_jitter_ms=20, latency_distribution=distribution)

    def delays(seed: int) -> list[float]:
        rng = random.Random(seed)
        return [choose_fault(config, rng).delay for _ in range(200)]

    first = delays(3)
    assert first == delays(3) != delays(4)
    assert all(d >= 0 for d in first) and 0.04 < sum(first) / len(first) < 0.06
    if distribution == "uniform":
        assert min(first) >= 0.03 and max(first) <= 0.07


def test_slow_responses_trip_client_timeouts(simulator, graph_client):
    simulator.config.slow_ratio, simulator.config.slow_ms = 1.0, 300
    with pytest.raises(httpx.ReadTimeout):
        send(graph_client, simulator, timeout=0.05)


@pytest.mark.parametrize(
    ("code", "http_status", "title"),
    [
        (131000, 500, "Something went wrong"),
        (133004, 503, "Server temporarily unavailable"),
        (130429, 400, "Rate limit hit"),
        (131016, 500, "Service unavailable"),
        # the 2026 codes and the registration codes (meta-2026-updates section 11, Meta's table)
        (131061, 400, "Max price template sent to Cloud API"),
        (131062, 400, "BSUID recipient not supported"),
        (131063, 400, "Marketing templates disabled for Cloud API"),
        (33, 400, "Parameter value is not valid"),
        (133000, 500, "Incomplete Deregistration"),
        (133016, 400, "Account register deregister rate limit exceeded"),
    ],
)
def test_injected_error_codes(simulator, graph_client, code, http_status, title):
    simulator.config.error_rates = {code: 1.0}
    response = send(graph_client, simulator)
    assert response.status_code == http_status
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"] == f"(#{code}) {title}"
    assert simulator.messages() == []


def test_error_rates_are_deterministic_under_the_seed():
    def outcomes(seed: int) -> list[int]:
        sim = Simulator(seed=seed, error_rates={131000: 0.2, 133004: 0.1}, pair_interval_seconds=None)
        with sim, httpx.Client(base_url=sim.base_url, headers=sim.auth_headers) as client:
            return [send(client, sim).status_code for _ in range(60)]

    first = outcomes(5)
    assert first == outcomes(5)
    counts = Counter(first)
    assert counts[200] > 30 and counts[500] > 0 and counts[503] > 0


def test_connection_reset(simulator, graph_client):
    simulator.config.reset_ratio = 1.0
    with pytest.raises(httpx.RemoteProtocolError):
        send(graph_client, simulator)
    [record] = simulator.requests()
    assert record.status == 0 and record.recipient == INDIA
    assert simulator.messages() == []


def test_ambiguous_faults_can_still_deliver_the_message(simulator, graph_client):
    simulator.config.faults_deliver = True
    simulator.config.pair_interval_seconds = None
    simulator.config.error_rates = {131000: 1.0}
    assert send(graph_client, simulator).status_code == 500
    simulator.config.error_rates = {}
    simulator.config.reset_ratio = 1.0
    with pytest.raises(httpx.RemoteProtocolError):
        send(graph_client, simulator)
    simulator.config.reset_ratio = 0.0
    assert send(graph_client, simulator).status_code == 200  # a blind retry: the user now has three messages
    assert len(simulator.messages()) == 3
    assert simulator.duplicates() == {INDIA: 3}


def test_duplicate_send_detector(simulator, graph_client):
    simulator.config.mps = None
    assert send(graph_client, simulator).status_code == 200
    assert send(graph_client, simulator).status_code == 400  # 131056: a retry within 6 s
    simulator.clock.advance(6)
    assert send(graph_client, simulator).status_code == 200
    assert send(graph_client, simulator, to="5511987654321").status_code == 200
    assert simulator.sends_by_recipient() == Counter({INDIA: 3, "5511987654321": 1})
    assert simulator.sends_by_recipient(accepted_only=True) == Counter({INDIA: 2, "5511987654321": 1})
    assert simulator.duplicates() == {INDIA: 2}
    assert simulator.duplicates(template="flash_sale") == {}
    control = httpx.get(simulator.root_url + "/_sim/sends", params={"accepted_only": "true"}).json()
    assert control == {"by_recipient": {INDIA: 2, "5511987654321": 1}, "duplicates": {INDIA: 2}}


def test_cli_prints_connection_info_then_serves():
    process = subprocess.Popen(
        [sys.executable, "-m", "mmapi", "simulator", "--port", "0", "--seed", "4", "--ttl-on-wire"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(LOCAL), os.environ.get("PYTHONPATH")])),
        },
    )
    try:
        info = json.loads(process.stdout.readline())
        assert {"base_url", "access_token", "waba_id", "phone_number_id", "app_secret"} <= set(info)
        assert info["base_url"].startswith("http://127.0.0.1:") and info["base_url"].endswith("/v25.0")
        response = httpx.post(
            f"{info['base_url']}/{info['phone_number_id']}/marketing_messages",
            json={**body(name="flash_sale"), "time_to_live": 43200},
            headers={"Authorization": f"Bearer {info['access_token']}"},
        )
        assert response.status_code == 200, response.text
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 143  # stopped by SIGTERM, cleanly (128 + 15)
