"""End to end on the local stack: a campaign with send_at starts at its time, its one-time schedule run the
way EventBridge Scheduler runs it (mmapi.scheduler); a send window holds the recipients outside it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from mmapi.runtime import Runtime

pytestmark = pytest.mark.e2e
IN, IN_2, IN_3 = "919876543210", "919812345678", "919822334455"  # Kolkata (UTC+5:30)
BR = "5511987654321"  # Sao Paulo (UTC-3): 8.5 hours behind Kolkata


@pytest.fixture(scope="module")
def stack():
    options = {"mps": 200, "pair_interval_seconds": None}
    with Runtime(port=0, seed=5, simulator_options=options, parameters={"ThroughputMps": "1000"}) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def api(stack):
    with httpx.Client(base_url=stack.api_url, timeout=60) as client:
        yield client


def campaign(campaign_id: str, recipients: list[str], **extra) -> dict:
    return {
        "name": campaign_id,
        "campaign_id": campaign_id,
        "template": {
            "name": "festival_offer",
            "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "{{offer}}"}]}],
        },
        "recipients": [{"to": to, "variables": {"offer": "20% off"}} for to in recipients],
        **extra,
    }


def posts_to(stack: Runtime, *recipients: str) -> int:
    suffix = f"/{stack.sim.phone_number_id}/marketing_messages"
    return sum(1 for r in stack.sim.requests(suffix) if r.path.endswith(suffix) and r.recipient in recipients)


def wait_for(check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_scheduled_campaign_starts_at_its_time(api, stack):
    send_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
    created = api.post("/campaigns", json=campaign("at-time", [IN, IN_2], send_at=send_at.isoformat()))
    assert created.status_code == 202, created.text
    assert created.json()["status"] == "scheduled"
    time.sleep(1.5)
    assert posts_to(stack, IN, IN_2) == 0  # before its time: nothing sent
    assert api.get("/campaigns/at-time").json()["status"] == "scheduled"
    wait_for(lambda: posts_to(stack, IN, IN_2) == 2, timeout=30)
    assert datetime.now(UTC) >= send_at
    assert api.get("/campaigns/at-time").json()["status"] in ("running", "completed")
    assert (
        stack.one_time.ran
        and not stack.one_time.client.list_schedules(GroupName=stack.one_time.groups[0])["Schedules"]
    )  # run once, then deleted (ActionAfterCompletion DELETE)
    time.sleep(1)
    assert posts_to(stack, IN, IN_2) == 2  # and only once


def test_quiet_hours_hold_the_recipient_outside_the_window(api, stack):
    kolkata = datetime.now(UTC) + timedelta(hours=5, minutes=30)
    window = {
        "start": f"{kolkata - timedelta(hours=1):%H:%M}",
        "end": f"{kolkata + timedelta(hours=2):%H:%M}",
    }
    created = api.post("/campaigns", json=campaign("quiet", [IN_3, BR], send_window=window))
    assert created.status_code == 202, created.text
    assert created.json()["counts"]["waiting_for_window"] == 1
    wait_for(lambda: posts_to(stack, IN_3) == 1, timeout=30)
    time.sleep(1.5)  # the sender has had time for the other one too
    assert posts_to(stack, BR) == 0
    held = api.get("/campaigns/quiet/messages", params={"status": "queued"}).json()["messages"]
    assert [m["to"] for m in held] == [BR]
