"""The CSV path (local/mmapi/csvsend.py) and the enqueue step's resilience, against moto built from
template.yaml: rows stream into the same ledger records and queue bodies as the API's; SQS entries that fail
are retried, and those that never go are recorded instead of left queued."""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import Any

import pytest
from aws import create_stack

from mmapi.csvsend import send_csv
from mmcore.campaigns import CampaignCreate, Campaigns, SendQueue
from mmcore.exceptions import Conflict, InvalidInput
from mmcore.graph import GraphClient
from mmcore.meta.messages import parse_send_request
from mmcore.observability import logger
from mmcore.settings import Settings
from mmcore.store.campaigns import CampaignRecords
from mmcore.store.messages import Ledger
from mmcore.store.templates import Templates
from mmcore.templates import Registry

PHONE_NUMBER_ID = "106540352242922"
CAMPAIGN = {
    "name": "Spring coupons",
    "campaign_id": "spring",
    "template": {
        "name": "spring_coupons",
        "language": {"code": "en_US"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Hi {{first_name}}!"}]},
            {
                "type": "button",
                "sub_type": "copy_code",
                "index": 0,
                "parameters": [{"type": "coupon_code", "coupon_code": "{{code}}"}],
            },
        ],
    },
}


@pytest.fixture
def stack(aws):
    return create_stack(aws, "csv", access_token="token", app_secret="secret")


@pytest.fixture
def settings(stack, sim):
    return Settings(
        phone_number_id=PHONE_NUMBER_ID, business_country="IN", table_name=stack.table, waba_id=sim.waba_id
    )


@pytest.fixture
def sync(aws, sim, stack):
    """One sync of the template registry from the simulator (its seeded templates)."""
    graph = GraphClient(sim.base_url, lambda: sim.access_token)
    registry = Registry(graph, Templates(aws.client("dynamodb"), stack.table, sim.waba_id), time.time, logger)
    return lambda: asyncio.run(registry.sync())


@pytest.fixture(autouse=True)
def registry(sync):
    """The registry the CSV path's preflight reads, synced as the schedule or POST /templates/sync would."""
    sync()


def drain(sqs: Any, queue_url: str) -> list[str]:
    bodies = []
    while answer := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
        bodies += [m["Body"] for m in answer]
    return bodies


def item(dynamodb: Any, table: str, message_id: str) -> dict[str, Any]:
    found = Ledger(dynamodb, table).get_message(message_id)
    assert found is not None
    return found


def written(aws: Any, stack: Any) -> list[dict[str, Any]]:
    """What the CSV path wrote: every item but the template registry's (Meta's list, kept by a sync)."""
    items = aws.client("dynamodb").scan(TableName=stack.table)["Items"]
    return [i for i in items if not i["pk"]["S"].startswith("TEMPLATE#")]


def write_csv(tmp_path, text: str):
    path = tmp_path / "recipients.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_csv_streams_in_chunks_through_the_same_rules_as_the_api(aws, stack, settings, tmp_path):
    # Given a CSV with a BOM, extra columns, a blank line, and rows for every outcome
    path = write_csv(
        tmp_path,
        "\ufeffto,first_name,code,notes\n"
        "+91 98765 43210,Asha,SAVE10,vip\n"
        "+1 202 555 0173,Joe,SAVE11,\n"
        "\n"
        "+49 151 23456789,Lena,SAVE12,\n"
        "12345,Nobody,SAVE13,\n"
        "+91 98123 45678,Ravi,SAVE-14,bad coupon\n"
        "+91 99000 11223,Meera,SAVE15\n",
    )
    sqs, dynamodb, progress = aws.client("sqs"), aws.client("dynamodb"), io.StringIO()
    # When it is sent two rows at a time
    result = send_csv(
        path,
        stack.queue_url,
        CAMPAIGN,
        sqs=sqs,
        dynamodb=dynamodb,
        settings=settings,
        chunk_rows=2,
        stream=progress,
    )
    # Then the counts are the API's
    assert result["campaign_id"] == "spring" and result["status"] == "running"
    assert result["counts"] == {
        "recipients": 6,
        "queued": 3,
        "blocked": 1,
        "blocked_by_reason": {"us_recipient": 1},
        "invalid": 2,
        "duplicate": 0,
        "enqueue_failed": 0,
    }
    # And the queue holds the three sendable rows, personalised
    requests = sorted(map(parse_send_request, drain(sqs, stack.queue_url)), key=lambda r: r.message_id)
    assert [r.message_id for r in requests] == ["spring-0", "spring-2", "spring-5"]
    assert [r.template.components[1].parameters[0]["coupon_code"] for r in requests] == [
        "SAVE10",
        "SAVE12",
        "SAVE15",
    ]
    assert requests[0].template.components[0].parameters[0].text == "Hi Asha!"
    # And the bad rows are recorded with the reason, not lost
    bad_number, bad_coupon = item(dynamodb, stack.table, "spring-3"), item(dynamodb, stack.table, "spring-4")
    assert (bad_number["state"], bad_number["reason"]) == ("invalid", "invalid_number")
    assert (bad_coupon["state"], bad_coupon["reason"]) == ("invalid", "invalid_variables")
    assert "alphanumeric" in bad_coupon["details"]
    assert item(dynamodb, stack.table, "spring-1")["code"] == 131049
    # And the progress bar ended on 100% (one line: stderr is not a terminal here)
    assert progress.getvalue().strip().splitlines()[-1].startswith("[" + "#" * 28 + "] 100% 6 rows")
    # And the campaign item has the counts
    campaign = CampaignRecords(dynamodb, stack.table).get("spring")
    assert campaign is not None
    assert campaign["source"] == "csv"
    assert campaign["counts"]["queued"] == 3


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("", "csv"),
        ("phone,first_name,code\n919876543210,A,B1\n", "csv.to"),
        ("to,first_name\n919876543210,A\n", "csv.code"),
        ("to,first_name,code\n", "csv"),
    ],
)
def test_a_csv_without_the_needed_columns_or_rows_writes_nothing(aws, stack, settings, tmp_path, text, field):
    path = write_csv(tmp_path, text)
    with pytest.raises(InvalidInput) as exc:
        send_csv(
            path,
            stack.queue_url,
            CAMPAIGN,
            sqs=aws.client("sqs"),
            dynamodb=aws.client("dynamodb"),
            settings=settings,
            progress=False,
        )
    assert exc.value.errors[0][0] == field
    assert written(aws, stack) == []


def test_a_broken_template_stops_a_csv_before_anything_is_written(aws, stack, settings, tmp_path):
    path = write_csv(tmp_path, "to,first_name,code\n919876543210,A,B1\n")
    broken = json.loads(json.dumps(CAMPAIGN))
    broken["template"]["components"][0]["type"] = "footer"
    with pytest.raises(InvalidInput) as exc:
        send_csv(
            path,
            stack.queue_url,
            broken,
            sqs=aws.client("sqs"),
            dynamodb=aws.client("dynamodb"),
            settings=settings,
            progress=False,
        )
    assert exc.value.errors[0][0].startswith("template.components.0")
    assert written(aws, stack) == []


def test_a_bad_campaign_definition_names_the_field(aws, stack, settings, tmp_path):
    path = write_csv(tmp_path, "to,first_name,code\n919876543210,A,B1\n")
    with pytest.raises(InvalidInput) as exc:
        send_csv(
            path,
            stack.queue_url,
            {**CAMPAIGN, "time_to_live": 5},
            sqs=aws.client("sqs"),
            dynamodb=aws.client("dynamodb"),
            settings=settings,
            progress=False,
        )
    assert exc.value.errors[0][0] == "time_to_live"


def test_a_csv_campaign_id_is_used_once(aws, stack, settings, tmp_path):
    path = write_csv(tmp_path, "to,first_name,code\n919876543210,A,B1\n")
    kwargs = {
        "sqs": aws.client("sqs"),
        "dynamodb": aws.client("dynamodb"),
        "settings": settings,
        "progress": False,
    }
    send_csv(path, stack.queue_url, CAMPAIGN, **kwargs)
    with pytest.raises(Conflict):
        send_csv(path, stack.queue_url, CAMPAIGN, **kwargs)
    assert len(drain(aws.client("sqs"), stack.queue_url)) == 1


# ---------------------------------------------------------------- SQS failures at enqueue


class FlakySqs:
    """The moto SQS client, with SendMessageBatch entries failing as scripted: ``fail(calls)`` answers, per
    call, which entry ids to fail (and whether it is the sender's fault)."""

    def __init__(self, sqs: Any, fail: Any) -> None:
        self.sqs, self.fail, self.calls = sqs, fail, 0

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        failing, sender_fault = self.fail(self.calls, Entries)
        ok = [e for e in Entries if e["Id"] not in failing]
        answer = self.sqs.send_message_batch(QueueUrl=QueueUrl, Entries=ok) if ok else {}
        failed = [
            {"Id": i, "SenderFault": sender_fault, "Code": "InternalError", "Message": "boom"}
            for i in failing
        ]
        return {"Successful": answer.get("Successful", []), "Failed": failed}


def service(aws, stack, settings, sqs) -> Campaigns:
    return Campaigns(
        settings, aws.client("dynamodb"), SendQueue(sqs, stack.queue_url, sleep=lambda seconds: None)
    )


def request(n: int) -> CampaignCreate:
    return CampaignCreate.model_validate(
        {
            "name": "Flaky",
            "campaign_id": "flaky",
            "template": {"name": "summer_sale", "language": {"code": "en_US"}},
            "recipients": [f"+91 98000 000{i:02d}" for i in range(n)],
        }
    )


def test_entries_sqs_did_not_take_are_retried(aws, stack, settings):
    # Given SQS that fails two entries of the first call, then recovers
    flaky = FlakySqs(aws.client("sqs"), lambda call, entries: ({"1", "3"} if call == 1 else set(), False))
    # When a campaign of 12 is created
    result = service(aws, stack, settings, flaky).create(request(12))
    # Then every message is queued exactly once
    assert result["counts"]["queued"] == 12 and result["counts"]["enqueue_failed"] == 0
    ids = sorted(parse_send_request(b).message_id for b in drain(aws.client("sqs"), stack.queue_url))
    assert ids == sorted(f"flaky-{i}" for i in range(12))


def test_entries_that_never_go_are_recorded_failed_not_left_queued(aws, stack, settings):
    # Given SQS that always refuses one entry as the sender's fault
    flaky = FlakySqs(
        aws.client("sqs"), lambda call, entries: ({entries[0]["Id"]} if call == 1 else set(), True)
    )
    # When a campaign of 3 is created
    result = service(aws, stack, settings, flaky).create(request(3))
    # Then that message is counted and recorded as failed, with the reason
    assert (result["counts"]["queued"], result["counts"]["enqueue_failed"]) == (2, 1)
    failed = item(aws.client("dynamodb"), stack.table, "flaky-0")
    assert (failed["state"], failed["reason"]) == ("failed", "enqueue_failed")
    assert flaky.calls == 1  # the sender's fault: not retried
    assert len(drain(aws.client("sqs"), stack.queue_url)) == 2
