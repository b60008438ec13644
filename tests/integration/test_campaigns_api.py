"""Campaign API end to end in-process: functions/campaigns/app.py with the events/ files, moto built from
template.yaml. Creating a campaign records every recipient and queues exactly the sendable ones; bad bodies
write nothing; reports and listings are derived from the ledger."""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from typing import Any

import pytest
from aws import create_stack, use_stack
from handlers import LambdaContext, load_event, load_handler

from mmcore import clients
from mmcore.meta.messages import parse_send_request, to_wire
from mmcore.store import keys
from mmcore.store.codec import to_item
from mmcore.store.identities import Identities
from mmcore.store.messages import message_item, wamid_link_item
from mmcore.store.templates import Templates

PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"

IN, IN_2 = "919876543210", "+91 98123 45678"
US = "+1 202 555 0173"
DE = "+49 151 23456789"
IR = "+98 912 123 4567"
BAD = "12345"


@dataclass
class Api:
    handler: Any
    sqs: Any
    dynamodb: Any
    table: str
    queue_url: str
    aggregate: Any = None  # delivers the table's stream to the aggregator, as Lambda would, before a read

    def call(self, evt: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        answer = self.handler.lambda_handler(evt, LambdaContext())
        return answer["statusCode"], json.loads(answer["body"])

    def post(self, body: dict[str, Any] | str) -> tuple[int, dict[str, Any]]:
        evt = load_event("campaigns_post.json")
        evt["body"] = body if isinstance(body, str) else json.dumps(body)
        return self.call(evt)

    def get(self, path: str, **query: Any) -> tuple[int, dict[str, Any]]:
        if self.aggregate:
            self.aggregate()
        name = {
            "campaigns": "campaigns_messages_get.json"
            if path.endswith("/messages")
            else "campaigns_get.json",
            "messages": "messages_get.json",
        }[path.split("/")[1]]
        evt = load_event(name)
        evt["rawPath"] = evt["requestContext"]["http"]["path"] = path
        parts = path.strip("/").split("/")
        evt["pathParameters"] = {"campaign_id" if parts[0] == "campaigns" else "message_id": parts[1]}
        query = {k: str(v) for k, v in query.items() if v is not None}
        evt["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
        evt.pop("queryStringParameters", None)
        if query:
            evt["queryStringParameters"] = query
        return self.call(evt)

    def queued_bodies(self) -> list[str]:
        bodies = []
        while True:
            answer = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            if not answer.get("Messages"):
                return bodies
            bodies += [m["Body"] for m in answer["Messages"]]

    def queue_counts(self) -> dict[str, int]:
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["All"])["Attributes"]
        return {
            "visible": int(attrs["ApproximateNumberOfMessages"]),
            "delayed": int(attrs["ApproximateNumberOfMessagesDelayed"]),
        }

    def items(self) -> list[dict[str, Any]]:
        """What campaigns wrote: every item but the template registry's (Meta's list, kept by a sync)."""
        items = self.dynamodb.scan(TableName=self.table)["Items"]
        return [i for i in items if not i["pk"]["S"].startswith("TEMPLATE#")]

    def put(self, item: dict[str, Any]) -> None:
        self.dynamodb.put_item(TableName=self.table, Item=item)

    def template(self) -> Templates:
        """The stack's templates (the WABA the handler is configured with)."""
        return Templates(self.dynamodb, self.table, WABA_ID)


@pytest.fixture
def api(aws, sim, monkeypatch):
    # The simulator is Meta for the template registry the preflight reads (its seeded templates).
    stack = create_stack(aws, "cmp", access_token=sim.access_token, app_secret=sim.app_secret)
    use_stack(monkeypatch, stack, sim, PHONE_NUMBER_ID=PHONE_NUMBER_ID, WABA_ID=WABA_ID)
    yield Api(
        load_handler("campaigns"),
        aws.client("sqs"),
        aws.client("dynamodb"),
        stack.table,
        stack.queue_url,
        lambda: stack.aggregate(aws),
    )
    clients.reset()


def body(**overrides: Any) -> dict[str, Any]:
    """The events/campaigns_post.json body, changed."""
    b = json.loads(load_event("campaigns_post.json")["body"])
    b.update(overrides)
    return {k: v for k, v in b.items() if v is not None}


def personalised(*recipients: Any, text: str = "Hi {{first_name}}, {{offer}}") -> dict[str, Any]:
    return body(
        campaign_id="mix",
        template={
            "name": "festival_offer",
            "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": text}]}],
        },
        recipients=list(recipients),
    )


def who(name: str, to: str) -> dict[str, Any]:
    return {"to": to, "variables": {"first_name": name, "offer": "20% off"}}


# ---------------------------------------------------------------- POST /campaigns


def test_the_shipped_event_creates_a_campaign(api):
    # Given events/campaigns_post.json as API Gateway delivers it
    # When it is invoked
    status, answer = api.post(load_event("campaigns_post.json")["body"])
    # Then both recipients are queued
    assert status == 202
    assert answer["campaign_id"] == "diwali-2026"
    assert answer["counts"]["queued"] == 2
    assert len(api.queued_bodies()) == 2


def test_a_mixed_campaign_queues_only_the_sendable_and_records_everyone(api):
    # Given Indian, US, German, Iranian and invalid numbers, each with variables
    request = personalised(
        who("Asha", IN),
        who("Joe", US),
        who("Lena", DE),
        who("Ali", IR),
        who("Nobody", BAD),
        who("Ravi", IN_2),
    )
    # When the campaign is created
    status, answer = api.post(request)
    # Then the answer counts each outcome
    assert status == 202
    assert answer["campaign_id"] == "mix"
    assert answer["counts"] == {
        "recipients": 6,
        "queued": 3,
        "blocked": 2,
        "blocked_by_reason": {"sanctioned_recipient": 1, "us_recipient": 1},
        "invalid": 1,
        "duplicate": 0,
        "enqueue_failed": 0,
    }
    # And the queue holds exactly the queued messages, each a valid send request with its own text
    requests = {r.message_id: r for r in map(parse_send_request, api.queued_bodies())}
    assert sorted(requests) == ["mix-0", "mix-2", "mix-5"]
    texts = {mid: r.template.components[0].parameters[0].text for mid, r in requests.items()}
    assert texts == {"mix-0": "Hi Asha, 20% off", "mix-2": "Hi Lena, 20% off", "mix-5": "Hi Ravi, 20% off"}
    assert {r.campaign_id for r in requests.values()} == {"mix"}
    assert {r.phone_number_id for r in requests.values()} == {PHONE_NUMBER_ID}
    # And the seeds' shape is kept on the wire (the options of the shipped event)
    assert to_wire(requests["mix-0"], ttl_on_wire=True) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "919876543210",
        "type": "template",
        "template": {
            "name": "festival_offer",
            "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Hi Asha, 20% off"}]}],
        },
        "product_policy": "CLOUD_API_FALLBACK",
        "message_activity_sharing": True,
        "time_to_live": 86400,
    }
    # And every recipient is in the ledger with its state, reason, code and country
    _, joe = api.get("/messages/mix-1")
    _, lena = api.get("/messages/mix-2")
    _, ali = api.get("/messages/mix-3")
    _, nobody = api.get("/messages/mix-4")
    assert (joe["message"]["state"], joe["message"]["code"], joe["message"]["country"]) == (
        "blocked",
        131049,
        "US",
    )
    assert joe["message"]["reason"] == "us_recipient"
    assert (ali["message"]["state"], ali["message"]["reason"]) == ("blocked", "sanctioned_recipient")
    assert (nobody["message"]["state"], nobody["message"]["reason"]) == ("invalid", "invalid_number")
    assert nobody["message"]["to"] == BAD
    assert (lena["message"]["state"], lena["message"]["country"]) == ("queued", "DE")
    assert lena["message"]["disabled_features"] == [
        "click_reporting",
        "conversion_reporting",
        "delivery_optimization",
    ]
    # And the campaign item stores the name, template, creation time and counts
    _, report = api.get("/campaigns/mix")
    assert report["name"] == "Diwali festival offer"
    assert report["template"]["name"] == "festival_offer"
    assert report["created_at"].endswith("Z")
    assert report["enqueue"] == answer["counts"]


def test_the_same_number_twice_in_one_request_is_queued_once(api):
    status, answer = api.post(personalised(who("A", IN), who("B", "+91 98765-43210")))
    assert status == 202
    assert (answer["counts"]["queued"], answer["counts"]["duplicate"]) == (1, 1)
    assert len(api.queued_bodies()) == 1


def test_a_user_the_webhooks_linked_to_a_bsuid_is_queued_once_under_either_identifier(api):
    # Given a webhook taught the stack that a phone number and a BSUID are one user
    bsuid = "IN.13491208655302741918"
    Identities(api.dynamodb, api.table).learn([{"919876543210", bsuid}], now=1)
    # When a campaign names them both ways
    status, answer = api.post(personalised(who("A", bsuid), who("B", IN)))
    # Then one message is queued, to the first row, and the other is counted a duplicate
    assert status == 202
    assert (answer["counts"]["queued"], answer["counts"]["duplicate"]) == (1, 1)
    assert [json.loads(b)["to"] for b in api.queued_bodies()] == [bsuid]


def test_a_campaign_id_is_used_once(api):
    # Given a campaign already created with a client-chosen id
    assert api.post(personalised(who("A", IN)))[0] == 202
    api.queued_bodies()
    # When the same request comes again (a client retry)
    status, answer = api.post(personalised(who("A", IN)))
    # Then it is a conflict and nothing more is queued
    assert status == 409
    assert answer["errors"] == [{"field": "campaign_id", "reason": "already used"}]
    assert answer["error"] == "conflict"
    assert api.queue_counts() == {"visible": 0, "delayed": 0}


def test_without_a_campaign_id_one_is_generated(api):
    status, answer = api.post(body(campaign_id=None))
    assert status == 202
    assert answer["campaign_id"] != "diwali-2026"
    assert api.get(f"/campaigns/{answer['campaign_id']}")[0] == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b.pop("name"), "name"),
        (lambda b: b.update(time_to_live=60), "time_to_live"),
        (lambda b: b.update(product_policy="LOOSE"), "product_policy"),
        (lambda b: b.update(recipients=[]), "recipients"),
        (lambda b: b.update(recipients=[{"number": IN}]), "recipients.0.number"),
        (lambda b: b.update(colour="red"), "colour"),
        (lambda b: b["template"].update(language={"code": "English"}), "template.language.code"),
        (lambda b: b["template"].update(name="Festival Offer"), "template.name"),
        (lambda b: b["recipients"][1]["variables"].pop("offer"), "recipients.1.variables.offer"),
        (lambda b: b["template"]["components"][0].update(type="footer"), "template.components.0"),
        (
            lambda b: (
                b["template"]["components"][0]["parameters"][0].update(text="{{offer}}")
                or b["recipients"][1]["variables"].update(offer="x" * 40_000)
            ),
            "recipients.1.variables.offer",
        ),
    ],
)
def test_a_bad_body_is_a_422_naming_the_field_and_nothing_is_written(api, change, field):
    # Given the shipped body with one mistake
    request = body()
    change(request)
    # When it is posted
    status, answer = api.post(request)
    # Then the answer names the field
    assert status == 422
    assert answer["message"]
    assert any(e["field"].startswith(field) for e in answer["errors"]), answer
    # And nothing was written or queued
    assert api.items() == []
    assert api.queue_counts() == {"visible": 0, "delayed": 0}


def test_a_body_that_is_not_json_is_a_422(api):
    status, answer = api.post("{not json")
    assert status == 422
    assert answer["errors"][0]["field"] == "body" and "JSON" in answer["errors"][0]["reason"]
    assert api.items() == []


def test_more_recipients_than_the_inline_limit_is_a_422(api):
    status, answer = api.post(body(recipients=[IN] * 10_001))
    assert status == 422
    assert answer["errors"][0]["field"] == "recipients"
    assert api.items() == []


# ---------------------------------------------------------------- template readiness


def test_a_template_created_minutes_ago_delays_the_traffic_not_fails_it(api):
    # Given a template created 2 minutes ago, as the request says
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 120))
    # When a campaign uses it
    status, answer = api.post(body(template_created_at=created))
    # Then it is accepted and every message waits for the sync
    assert status == 202
    assert answer["template"]["readiness"] == "template_created_recently"
    assert 470 <= answer["template"]["delay_seconds"] <= 481
    assert api.queue_counts() == {"visible": 0, "delayed": 2}


def test_a_known_recent_template_delays_later_campaigns_too(api):
    # Given a template known to have been created a minute ago
    api.template().record_use("festival_offer", "en_US", {"created_at": int(time.time()) - 60})
    # When a campaign uses it without saying anything
    status, answer = api.post(body())
    # Then its messages are delayed
    assert status == 202 and answer["template"]["readiness"] == "template_created_recently"
    assert api.queue_counts()["delayed"] == 2


def test_a_dormant_template_gets_one_warm_up_message_then_waits(api):
    # Given a template last sent 8 days ago
    eight_days_ago = int(time.time()) - 8 * 86400
    api.template().record_use("festival_offer", "en_US", {"last_sent_at": eight_days_ago})
    # When a campaign of three uses it
    request = body()
    request["recipients"].append({"to": "+91 99000 11223", "variables": {"offer": "Get 30% OFF"}})
    status, answer = api.post(request)
    # Then one message goes at once and two wait 10 minutes
    assert status == 202
    assert answer["template"]["readiness"] == "template_dormant" and answer["template"]["warm_up"]
    assert api.queue_counts() == {"visible": 1, "delayed": 2}
    # And the template is now known as used, and syncing
    known = api.template().get("festival_offer", "en_US")
    assert known["last_sent_at"] > eight_days_ago
    assert known["sync_until"] >= int(time.time()) + 590


# ---------------------------------------------------------------- reports


def test_the_report_counts_by_status_category_country_and_code(api):
    # Given a created campaign
    api.post(personalised(who("Asha", IN), who("Joe", US), who("Lena", DE), who("Nobody", BAD)))
    # And messages that have moved on since (as the sender and the webhook write them)
    for item in (
        message_item(
            "mix-0",
            state="accepted",
            status="delivered",
            campaign_id="mix",
            to=IN,
            country="IN",
            wamid="wamid.0",
            pricing_category="marketing_lite",
        ),
        message_item(
            "mix-2",
            state="accepted",
            status="read",
            campaign_id="mix",
            to="4915123456789",
            country="DE",
            wamid="wamid.2",
            pricing_category="marketing",
        ),
        message_item(
            "mix-10",
            state="failed",
            campaign_id="mix",
            to="919800000010",
            country="IN",
            error={"code": 131026, "title": "Message undeliverable"},
        ),
        message_item("mix-11", state="sending", campaign_id="mix", to="919800000011", country="IN"),
        message_item(
            "mix-12", state="accepted", campaign_id="mix", to="919800000012", country="IN", wamid="wamid.12"
        ),
    ):
        api.put(item)
    # When the report is read
    status, report = api.get("/campaigns/mix")
    # Then every count comes from the messages
    assert status == 200
    assert report["messages"] == 7
    assert {k: v for k, v in report["by_status"].items() if v} == {
        "queued": 1,
        "accepted": 1,
        "delivered": 1,
        "read": 1,
        "failed": 1,
        "blocked": 1,
        "invalid": 1,
    }
    assert report["by_pricing_category"] == {"marketing_lite": 1, "marketing": 1}
    assert report["by_country"] == {"DE": 1, "IN": 4, "US": 1, "unknown": 1}
    assert report["failures_by_code"] == {"131026": 1}  # blocked (131049) counts by reason
    assert report["blocked_by_reason"] == {"us_recipient": 1}
    assert report["delivery_rate"] == round(2 / 3, 4)
    assert report["read_rate"] == 0.5
    assert report["enqueue"]["queued"] == 2


def test_messages_are_paged_with_a_token_and_filtered_by_status(api):
    # Given a campaign of seven Indian numbers and one US number
    numbers = [f"+91 98000 0000{i}" for i in range(7)] + [US]
    api.post(body(campaign_id="paged", recipients=[{"to": n, "variables": {"offer": "x"}} for n in numbers]))
    # When the queued messages are read three at a time
    seen, token, pages = [], None, 0
    while True:
        status, page = api.get("/campaigns/paged/messages", status="queued", limit=3, next_token=token)
        assert status == 200
        seen += [m["message_id"] for m in page["messages"]]
        pages += 1
        token = page["next_token"]
        if not token:
            break
    # Then every queued message comes exactly once, over three pages
    assert sorted(seen) == sorted(f"paged-{i}" for i in range(7))
    assert pages == 3
    # And the blocked one is listed under its own status, with its number shown (the business owns it)
    _, blocked = api.get("/campaigns/paged/messages", status="blocked")
    assert [(m["message_id"], m["to"]) for m in blocked["messages"]] == [("paged-7", "12025550173")]
    # And without a status every message is listed
    _, everything = api.get("/campaigns/paged/messages", limit=50)
    assert len(everything["messages"]) == 8 and everything["next_token"] is None


def test_a_foreign_or_broken_page_token_is_a_422(api):
    api.post(
        body(
            campaign_id="a",
            recipients=[{"to": f"+91 98000 0000{i}", "variables": {"offer": "x"}} for i in range(3)],
        )
    )
    api.post(
        body(
            campaign_id="b",
            recipients=[{"to": f"+91 98000 0000{i}", "variables": {"offer": "x"}} for i in range(3)],
        )
    )
    _, page = api.get("/campaigns/a/messages", limit=1)
    for token in (page["next_token"], "garbage"):
        status, answer = api.get("/campaigns/b/messages", limit=1, next_token=token)
        assert status == 422
        assert answer["errors"][0]["field"] == "next_token"


@pytest.mark.parametrize("limit", [0, 501, "many"])
def test_a_bad_limit_is_a_422_naming_it(api, limit):
    api.post(body())
    status, answer = api.get("/campaigns/diwali-2026/messages", limit=limit)
    assert status == 422
    assert answer["errors"][0]["field"] == "limit"


def test_a_message_shows_its_event_history(api):
    # Given an accepted message and two status events the webhook stored for its wamid
    api.post(body())
    api.put(
        message_item(
            "diwali-2026-0",
            state="accepted",
            status="delivered",
            campaign_id="diwali-2026",
            to=IN,
            wamid="wamid.HBg",
            billable=True,
        )
    )
    for ts, status_ in (("1795435300", "sent"), ("1795435400", "delivered")):
        api.put(
            to_item(
                {
                    **keys.plain(keys.status_event("wamid.HBg", int(ts), status_)),
                    "status": status_,
                    "timestamp": int(ts),
                }
            )
        )
    api.put(wamid_link_item("wamid.HBg", "diwali-2026-0", "diwali-2026"))
    # When the message is read
    status, answer = api.get("/messages/diwali-2026-0")
    # Then it comes with its events, oldest first, and without storage keys
    assert status == 200
    assert answer["message"]["status"] == "delivered" and answer["message"]["billable"] is True
    assert [e["status"] for e in answer["events"]] == ["sent", "delivered"]
    assert "pk" not in answer["message"] and "gsi2pk" not in answer["message"]


@pytest.mark.parametrize("path", ["/campaigns/nope", "/campaigns/nope/messages", "/messages/nope-0"])
def test_unknown_ids_are_404(api, path):
    status, answer = api.get(path)
    assert status == 404
    assert answer["errors"] == [] and "not found" in answer["message"]
    assert answer["error"] == "not_found"


def test_an_unknown_route_is_a_404_in_the_same_shape(api):
    evt = copy.deepcopy(load_event("campaigns_get.json"))
    evt["rawPath"] = evt["requestContext"]["http"]["path"] = "/nothing/here"
    status, answer = api.call(evt)
    assert status == 404 and answer["errors"] == []
