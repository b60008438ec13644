"""End to end: pause, resume and cancel a running campaign on the local stack, over HTTP only, checked against
the simulator's record of the POSTs Meta received (issue 14, "Campaign lifecycle")."""

from __future__ import annotations

import time

import httpx
import pytest

from mmapi.cli import campaign_audit
from mmapi.demo import audience
from mmapi.runtime import Runtime
from mmcore.settings import get_settings

pytestmark = pytest.mark.e2e
BATCH = 100  # the send function's BatchSize (template.yaml)
CONCURRENCY = 2  # SendMaxConcurrency below: at most this many batches are in flight when a pause lands
TEMPLATE = {
    "name": "festival_offer",
    "language": {"code": "en_US"},
    "components": [{"type": "body", "parameters": [{"type": "text", "text": "{{offer}}"}]}],
}


@pytest.fixture(scope="module")
def stack():
    # Status webhooks in large batches, no reads: the webhook function keeps up on a busy 2-core machine.
    options = {"mps": 1000, "pair_interval_seconds": None, "webhook_batch_size": 250, "read_ratio": 0.0}
    params = {"ThroughputMps": "200", "SendMaxConcurrency": str(CONCURRENCY), "PauseRequeueSeconds": "5"}
    with Runtime(port=0, seed=5, simulator_options=options, parameters=params) as runtime:
        get_settings.cache_clear()  # a fresh deploy: the functions read this stack's settings at cold start
        yield runtime
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def api(stack):
    with httpx.Client(base_url=stack.api_url, timeout=60) as client:
        yield client


def posts(stack: Runtime) -> int:
    return len(stack.sim.requests("/marketing_messages"))


def steady(stack: Runtime, quiet: float = 3.0, timeout: float = 30) -> int:
    """The simulator's POST count once it has not moved for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    last, since = posts(stack), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = posts(stack)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return now
    raise AssertionError(f"POSTs kept rising: {last}")


def settled(api: httpx.Client, stack: Runtime, campaign_id: str, timeout: float = 60) -> dict:
    """The report once nothing of the campaign is queued and the queue is empty (counters caught up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = api.get(f"/campaigns/{campaign_id}").json()
        if report["messages"] and not report["by_status"].get("queued") and stack.queue_depth() == 0:
            stack.webhooks_handled(90)
            stack.counted()
            return api.get(f"/campaigns/{campaign_id}").json()
        time.sleep(0.3)
    raise AssertionError(f"campaign not settled: {report['by_status']}")


def no_drift(stack: Runtime, campaign_id: str, timeout: float = 60) -> dict:
    """The audit's drift once every webhook is in and the counters followed the stream. The counters are
    eventually consistent (the aggregator follows the table's stream), so a drift must last ``timeout`` seconds
    of a quiet stack to count: a lag ends, a miscount does not (a reader stuck on a failing batch is a
    TimeoutError naming its failure)."""
    deadline = time.monotonic() + timeout
    while True:
        stack.webhooks_handled(60)
        stack.counted()
        drift = campaign_audit(campaign_id, stack.stack.physical["MainTable"]["Ref"], stack.session)["drift"]
        if not drift or time.monotonic() >= deadline:
            return drift
        time.sleep(2)


@pytest.mark.timeout(300)
def test_pause_stops_the_posts_within_a_batch_and_resume_finishes_without_a_duplicate(api, stack):
    # Given a running campaign of 1,000 recipients, some of them already sent
    recipients, _ = audience(1600, seed=23)
    created = api.post(
        "/campaigns", json={"name": "pause me", "template": TEMPLATE, "recipients": recipients[:1000]}
    )
    assert created.status_code == 202, created.text
    campaign_id = created.json()["campaign_id"]
    assert created.json()["status"] == "running"
    while posts(stack) < 300:
        time.sleep(0.05)
    # When the operator pauses it
    paused = api.patch(f"/campaigns/{campaign_id}", json={"status": "paused"})
    assert paused.status_code == 200, paused.text
    at_pause = posts(stack)
    assert paused.json()["status"] == "paused" and paused.json()["paused_reason"] == "operator"
    # Then the POSTs stop within the batches in flight, and stay stopped while it is paused
    stopped = steady(stack)
    assert stopped - at_pause <= BATCH * CONCURRENCY, (at_pause, stopped)
    assert stopped < 900, "the pause stopped nothing"
    time.sleep(4)  # the paused messages come back from the queue (5 s, then 5 s, 10 s...) and go back again
    assert posts(stack) == stopped
    listed = api.get("/campaigns", params={"limit": 5}).json()["campaigns"]
    assert listed[0]["campaign_id"] == campaign_id and listed[0]["status"] == "paused"
    # A second pause is a 409 naming the state; a paused campaign's report says paused, never completed
    again = api.patch(f"/campaigns/{campaign_id}", json={"status": "paused"})
    assert again.status_code == 409 and "is paused" in again.json()["message"]
    assert api.get(f"/campaigns/{campaign_id}").json()["status"] == "paused"

    # When it is resumed
    resumed = api.patch(f"/campaigns/{campaign_id}", json={"status": "running"})
    assert resumed.status_code == 200 and resumed.json()["status"] == "running"
    report = settled(api, stack, campaign_id)
    # Then every recipient gets the message once, the campaign completes, and the report adds up
    assert stack.sim.duplicates() == {}
    assert report["status"] == "completed" and report["finished_at"]
    assert sum(report["by_status"].values()) == 1000 and not report["by_status"]["cancelled"]
    taken = sum(report["by_status"][s] for s in ("accepted", "sent", "delivered", "read", "failed"))
    assert posts(stack) == taken
    assert no_drift(stack, campaign_id) == {}


def test_cancel_ends_every_unsent_message_cancelled_and_never_posted(api, stack):
    # Given a second campaign, running
    recipients, _ = audience(1600, seed=23)
    before = steady(stack, quiet=1)
    created = api.post(
        "/campaigns", json={"name": "cancel me", "template": TEMPLATE, "recipients": recipients[1000:1600]}
    )
    assert created.status_code == 202, created.text
    campaign_id = created.json()["campaign_id"]
    while posts(stack) < before + 50:
        time.sleep(0.02)
    # When the operator cancels it
    cancelled = api.patch(f"/campaigns/{campaign_id}", json={"status": "cancelled"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    # Then nothing more is POSTed than the batches in flight, and every message not POSTed ends cancelled
    sent = steady(stack) - before
    report = settled(api, stack, campaign_id)
    by_status = report["by_status"]
    assert by_status["cancelled"] > 0 and by_status["queued"] == 0
    taken = sum(by_status[s] for s in ("accepted", "sent", "delivered", "read", "failed"))
    assert taken == sent and sent <= 50 + BATCH * CONCURRENCY
    recorded = created.json()["counts"]["recipients"]
    assert taken + by_status["cancelled"] + by_status["blocked"] + by_status["invalid"] == recorded
    assert report["messages"] == recorded
    page = api.get(f"/campaigns/{campaign_id}/messages", params={"status": "cancelled", "limit": 5}).json()
    assert [m["status"] for m in page["messages"]] == ["cancelled"] * 5
    assert report["status"] == "cancelled"  # never completed
    assert no_drift(stack, campaign_id) == {}
    # And it cannot be resumed
    assert api.patch(f"/campaigns/{campaign_id}", json={"status": "running"}).status_code == 409
