"""The report a person reads: its facts from counters (mmcore.campaigns.facts, .timeline) and its HTML page
(mmcore.campaigns.page)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from mmcore.campaigns import facts, page, timeline
from mmcore.campaigns.tally import drift, report, total, transitions
from mmcore.meta.remedies import DEFAULT_ADVICE
from mmcore.store.codec import from_item
from mmcore.store.messages import message_item

T0 = 1_800_000_000  # when the campaign's messages were queued


def msg(i: int, status: str, country: str = "IN", **fields: Any) -> dict[str, Any]:
    """A message item as the stream carries it; accepted 30 s after queueing, delivered 2 min, read 1 h."""
    extra: dict[str, Any] = {"country": country, "queued_at": T0, **fields}
    state = status if status not in ("sent", "delivered", "read") else "accepted"
    if status in ("accepted", "sent", "delivered", "read"):
        extra.setdefault("wamid", f"wamid.{i}")
    if status in ("delivered", "read"):  # the time of its status, as the webhook's mirror keeps it
        extra.setdefault("status_at", T0 + 120 if status == "delivered" else T0 + 3600)
    item = from_item(message_item(f"m-{i}", status=status, state=state, campaign_id="c-1", **extra))
    item["updated_at"] = T0 + 30  # the sender's record of Meta's answer
    return item


def full_report(items: list[dict[str, Any]], **campaign: Any) -> dict[str, Any]:
    counts = total(items)
    summary = report(counts)
    return {
        "campaign_id": "c-1",
        "name": "Festival",
        **campaign,
        **summary,
        **facts.describe(counts, summary),
    }


AUDIENCE = (
    [msg(i, "read") for i in range(40)]
    + [msg(100 + i, "delivered", "BR") for i in range(30)]
    + [msg(200 + i, "sent") for i in range(10)]
    + [msg(300 + i, "failed", error={"code": 131049}) for i in range(5)]
    + [msg(400 + i, "blocked", "US", reason="us_recipient") for i in range(4)]
)


def test_the_funnel_is_cumulative_each_step_within_the_one_before_with_its_rate():
    steps = full_report(AUDIENCE)["funnel"]
    assert [(s["step"], s["count"]) for s in steps] == [
        ("messages", 89),
        ("accepted", 80),  # read 40 + delivered 30 + sent 10 (the failures never got a wamid)
        ("sent", 80),
        ("delivered", 70),
        ("read", 40),
    ]
    assert [s["rate_from_previous"] for s in steps] == [
        None,
        round(80 / 89, 4),
        1.0,
        0.875,
        round(40 / 70, 4),
    ]


def test_rates_by_country_are_of_those_accepted_and_delivered_there():
    rates = full_report(AUDIENCE)["by_country_rates"]
    assert rates["IN"] == {
        "messages": 55,
        "accepted": 50,
        "delivered": 40,
        "read": 40,
        "delivery_rate": 0.8,
        "read_rate": 1.0,
    }
    assert rates["BR"]["read_rate"] == 0.0 and rates["US"]["delivery_rate"] is None


def test_over_time_buckets_by_minute_early_and_the_running_totals_end_at_the_funnel():
    rows = full_report(AUDIENCE)["over_time"]
    assert rows[0]["from_seconds"] == 0 and rows[0]["taken"] == 80  # accepted in the first minute
    assert next(r for r in rows if r["from_seconds"] == 120)["delivered"] == 30
    assert rows[-1]["from_seconds"] == 3600 and rows[-1]["seconds"] == 60
    assert (rows[-1]["read"], rows[-1]["delivered"]) == (40, 40)  # a read one: delivered by its read time
    assert (rows[-1]["total_taken"], rows[-1]["total_delivered"], rows[-1]["total_read"]) == (80, 70, 40)
    assert len(rows) == 61  # every minute from the first to the last, gaps as zeros


def test_the_bucket_ladder_is_bounded_whatever_the_spread():
    starts = {timeline.bucket(s) for s in range(0, 60 * 86400, 97)}
    assert len(starts) <= timeline.MAX_BUCKETS == 195
    assert timeline.bucket(59) == 0 and timeline.bucket(7199) == 7140 and timeline.bucket(7200) == 7200
    assert timeline.bucket(3 * 86400 + 5) == 3 * 86400 and timeline.bucket(90 * 86400) == timeline.LATER
    assert timeline.bucket(-5) == 0  # a clock a little behind the queue's


def test_a_read_message_counts_as_delivered_when_read_and_one_without_times_counts_in_no_bucket():
    item = msg(1, "read")
    assert timeline.buckets(item, ("taken", "delivered", "read")) == {
        "at:taken:0": 1,
        "at:delivered:3600": 1,
        "at:read:3600": 1,
    }
    before = {k: v for k, v in item.items() if k != "queued_at"}  # recorded before the sender kept it
    assert timeline.buckets(before, ("taken",)) == {}


def test_time_and_country_counters_still_telescope_to_a_recount():
    counts: Counter = Counter()
    history = [msg(1, "queued"), msg(1, "accepted"), msg(1, "sent"), msg(1, "delivered"), msg(1, "read")]
    for old, new in zip([None, *history], history, strict=False):
        for t in transitions(old, new):
            counts.update(t.delta)
    assert drift(counts, total([history[-1]])) == {}


def test_failures_are_named_with_meta_title_and_what_to_do_most_first():
    [named] = full_report(AUDIENCE)["failures"]
    assert named["code"] == "131049" and named["count"] == 5
    assert named["title"] == "Meta chose not to deliver"
    assert "24 h" in named["what_to_do"]


def test_a_failure_code_meta_does_not_list_has_no_title_but_still_advice():
    rep = full_report([msg(1, "failed", error={"code": 999999})])
    [named] = rep["failures"]
    assert named["title"] is None and named["what_to_do"] == DEFAULT_ADVICE
    html = page.render(rep)
    assert "999999" in html and "No title in Meta&#x27;s error table" in html


def test_a_campaign_name_with_a_script_is_shown_as_text_never_run():
    html = page.render(full_report(AUDIENCE, name='<script>alert("x")</script>'))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_an_empty_campaign_renders_with_nothing_yet_and_no_chart():
    html = page.render(full_report([], status="held"))
    assert "Nothing sent yet." in html and "<svg" not in html
    assert 'data-status="held"' in html
    assert re.search(r'data-step="messages" data-count="0"', html)


def test_the_page_draws_the_funnel_in_order_failures_in_red_and_names_markets_without_a_rate():
    html = page.render(full_report(AUDIENCE, status="completed", template={"name": "festival_offer"}))
    order = re.findall(r'data-step="(\w+)" data-count="(\d+)"', html)
    assert order == [
        ("messages", "89"),
        ("accepted", "80"),
        ("sent", "80"),
        ("delivered", "70"),
        ("read", "40"),
    ]
    assert html.count("<polyline") == 3
    assert ".fail td{color:#b91c1c;" in html and 'class="fail"' in html
    assert "no rate for BR (30 messages)" in html and "no rate for IN" in html and "festival_offer" in html
    assert '<meta name="viewport"' in html and "http" not in html.split("<body>")[1]  # nothing fetched


def test_spend_is_shown_as_meta_estimate_by_currency():
    items = [msg(1, "delivered", cost={"amount": 0.0125, "currency": "USD"})]
    rep = full_report(items)
    assert rep["cost"]["spend_by_currency"] == {"USD": 0.0125} and not rep["cost"]["estimated"]
    assert rep["cost"]["by_country"][0]["meta_cost"] == 0.0125 and rep["cost"]["total"] == 0.0125
    html = page.render(rep)
    assert "USD" in html and "0.0125" in html and "Meta&#x27;s estimate" in html


def test_a_campaign_is_complete_once_every_message_recorded_is_final():
    campaign = {"status": "running", "enqueued_at": 1, "counts": {"queued": 2, "blocked": 1, "invalid": 0}}
    done = report(total([msg(1, "read"), msg(2, "failed"), msg(3, "blocked", reason="us_recipient")]))
    pending = report(total([msg(1, "read"), msg(2, "queued"), msg(3, "blocked", reason="us_recipient")]))
    unseen = report(total([msg(1, "read")]))  # the counters have not caught up with the stream yet
    assert facts.is_complete(campaign, done)
    assert not facts.is_complete(campaign, pending) and not facts.is_complete(campaign, unseen)
    assert not facts.is_complete({**campaign, "status": "held"}, done)
