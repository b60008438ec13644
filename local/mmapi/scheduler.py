"""EventBridge Scheduler's one-time schedules, run locally the way AWS runs them.

The functions create ``at(...)`` schedules in moto (mmcore.campaigns.schedule); moto stores them and runs
nothing. This poller does what Scheduler does: once a schedule's time has come, it invokes the target
function with the target's ``Input`` as the event, then deletes the schedule when its
``ActionAfterCompletion`` is ``DELETE`` (and disables it otherwise, as a completed one-time schedule is). A
failed invocation is retried on the next poll up to the target's ``RetryPolicy.MaximumRetryAttempts``.
Only ``at()`` expressions are run here; the template's ``rate()`` ScheduleV2 events have their own runner.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from mmcore.observability import logger

_AT = re.compile(r"^at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)$")
POLL_SECONDS = 0.5


def due_at(schedule: dict[str, Any]) -> datetime | None:
    """When a one-time schedule is due (aware), from its ``at()`` expression and its time zone; None for
    another kind of expression."""
    found = _AT.match(schedule.get("ScheduleExpression", "").strip())
    if not found:
        return None
    zone = ZoneInfo(schedule.get("ScheduleExpressionTimezone") or "UTC")
    return datetime.fromisoformat(found.group(1)).replace(tzinfo=zone)


class OneTimeSchedules:
    """Polls the schedule groups for due ``at()`` schedules and runs each one's target.

    ``invoke(arn, event)`` runs the function with that ARN (the local stack's); ``groups`` are the groups to
    look in (the template's ScheduleGroups)."""

    def __init__(
        self,
        client: Any,
        groups: list[str],
        invoke: Callable[[str, dict[str, Any]], Any],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client, self.groups, self.invoke, self.clock = client, groups, invoke, clock
        self.failures: dict[str, int] = {}
        self.ran: list[str] = []  # names of the schedules run, in order (tests read it)

    @classmethod
    def of(cls, session: Any, stack: Any, invoke: Callable[[str, dict[str, Any]], Any]) -> OneTimeSchedules:
        """The runner of a local stack's schedule groups; ``invoke(logical id, event)`` runs a function. A
        target is found by its ARN: the stack's, or the one the local runtime's Lambda context gives a
        function (``function:<logical id>``), which the campaigns function names itself by."""

        def by_arn(arn: str, event: dict[str, Any]) -> Any:
            name = arn.rsplit(":function:", 1)[-1].split(":")[0]
            logical = name if name in stack.functions() else stack.function_of(arn)
            return invoke(logical, event)

        groups = [stack.physical[g]["Ref"] for g in stack.resources("AWS::Scheduler::ScheduleGroup")]
        return cls(session.client("scheduler"), groups, by_arn)

    def poll(self, stop: threading.Event) -> None:
        """Run due schedules until ``stop`` is set."""
        while not stop.wait(POLL_SECONDS):
            try:
                self.run_due()
            except Exception as exc:  # moto going away at shutdown: the next poll tries again
                logger.debug("schedule poll failed: %s", exc)

    def run_due(self) -> int:
        """Run every schedule due now; returns how many ran."""
        ran = 0
        for group in self.groups:
            for listed in self._listed(group):
                if listed.get("State") != "ENABLED":
                    continue
                schedule = self.client.get_schedule(Name=listed["Name"], GroupName=group)
                when = due_at(schedule)
                if when is not None and when <= self.clock():
                    ran += self._run(group, schedule)
        return ran

    def _listed(self, group: str) -> list[dict[str, Any]]:
        found, token = [], None
        while True:
            page = self.client.list_schedules(GroupName=group, **({"NextToken": token} if token else {}))
            found += page.get("Schedules", [])
            token = page.get("NextToken")
            if not token:
                return found

    def _run(self, group: str, schedule: dict[str, Any]) -> int:
        name, target = schedule["Name"], schedule["Target"]
        try:
            self.invoke(target["Arn"], json.loads(target.get("Input") or "{}"))
        except Exception as exc:
            tries = self.failures[name] = self.failures.get(name, 0) + 1
            retries = int((target.get("RetryPolicy") or {}).get("MaximumRetryAttempts", 185))
            logger.warning("schedule %s failed (%d): %s", name, tries, exc)
            if tries <= retries:
                return 0
        self.ran.append(name)
        if schedule.get("ActionAfterCompletion") == "DELETE":
            self.client.delete_schedule(Name=name, GroupName=group)
        else:
            self.client.update_schedule(
                **{k: schedule[k] for k in ("Name", "GroupName", "ScheduleExpression", "FlexibleTimeWindow")},
                Target=target,
                State="DISABLED",
            )
        return 1
