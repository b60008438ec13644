"""The local stack's stand-in for EventBridge Scheduler: a one-time schedule's target runs at its time with its
Input, once, and the schedule is deleted after (ActionAfterCompletion DELETE); a failed run is retried."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from mmapi.scheduler import OneTimeSchedules, due_at

ARN = "arn:aws:lambda:us-east-1:123456789012:function:fn"


def _create(client, name: str, when: datetime, **extra) -> None:
    client.create_schedule(
        Name=name,
        GroupName="g",
        ScheduleExpression=f"at({when:%Y-%m-%dT%H:%M:%S})",
        ScheduleExpressionTimezone="UTC",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": ARN, "RoleArn": "arn:aws:iam::123456789012:role/r", "Input": json.dumps({"n": name})},
        **extra,
    )


def test_a_due_schedule_runs_its_target_once_with_its_input_then_is_deleted(aws):
    client = aws.client("scheduler")
    client.create_schedule_group(Name="g")
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    _create(client, "due", now - timedelta(seconds=1), ActionAfterCompletion="DELETE")
    _create(client, "later", now + timedelta(minutes=5), ActionAfterCompletion="DELETE")
    calls = []
    runner = OneTimeSchedules(client, ["g"], lambda arn, event: calls.append((arn, event)), clock=lambda: now)
    assert runner.run_due() == 1
    assert calls == [(ARN, {"n": "due"})]
    assert [s["Name"] for s in client.list_schedules(GroupName="g")["Schedules"]] == ["later"]
    assert runner.run_due() == 0  # not twice, and not before its time


def test_a_failed_run_is_retried_up_to_the_targets_retries(aws):
    client = aws.client("scheduler")
    client.create_schedule_group(Name="g")
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    _create(client, "flaky", now, ActionAfterCompletion="DELETE")
    attempts = []

    def invoke(arn, event):
        attempts.append(event)
        if len(attempts) < 2:
            raise RuntimeError("boom")

    runner = OneTimeSchedules(client, ["g"], invoke, clock=lambda: now)
    assert runner.run_due() == 0 and client.list_schedules(GroupName="g")["Schedules"]
    assert runner.run_due() == 1 and len(attempts) == 2
    assert client.list_schedules(GroupName="g")["Schedules"] == []


def test_the_at_expression_is_read_in_its_time_zone():
    schedule = {"ScheduleExpression": "at(2026-12-01T09:00:00)", "ScheduleExpressionTimezone": "Asia/Kolkata"}
    assert due_at(schedule) == datetime(2026, 12, 1, 3, 30, tzinfo=UTC)
    assert due_at({"ScheduleExpression": "rate(2 minutes)"}) is None
