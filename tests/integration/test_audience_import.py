"""Audiences from S3 (mmcore.campaigns.imports), against moto built from template.yaml, run by the local
stack's interpreter of the template's own state machine definition (mmapi.statemachine): a repeated row is
queued once, a retried chunk queues nothing twice, rejected rows are counted by reason, gzip is imported, and
an unreadable s3_uri is a 422 naming ``audience.s3_uri``, and a campaign cancelled while it waits for its
upload imports nothing."""

from __future__ import annotations

import gzip
import json

import pytest
from aws import create_stack
from pydantic import ValidationError

from mmapi.statemachine import Interpreter
from mmcore.campaigns import CampaignCreate, Campaigns, SendQueue
from mmcore.campaigns import lifecycle
from mmcore.campaigns.imports import Audiences
from mmcore.exceptions import Conflict, InvalidInput
from mmcore.settings import Settings
from mmcore.store import keys

MACHINE = "AudienceImportStateMachine"
CAMPAIGN = {
    "name": "Spring",
    "skip_preflight": True,
    "template": {
        "name": "spring",
        "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Hi {{first_name}}!"}]}],
    },
}


class Fixture:
    def __init__(self, session, stack) -> None:
        local = stack.local
        self.s3, self.sqs, self.dynamodb = (session.client(n) for n in ("s3", "sqs", "dynamodb"))
        self.bucket = local.physical["AudienceBucket"]["Ref"]
        self.queue = stack.queue_url
        settings = Settings(phone_number_id="106540352242922", business_country="IN", table_name=stack.table)
        campaigns = Campaigns(settings, self.dynamodb, SendQueue(self.sqs, stack.queue_url), preflight=False)
        self.audiences = Audiences(
            campaigns,
            self.s3,
            session.client("stepfunctions"),
            bucket=self.bucket,
            state_machine_arn=local.physical[MACHINE]["Arn"],
        )
        self.interpreter = Interpreter(local.definition(MACHINE), self.task, self.s3, sleep=lambda s: None)

    def task(self, arn, payload):
        """The import function's routing (functions/campaigns/imports.py), on this fixture's clients."""
        if payload.get("action") == "prepare":
            return self.audiences.prepare(payload["campaign_id"], payload["bucket"], payload["key"])
        if payload.get("action") == "finish":
            return self.audiences.finish(payload["campaign_id"], payload.get("error"))
        return self.audiences.chunk(payload["BatchInput"]["campaign_id"], payload["Items"])

    def put(self, key, text, *, gz=False):
        body = gzip.compress(text.encode()) if gz else text.encode()
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        return f"s3://{self.bucket}/{key}"

    def create(self, uri, **extra):
        return self.audiences.create(
            CampaignCreate.model_validate({**CAMPAIGN, **extra, "audience": {"s3_uri": uri}})
        )

    def run(self, created):
        return self.interpreter.run({"campaign_id": created["campaign_id"], "bucket": self.bucket,
                                     "key": created["audience"]["s3_uri"].split("/", 3)[3]})  # fmt: skip

    def queued(self):
        """Every send request on the queue, by message id (a list: a duplicate shows twice)."""
        bodies = []
        while got := self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages"):
            bodies += [json.loads(m["Body"]) for m in got]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(got)],
            )
        return bodies

    def report(self, campaign_id):
        return self.audiences.campaigns.campaign(campaign_id)


@pytest.fixture
def imp(aws):
    return Fixture(aws, create_stack(aws, "imp", access_token="token", app_secret="secret"))


def csv_of(numbers):
    return "to,first_name\n" + "".join(f"{n},Ann\n" for n in numbers)


def test_a_repeated_row_is_queued_once_and_counted_as_a_duplicate(imp):
    numbers = [f"9198765{n:05d}" for n in range(1200)]
    created = imp.create(imp.put("a.csv", csv_of([*numbers, numbers[3], "+" + numbers[700]])))
    assert imp.run(created)["status"] == "running"

    queued = [b["to"] for b in imp.queued()]
    assert sorted(queued) == sorted(numbers)  # 1,200 distinct users, each once; 3 batches of rows
    campaign = imp.report(created["campaign_id"])
    assert (campaign["imported"], campaign["import_rows"]) == (1200, 1202)
    assert campaign["rejected"] == {"duplicate": 2}


def test_a_retried_chunk_queues_nothing_twice(imp, monkeypatch):
    created = imp.create(imp.put("b.csv", csv_of(f"9198765{n:05d}" for n in range(30))))
    put, failures = imp.audiences.campaigns.queue.put, []

    def flaky(outgoing):  # the queue fails the chunk's first attempt after its rows were recorded
        if not failures:
            failures.append(len(outgoing))
            raise ConnectionError("SQS unreachable")
        return put(outgoing)

    monkeypatch.setattr(imp.audiences.campaigns.queue, "put", flaky)
    imp.run(created)
    assert failures == [30]
    assert len(imp.queued()) == 30  # every row once, after the retry
    items = [{"index": n, "row": {"to": f"9198765{n:05d}", "first_name": "A"}} for n in range(30)]
    again = imp.audiences.chunk(
        created["campaign_id"], items
    )  # Step Functions retrying a chunk that succeeded
    assert again["already_imported"] and imp.queued() == []
    assert imp.report(created["campaign_id"])["imported"] == 30


def test_rejected_rows_are_counted_by_reason_in_the_report(imp):
    imp.dynamodb.put_item(
        TableName=imp.audiences.campaigns.ledger.table,
        Item={**keys.suppression("919876500002"), "kind": {"S": "opt_out"}},
    )
    text = csv_of(["919876500001", "919876500002", "12025550123", "not-a-number", "919876500001"]) + ",\n"
    created = imp.create(imp.put("c.csv", text))
    imp.run(created)
    campaign = imp.report(created["campaign_id"])
    assert campaign["imported"] == 1
    assert campaign["rejected"] == {"duplicate": 1, "invalid_number": 1, "suppressed": 1, "us_recipient": 1}
    assert [b["to"] for b in imp.queued()] == ["919876500001"]


def test_a_gzip_audience_is_imported_like_a_plain_one(imp):
    created = imp.create(imp.put("d.csv.gz", csv_of(f"9198765{n:05d}" for n in range(50)), gz=True))
    imp.run(created)
    assert len(imp.queued()) == 50
    assert imp.report(created["campaign_id"])["imported"] == 50
    plain = imp.s3.get_object(Bucket=imp.bucket, Key=f"plain/{created['campaign_id']}.csv")["Body"].read()
    assert plain.decode().startswith("to,first_name\n")


@pytest.mark.parametrize(
    ("uri", "reason"),
    [("s3://{bucket}/missing.csv", "no object"), ("s3://other-bucket/a.csv", "not readable")],
)
def test_an_unreadable_s3_uri_names_audience_s3_uri(imp, uri, reason):
    with pytest.raises(InvalidInput) as caught:
        imp.create(uri.format(bucket=imp.bucket))
    [(field, why)] = caught.value.errors
    assert field == "audience.s3_uri" and reason in why


def test_a_header_without_a_placeholder_column_is_refused_before_anything_is_written(imp):
    with pytest.raises(InvalidInput) as caught:
        imp.create(imp.put("e.csv", "to\n919876500001\n"))
    assert caught.value.errors == [
        ("audience.s3_uri.first_name", "missing column: the template uses {{first_name}}")
    ]


def test_a_malformed_s3_uri_is_a_validation_error_naming_it():
    with pytest.raises(ValidationError) as caught:
        CampaignCreate.model_validate({**CAMPAIGN, "audience": {"s3_uri": "https://bucket/a.csv"}})
    assert [e["loc"] for e in caught.value.errors()] == [("audience", "s3_uri")]


def test_an_upload_answers_a_presigned_put_and_waits_for_it(imp):
    created = imp.audiences.create(CampaignCreate.model_validate({**CAMPAIGN, "audience": {"upload": True}}))
    assert created["status"] == "awaiting_upload" and created["upload"]["method"] == "PUT"
    assert imp.bucket in created["upload"]["url"]
    with pytest.raises(InvalidInput):
        imp.audiences.start(created["campaign_id"])  # nothing uploaded yet
    imp.put(created["audience"]["s3_uri"].split("/", 3)[3], csv_of(["919876500001"]))
    started = imp.audiences.start(created["campaign_id"])
    assert started["status"] == "enqueuing" and started["execution_arn"]
    imp.run(created)
    assert imp.report(created["campaign_id"])["imported"] == 1


def upload_campaign(imp):
    created = imp.audiences.create(CampaignCreate.model_validate({**CAMPAIGN, "audience": {"upload": True}}))
    imp.put(created["audience"]["s3_uri"].split("/", 3)[3], csv_of(["919876500001"]))
    return created["campaign_id"]


def test_a_campaign_waiting_for_its_upload_can_be_cancelled_and_then_imports_nothing(imp):
    campaign_id = upload_campaign(imp)
    state = lifecycle.change(imp.audiences.campaigns, campaign_id, "cancelled")
    assert state.status == "cancelled"
    with pytest.raises(Conflict, match="is cancelled: its audience is not imported"):
        imp.audiences.start(campaign_id)
    assert imp.report(campaign_id)["status"] == "cancelled" and imp.queued() == []


def test_a_cancel_landing_while_the_import_starts_wins(imp, monkeypatch):
    campaign_id = upload_campaign(imp)
    check = imp.audiences._check_header

    def cancelled_meanwhile(*args):  # between the start's read of the status and its own transition
        check(*args)
        lifecycle.change(imp.audiences.campaigns, campaign_id, "cancelled")

    monkeypatch.setattr(imp.audiences, "_check_header", cancelled_meanwhile)
    with pytest.raises(Conflict, match="is cancelled"):
        imp.audiences.start(campaign_id)
    assert imp.report(campaign_id)["status"] == "cancelled"
    assert (
        imp.audiences.sfn.list_executions(stateMachineArn=imp.audiences.state_machine_arn)["executions"] == []
    )
