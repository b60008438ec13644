"""Status precedence and the items a status event becomes (pure: no AWS)."""

from __future__ import annotations

import itertools
import json

import pytest
from boto3.dynamodb.types import TypeDeserializer
from hypothesis import given, settings
from hypothesis import strategies as st

from mmcore.store import keys, statuses
from mmcore.store.statuses import StatusEvent


def test_precedence_sent_failed_delivered_read():
    assert sorted(statuses.RANK, key=statuses.RANK.get) == ["sent", "failed", "delivered", "read"]
    assert set(statuses.RANK) == set(statuses.DeliveryStatus)
    assert StatusEvent("w", statuses.DeliveryStatus.READ, 1).rank == StatusEvent("w", "read", 1).rank == 4


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
    assert keys.wamid_state("wamid.1") == {"pk": {"S": "WAMID#wamid.1"}, "sk": {"S": "STATE"}}


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


# ---------------------------------------------------------------- merge: the state a set of events makes

_ERRORS = ({"code": 131026, "title": "Message undeliverable"},)


def _event(status: str, at: int, priced: bool, category: str = "marketing_lite") -> StatusEvent:
    pricing = {"pricing_category": category, "billable": True, "pricing_model": "PMP"} if priced else {}
    errors = _ERRORS if status == "failed" else ()
    return StatusEvent("w", status, 1_750_000_000 + at, errors=errors, **pricing)


_EVENTS = st.lists(
    st.builds(
        _event,
        st.sampled_from(["sent", "failed", "delivered", "read", "played"]),
        st.integers(0, 5),
        st.booleans(),
        st.sampled_from(["marketing_lite", "marketing"]),
    ),
    min_size=1,
    max_size=8,
    unique_by=lambda e: e.key,
)
_SETTLED = ("status", "status_rank", "status_order", "status_at", "pricing", "path", "errors")


@settings(max_examples=300, deadline=None)
@given(events=_EVENTS, data=st.data())
def test_merge_ends_the_same_for_any_order_split_and_repetition(events, data):
    # Given the events all at once, and the same events in another order, in batches, some twice
    whole = statuses.merge(None, events, now=1)
    shuffled = data.draw(st.permutations(events))
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(events) - 1)), max_size=3)))
    batches = [shuffled[a:b] for a, b in itertools.pairwise([0, *cuts, len(shuffled)])]
    batches += data.draw(st.lists(st.sampled_from(batches), max_size=2))  # Meta's retries
    state, changes = None, 0
    for batch in batches:
        merged = statuses.merge(state, batch, now=2)
        if merged is not None:
            state, changes = merged, changes + 1
    # Then the state is the same, each change bumped the version once, and nothing more changes it
    if whole is None:  # only statuses outside the precedence table
        assert state is None and not any(e.rank for e in events)
        return
    assert {k: state.get(k) for k in _SETTLED} == {k: whole.get(k) for k in _SETTLED}
    assert state["version"] == changes and whole["version"] == 1
    assert statuses.merge(state, events, now=3) is None


def test_merge_keeps_each_part_from_its_own_newest_event():
    sent = _event("sent", 0, True, "marketing")
    failed = _event("failed", 1, False)
    read = _event("read", 2, False)
    state = statuses.merge(None, [read], now=5)
    assert (state["status"], state.get("pricing"), state.get("errors")) == ("read", None, None)
    state = statuses.merge(state, [sent, failed], now=6)  # older: only what read lacked
    assert (state["status"], state["pricing"]["category"], state["errors"][0]["code"]) == (
        "read",
        "marketing",
        131026,
    )
    assert state["path"] == "cloud_api_fallback" and state["version"] == 2
    assert state["expires_at"] == 5 + 90 * 24 * 3600  # moves with the status only
