"""After Meta accepted a POST, DynamoDB throttling the record writes never turns the message into ``unknown``
and never causes a second POST: the writes retry within the invocation's remaining time, then a copy carrying
the wamid goes back to the queue and its delivery records ``accepted`` with no POST (issue 15)."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime

from botocore.exceptions import ClientError
from rescheduling import Recorder

from mmcore import clients
from mmcore.meta.messages import parse_send_request
from mmcore.sending import Outcome, SqsMessage
from mmcore.store import keys

N = 12
TEMPLATE = {"name": "summer_sale", "language": {"code": "en_US"}}


def body(i: int) -> dict:
    return {
        "messaging_product": "whatsapp",
        "to": f"9198771{i:05d}",
        "type": "template",
        "template": TEMPLATE,
    }


def batch() -> list[SqsMessage]:
    now = datetime.now(UTC)
    return [SqsMessage(f"t{i}", f"receipt-t{i}", json.dumps(body(i)), now) for i in range(N)]


def throttle(client, monkeypatch, calls: int | None) -> list[float]:
    """Make the client's BatchWriteItem answer throttling (``calls`` times; None: always). Returns the call
    times."""
    real, seen = client.batch_write_item, []

    def throttled(**kwargs):
        seen.append(time.monotonic())
        if calls is None or len(seen) <= calls:
            error = {"Code": "ProvisionedThroughputExceededException", "Message": "Rate of requests exceeds"}
            raise ClientError({"Error": error}, "BatchWriteItem")
        return real(**kwargs)

    monkeypatch.setattr(client, "batch_write_item", throttled)
    return seen


def test_throttled_records_keep_accepted_messages_accepted_with_one_post_each(send_env, monkeypatch):
    send_env.sim.config.mps = None
    sender = send_env.handler.sender()
    ledger = sender.ledger
    ids = [parse_send_request(body(i)).identity() for i in range(N)]
    # Given DynamoDB throttles every BatchWriteItem for the whole invocation, and the invocation's time runs
    # out right after the chunk was claimed (the claim check sees 20 s; then 4 s are left)
    calls = throttle(ledger.client, monkeypatch, None)
    end, asked = time.monotonic() + 4.0, []

    def remaining() -> float:
        asked.append(1)
        return 20.0 if len(asked) == 1 else end - time.monotonic()

    rescheduler = Recorder()
    started = time.monotonic()
    report = clients.run(sender.run(batch(), rescheduler, remaining))
    took = time.monotonic() - started
    # Then the invocation returns within its time, having retried the writes more than once
    assert took < 4.0 and len(calls) > 1
    # and every accepted message goes back as a copy carrying its wamid (the original deleted), still claimed
    assert report.counts[Outcome.ACCEPTED] == N and not report.retries
    assert set(rescheduler.accepted) == {f"t{i}" for i in range(N)}
    assert all(w.startswith("wamid.") for w in rescheduler.accepted.values())
    assert {ledger.get_message(m)["state"] for m in ids} == {"sending"}
    # When DynamoDB recovers and the copies are delivered (as SQS would, with their attribute)
    monkeypatch.undo()
    copies = [
        replace(m, record_id=f"copy-{m.record_id}", body=rescheduler.copies[m.record_id][0], accepted_wamid=w)
        for m in batch()
        if (w := rescheduler.accepted[m.record_id])
    ]
    again = Recorder()
    report = clients.run(sender.run(copies, again, lambda: 30.0))
    # Then each is recorded accepted with the wamid Meta gave it, linked, and none was POSTed twice
    assert report.counts[Outcome.ACCEPTED] == N and not again.delays and not again.copies
    for i, message_id in enumerate(ids):
        message = ledger.get_message(message_id)
        assert (message["state"], message["wamid"]) == ("accepted", rescheduler.accepted[f"t{i}"])
        link = ledger.client.get_item(TableName=ledger.table, Key=keys.wamid_link(message["wamid"]))
        assert link["Item"]["message_id"]["S"] == message_id
    assert max(send_env.sim.sends_by_recipient().values()) == 1
    assert send_env.sim.duplicates(accepted_only=False) == {}
    # And a copy delivered once more (SQS delivers at least once) changes nothing and POSTs nothing
    posts = sum(send_env.sim.sends_by_recipient().values())
    report = clients.run(sender.run(copies[:1], Recorder(), lambda: 30.0))
    assert report.counts[Outcome.ACCEPTED] == 1 and sum(send_env.sim.sends_by_recipient().values()) == posts


def test_a_short_throttle_is_ridden_out_within_the_invocation(send_env, monkeypatch):
    send_env.sim.config.mps = None
    sender = send_env.handler.sender()
    # Given DynamoDB throttles the first 3 BatchWriteItem calls only
    throttle(sender.ledger.client, monkeypatch, 3)
    rescheduler = Recorder()
    report = clients.run(sender.run(batch(), rescheduler, lambda: 30.0))
    # Then every message is recorded accepted in this invocation: no copy, nothing given back
    assert report.counts[Outcome.ACCEPTED] == N and not rescheduler.copies and not report.retries
    states = {sender.ledger.get_message(parse_send_request(body(i)).identity())["state"] for i in range(N)}
    assert states == {"accepted"}
