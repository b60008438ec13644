"""Claims just in time under faults: moto + the Graph simulator, POSTs counted per message.

What a crash can leave claimed-but-unrecorded is the chunks in flight (the one being posted, the one before it
while its answers are recorded); a chunk the invocation cannot finish is not claimed;
a claim whose POST never started goes back to ``queued``; 5xx answers whose acceptance Meta does not state end
``unknown`` and are never POSTed twice.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from rescheduling import Recorder

from mmcore import clients
from mmcore.graph import GraphClient
from mmcore.graph.limiter import HEADROOM
from mmcore.meta.messages import parse_send_request
from mmcore.sending import Outcome, Sender, SqsMessage

TEMPLATE = {"name": "summer_sale", "language": {"code": "en_US"}}


def body(i: int) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "to": f"9198770{i:05d}",
        "type": "template",
        "template": TEMPLATE,
    }


def records(n: int) -> list[SqsMessage]:
    now = datetime.now(UTC)
    return [SqsMessage(f"r{i}", f"receipt-r{i}", json.dumps(body(i)), now) for i in range(n)]


def sender(send_env, mps: float, timeout: float = 5.0, token=None) -> Sender:
    """A sender at ``mps`` per invocation (chunks of ``ceil(mps)``) on the test stack's ledger."""
    base = send_env.handler.sender()
    settings = base.settings.model_copy(update={"throughput_mps": mps, "graph_timeout_seconds": timeout})
    graph = GraphClient(settings.graph_url, token or base.graph._token, timeout=timeout, max_connections=100)
    return Sender(settings, base.ledger, graph, rules=base.rules)


def states(send_env, n: int) -> Counter[str | None]:
    ledger = send_env.handler.sender().ledger
    found = (ledger.get_message(parse_send_request(body(i)).identity()) for i in range(n))
    return Counter(m["state"] if m else None for m in found)


def run(s: Sender, batch: list[SqsMessage], remaining=None) -> tuple[Any, Recorder]:
    rescheduler = Recorder()
    return clients.run(s.run(batch, rescheduler, remaining)), rescheduler


def until_drained(s: Sender, batch: list[SqsMessage], rounds: int = 10) -> None:
    """Play SQS: records given back come again until none is."""
    for _ in range(rounds):
        _, rescheduler = run(s, batch)
        batch = [m for m in batch if m.record_id in rescheduler.delays]
        if not batch:
            return
    raise AssertionError(f"{len(batch)} records still given back")


@pytest.fixture
def open_sim(send_env):
    send_env.sim.config.mps = None
    send_env.sim.config.pair_interval_seconds = None
    return send_env.sim


class Killed(SystemExit):
    """The process dies: no except or finally of the sender runs (as under SIGKILL)."""


def test_sigkill_mid_batch_leaves_at_most_the_chunks_in_flight_claimed(send_env, open_sim):
    sim = open_sim
    # Given a batch of 60 at 20 msg/s (chunks of 20), and a process killed as its 25th POST goes out
    s = sender(send_env, 20)
    posts = 0
    real_send = s.graph.send

    async def send(phone_number_id, wire, endpoint="marketing_messages"):
        nonlocal posts
        posts += 1
        if posts == 25:
            raise Killed()
        return await real_send(phone_number_id, wire)

    s.graph.send = send
    with pytest.raises(Killed):
        run(s, records(60))
    # Then only the chunks in flight are left `sending` (before: the whole batch of 60, claimed up front): the
    # one being posted and the one before it if its answers were not recorded yet (the next chunk's POSTs
    # do not wait for them); the last 20 were never claimed
    left = states(send_env, 60)
    assert left["sending"] <= 2 * s.budget.chunk == 40
    assert left["accepted"] + left["sending"] == 40 and left[None] == 20
    # When SQS gives the batch again after the claims' lease
    clients.reset()
    s = sender(send_env, 20)
    s.clock = lambda: time.time() + 3600
    until_drained(s, records(60))
    # Then nothing was POSTed twice and `unknown` is at most those chunks; every never-claimed message is sent
    final = states(send_env, 60)
    assert sim.duplicates(accepted_only=False) == {}
    assert final["unknown"] <= left["sending"] and final["accepted"] + final["unknown"] == 60


def test_a_chunk_the_invocation_cannot_finish_is_not_claimed(send_env, open_sim):
    sim = open_sim
    # Given 50 messages at 10 msg/s (chunks of 10: 1 s + 5 s timeout + 3 s reserve = 9 s each) and an
    # invocation whose remaining time runs out after two chunks
    s = sender(send_env, 10)

    def left() -> (
        float
    ):  # each chunk of 10 POSTs begun takes 10.55 s of the invocation: 30, 19.45, 8.9 s left
        # (the next chunk is checked once this one's POSTs have all started, before their answers)
        return 30.0 - 10.55 * -(-sum(sim.sends_by_recipient().values()) // 10)

    # When the batch is sent
    report, rescheduler = run(s, records(50), left)
    # Then 20 are accepted and 30 go back to the queue at once, unclaimed and not failed
    assert report.counts[Outcome.ACCEPTED] == 20 and report.counts[Outcome.DEFERRED] == 30
    assert report.counts[Outcome.FAILED] == 0 and sorted(set(rescheduler.delays.values())) == [0]
    assert states(send_env, 50) == Counter({"accepted": 20, None: 30})
    assert sum(sim.sends_by_recipient().values()) == 20
    # And the next invocation sends them, once each
    until_drained(sender(send_env, 10), [m for m in records(50) if m.record_id in rescheduler.delays])
    assert states(send_env, 50) == Counter({"accepted": 50})
    assert sim.duplicates(accepted_only=False) == {}


def test_a_secret_outage_claims_nothing_and_the_messages_go_out_after_it(send_env, open_sim):
    sim = open_sim
    # Given Secrets Manager failing (a 5 s blip): before, the batch was claimed, then `unknown` at the lease
    down = True
    real = send_env.handler.sender().graph._token

    def token():
        if down:
            raise ConnectionError("secretsmanager: read timeout")
        return real()

    s = sender(send_env, 50, token=token)
    report, rescheduler = run(s, records(30))
    # Then nothing is claimed or POSTed, and every record comes back after the outage's retry delay
    assert report.counts == Counter({Outcome.DEFERRED: 30})
    assert set(rescheduler.delays.values()) == {30}
    assert states(send_env, 30) == Counter({None: 30}) and sim.requests("marketing_messages") == []
    down = False
    until_drained(s, records(30))
    assert states(send_env, 30) == Counter({"accepted": 30})


def test_a_token_lost_mid_chunk_releases_the_unsent_claims_to_queued(send_env, open_sim):
    sim = open_sim
    # Given a token that is readable when the chunk is claimed, then expires from the cache and cannot be
    # read again for some POSTs of the chunk
    reads = 0
    real = send_env.handler.sender().graph._token

    def token():
        nonlocal reads
        reads += 1
        if reads > 6:  # the pre-claim read and 5 POSTs succeed
            raise ConnectionError("secretsmanager: throttled")
        return real()

    s = sender(send_env, 20, token=token)
    report, _ = run(s, records(20))
    # Then the 5 POSTed are accepted and the 15 others are back to `queued`, attempt undone, not `unknown`
    assert report.counts == Counter({Outcome.ACCEPTED: 5, Outcome.DEFERRED: 15})
    assert states(send_env, 20) == Counter({"accepted": 5, "queued": 15})
    ledger = send_env.handler.sender().ledger
    queued = [ledger.get_message(parse_send_request(body(i)).identity()) for i in range(20)]
    assert all("attempts" not in m for m in queued if m["state"] == "queued")
    # And once the token is back they are sent, each once
    reads = -1000
    until_drained(s, records(20))
    assert states(send_env, 20) == Counter({"accepted": 20})
    assert sim.duplicates(accepted_only=False) == {}


def test_a_cancelled_invocation_releases_the_claims_whose_post_had_not_started(send_env, open_sim):
    sim = open_sim
    # Given a chunk of 10 at 10 msg/s (one POST every 0.1 s) and answers that take 1 s
    sim.config.latency_ms = 1000
    s = sender(send_env, 10)

    async def cancelled_mid_chunk():
        task = asyncio.ensure_future(s.run(records(10), Recorder()))
        while len(sim.requests("marketing_messages")) < 3:  # 3 POSTs reached Meta, none answered yet (1 s)
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    clients.run(cancelled_mid_chunk())
    # Then the started ones stay `sending` (Meta may have them) and the others are `queued` again: every POST
    # Meta saw stays claimed; one more may have been cancelled on its way (started, not yet seen: still claimed)
    left = states(send_env, 10)
    seen = len(sim.requests("marketing_messages"))
    assert 3 <= left["sending"] <= 6 and left["sending"] + left["queued"] == 10
    assert seen <= left["sending"] <= seen + 1


AMBIGUOUS_5XX = [131000, 131016, 131057, 133004, 2]


@pytest.mark.parametrize("delivered", [True, False], ids=["meta-took-it", "meta-did-not"])
def test_faults_never_cause_a_second_post_nor_leave_an_unsent_claim(send_env, open_sim, delivered):
    sim = open_sim
    # Given a fault mix: every ambiguous 5xx, connection resets after the request, answers slower than the
    # client's timeout; Meta keeps (or drops) the message behind each fault
    sim.config.seed = 7
    sim.config.faults_deliver = delivered
    sim.config.error_rates = dict.fromkeys(AMBIGUOUS_5XX, 0.05)
    sim.config.reset_ratio, sim.config.slow_ratio, sim.config.slow_ms = 0.05, 0.05, 600
    n = 120
    s = sender(send_env, 50, timeout=0.3)
    # When the batch is sent and everything given back comes again
    until_drained(s, records(n))
    # Then no message got two POSTs, none is left `sending`, and every `unknown` is one Meta was sent
    time.sleep(0.7)  # the simulator logs a slow request once it answers, after the client gave up
    posts = sim.sends_by_recipient()
    final = states(send_env, n)
    assert max(posts.values()) == 1 and sim.duplicates(accepted_only=False) == {}
    assert final["sending"] == 0 and final[None] == 0
    ledger = send_env.handler.sender().ledger
    unknown = {
        body(i)["to"]
        for i in range(n)
        if ledger.get_message(parse_send_request(body(i)).identity())["state"] == "unknown"
    }
    assert unknown and unknown <= set(posts)
    faulted = {r.recipient for r in sim.requests("marketing_messages") if r.status != 200}
    # every 5xx and reset is ambiguous: recorded unknown, not retried (the rest of `unknown`: timeouts)
    assert faulted and faulted <= unknown
    assert final["accepted"] + final["unknown"] == n


def test_an_outage_longer_than_the_receive_limit_loses_nothing_to_the_dead_letter_queue(
    send_env, open_sim, monkeypatch
):
    # Given a secret outage lasting more receives than the queue's MaxReceiveCount (10), on real SQS (moto)
    monkeypatch.setattr("mmcore.sending.pipeline.TOKEN_RETRY_SECONDS", 0)  # 30 s on AWS: no need to wait here
    real = send_env.handler.sender().graph._token
    down = {"left": 12}

    def token():
        if down["left"]:
            raise ConnectionError("secretsmanager: read timeout")
        return real()

    send_env.handler.sender().graph._token = token
    send_env.enqueue(*(body(i) for i in range(5)))
    # When the queue is polled through the outage (each invocation gives the records back unclaimed)
    for _ in range(12):
        step = send_env.poll_once()
        assert step is not None and step[1]["batchItemFailures"] == []  # fresh copies, originals deleted
        down["left"] -= 1
    send_env.drain()
    # Then every message went out once, none reached the dead-letter queue
    assert states(send_env, 5) == Counter({"accepted": 5})
    assert max(open_sim.sends_by_recipient().values()) == 1
    attrs = send_env.sqs.get_queue_attributes(QueueUrl=send_env.stack.dlq_url, AttributeNames=["All"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_a_slow_answer_holds_no_other_post_and_claims_stay_just_in_time(send_env, open_sim):
    # Given 60 messages at 20 msg/s (chunks of 20) and a first POST whose answer takes 2 s
    s = sender(send_env, 20)
    real_send, real_claim, started, claimed, claimed_then, answered = s.graph.send, s._claim, {}, [0], {}, []

    async def claim(chunk, pre, report):
        won = await real_claim(chunk, pre, report)
        claimed[0] += len(won)
        return won

    async def send(phone_number_id, wire, endpoint="marketing_messages"):
        i = len(started)
        started[i], claimed_then[i] = time.monotonic(), claimed[0]
        if i == 0:
            await asyncio.sleep(2.0)
            answered.append(time.monotonic())
        return await real_send(phone_number_id, wire)

    s._claim, s.graph.send = claim, send
    report, _ = run(s, records(60))
    # Then the second chunk's POSTs went out while the slow answer was awaited (before: they waited for it,
    # and the last POST left after 2 s + 2 chunks), the last at the number's pace: 60 / (20 x 0.95) = 3.2 s
    assert report.counts[Outcome.ACCEPTED] == 60
    assert started[20] < answered[0] and started[59] - started[0] < 60 / (20 * HEADROOM) + 1.0
    # And each chunk was claimed only as its POSTs came due: at most the chunk being posted and the next one
    assert all(claimed_then[i] <= 20 * (i // 20 + 2) for i in range(60))
    assert claimed_then[0] <= 40 and claimed_then[19] <= 40
    assert sum(open_sim.sends_by_recipient().values()) == 60 and open_sim.duplicates() == {}


def test_a_pacing_item_that_cannot_be_read_claims_nothing(send_env, open_sim):
    # Given DynamoDB throttling the number's pacing item
    s = sender(send_env, 50)

    async def lease(number, count):
        raise ConnectionError("dynamodb: ProvisionedThroughputExceededException")

    s.pacer.lease = lease
    report, rescheduler = run(s, records(30))
    # Then nothing is claimed or POSTed, and every record comes back a few seconds later
    assert report.counts == Counter({Outcome.DEFERRED: 30})
    assert set(rescheduler.delays.values()) == {5}
    assert states(send_env, 30) == Counter({None: 30}) and open_sim.requests("marketing_messages") == []
