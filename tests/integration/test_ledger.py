"""The ledger's batched conditional transitions (one TransactWriteItems per 100) against moto."""

from __future__ import annotations

import pytest
from aws import create_stack

from mmapi.streamevents import streams_client
from mmcore.meta.errors import Scope
from mmcore.store import halts, keys
from mmcore.store import messages as L
from mmcore.store.halts import Halt, account_halt_key, template_halt_key

NOW = 1_900_000_000
FIELDS = {"campaign_id": "c1", "to": "+919800000001", "template": "festival_offer", "language": "en"}


@pytest.fixture
def ledger(aws):
    stack = create_stack(aws, "ledger", access_token="t", app_secret="s")
    return L.Ledger(aws.client("dynamodb"), stack.table)


def seen(ledger: L.Ledger, *ids: str) -> dict[str, dict]:
    return ledger.prefetch([], [], NOW, ids).messages


def test_claims_of_new_and_queued_messages_win_and_count_attempts(ledger):
    ledger.write([L.message_item("queued", state=L.State.QUEUED, **FIELDS)])
    before = seen(ledger, "new", "queued")
    assert set(before) == {"queued"} and before["queued"]["state"] == L.State.QUEUED

    lost = ledger.apply([L.claim(m, before.get(m), FIELDS, NOW, 60) for m in ("new", "queued")])

    assert lost == {}
    for message_id in ("new", "queued"):
        item = ledger.get_message(message_id)
        assert (item["state"], item["status"], item["attempts"], item["lease_until"]) == (
            L.State.SENDING,
            L.State.SENDING,
            1,
            NOW + 60,
        )
        listed = keys.campaign_messages("c1", L.State.SENDING, message_id)  # the campaign lists it as sending
        assert {name: item[name] for name in listed} == listed and item["campaign_id"] == "c1"


def test_a_stale_read_loses_with_the_current_item_and_the_rest_of_the_batch_is_written(ledger):
    ledger.write([L.message_item(m, state=L.State.QUEUED, **FIELDS) for m in ("a", "b", "c")])
    stale = seen(ledger, "a", "b", "c")
    # Another copy of "b" (a duplicate in another batch) claims it after this batch read it.
    assert ledger.apply([L.claim("b", stale["b"], FIELDS, NOW, 60)]) == {}

    lost = ledger.apply([L.claim(m, stale[m], FIELDS, NOW + 1, 60) for m in ("a", "b", "c")])

    assert set(lost) == {"b"}
    assert lost["b"]["state"] == L.State.SENDING and lost["b"]["lease_until"] == NOW + 60
    assert ledger.get_message("a")["lease_until"] == NOW + 61  # rolled back with "b", then written again
    assert ledger.get_message("c")["state"] == L.State.SENDING
    assert ledger.get_message("b")["lease_until"] == NOW + 60  # the winner's claim is untouched


def test_every_write_moves_the_version_so_a_retry_is_claimed_once(ledger):
    ledger.write([L.message_item("r", state=L.State.RETRY, attempts=2, **FIELDS)])
    first, second = seen(ledger, "r")["r"], seen(ledger, "r")["r"]

    assert ledger.apply([L.claim("r", first, FIELDS, NOW, 60)]) == {}
    assert set(ledger.apply([L.claim("r", second, FIELDS, NOW, 60)])) == {"r"}
    assert ledger.get_message("r")["attempts"] == 3


def test_a_final_state_needs_the_message_still_claimable(ledger):
    ledger.write([L.message_item("done", state=L.State.ACCEPTED, wamid="wamid.1", attempts=1, **FIELDS)])
    current = seen(ledger, "done", "fresh")

    lost = ledger.apply(
        [
            L.finish("fresh", None, L.State.BLOCKED, {**FIELDS, "reason": "us_recipient"}),
            L.finish("done", {"state": L.State.QUEUED}, L.State.EXPIRED, FIELDS),  # as a stale reader saw it
        ]
    )

    assert set(lost) == {"done"} and lost["done"]["state"] == L.State.ACCEPTED
    assert ledger.get_message("done")["state"] == L.State.ACCEPTED
    assert ledger.get_message("fresh")["reason"] == "us_recipient"
    assert current["done"]["attempts"] == 1


def test_more_than_one_transaction_for_more_than_100_changes(ledger):
    ids = [f"m{i}" for i in range(230)]
    calls = []
    ledger.client.meta.events.register(
        "before-call.dynamodb.TransactWriteItems", lambda **kw: calls.append(1)
    )

    assert ledger.apply([L.claim(m, None, FIELDS, NOW, 60) for m in ids]) == {}

    assert len(calls) == 3
    assert set(seen(ledger, *ids)) == set(ids)


def test_halts_are_live_by_scope_and_key_until_they_end_or_are_released(ledger):
    sale = template_halt_key("1234", "summer_sale", "en_US")
    ledger.halt(Scope.TEMPLATE, sale, NOW + 60, 132015, "template paused")
    ledger.halt(Scope.ACCOUNT, account_halt_key("1234"), NOW + 60, 190, "token expired")
    scopes = [
        (Scope.TEMPLATE, sale),
        (Scope.TEMPLATE, template_halt_key("1234", "summer_sale", "es")),
        (Scope.ACCOUNT, "1234"),
        (Scope.ACCOUNT, account_halt_key("5678")),  # another WABA of the same stack
        (Scope.PHONE_NUMBER, "1234"),
    ]

    live = ledger.prefetch([], scopes, NOW).halted

    assert set(live) == {(Scope.TEMPLATE, sale), (Scope.ACCOUNT, "1234")}
    assert live[Scope.TEMPLATE, sale] == Halt(Scope.TEMPLATE, sale, NOW + 60, 132015, "template paused")
    assert ledger.prefetch([], scopes, NOW + 60).halted == {}  # over at `until`
    halts.release(ledger.client, ledger.table, Scope.TEMPLATE, sale)
    assert set(ledger.prefetch([], scopes, NOW).halted) == {(Scope.ACCOUNT, "1234")}


def test_an_account_halt_without_a_waba_id_covers_the_stack(ledger):
    ledger.halt(Scope.ACCOUNT, account_halt_key(""), NOW + 60, 190, "token expired")
    assert (Scope.ACCOUNT, account_halt_key("")) in ledger.prefetch([], [(Scope.ACCOUNT, "*")], NOW).halted


def test_the_patched_moto_still_rolls_a_cancelled_transaction_back(ledger, aws):
    """local/mmapi/motoserver.py saves only the touched items: a cancelled transaction leaves no trace, in the
    table nor in its stream (the report's counters are kept from the stream)."""
    ledger.write([L.message_item(m, state=L.State.QUEUED, **FIELDS) for m in ("kept", "updated")])
    client, table = ledger.client, ledger.table

    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": L.message_item("new", state=L.State.SENDING, **FIELDS)}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": keys.message("updated"),
                        "UpdateExpression": "SET #s = :s",
                        "ExpressionAttributeNames": {"#s": "state"},
                        "ExpressionAttributeValues": {":s": {"S": L.State.SENDING}},
                    }
                },
                {"Put": {**L.claim("kept", None, FIELDS, NOW, 60).put(table)["Put"]}},  # exists: fails
            ]
        )

    assert ledger.get_message("new") is None
    assert ledger.get_message("updated")["state"] == L.State.QUEUED
    assert ledger.get_message("kept")["state"] == L.State.QUEUED
    streams = streams_client(aws)
    arn = aws.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in records] == [
        ("INSERT", keys.message("kept")["pk"]["S"]),
        ("INSERT", keys.message("updated")["pk"]["S"]),
    ]
