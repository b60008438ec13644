"""Status precedence and the items a status event becomes (pure: no AWS)."""

from __future__ import annotations

import json

import pytest
from boto3.dynamodb.types import TypeDeserializer

from mmcore import statuses
from mmcore.statuses import StatusEvent


def test_precedence_sent_failed_delivered_read():
    assert sorted(statuses.RANK, key=statuses.RANK.get) == ["sent", "failed", "delivered", "read"]


@pytest.mark.parametrize(
    ("category", "path"),
    [("marketing_lite", "mm_api"), ("marketing", "cloud_api_fallback"), ("utility", "utility"), (None, None)],
)
def test_path_from_pricing_category(category, path):
    assert statuses.path_for(category) == path


def test_order_is_rank_first_then_time():
    late_sent = StatusEvent("w", "sent", 1_900_000_000)
    early_read = StatusEvent("w", "read", 1_000_000_000)
    later_read = StatusEvent("w", "read", 1_000_000_001)
    assert late_sent.order < early_read.order < later_read.order
    assert StatusEvent("w", "played", 5).rank == 0


def test_dedupe_key_is_wamid_status_timestamp():
    event = StatusEvent("wamid.1", "delivered", 1750030075)
    assert event.key == ("wamid.1", "EVT#1750030075#delivered")
    assert statuses.wamid_key("wamid.1", "STATE") == {"pk": {"S": "WAMID#wamid.1"}, "sk": {"S": "STATE"}}


def test_pricing_prefers_the_pricing_category_over_the_conversation_origin():
    event = StatusEvent(
        "w", "sent", 1, pricing_category="marketing_lite", origin_type="marketing", billable=True
    )
    assert event.pricing()["pricing_category"] == "marketing_lite" and event.path == "mm_api"
    assert StatusEvent("w", "read", 1).pricing() == {}


def test_event_item_keeps_raw_and_parsed_fields():
    raw = json.dumps({"id": "w", "status": "failed", "timestamp": "7", "unknown": [1]})
    event = StatusEvent(
        "w", "failed", 7, recipient_id="919876543210", errors=({"code": 131026, "title": "x"},), raw=raw
    )
    item = {k: TypeDeserializer().deserialize(v) for k, v in event.event_item(now=100).items()}
    assert (item["pk"], item["sk"], item["status"], item["timestamp"]) == (
        "WAMID#w",
        "EVT#7#failed",
        "failed",
        7,
    )
    assert item["errors"] == [{"code": 131026, "title": "x"}]
    assert json.loads(item["raw"])["unknown"] == [1]
    assert item["expires_at"] == 100 + 90 * 24 * 3600
    assert "pricing_category" not in item and "recipient_user_id" not in item


def test_the_state_keeps_metas_pricing_object():
    event = StatusEvent(
        "w",
        "sent",
        1,
        pricing_category="marketing",
        billable=True,
        pricing_model="PMP",
        pricing_type="regular",
        origin_type="marketing",
    )
    assert event.pricing_map() == {
        "category": "marketing",
        "billable": True,
        "pricing_model": "PMP",
        "type": "regular",
        "origin_type": "marketing",
    }
    assert StatusEvent("w", "read", 1).pricing_map() == {}
