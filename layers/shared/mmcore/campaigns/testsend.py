"""Test sends: a campaign's message sent to the business's own numbers first (the seeds' "Best Practice Before
Sending Campaigns"), then judged from Meta's status webhooks.

A test message is built as the campaign's messages are (:class:`~mmcore.campaigns.planner.Planner`: the
template, language, components and options the campaign was created with, the variables of its first
recipient unless others are given) and goes through the same send queue and function, so routing by
category, region rules, suppression and halts apply to it. It belongs to no campaign: its ledger item and
its SQS body carry no ``campaign_id`` (the report's counters count only a campaign's own messages), and its
ids are ``<campaign_id>.<test_id>-<n>``. The test item beside the campaign lists them, with the preview
(:func:`mmcore.meta.preview.preview`) and any preflight warning.

The verdict, read from the messages as the webhooks left them: ``passed`` when every test message was
delivered or read, ``failed`` as soon as one failed (or was blocked, suppressed, expired or is unknown),
``pending`` before.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mmcore.campaigns.models import CampaignDefinition, Recipient, TestSendCreate
from mmcore.campaigns.personalise import placeholders, render
from mmcore.campaigns.planner import Planned, Planner
from mmcore.campaigns.queue import Outgoing
from mmcore.campaigns.tally import PATH_LABELS
from mmcore.exceptions import InvalidInput, NotFound, Unavailable
from mmcore.meta.preview import preview
from mmcore.store import messages as L
from mmcore.store.codec import dynamo_safe
from mmcore.store.messages import State

if TYPE_CHECKING:
    from mmcore.campaigns.service import Campaigns

PENDING, PASSED, FAILED = "pending", "passed", "failed"
DELIVERED = frozenset({"delivered", "read"})
# What ends a test message short of delivery: the sender's final states other than accepted, and Meta's failed.
NOT_DELIVERED = frozenset(
    {"failed", State.BLOCKED, State.SUPPRESSED, State.INVALID, State.EXPIRED, State.UNKNOWN}
)
_RECIPIENT_FIELD = re.compile(r"^recipients\.\d+\.")


class TestSends:
    """Starts a campaign's test sends and answers how they went."""

    def __init__(self, campaigns: Campaigns) -> None:
        self.campaigns = campaigns

    def start(self, campaign_id: str, body: TestSendCreate) -> dict[str, Any]:
        """Queue the campaign's message to the test numbers (``body.recipients``, else the campaign's
        ``test_recipients``). Raises NotFound, or InvalidInput naming the field (no numbers anywhere, a
        placeholder without a value) with nothing written. Returns the test as :meth:`view` shows it."""
        c = self.campaigns
        campaign = c.campaign(campaign_id)
        numbers = body.recipients or campaign.get("test_recipients") or []
        if not numbers:
            why = "required: give the numbers to test with, or create the campaign with test_recipients"
            raise InvalidInput.fields([("recipients", why)])
        definition = CampaignDefinition.model_validate(campaign["definition"])
        variables = body.variables if body.variables is not None else campaign.get("test_variables") or {}
        now = c.clock()
        test_id = "t" + secrets.token_hex(4)
        planner = Planner(
            definition,
            f"{campaign_id}.{test_id}",
            c.settings.business_country,
            datetime.fromtimestamp(now, UTC).date(),
            phone_number_id=campaign.get("phone_number_id"),
            default_product_policy=c.settings.default_product_policy,
            rules=c.rules,
        )
        planned = _plan(planner, numbers, variables, campaign_id)
        known = c.templates.get(definition.template.name, definition.template.language.code)
        test = {
            "recipients": numbers,
            "message_ids": [p.message_id for p in planned],
            "variables": variables,
            "preview": dynamo_safe(_preview(known, definition, variables)),
            "warnings": self._warnings(definition),
        }
        # The test item first: a failure after it leaves a test whose missing messages read as failed.
        c.records.add_test(campaign_id, test_id, test, int(now))
        c.ledger.write([p.item() for p in planned])
        queued = [p for p in planned if p.state == State.QUEUED and p.request is not None]
        unsent = c.queue.put([Outgoing(p.request.model_dump_json(exclude_none=True)) for p in queued])
        c.ledger.apply(
            [
                L.finish(
                    queued[n].message_id,
                    {"state": State.QUEUED},
                    State.FAILED,
                    {**queued[n].fields, "reason": "enqueue_failed", "details": why},
                )
                for n, why in unsent
            ]
        )
        return self.view(campaign_id, test_id)

    def _warnings(self, definition: CampaignDefinition) -> list[str]:
        """What the preflight says of the campaign's template now (the test is sent whatever it says)."""
        if definition.skip_preflight:
            return ["preflight skipped: the campaign was created with skip_preflight"]
        try:
            verdict = self.campaigns.check_template(definition)
        except Unavailable as exc:
            return [f"preflight not run: {exc.message}"]
        return [f"{field}: {reason}" for field, reason in verdict.problems]

    def view(self, campaign_id: str, test_id: str | None = None) -> dict[str, Any]:
        """One test of the campaign (the latest when ``test_id`` is None) with each message's state, path and
        error, the preview and the verdict. NotFound when there is none."""
        tests = self.campaigns.records.tests(self.campaigns.campaign(campaign_id)["campaign_id"])
        test = next((t for t in tests if test_id in (None, t["test_id"])), None)
        if test is None:
            what = f"test {test_id}" if test_id else "no test send"
            raise NotFound(f"campaign {campaign_id}: {what} found (POST /campaigns/{campaign_id}/test)")
        return self._judge(test)

    def verdicts(self, campaign_id: str) -> list[dict[str, Any]]:
        """Every test of the campaign, judged, newest first."""
        return [self._judge(test) for test in self.campaigns.records.tests(campaign_id)]

    def _judge(self, test: dict[str, Any]) -> dict[str, Any]:
        ids = list(test.get("message_ids") or [])
        found = self.campaigns.records.by_ids(ids) if ids else {}
        messages = [_message(mid, found.get(mid)) for mid in ids]
        return {
            "campaign_id": test["campaign_id"],
            "test_id": test["test_id"],
            "created_at": datetime.fromtimestamp(int(test["created_at"]), UTC)
            .isoformat()
            .replace("+00:00", "Z"),
            "verdict": verdict(messages),
            "messages": messages,
            "preview": test.get("preview") or {},
            "warnings": test.get("warnings") or [],
            "variables": test.get("variables") or {},
        }


def verdict(messages: list[dict[str, Any]]) -> str:
    """``failed`` when any test message will not be delivered, ``passed`` when all were, else ``pending``."""
    if not messages or any(m["status"] in NOT_DELIVERED for m in messages):
        return FAILED
    return PASSED if all(m["status"] in DELIVERED for m in messages) else PENDING


def _plan(planner: Planner, numbers: list[str], variables: dict[str, str], campaign_id: str) -> list[Planned]:
    """The test messages, or InvalidInput naming what stops them (a variable the template uses, missing)."""
    planned, problems = [], {}
    for index, number in enumerate(numbers):
        outcome = planner.plan(index, Recipient(to=number, variables=variables))
        if isinstance(outcome, Planned):
            if outcome.state == State.INVALID:
                problems.setdefault((f"recipients.{index}", str(outcome.fields.get("details"))))
            planned.append(_as_test(outcome, campaign_id))
            continue
        for p in outcome:
            problems.setdefault((_RECIPIENT_FIELD.sub("", p.field), p.reason))
    if problems:
        raise InvalidInput.fields(list(problems))
    return planned


def _as_test(p: Planned, campaign_id: str) -> Planned:
    """A planned message as a test message: in no campaign's counters (no ``campaign_id``), naming its own."""
    fields = {k: v for k, v in p.fields.items() if k != "campaign_id"} | {"test_of": campaign_id}
    request = p.request.model_copy(update={"campaign_id": None}) if p.request is not None else None
    return Planned(p.index, p.message_id, p.state, fields, request)


def _preview(
    known: dict[str, Any], definition: CampaignDefinition, variables: dict[str, str]
) -> dict[str, Any]:
    """The message as read, from the registry's definition of the template; a note when it has none."""
    if not known.get("components"):
        return {"text": None, "note": "the template is not in the registry (no sync yet): no preview"}
    components = definition.template.components
    if components and placeholders(components) <= variables.keys():
        components = render(components, variables)
    return preview(known["components"], known.get("parameter_format"), components)


def _message(message_id: str, item: dict[str, Any] | None) -> dict[str, Any]:
    """One test message as the test shows it."""
    if item is None:
        return {"message_id": message_id, "status": "failed", "reason": "not recorded"}
    status = str(item.get("status") or item.get("state") or State.QUEUED)
    path = item.get("path")
    if item.get("endpoint") == "messages" and item.get("pricing_category"):
        path = "cloud_api"
    error = item.get("error") if isinstance(item.get("error"), dict) else None
    return {
        "message_id": message_id,
        "to": item.get("to"),
        "status": status,
        "wamid": item.get("wamid"),
        "endpoint": item.get("endpoint"),
        "pricing_category": item.get("pricing_category"),
        "path": path,
        "via": PATH_LABELS.get(str(path)) if path else None,
        "error": {"code": error.get("code"), "title": error.get("title")} if error else None,
        "reason": item.get("reason"),
    }
