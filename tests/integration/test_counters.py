"""Campaign counters from the table's stream (functions/aggregator, moto's DynamoDB Streams delivered as Lambda
would): a report equals a recount of the items (``mmapi campaign audit`` shows no drift) after sends, webhooks in
any order, duplicates, Lambda's retries and the resolver's transitions; listing by status pages across shards."""

from __future__ import annotations

import copy
import itertools
import json
import random
from collections import Counter
from typing import Any

import pytest
from aws import create_stack, use_stack
from handlers import LambdaContext, load_event, load_handler
from integration.test_resolver import NUMBER, USER, Store
from integration.test_webhook import envelope, status, statuses_change, wire
from unit.test_tally import legacy_summarize

from mmapi.cli import main as mmapi
from mmcore.campaigns.service import Campaigns
from mmcore.exceptions import InvalidInput
from mmcore.settings import Settings
from mmcore.store import keys
from mmcore.store import messages as L
from mmcore.store.counters import CampaignCounters
from mmcore.store.orphans import Orphan


def campaigns(aws: Any, table: str) -> Campaigns:
    return Campaigns(Settings(phone_number_id=NUMBER), aws.client("dynamodb"), None, table=table)


def campaign_item(aws: Any, table: str, campaign_id: str) -> None:
    campaigns(aws, table).records.create(campaign_id, {"name": campaign_id}, 1_800_000_000)


@pytest.fixture
def aggregator(aws, monkeypatch):
    stack = create_stack(aws, "agg", access_token="t", app_secret="s")
    use_stack(monkeypatch, stack)
    return stack, load_handler("aggregator")


# ---------------------------------------------------------------- the handler, on Lambda's event shape


def test_the_sample_event_counts_one_message_delivered_and_a_redelivery_changes_nothing(aws, aggregator):
    # Given the sample stream event: a message inserted, accepted, delivered, then removed by TTL
    stack, handler = aggregator
    event = load_event("aggregator_stream.json")
    # When Lambda delivers it, then delivers it again (a retry after a timeout)
    assert handler.lambda_handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert handler.lambda_handler(copy.deepcopy(event), LambdaContext()) == {"batchItemFailures": []}
    # Then the campaign counts the message once, delivered, still counted after its expiry
    counts = CampaignCounters(aws.client("dynamodb"), stack.table).read("evt-campaign")
    assert counts == {
        "category:marketing": 1,
        "country:IN": 1,
        "delivered_in:IN": 1,
        "messages": 1,
        "status:delivered": 1,
        "taken": 1,
        "taken_in:IN": 1,
    }


def test_a_retry_that_starts_at_an_applied_run_and_carries_more_records_applies_only_the_new_ones(
    aws, aggregator
):
    # Given Lambda delivered the first two records and the function's answer was lost
    stack, handler = aggregator
    records = load_event("aggregator_stream.json")["Records"]
    handler.lambda_handler({"Records": copy.deepcopy(records[:2])}, LambdaContext())
    # When Lambda retries from the same checkpoint with a longer batch
    handler.lambda_handler({"Records": copy.deepcopy(records)}, LambdaContext())
    # Then each transition counted once
    counts = CampaignCounters(aws.client("dynamodb"), stack.table).read("evt-campaign")
    assert (counts["messages"], counts["status:delivered"], counts.get("status:queued", 0)) == (1, 1, 0)


def test_a_failed_run_is_reported_and_resumed_from_its_first_record(aws, aggregator, monkeypatch):
    # Given the counters' transaction fails once (throttling that outlasted the retries)
    stack, handler = aggregator
    calls = Counter()
    aggregator_ = handler.aggregator()
    original = aggregator_.counters.apply

    def flaky(*args, **kwargs):
        calls["apply"] += 1
        if calls["apply"] == 1:
            raise RuntimeError("throttled")
        return original(*args, **kwargs)

    monkeypatch.setattr(aggregator_.counters, "apply", flaky)
    event = load_event("aggregator_stream.json")
    # When Lambda delivers the batch: the function names the first record not applied
    answer = handler.lambda_handler(event, LambdaContext())
    first = event["Records"][0]["dynamodb"]["SequenceNumber"]
    assert answer == {"batchItemFailures": [{"itemIdentifier": first}]}
    # Then the retry from that record counts everything once
    assert handler.lambda_handler(copy.deepcopy(event), LambdaContext()) == {"batchItemFailures": []}
    counts = CampaignCounters(aws.client("dynamodb"), stack.table).read("evt-campaign")
    assert counts["messages"] == 1 and counts["status:delivered"] == 1


# ---------------------------------------------------------------- through the real writers and moto's stream

ORDERED = [
    ("sent", 1_750_000_001),
    ("failed", 1_750_000_002),
    ("delivered", 1_750_000_003),
    ("read", 1_750_000_004),
]


def test_sends_and_webhooks_in_any_order_with_duplicates_leave_no_drift(aws, sim, monkeypatch):
    # Given a campaign whose 24 messages were each sent, then got their statuses in one of every order
    stack = create_stack(aws, "wh", access_token="t", app_secret=sim.app_secret)
    env = wire(aws, stack, monkeypatch, sim.app_secret)
    campaign_item(aws, stack.table, "camp-1")
    rng = random.Random(3)
    for n, order in enumerate(itertools.permutations(ORDERED)):
        wamid, message_id = f"wamid.O{n}", f"m-{n}"
        env.claim(message_id)
        env.record_send(wamid, message_id)
        posts = [[status(wamid, name, at)] for name, at in order[: rng.randint(1, 4)]]
        posts += rng.sample(posts, k=len(posts) // 2)  # duplicates
        for post in posts:
            assert env.post(envelope(statuses_change(*post)))["statusCode"] == 200
        if n % 5 == 0:
            stack.aggregate(aws)  # the aggregator runs while webhooks keep coming
    # When the stream is delivered and the campaign audited
    stack.aggregate(aws)
    service = campaigns(aws, stack.table)
    audit = service.audit("camp-1")
    # Then the counters equal the recount and the report equals the one that read every item
    assert audit["drift"] == {} and audit["counted"]["messages"] == 24
    items = service.records.messages("camp-1")
    report = service.report("camp-1")
    assert {k: report[k] for k in legacy_summarize(items)} == legacy_summarize(items)
    assert report["by_status"]["read"] > 0 and report["failures_by_code"]


def test_the_resolvers_transitions_are_counted(aws, monkeypatch):
    # Given two messages left unknown in a campaign, one whose wamid the webhooks saw
    store = Store(aws)
    use_stack(monkeypatch, store.stack)
    campaign_item(aws, store.stack.table, "camp-r")
    store.unknown("m-1", campaign_id="camp-r")
    store.unknown("m-2", campaign_id="camp-r", to="919800000002")
    store.orphans.record([Orphan(NUMBER, USER, "wamid.X", store.now + 2, "marketing_lite")], store.now)
    store.stack.aggregate(aws)
    assert campaigns(aws, store.stack.table).report("camp-r")["by_status"]["unknown"] == 2
    # When the resolver settles the first
    assert store.resolver().run()["matched"] == 1
    store.stack.aggregate(aws)
    # Then the report moved it from unknown to accepted, with no drift
    service = campaigns(aws, store.stack.table)
    report = service.report("camp-r")
    assert (report["by_status"]["unknown"], report["by_status"]["accepted"]) == (1, 1)
    assert service.audit("camp-r")["drift"] == {}


def test_the_audit_command_names_the_drift_when_counters_are_off(aws, aggregator, monkeypatch, capsys):
    # Given a campaign counted from the stream, then a counter broken by hand
    stack, _ = aggregator
    campaign_item(aws, stack.table, "camp-a")
    L.Ledger(aws.client("dynamodb"), stack.table).write(
        [L.message_item(f"a-{i}", campaign_id="camp-a", country="IN") for i in range(3)]
    )
    stack.aggregate(aws)
    assert mmapi(["campaign", "audit", "camp-a"]) == 0
    assert json.loads(capsys.readouterr().out)["drift"] == {}
    aws.client("dynamodb").update_item(
        TableName=stack.table,
        Key=keys.campaign_counter("camp-a", 0),
        UpdateExpression="ADD #n :one",
        ExpressionAttributeNames={"#n": "status:queued"},
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    # When the operator audits it
    code = mmapi(["campaign", "audit", "camp-a"])
    # Then the command fails and names the counter, counted minus recounted
    assert code == 1 and json.loads(capsys.readouterr().out)["drift"] == {"status:queued": 1}
    assert mmapi(["campaign", "audit", "nope"]) == 2


def test_a_report_reads_the_same_few_items_at_any_campaign_size(aws, aggregator):
    # Given a campaign of 5 and one of 400 messages
    stack, _ = aggregator
    ddb = aws.client("dynamodb")
    for campaign, size in (("small", 5), ("large", 400)):
        campaign_item(aws, stack.table, campaign)
        L.Ledger(ddb, stack.table).write(
            [L.message_item(f"{campaign}-{i}", campaign_id=campaign) for i in range(size)]
        )
    stack.aggregate(aws)
    # When each report is read, counting the DynamoDB calls
    calls = Counter()
    ddb.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.update([model.name]))
    service = campaigns(aws, stack.table)
    small = service.report("small")
    small_calls = dict(calls)
    calls.clear()
    large = service.report("large")
    # Then both cost the same calls (the campaign item and the counter shards), never a Query
    assert (small["messages"], large["messages"]) == (5, 400)
    assert dict(calls) == small_calls and "Query" not in calls


# ---------------------------------------------------------------- listing across shards


def test_listing_by_status_pages_across_every_shard_once(aws, aggregator):
    # Given a campaign of 60 messages spread over the index's shards: 20 failed, 30 queued, 10 being sent
    stack, _ = aggregator
    campaign_item(aws, stack.table, "pages")
    states = ("failed", "queued", "queued", "failed", "sending", "queued")
    items = [L.message_item(f"p-{i}", state=states[i % 6], campaign_id="pages") for i in range(60)]
    L.Ledger(aws.client("dynamodb"), stack.table).write(items)
    assert len({keys.campaign_shard(f"p-{i}") for i in range(60)}) > 1
    service = campaigns(aws, stack.table)
    for status_, expected, limit in (
        (None, 60, 7),
        ("failed", 20, 3),
        ("queued", 30, 40),
        ("sending", 10, 4),
    ):
        # When every page is read with its next_token
        seen, token, pages = [], None, 0
        while True:
            page = service.messages("pages", status_, limit, token)
            assert len(page["messages"]) <= limit
            seen += [m["message_id"] for m in page["messages"]]
            token, pages = page["next_token"], pages + 1
            if not token:
                break
        # Then each message comes once, of the status asked, with its full item
        assert len(seen) == len(set(seen)) == expected, status_
        assert pages >= expected // limit  # short pages are allowed (a bucket holds several statuses)
        if status_:
            assert all(service.message(m)["message"]["status"] == status_ for m in seen)
    # And a token of another campaign names next_token
    other = service.messages("pages", None, 7)["next_token"]
    campaign_item(aws, stack.table, "other")
    with pytest.raises(InvalidInput) as exc:
        service.messages("other", None, 7, other)
    assert exc.value.errors[0][0] == "next_token"
