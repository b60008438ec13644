"""send_at and quiet hours through the campaigns function, on moto's EventBridge Scheduler: the one-time
schedule created, its run starting the campaign once, a cancel deleting it, a send window holding the
recipients outside it until a schedule of its opening."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aws import create_stack, use_stack
from handlers import LambdaContext, load_event, load_handler
from integration.test_campaigns_api import PHONE_NUMBER_ID, WABA_ID, body, who

from mmcore import clients
from mmcore.campaigns import Campaigns, SendQueue
from mmcore.campaigns.schedule import Scheduler, open_window, start_name
from mmcore.exceptions import Conflict
from mmcore.settings import get_settings

IN, BR = "919876543210", "+55 11 98765 4321"  # Kolkata (UTC+5:30), Sao Paulo (UTC-3): 8.5 hours apart
SAO_PAULO = ZoneInfo("America/Sao_Paulo")


class Env:
    def __init__(self, aws: Any, stack: Any, handler: Any) -> None:
        self.aws, self.stack, self.handler = aws, stack, handler
        self.sqs, self.scheduler = aws.client("sqs"), aws.client("scheduler")
        self.group = stack.local.physical["CampaignSchedules"]["Ref"]
        self.role = stack.local.physical["CampaignSchedulerRole"]["Arn"]

    def post(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        evt = load_event("campaigns_post.json")
        evt["body"] = json.dumps(payload)
        answer = self.handler.lambda_handler(evt, LambdaContext())
        return answer["statusCode"], json.loads(answer["body"])

    def invoke(self, schedule: str) -> Any:
        """What Scheduler does at the schedule's time: invoke its target with its Input."""
        target = self.scheduler.get_schedule(Name=schedule, GroupName=self.group)["Target"]
        return self.handler.lambda_handler(json.loads(target["Input"]), LambdaContext())

    def queued(self) -> list[dict[str, Any]]:
        bodies = []
        while answer := self.sqs.receive_message(QueueUrl=self.stack.queue_url, MaxNumberOfMessages=10).get(
            "Messages"
        ):
            bodies += [json.loads(m["Body"]) for m in answer]
        return bodies

    def schedules(self) -> list[str]:
        return [s["Name"] for s in self.scheduler.list_schedules(GroupName=self.group)["Schedules"]]

    def campaigns(self, clock: float) -> Campaigns:
        """The service as the handler builds it, at ``clock``."""
        settings = get_settings()
        target = LambdaContext.invoked_function_arn
        return Campaigns(
            settings,
            clients.boto_client("dynamodb"),
            SendQueue(clients.boto_client("sqs"), settings.send_queue_url),
            clock=lambda: clock,
            preflight=False,
            scheduler=Scheduler(clients.boto_client("scheduler"), self.group, self.role, target),
        )


@pytest.fixture
def env(aws, sim, monkeypatch):
    stack = create_stack(aws, "sch", access_token=sim.access_token, app_secret=sim.app_secret)
    physical = stack.local.physical
    use_stack(
        monkeypatch,
        stack,
        sim,
        PHONE_NUMBER_ID=PHONE_NUMBER_ID,
        WABA_ID=WABA_ID,
        SCHEDULE_GROUP=physical["CampaignSchedules"]["Ref"],
        SCHEDULER_ROLE_ARN=physical["CampaignSchedulerRole"]["Arn"],
    )
    get_settings.cache_clear()
    yield Env(aws, stack, load_handler("campaigns"))
    get_settings.cache_clear()
    clients.reset()


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def test_a_past_send_at_is_refused_naming_it_and_nothing_is_written(env):
    status, answer = env.post(body(campaign_id="late", send_at=iso(datetime.now(UTC) - timedelta(minutes=1))))
    assert status == 422
    assert [e["field"] for e in answer["errors"]] == ["send_at"]
    assert "in the past" in answer["errors"][0]["reason"]
    assert env.schedules() == [] and env.queued() == []


def test_send_at_records_the_campaign_scheduled_and_creates_a_one_time_schedule(env):
    send_at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    status, answer = env.post(body(campaign_id="later", send_at=iso(send_at)))
    assert status == 202, answer
    assert answer["status"] == "scheduled" and answer["send_at"] == iso(send_at)
    assert answer["counts"]["queued"] == 2
    assert env.queued() == []  # nothing before its time
    schedule = env.scheduler.get_schedule(Name=start_name("later"), GroupName=env.group)
    assert schedule["ScheduleExpression"] == f"at({send_at:%Y-%m-%dT%H:%M:%S})"
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert target["Arn"] == LambdaContext.invoked_function_arn  # the campaigns function itself
    assert target["RoleArn"] == env.role
    assert json.loads(target["Input"]) == {
        "source": "mmcore.campaigns.schedule",
        "action": "start",
        "campaign_id": "later",
    }


def test_the_schedule_starts_the_campaign_once(env):
    env.post(body(campaign_id="twice", send_at=iso(datetime.now(UTC) + timedelta(hours=1))))
    first = env.invoke(start_name("twice"))
    assert first["started"] is True and first["status"] == "running"
    second = env.invoke(start_name("twice"))  # Scheduler delivers at least once
    assert second == {"campaign_id": "twice", "status": "running", "started": False}
    queued = env.queued()
    assert sorted(m["to"] for m in queued) == ["919812345678", "919876543210"]  # each once
    item = env.campaigns(time.time()).campaign("twice")
    assert item["status"] == "running" and item["counts"]["queued"] == 2


def test_a_cancelled_scheduled_campaign_is_unscheduled_and_never_started(env):
    env.post(body(campaign_id="nope", send_at=iso(datetime.now(UTC) + timedelta(hours=1))))
    schedule = env.scheduler.get_schedule(Name=start_name("nope"), GroupName=env.group)
    service = env.campaigns(time.time())
    cancelled = service.change("nope", "cancelled")  # PATCH /campaigns/{id} {"status": "cancelled"}
    assert (cancelled.status, cancelled.unscheduled) == ("cancelled", True)
    assert start_name("nope") not in env.schedules()
    with pytest.raises(Conflict):  # cancelled for good
        service.change("nope", "cancelled")
    # an invocation already on its way when the cancel came finds it cancelled
    answer = env.handler.lambda_handler(json.loads(schedule["Target"]["Input"]), LambdaContext())
    assert answer["started"] is False and answer["status"] == "cancelled"
    assert env.queued() == []


def _window_open_in_kolkata_only(now: datetime) -> dict[str, str]:
    """A three-hour window around Kolkata's time now: Sao Paulo's time now (8.5 h earlier) is outside it."""
    kolkata = now + timedelta(hours=5, minutes=30)
    return {"start": f"{kolkata - timedelta(hours=1):%H:%M}", "end": f"{kolkata + timedelta(hours=2):%H:%M}"}


def test_a_send_window_holds_the_recipients_outside_it_until_a_schedule_of_its_opening(env):
    now = datetime.now(UTC)
    window = _window_open_in_kolkata_only(now)
    payload = body(campaign_id="quiet", send_window=window, recipients=[who("A", IN), who("B", BR)])
    payload["template"]["components"][0]["parameters"][0]["text"] = "{{first_name}} {{offer}}"
    status, answer = env.post(payload)
    assert status == 202, answer
    assert answer["counts"]["queued"] == 2 and answer["counts"]["waiting_for_window"] == 1
    assert [m["to"] for m in env.queued()] == [IN]  # Sao Paulo waits
    (opening,) = [s for s in env.schedules() if s.startswith("open-")]
    instant = int(opening.rsplit("-", 1)[1])
    opens = datetime.fromtimestamp(instant, UTC)
    assert opens > now and f"{opens.astimezone(SAO_PAULO):%H:%M}" == window["start"]
    schedule = env.scheduler.get_schedule(Name=opening, GroupName=env.group)
    assert schedule["ScheduleExpression"] == f"at({opens:%Y-%m-%dT%H:%M:%S})"
    assert json.loads(schedule["Target"]["Input"])["opens_at"] == instant
    # before its time the opening's run queues nothing (the window is still closed: held for it again)
    assert open_window(env.campaigns(instant - 60), "quiet", instant)["queued"] == 0
    assert env.queued() == []
    # at its time it queues Sao Paulo's message
    assert open_window(env.campaigns(instant), "quiet", instant)["queued"] == 1
    (held,) = env.queued()
    assert held["to"] == "5511987654321"
    assert held["not_after"]  # its deadline, counted from when it was due, travels with it


def test_a_message_whose_deadline_ends_before_its_window_opens_ends_expired(env):
    now = datetime.now(UTC)
    payload = body(
        campaign_id="stale",
        send_window=_window_open_in_kolkata_only(now),
        recipients=[who("A", IN), who("B", BR)],
        not_after=iso(now + timedelta(minutes=30)),
    )
    payload["template"]["components"][0]["parameters"][0]["text"] = "{{first_name}} {{offer}}"
    status, answer = env.post(payload)
    assert status == 202, answer
    assert answer["counts"]["expired"] == 1 and answer["counts"]["queued"] == 1
    assert [m["to"] for m in env.queued()] == [IN]
    assert [s for s in env.schedules() if s.startswith("open-")] == []  # nothing left to wait for
    page = env.campaigns(time.time()).messages("stale", "expired")["messages"]
    assert [(m["to"], m["reason"]) for m in page] == [
        ("5511987654321", "deadline before its send window opens")
    ]


def test_an_s3_audiences_send_at_starts_its_import_through_the_campaigns_function(env, monkeypatch):
    physical = env.stack.local.physical
    bucket, machine = physical["AudienceBucket"]["Ref"], physical["AudienceImportStateMachine"]["Arn"]
    monkeypatch.setenv("AUDIENCE_BUCKET", bucket)
    monkeypatch.setenv("IMPORT_STATE_MACHINE_ARN", machine)
    get_settings.cache_clear()
    env.handler.audiences.cache_clear()
    env.handler.campaigns.cache_clear()
    env.aws.client("s3").put_object(
        Bucket=bucket, Key="a.csv", Body=f"to,first_name,offer\n{IN},A,B\n".encode()
    )
    send_at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    payload = body(campaign_id="s3later", send_at=iso(send_at), audience={"s3_uri": f"s3://{bucket}/a.csv"})
    payload.pop("recipients")
    payload["template"]["components"][0]["parameters"][0]["text"] = "{{first_name}} {{offer}}"
    status, answer = env.post(payload)
    assert status == 202, answer
    assert (answer["status"], answer["send_at"]) == ("scheduled", iso(send_at))
    executions = env.aws.client("stepfunctions").list_executions
    assert executions(stateMachineArn=machine)["executions"] == []
    started = env.invoke(start_name("s3later"))
    assert (started["status"], started["started"]) == ("enqueuing", True)
    assert len(executions(stateMachineArn=machine)["executions"]) == 1
