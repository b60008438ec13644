"""The fault-injection suite (issue 16): each scenario on a fresh stack (see ``rig.py``), loopback only, a
modest number of messages, then the suite's table (``conftest.py``; ``make faults`` writes it to
``build/faults.md``).

Every scenario ends with every message in a final state: 0 duplicates (a user Meta accepted the message for
twice), 0 lost, 0 stuck, 0 left ``unknown``. Scenarios where Meta never got some messages whose fate the
sender could not know (``resend``) need ``RESEND_SILENT_UNKNOWN`` on: the stream's silence is what proves it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from itertools import count

import boto3
import pytest
from faults.rig import ROWS, Context, Rig, Row, body, rig
from faults.wire import FaultyWire, Poisoner

from mmcore.graph import GraphClient
from mmcore.meta.messages import parse_send_request
from mmcore.store import messages as L

AMBIGUOUS_5XX = (131000, 131016, 133004, 131057, 2)  # 5xx whose acceptance Meta does not state


def ids(bodies: list[dict]) -> list[str]:
    return [parse_send_request(b).identity() for b in bodies]


def send_and_resolve(r: Rig, row: Row, n: int, context: Callable[[], Context] | None = None) -> None:
    bodies = [body(i) for i in range(n)]
    r.enqueue(bodies)
    r.drain(context)
    row.resolver = r.resolve(ids(bodies))
    r.tally(row, bodies)


def rewire(r: Rig, wire: FaultyWire) -> None:
    """The send function's Graph client over ``wire`` (httpx's transport, with faults)."""
    sender = r.send.sender()
    old = sender.graph
    sender.graph = GraphClient(
        old.base_url, old._token, timeout=sender.settings.graph_timeout_seconds, transport=wire
    )


# ---------------------------------------------------------------- the scenarios


def five_xx(delivered: bool) -> Callable[[Rig, Row], None]:
    def run(r: Rig, row: Row) -> None:
        r.sim.config.update(seed=3, error_rates=dict.fromkeys(AMBIGUOUS_5XX, 0.05), faults_deliver=delivered)
        send_and_resolve(r, row, 100)

    return run


def refused_before_the_request(r: Rig, row: Row) -> None:
    wire = FaultyWire(refuse=0.2, seed=5)
    rewire(r, wire)
    send_and_resolve(r, row, 100)
    row.note = f"{wire.counts.get('refused', 0)} connections refused, retried"
    assert row.resolver.total() == 0, "a refused connection must never make a message unknown"


def reset_after_the_request(delivered: bool) -> Callable[[Rig, Row], None]:
    def run(r: Rig, row: Row) -> None:
        r.sim.config.update(seed=4, reset_ratio=0.15, faults_deliver=delivered)
        send_and_resolve(r, row, 100)

    return run


def timeout_after_the_request(r: Rig, row: Row) -> None:
    # answers slower than the client's 0.5 s timeout; the simulator takes the message after the delay
    r.sim.config.update(seed=6, slow_ratio=0.1, slow_ms=700)
    send_and_resolve(r, row, 80)


class Killed(SystemExit):
    """The process dies: no except or finally of the sender runs (as under SIGKILL)."""


def sigkill_mid_batch(r: Rig, row: Row) -> None:
    # Given batches of 10 sent in chunks of 4 concurrent POSTs, and the send process killed twice, as its
    # 23rd and its 58th POST go out: the other POSTs of that chunk already left (Meta takes them), the rest of
    # the chunk is claimed but unsent, the rest of the batch unclaimed
    bodies = [body(i) for i in range(100)]
    r.enqueue(bodies)
    posts = count(1)
    for kill_at in (23, 58):
        real = r.send.sender().graph.send

        async def send(number, wire, endpoint="marketing_messages", real=real, kill_at=kill_at):
            if next(posts) == kill_at:
                await asyncio.sleep(0.05)  # the chunk's other POSTs are on the wire
                raise Killed()
            return await real(number, wire, endpoint)

        r.send.sender().graph.send = send
        with pytest.raises(Killed):
            r.drain()
        # When Lambda starts a new container, and the killed batch comes back after its visibility timeout
        r.sim.wait_for_webhooks_idle(20)
        r.new_process()
        r.advance(70)  # past the claims' lease (3 x the Graph timeout + 30 s)
        r.killed_batch_visible()
    r.drain()
    row.resolver = r.resolve(ids(bodies))
    r.tally(row, bodies)
    row.note = "in-process kill (a SystemExit past every except/finally), twice"


def lambda_timeout(r: Rig, row: Row) -> None:
    # Given invocations with 4-12 s left and chunks of 5 needing 0.1 + 0.5 + 3 s each: most batches run out
    # of time mid-batch; the chunks not claimed go back to the queue
    times = iter([4.0, 12.0, 6.0, 9.0, 3.0, 7.0] * 100)

    def context() -> Context:
        left, asked = next(times), count()
        return Context(lambda: left - 3.7 * next(asked))  # each chunk takes the time it may take

    send_and_resolve(r, row, 100, context)
    row.note = f"{row.messages} messages over {r.invocations} invocations"


def secret_outage(r: Rig, row: Row) -> None:
    # Given Secrets Manager refusing the graph secret (marked for deletion) mid-campaign, for 3 invocations.
    # Deferred records come back as fresh copies after the sender's 30 s look-again delay (their receive count
    # untouched); the rig compresses time, so here the copies come back at once.
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr("mmcore.sending.pipeline.TOKEN_RETRY_SECONDS", 0)
    try:
        _secret_outage(r, row)
    finally:
        monkeypatch.undo()


def _secret_outage(r: Rig, row: Row) -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    r.sim.config.update(webhook_max_retries=10, webhook_retry_backoff=0.1)  # Meta retries for hours
    bodies = [body(i) for i in range(100)]
    r.enqueue(bodies[:30])
    r.drain()
    client.delete_secret(SecretId=r.stack.graph_secret_arn, RecoveryWindowInDays=7)
    r.enqueue(bodies[30:])
    for _ in range(3):
        r.invoke()
    posts = sum(r.sim.sends_by_recipient().values())
    client.restore_secret(SecretId=r.stack.graph_secret_arn)
    r.drain()
    row.resolver = r.resolve(ids(bodies))
    r.tally(row, bodies)
    assert posts == 30, "nothing is POSTed while the token cannot be read"
    row.note = "token unreadable for 3 invocations: 0 POSTs, nothing claimed, all sent after"


def odd_success_answers(r: Rig, row: Row) -> None:
    wire = FaultyWire(odd=0.2, seed=8)
    rewire(r, wire)
    send_and_resolve(r, row, 100)
    row.note = ", ".join(f"{n} {kind}" for kind, n in sorted(wire.counts.items()))


def webhooks_duplicated_reordered_late(r: Rig, row: Row) -> None:
    r.sim.config.update(
        seed=9,
        error_rates=dict.fromkeys(AMBIGUOUS_5XX, 0.04),
        reset_ratio=0.05,
        faults_deliver=True,
        duplicate_ratio=0.3,
        reorder_ratio=0.5,
        sent_delay=0.2,
        delivered_delay=0.1,
    )
    send_and_resolve(r, row, 100)
    wrong = r.status_mismatches([body(i) for i in range(100)])
    assert wrong == [], wrong
    row.note = "every accepted message shows its newest status"


def webhook_post_with_a_poisoned_item(r: Rig, row: Row) -> None:
    poison = Poisoner(r.sim.app_secret)
    r.webhook_hook = poison
    r.sim.config.update(
        seed=10, error_rates=dict.fromkeys(AMBIGUOUS_5XX, 0.05), faults_deliver=True, webhook_batch_size=5
    )
    send_and_resolve(r, row, 100)
    refused = [w for w in r.receiver.received if w.status != 200]
    assert poison.poisoned > 0 and refused == [], refused
    wrong = r.status_mismatches([body(i) for i in range(100)])
    assert wrong == [], wrong
    row.note = f"{poison.poisoned} POSTs poisoned, all answered 200, every status stored"


# name -> (run, needs RESEND_SILENT_UNKNOWN, extra function environment)
SCENARIOS: dict[str, tuple[Callable[[Rig, Row], None], bool, dict[str, str]]] = {
    "5xx, Meta took it": (five_xx(True), False, {}),
    "5xx, Meta did not": (five_xx(False), True, {}),
    "refused before the request": (refused_before_the_request, False, {}),
    "reset after the request, taken": (reset_after_the_request(True), False, {}),
    "reset after the request, not taken": (reset_after_the_request(False), True, {}),
    "timeout after the request": (timeout_after_the_request, False, {"GRAPH_TIMEOUT_SECONDS": "0.5"}),
    "SIGKILL mid-batch": (sigkill_mid_batch, True, {"SEND_CONCURRENCY": "4"}),
    "Lambda timeout": (
        lambda_timeout,
        False,
        {"THROUGHPUT_MPS": "50", "SEND_CONCURRENCY": "5", "GRAPH_TIMEOUT_SECONDS": "0.5"},
    ),
    "secret outage": (secret_outage, False, {"SECRET_MAX_AGE_SECONDS": "0"}),
    "odd success answers": (odd_success_answers, False, {}),
    "webhooks duplicated/reordered/late": (webhooks_duplicated_reordered_late, False, {}),
    "webhook POST, one poisoned item": (webhook_post_with_a_poisoned_item, False, {}),
}


@pytest.mark.timeout(90)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_no_duplicate_no_loss_nothing_stuck_nothing_left_unknown(name):
    run, resend, env = SCENARIOS[name]
    row = Row(name, resend=resend)
    started = time.monotonic()
    with rig(RESEND_SILENT_UNKNOWN="true" if resend else "false", **env) as r:
        run(r, row)
    row.seconds = time.monotonic() - started
    ROWS.append(row)
    final = {s for s in row.states if s in L.FINAL}
    assert (row.duplicates, row.lost, row.stuck) == (0, 0, 0), row
    assert row.unknown_taken + row.unknown_unsent == 0, row
    assert set(row.states) == final, row  # every message in a final state
