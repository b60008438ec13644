"""Audiences from S3 (mmcore.campaigns.imports), against moto built from template.yaml, run by the local
stack's interpreter of the template's own state machine definition (mmapi.statemachine): a repeated row is
queued once, a retried chunk queues nothing twice, rejected rows are counted by reason, gzip is imported, and
an unreadable s3_uri is a 422 naming ``audience.s3_uri``, and a campaign cancelled while it waits for its
upload imports nothing. With a send window, rows are queued or held by their recipient's time zone (one
schedule per opening; a retried chunk keeps what its first attempt decided); with send_at, the import starts
when its schedule runs."""

from __future__ import annotations

import gzip
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aws import create_stack
from pydantic import ValidationError

from mmapi.statemachine import Interpreter
from mmcore.campaigns import CampaignCreate, Campaigns, SendQueue, lifecycle
from mmcore.campaigns.imports import AUDIENCE_KEPT_DAYS, Audiences
from mmcore.campaigns.schedule import Scheduler, open_window, start_name
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
        self.scheduler, self.group = session.client("scheduler"), local.physical["CampaignSchedules"]["Ref"]
        role = local.physical["CampaignSchedulerRole"]["Arn"]
        campaigns = Campaigns(
            settings,
            self.dynamodb,
            SendQueue(self.sqs, stack.queue_url),
            preflight=False,
            scheduler=Scheduler(self.scheduler, self.group, role, local.physical["CampaignsFunction"]["Arn"]),
        )
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

    def schedules(self):
        """The schedules in the stack's group: name -> its at() expression."""
        listed = self.scheduler.list_schedules(GroupName=self.group)["Schedules"]
        return {
            s["Name"]: self.scheduler.get_schedule(Name=s["Name"], GroupName=self.group)["ScheduleExpression"]
            for s in listed
        }

    def invoke(self, name):
        """What Scheduler does at a schedule's time: the campaigns function runs its Input."""
        target = self.scheduler.get_schedule(Name=name, GroupName=self.group)["Target"]
        return self.audiences.run_schedule(json.loads(target["Input"]))

    def executions(self):
        arn = self.audiences.state_machine_arn
        return self.audiences.sfn.list_executions(stateMachineArn=arn)["executions"]

    def at(self, epoch):
        """Freeze the campaigns' clock at ``epoch``."""
        self.audiences.campaigns.clock = lambda: epoch


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
    assert (campaign["imported"], campaign["import_rows"]) == (1, 6)  # every row read, the blank one too
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


# ------------------------------------------------------------------ send_window with an audience in S3

IN, BR = "919876543210", "5511987654321"  # Kolkata (UTC+5:30), Sao Paulo (UTC-3): 8.5 hours apart
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
T0 = datetime(2030, 1, 15, 6, 0, tzinfo=UTC)  # 11:30 in Kolkata, 03:00 in Sao Paulo
WINDOW = {"start": "10:30", "end": "13:30"}  # open in Kolkata at T0, closed in Sao Paulo
OPENS = datetime(2030, 1, 15, 13, 30, tzinfo=UTC)  # 10:30 in Sao Paulo (no DST there since 2019)


def opening_name(schedules):
    (name,) = [n for n in schedules if n.startswith("open-")]
    return name


def test_a_send_window_queues_the_rows_inside_it_and_holds_the_others_until_its_opening(imp):
    imp.at(T0.timestamp())
    created = imp.create(imp.put("w.csv", csv_of([IN, BR, "919812345678"])), send_window=WINDOW)
    assert imp.run(created)["status"] == "running"

    assert sorted(b["to"] for b in imp.queued()) == ["919812345678", IN]  # Sao Paulo waits
    campaign = imp.report(created["campaign_id"])
    assert (campaign["imported"], campaign["waiting_for_window"], campaign["rejected"]) == (3, 1, {})
    schedules = imp.schedules()
    name = opening_name(schedules)
    assert name.endswith(f"-{int(OPENS.timestamp())}")
    assert schedules[name] == "at(2030-01-15T13:30:00)"
    assert f"{OPENS.astimezone(SAO_PAULO):%H:%M}" == WINDOW["start"]
    service = imp.audiences.campaigns
    (held,) = [m for m in service.messages(created["campaign_id"], "queued")["messages"] if "held_until" in m]
    assert held["to"] == BR and held["held_until"] == int(OPENS.timestamp())

    # the opening's run (Scheduler invoking the campaigns function) queues it, at its time
    imp.at(OPENS.timestamp())
    assert imp.invoke(name)["queued"] == 1
    (late,) = imp.queued()
    assert late["to"] == BR


def test_rows_whose_deadline_comes_first_expire_and_zones_never_open_are_blocked(imp):
    imp.at(T0.timestamp())
    not_after = (T0 + timedelta(hours=1)).isoformat()
    created = imp.create(
        imp.put("x.csv", csv_of([IN, BR, "79123456789"])),
        send_window={"start": "10:30", "end": "12:30"},  # a Russian mobile's 11 zones never all share it
        not_after=not_after,
    )
    imp.run(created)
    assert [b["to"] for b in imp.queued()] == [IN]
    campaign = imp.report(created["campaign_id"])
    assert campaign["imported"] == 1 and "waiting_for_window" not in campaign
    assert campaign["rejected"] == {"expired": 1, "no_send_window": 1}
    assert imp.schedules() == {}  # nothing left to wait for
    expired = imp.audiences.campaigns.messages(created["campaign_id"], "expired")["messages"]
    assert [(m["to"], m["reason"]) for m in expired] == [(BR, "deadline before its send window opens")]


def test_a_retried_chunk_keeps_what_its_first_attempt_decided_and_schedules_the_opening(imp, monkeypatch):
    imp.at(T0.timestamp())
    created = imp.create(imp.put("r.csv", csv_of([IN, BR])), send_window=WINDOW)
    service = imp.audiences.campaigns
    calls = []

    class DiesOnce(Scheduler):  # the first attempt dies after recording its rows, before the schedule
        def open_at(self, campaign_id, instant):
            calls.append(instant)
            if len(calls) == 1:
                imp.at(OPENS.timestamp())  # and the retry runs when Sao Paulo is open and Kolkata closed
                raise ConnectionError("Scheduler unreachable")
            return super().open_at(campaign_id, instant)

    s = service.scheduler
    monkeypatch.setattr(service, "scheduler", DiesOnce(s.client, s.group, s.role_arn, s.target_arn))
    assert imp.run(created)["status"] == "running"

    assert calls == [int(OPENS.timestamp())] * 2  # the retry scheduled the opening its first attempt missed
    assert [b["to"] for b in imp.queued()] == [IN]  # queued once, though its window is closed at the retry
    assert list(imp.schedules()) == [opening_name(imp.schedules())]  # Sao Paulo still held, not queued now
    (held,) = [m for m in service.messages(created["campaign_id"], "queued")["messages"] if "held_until" in m]
    assert held["to"] == BR and held["held_until"] == int(OPENS.timestamp())
    campaign = imp.report(created["campaign_id"])
    assert (campaign["imported"], campaign["waiting_for_window"]) == (2, 1)

    # Step Functions retrying the counted chunk: nothing changes
    items = [{"index": n, "row": {"to": to, "first_name": "Ann"}} for n, to in enumerate([IN, BR])]
    assert imp.audiences.chunk(created["campaign_id"], items)["already_imported"]
    assert imp.queued() == [] and imp.report(created["campaign_id"])["waiting_for_window"] == 1


def test_two_chunks_holding_rows_until_one_opening_make_one_schedule(imp):
    imp.at(T0.timestamp())
    created = imp.create(imp.put("t.csv", csv_of([BR, "5511912345678"])), send_window=WINDOW)
    before = imp.schedules()
    for n, to in enumerate([BR, "5511912345678"]):  # as two batches of the Distributed Map
        answer = imp.audiences.chunk(
            created["campaign_id"], [{"index": n, "row": {"to": to, "first_name": "A"}}]
        )
        assert answer["waiting_for_window"] == 1
    schedules = imp.schedules()
    assert before == {} and list(schedules) == [opening_name(schedules)]
    assert schedules[opening_name(schedules)] == "at(2030-01-15T13:30:00)"
    assert imp.queued() == [] and imp.report(created["campaign_id"])["waiting_for_window"] == 2
    imp.at(OPENS.timestamp())
    assert open_window(imp.audiences.campaigns, created["campaign_id"], int(OPENS.timestamp()))["queued"] == 2


# ------------------------------------------------------------------ send_at with an audience in S3

SEND_AT = T0 + timedelta(hours=2)


def test_send_at_schedules_the_import_which_starts_when_its_schedule_runs(imp):
    imp.at(T0.timestamp())
    created = imp.create(imp.put("s.csv", csv_of([IN, "919812345678"])), send_at=SEND_AT.isoformat())
    assert (created["status"], created["send_at"]) == ("scheduled", "2030-01-15T08:00:00Z")
    assert "execution_arn" not in created
    name = start_name(created["campaign_id"])
    assert imp.schedules() == {name: "at(2030-01-15T08:00:00)"}
    assert imp.executions() == [] and imp.queued() == []  # nothing before its time

    templates = imp.audiences.campaigns.templates
    assert templates.get("spring", "en_US").get("last_sent_at") is None  # no traffic before its time
    imp.at(SEND_AT.timestamp())
    started = imp.invoke(name)
    assert (started["status"], started["started"]) == ("enqueuing", True)
    assert templates.get("spring", "en_US")["last_sent_at"] == int(SEND_AT.timestamp())
    assert [e["executionArn"] for e in imp.executions()] == [started["execution_arn"]]
    assert imp.invoke(name)["started"] is False  # Scheduler delivers at least once: one execution
    assert len(imp.executions()) == 1
    assert imp.run(created)["status"] == "running"
    assert sorted(b["to"] for b in imp.queued()) == ["919812345678", IN]
    assert imp.report(created["campaign_id"])["imported"] == 2


def test_a_template_gone_dormant_by_send_at_is_woken_by_one_message_before_the_rest(imp):
    imp.at(T0.timestamp())
    templates = imp.audiences.campaigns.templates
    templates.record_use("spring", "en_US", {"last_sent_at": int((T0 - timedelta(days=5)).timestamp())})
    later = T0 + timedelta(days=3)  # 8 days without traffic then: the template syncs again
    created = imp.create(imp.put("d.csv", csv_of([IN, "919812345678"])), send_at=later.isoformat())
    assert imp.report(created["campaign_id"])["import"]["readiness"]["warm_up"] is False  # fine at creation

    imp.at(later.timestamp())
    imp.invoke(start_name(created["campaign_id"]))
    ready = imp.report(created["campaign_id"])["import"]["readiness"]
    assert (ready["warm_up"], ready["reason"]) == (True, "template_dormant")
    imp.run(created)
    assert (
        len(imp.queued()) == 1
    )  # the warm-up message; the other waits 10 minutes on the queue (DelaySeconds)
    assert imp.report(created["campaign_id"])["imported"] == 2


def test_a_past_send_at_is_refused_naming_it_and_hold_stays_refused(imp):
    imp.at(T0.timestamp())
    with pytest.raises(InvalidInput) as caught:
        imp.create(imp.put("p.csv", csv_of([IN])), send_at=(T0 - timedelta(minutes=1)).isoformat())
    [(field, why)] = caught.value.errors
    assert field == "send_at" and "in the past" in why
    assert imp.schedules() == {} and imp.executions() == []
    with pytest.raises(ValidationError, match="hold: not with an audience in S3"):
        CampaignCreate.model_validate({**CAMPAIGN, "hold": True, "audience": {"s3_uri": "s3://bucket/a.csv"}})


def test_a_send_at_past_the_buckets_lifecycle_is_refused_naming_it(imp):
    imp.at(T0.timestamp())
    uri = imp.put("late.csv", csv_of([IN]))
    with pytest.raises(InvalidInput) as caught:
        imp.create(uri, send_at=(T0 + timedelta(days=6, minutes=1)).isoformat())
    [(field, why)] = caught.value.errors
    assert field == "send_at" and "keeps a CSV 7 days" in why
    assert imp.schedules() == {}
    assert imp.create(uri, send_at=(T0 + timedelta(days=6)).isoformat())["status"] == "scheduled"


def test_the_bucket_lifecycle_is_the_one_the_send_at_limit_assumes():
    template = Path(__file__).resolve().parents[2] / "template.yaml"
    assert f"ExpirationInDays: {AUDIENCE_KEPT_DAYS}" in template.read_text()


def test_an_opening_already_passed_is_scheduled_a_minute_ahead_not_in_the_past(imp):
    passed = int(time.time()) - 3600  # e.g. a batch retried after its rows' opening
    name = imp.audiences.campaigns.scheduler.open_at("c-1", passed)
    assert name.endswith(f"-{passed}")  # the run still looks for the rows held until that instant
    at = datetime.strptime(imp.schedules()[name], "at(%Y-%m-%dT%H:%M:%S)").replace(tzinfo=UTC)
    assert 0 < at.timestamp() - time.time() <= 61


def test_a_cancelled_scheduled_import_is_unscheduled_and_never_started(imp):
    imp.at(T0.timestamp())
    created = imp.create(imp.put("n.csv", csv_of([IN])), send_at=SEND_AT.isoformat())
    name = start_name(created["campaign_id"])
    target = imp.scheduler.get_schedule(Name=name, GroupName=imp.group)["Target"]
    state = lifecycle.change(imp.audiences.campaigns, created["campaign_id"], "cancelled")
    assert (state.status, state.unscheduled) == ("cancelled", True)
    assert imp.schedules() == {}
    # an invocation already on its way when the cancel came finds it cancelled
    answer = imp.audiences.run_schedule(json.loads(target["Input"]))
    assert (answer["status"], answer["started"]) == ("cancelled", False)
    assert imp.executions() == [] and imp.queued() == []


def test_an_uploads_import_waits_for_send_at(imp):
    imp.at(T0.timestamp())
    body = {**CAMPAIGN, "audience": {"upload": True}, "send_at": SEND_AT.isoformat()}
    created = imp.audiences.create(CampaignCreate.model_validate(body))
    assert (created["status"], created["send_at"]) == ("awaiting_upload", "2030-01-15T08:00:00Z")
    assert imp.schedules() == {}  # nothing to import yet
    imp.put(created["audience"]["s3_uri"].split("/", 3)[3], csv_of([IN]))
    started = imp.audiences.start(created["campaign_id"])
    assert started == {
        "campaign_id": created["campaign_id"],
        "status": "scheduled",
        "send_at": created["send_at"],
    }
    assert imp.executions() == [] and list(imp.schedules()) == [start_name(created["campaign_id"])]
    imp.at(SEND_AT.timestamp())
    assert imp.invoke(start_name(created["campaign_id"]))["started"] is True
    imp.run(created)
    assert [b["to"] for b in imp.queued()] == [IN]


def test_an_upload_arriving_after_its_send_at_is_imported_at_once(imp):
    imp.at(T0.timestamp())
    body = {**CAMPAIGN, "audience": {"upload": True}, "send_at": SEND_AT.isoformat()}
    created = imp.audiences.create(CampaignCreate.model_validate(body))
    imp.put(created["audience"]["s3_uri"].split("/", 3)[3], csv_of([IN]))
    late = SEND_AT + timedelta(minutes=5)
    imp.at(late.timestamp())
    started = imp.audiences.start(created["campaign_id"])
    assert started["status"] == "enqueuing" and started["execution_arn"]
    assert imp.schedules() == {}
    assert imp.audiences.campaigns.templates.get("spring", "en_US")["last_sent_at"] == int(late.timestamp())
