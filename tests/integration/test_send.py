"""The send function end to end: moto (DynamoDB, SQS, Secrets Manager) + the Graph simulator over HTTP."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from handlers import load_event, now_ms
from rescheduling import Recorder

from mmapi.sqsevents import lambda_event, receive
from mmcore import clients
from mmcore.meta.errors import Scope
from mmcore.meta.messages import parse_send_request
from mmcore.sending import Outcome, SqsMessage
from mmcore.sending.classify import HALT_SECONDS
from mmcore.store import keys
from mmcore.store.halts import template_halt_key

SEED_EVENT = "send_seeds.json"


def seed_body(name: str) -> dict:
    for record in load_event(SEED_EVENT)["Records"]:
        body = json.loads(record["body"])
        if body["template"]["name"] == name and (name != "festival_offer" or "components" in body):
            return body
    raise KeyError(name)


def request(to: str, **extra) -> dict:
    return {**seed_body("summer_sale"), "to": to, **extra}


def message_id(body: dict) -> str:
    return parse_send_request(body).identity()


def fresh(event: dict) -> dict:
    for record in event["Records"]:
        record["attributes"]["SentTimestamp"] = now_ms()
    return event


# ---------------------------------------------------------------- the seeds


def test_seed_examples_from_events_are_sent(send_env):
    # Given the seeds' four requests as a real SQS event (all to the same recipient: pair limit off)
    send_env.sim.config.pair_interval_seconds = None
    event = fresh(load_event(SEED_EVENT))
    # When the send function handles the batch
    response = send_env.invoke(event)
    # Then nothing is retried, and each request has its final state in the ledger
    assert response == {"batchItemFailures": []}
    states = {}
    for record in event["Records"]:
        body = json.loads(record["body"])
        item = send_env.message(message_id(body))
        states[(body["template"]["name"], "components" in body["template"])] = item
    assert states[("festival_offer", True)]["state"] == "accepted"
    assert states[("festival_offer", True)]["wamid"].startswith("wamid.")
    assert states[("summer_sale", False)]["state"] == "accepted"
    # the seeds' flash_sale request: time_to_live is enforced here and kept off Meta's wire
    assert states[("flash_sale", False)]["state"] == "accepted"
    # festival_offer without its body variable: Meta answers 132000 (parameter mismatch), a permanent failure
    full = states[("festival_offer", False)]
    assert full["state"] == "failed" and full["error"]["code"] == 132000
    assert all(r.body.get("time_to_live") is None for r in send_env.sim.requests("marketing_messages"))


# ---------------------------------------------------------------- region rules and deadline: nothing spent


def test_us_recipient_is_blocked_without_a_post(send_env):
    body = request("+1 202 555 0173")
    send_env.enqueue(body)
    send_env.drain()
    item = send_env.message(message_id(body))
    assert item["state"] == "blocked" and item["code"] == 131049
    assert item["details"] == "Marketing messages to users in the United States are not supported"
    assert send_env.sim.sends_by_recipient() == {}


def test_eea_recipient_is_sent_with_its_disabled_features_recorded(send_env):
    body = request("+49 1512 3456789")
    send_env.enqueue(body)
    send_env.drain()
    item = send_env.message(message_id(body))
    assert item["state"] == "accepted" and item["country"] == "DE"
    assert item["disabled_features"] == ["click_reporting", "conversion_reporting", "delivery_optimization"]


def test_expired_message_is_never_posted(send_env):
    body = request("919876543211", time_to_live=43200)
    event = fresh(load_event(SEED_EVENT))
    event["Records"] = event["Records"][:1]
    event["Records"][0]["body"] = json.dumps(body)
    event["Records"][0]["attributes"]["SentTimestamp"] = str(int((time.time() - 43201) * 1000))
    assert send_env.invoke(event) == {"batchItemFailures": []}
    assert send_env.message(message_id(body))["state"] == "expired"
    assert send_env.sim.sends_by_recipient() == {}


def test_opted_out_recipient_is_suppressed_without_a_post(send_env):
    send_env.handler.sender().ledger.client.put_item(
        TableName=send_env.stack.table, Item=keys.suppression("919876543212")
    )
    body = request("919876543212")
    send_env.enqueue(body)
    send_env.drain()
    assert send_env.message(message_id(body))["state"] == "suppressed"
    assert send_env.sim.sends_by_recipient() == {}


# ---------------------------------------------------------------- never twice, never lost


def test_throttling_is_retried_until_every_message_is_accepted_once(send_env):
    # Given a simulator that accepts 3 messages per second and 30 queued messages
    send_env.sim.config.mps = 3
    send_env.sim.clock = send_env.sim.clock  # the simulator's clock moves only when the driver says so
    bodies = [request(f"9198765{i:05d}") for i in range(30)]
    send_env.enqueue(*bodies)
    # When the queue is drained (retried records come back, time moves a second per round)
    responses = send_env.drain(rounds=200, fast_forward=1.0)
    # Then every message is accepted, some after 130429, and no recipient got two POSTs that Meta accepted
    assert any(r["batchItemFailures"] for r in responses)
    assert {send_env.message(message_id(b))["state"] for b in bodies} == {"accepted"}
    assert send_env.sim.duplicates() == {}
    assert sum(send_env.sim.sends_by_recipient(accepted_only=True).values()) == 30


def test_redelivered_batch_makes_no_second_post(send_env):
    bodies = [request(f"9198766{i:05d}") for i in range(5)]
    send_env.enqueue(*bodies)
    event, response = send_env.poll_once()
    assert response == {"batchItemFailures": []}
    # SQS delivers the same batch again (e.g. the delete was lost)
    assert send_env.invoke(event) == {"batchItemFailures": []}
    assert sum(send_env.sim.sends_by_recipient().values()) == 5


def test_double_enqueued_message_is_posted_once(send_env):
    body = request("919876600001", campaign_id="c-1", message_id="c-1-0")
    send_env.enqueue(body, body, dict(body))
    send_env.drain()
    assert send_env.sim.sends_by_recipient() == {"919876600001": 1}
    # the seeds' raw request (no message_id) enqueued twice: same digest, one POST
    raw = seed_body("summer_sale")
    send_env.enqueue(raw, raw)
    send_env.drain()
    assert send_env.sim.sends_by_recipient()["919876543210"] == 1


def test_crash_between_post_and_record_ends_unknown_without_resend(send_env, monkeypatch):
    body = request("919876600002")
    send_env.enqueue(body)
    sender = send_env.handler.sender()

    def crash(items, deadline=None):
        raise RuntimeError("Lambda died before the ledger write")

    # Given an invocation that POSTs and dies before recording the outcome
    monkeypatch.setattr(sender.ledger, "write", crash)
    messages = receive(send_env.sqs, send_env.stack.queue_url)
    with pytest.raises(RuntimeError):
        send_env.invoke(lambda_event(messages, send_env.queue_arn))
    monkeypatch.undo()
    # When SQS redelivers the record after its visibility timeout (the claim's lease has run out by then)
    sender.clock = lambda: time.time() + 3600
    send_env.sqs.change_message_visibility(
        QueueUrl=send_env.stack.queue_url, ReceiptHandle=messages[0]["ReceiptHandle"], VisibilityTimeout=0
    )
    send_env.drain()
    # Then the message is recorded unknown and not sent again
    assert send_env.message(message_id(body))["state"] == "unknown"
    assert send_env.sim.sends_by_recipient() == {"919876600002": 1}


# ---------------------------------------------------------------- product policy, halts, bad input


def test_strict_is_rejected_and_fallback_is_sent_when_not_onboarded(send_env):
    send_env.sim.set_onboarded(False)
    strict, fallback = request("919876600003", product_policy="STRICT"), request("919876600004")
    send_env.enqueue(strict, fallback)
    send_env.drain()
    assert send_env.message(message_id(fallback))["state"] == "accepted"
    rejected = send_env.message(message_id(strict))
    assert rejected["state"] == "failed" and rejected["error"]["code"] == 134102
    fallen_back = [m for m in send_env.sim.messages() if m.to == "919876600004"]
    assert fallen_back and fallen_back[0].pricing_category == "marketing"


def test_bad_token_halts_sending_and_keeps_the_messages(send_env):
    send_env.handler.sender().graph._token = lambda: "expired-token"
    bodies = [request(f"9198767{i:05d}") for i in range(3)]
    send_env.enqueue(*bodies)
    _, response = send_env.poll_once()
    # every record goes back to the queue: nothing is lost, nothing more is spent
    assert len(response["batchItemFailures"]) == 3
    assert {send_env.message(message_id(b))["state"] for b in bodies} <= {"retry", None}
    # the halt is the WABA's (the account scope is keyed by the WABA id)
    ledger = send_env.handler.sender().ledger
    halted = ledger.prefetch([], [(Scope.ACCOUNT, send_env.sim.waba_id)], int(time.time())).halted
    assert halted[Scope.ACCOUNT, send_env.sim.waba_id].code == 190
    # the next batch does not even reach Graph while the halt lasts
    send_env.enqueue(request("919876700099"))
    posts = len(send_env.sim.requests("marketing_messages"))
    send_env.poll_once()
    assert len(send_env.sim.requests("marketing_messages")) == posts


def test_bsuid_refusal_131062_fails_the_message_without_a_retry(send_env):
    # Given Meta refuses the send with 131062 (max-price or authentication template to a BSUID)
    send_env.sim.config.error_rates = {131062: 1.0}
    body = request("919876600010")
    send_env.enqueue(body)
    # When the queue is drained
    responses = send_env.drain()
    # Then the message failed for good with Meta's code, after one POST and no record given back
    item = send_env.message(message_id(body))
    assert item["state"] == "failed" and item["error"]["code"] == 131062
    assert item["error"]["action"] == "permanent"
    assert all(r["batchItemFailures"] == [] for r in responses)
    assert len(send_env.sim.requests("marketing_messages")) == 1


def test_marketing_disabled_on_cloud_api_131063_halts_the_waba_and_keeps_the_messages(send_env):
    # Given a WABA whose marketing templates are disabled on Cloud API (131063: not a recipient issue)
    send_env.sim.config.error_rates = {131063: 1.0}
    bodies = [request(f"9198768{i:05d}") for i in range(3)]
    send_env.enqueue(*bodies)
    # When a batch is sent
    first, response = send_env.poll_once()
    # Then no message fails: all go back to the queue and the WABA is halted with 131063
    assert len(response["batchItemFailures"]) == 3
    assert {send_env.message(message_id(b))["state"] for b in bodies} <= {"retry", None}
    sender = send_env.handler.sender()
    halted = sender.ledger.prefetch([], [(Scope.ACCOUNT, send_env.sim.waba_id)], int(time.time())).halted
    assert halted[Scope.ACCOUNT, send_env.sim.waba_id].code == 131063
    posts = len(send_env.sim.requests("marketing_messages"))
    send_env.enqueue(request("919876800099"))
    second, _ = send_env.poll_once()
    assert len(send_env.sim.requests("marketing_messages")) == posts  # nothing reaches Meta while halted
    # And once the WABA is fixed and the halt's probe is due (SQS gives the records back then), the kept
    # messages go out
    send_env.sim.config.error_rates = {}
    sender.clock = lambda: time.time() + HALT_SECONDS + 1
    for record in first["Records"] + second["Records"]:
        send_env.sqs.change_message_visibility(
            QueueUrl=send_env.stack.queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
        )
    send_env.drain()
    assert {send_env.message(message_id(b))["state"] for b in bodies} == {"accepted"}


def test_malformed_bodies_fail_only_their_own_record(send_env):
    event = fresh(load_event(SEED_EVENT))
    event["Records"] = event["Records"][:2]
    event["Records"][0]["body"] = "{not json"
    good = json.loads(event["Records"][1]["body"])
    bad_ttl = dict(load_event(SEED_EVENT)["Records"][1])
    bad_ttl["messageId"] = "bad-ttl"
    bad_ttl["body"] = json.dumps(request("919876600005", time_to_live=3600))
    event["Records"].append(bad_ttl)
    response = send_env.invoke(event)
    assert {f["itemIdentifier"] for f in response["batchItemFailures"]} == {
        event["Records"][0]["messageId"],
        "bad-ttl",
    }
    assert send_env.message(message_id(good))["state"] == "accepted"


def sqs_message(record_id: str, body: dict | str) -> SqsMessage:
    text = body if isinstance(body, str) else json.dumps(body)
    return SqsMessage(record_id, f"receipt-{record_id}", text, datetime.now(UTC))


def test_the_sender_takes_typed_records_and_reschedules_through_the_given_rescheduler(send_env):
    # Given a halted template and three records: one for that template, one bad, one good
    sender = send_env.handler.sender()
    sale = request("919876600006")
    sender.ledger.halt(
        Scope.TEMPLATE,
        template_halt_key(sender.settings.waba_id, "summer_sale", "en_US"),
        int(time.time()) + 60,
        1,
        "x",
    )
    other = {**seed_body("flash_sale"), "to": "919876600007"}
    records = [sqs_message("halted", sale), sqs_message("bad", "{not json"), sqs_message("good", other)]
    rescheduler = Recorder()
    # When the sender runs the batch
    report = clients.run(sender.run(records, rescheduler))
    # Then the halted and the bad record are given back with their delays, and only the good one is sent
    assert {rid: r.outcome for rid, r in report.results.items()} == {
        "halted": Outcome.HALTED,
        "bad": Outcome.INVALID,
        "good": Outcome.ACCEPTED,
    }
    assert rescheduler.delays["bad"] == 0 and 1 <= rescheduler.delays["halted"] <= 61
    assert set(rescheduler.delays) == {"halted", "bad"}
    assert send_env.sim.sends_by_recipient() == {"919876600007": 1}
