"""Campaign domain, the pure parts: personalisation, template readiness, planning each recipient (validation
and region rules), report counts, page tokens, SQS batching and the CSV progress bar."""

import datetime as dt
import io
import json

import pytest

from mmapi.csvsend import ProgressBar
from mmcore.campaigns import (
    MAX_INLINE_RECIPIENTS,
    CampaignCreate,
    Campaigns,
    Planned,
    Readiness,
    Recipient,
    placeholders,
    readiness,
    render,
    sqs_batches,
    summarize,
)
from mmcore.campaigns.queue import SQS_BATCH_BYTES
from mmcore.exceptions import InvalidInput
from mmcore.meta.messages import parse_send_request, to_wire
from mmcore.settings import Settings
from mmcore.store import keys, paging

TODAY = dt.date(2026, 11, 23)
NOW = 1_795_435_200  # 2026-11-23T12:00:00Z

IN, IN_2 = "919876543210", "+91 98123 45678"
US = "+1 202 555 0173"
DE = "+49 151 23456789"
IR = "+98 912 123 4567"
BAD = "12345"


def campaign(recipients=None, **overrides) -> CampaignCreate:
    body = {
        "name": "Diwali",
        "campaign_id": "diwali",
        "template": {
            "name": "festival_offer",
            "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Hi {{first_name}}!"}]}],
        },
        "recipients": recipients or [{"to": IN, "variables": {"first_name": "Asha"}}],
    }
    body.update(overrides)
    return CampaignCreate.model_validate(body)


def picked(d: dict, *keys: str) -> dict:
    return {k: d.get(k) for k in keys}


class KnownLinks:
    """The identities store, offline: which identifiers the webhooks linked to one user."""

    def __init__(self, *groups: set[str]) -> None:
        self.groups = [frozenset(g) for g in groups]

    def linked(self, users):
        return {u: g - {u} for u in users for g in self.groups if u in g}


def start(body: CampaignCreate, links: KnownLinks | None = None, **settings):
    # Planning offline: the template preflight (a registry in DynamoDB) is the integration tests'.
    service = Campaigns(
        Settings(phone_number_id="1234567890", **settings), None, None, clock=lambda: NOW, preflight=False
    )
    service.identities = links or KnownLinks()
    return service.start(body, source="test", dedupe=True)


def plan_all(body: CampaignCreate, strict: bool = True) -> list[Planned]:
    return start(body).plan(enumerate(body.recipients), strict=strict)


def problems(body: CampaignCreate, strict: bool = True) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as exc:
        plan_all(body, strict)
    return exc.value.errors


# ---------------------------------------------------------------- personalisation


def test_placeholders_are_found_in_every_nested_string():
    # Given components with placeholders in a text, a coupon and a link, and Meta's own {{1}} syntax
    components = [
        {"type": "body", "parameters": [{"type": "text", "text": "{{ first_name }}, {{city}} {{1}}"}]},
        {"type": "button", "parameters": [{"type": "coupon_code", "coupon_code": "{{code}}"}]},
        {
            "type": "header",
            "parameters": [{"type": "image", "image": {"link": "https://x.test/{{img}}.png"}}],
        },
    ]
    # When the names are collected
    # Then every placeholder is named, {{1}} is not one
    assert placeholders(components) == {"first_name", "city", "code", "img"}


def test_render_substitutes_values_and_leaves_keys_and_other_types():
    # Given a structure with placeholders in values, a key that looks like one, and a number
    value = {"{{k}}": "{{a}}-{{ b }}", "n": 5, "l": ["{{a}}", {"t": "plain"}], "m": "{{1}}"}
    # When it is rendered
    out = render(value, {"a": "x", "b": "y", "k": "no"})
    # Then only string values change
    assert out == {"{{k}}": "x-y", "n": 5, "l": ["x", {"t": "plain"}], "m": "{{1}}"}


def test_a_recipient_may_be_a_plain_number_and_variables_become_text():
    # Given a plain string recipient and one with a number as a variable value
    a = Recipient.model_validate("+91 98765 43210")
    b = Recipient.model_validate({"to": IN, "variables": {"amount": 20, "ratio": 1.5}})
    # Then both validate, the values as text
    assert a.to == "+91 98765 43210" and a.variables == {}
    assert b.variables == {"amount": "20", "ratio": "1.5"}


@pytest.mark.parametrize("variables", [{"1st": "x"}, {"ok": True}, {"ok": None}, {"ok": ["x"]}])
def test_bad_variable_names_and_values_are_rejected(variables):
    with pytest.raises(ValueError, match="variables"):
        Recipient.model_validate({"to": IN, "variables": variables})


def test_at_most_the_documented_number_of_inline_recipients():
    # Given one recipient more than the inline limit
    # When the body is validated
    # Then the error names recipients
    with pytest.raises(ValueError, match="recipients"):
        campaign(recipients=[IN] * (MAX_INLINE_RECIPIENTS + 1))


# ---------------------------------------------------------------- template readiness


def test_a_template_without_history_is_ready():
    assert readiness(None, None, None, NOW) == Readiness()
    assert Readiness().delay(NOW) == 0


def test_a_template_created_minutes_ago_waits_for_its_sync():
    # Given a template created 2 minutes ago
    ready = readiness(NOW - 120, None, None, NOW)
    # Then traffic waits until 10 minutes after its creation, no warm-up
    assert ready == Readiness(NOW + 480, False, "template_created_recently")
    assert ready.delay(NOW) == 480
    assert ready.delay(NOW + 100) == 380
    assert ready.delay(NOW + 1000) == 0


def test_a_template_unused_for_more_than_seven_days_gets_a_warm_up():
    # Given a template last sent 8 days ago
    ready = readiness(NOW - 30 * 86400, NOW - 8 * 86400, None, NOW)
    # Then one message wakes it and the rest wait 10 minutes
    assert ready == Readiness(NOW + 600, True, "template_dormant")
    # And a template used 6 days ago is ready
    assert readiness(None, NOW - 6 * 86400, None, NOW) == Readiness()


def test_a_template_still_syncing_after_a_warm_up_holds_traffic_until_then():
    assert readiness(None, NOW - 60, NOW + 540, NOW) == Readiness(NOW + 540, False, "template_syncing")


def test_the_delay_never_exceeds_the_sqs_maximum():
    # Given a creation time in the future (clock skew, or a wrong template_created_at)
    ready = readiness(NOW + 3600, None, None, NOW)
    # Then the delay is capped at 900 s (the sender's 134101 rule covers the rest)
    assert ready.delay(NOW) == 900


# ---------------------------------------------------------------- planning


def test_each_recipient_is_queued_blocked_or_invalid_by_the_region_rules():
    # Given Indian, US, German, Iranian and invalid numbers, no placeholders
    body = campaign(
        recipients=[IN, US, DE, IR, BAD, "user.ABC123"],
        template={"name": "summer_sale", "language": {"code": "en_US"}},
    )
    # When they are planned
    planned = {p.index: p for p in plan_all(body)}
    # Then each gets its state, reason, code and country
    assert {i: p.state for i, p in planned.items()} == {
        0: "queued",
        1: "blocked",
        2: "queued",
        3: "blocked",
        4: "invalid",
        5: "queued",
    }
    assert picked(planned[1].fields, "reason", "code", "country") == {
        "reason": "us_recipient",
        "code": 131049,
        "country": "US",
    }
    assert planned[2].fields["country"] == "DE"
    assert planned[2].fields["disabled_features"] == [
        "click_reporting",
        "conversion_reporting",
        "delivery_optimization",
    ]
    assert planned[3].fields["reason"] == "sanctioned_recipient"
    assert picked(planned[4].fields, "reason", "to") == {"reason": "invalid_number", "to": BAD}
    assert planned[4].fields["details"]  # the parse reason, e.g. "too short"
    assert "country" not in planned[5].fields  # a business-scoped user id has no country
    # And only queued messages carry a send request
    assert [i for i, p in planned.items() if p.request is not None] == [0, 2, 5]


def test_campaign_recipients_named_by_bsuid_in_to_or_recipient():
    # Given recipients named by a BSUID in `to` (current, parent) and in Meta's `recipient` field, and a US one
    body = campaign(
        recipients=[
            "IN.1349120865",
            "IN.ENT.1181",
            {"recipient": "DE.77"},
            "US.5555",
            {"recipient": "+4915"},
        ],
        template={"name": "summer_sale", "language": {"code": "en_US"}},
    )
    planned = {p.index: p for p in plan_all(body)}
    # Then the prefix is the country for the region rules, and none gets delivery optimization
    assert [planned[i].state for i in range(5)] == ["queued", "queued", "queued", "blocked", "invalid"]
    assert [planned[i].fields.get("country") for i in range(4)] == ["IN", "IN", "DE", "US"]
    assert all("delivery_optimization" in planned[i].fields["disabled_features"] for i in range(3))
    assert to_wire(planned[2].request)["recipient"] == "DE.77"
    assert "to" not in to_wire(planned[0].request)


def test_a_queued_request_is_a_send_request_with_envelope_and_the_seeds_shape():
    # Given the seeds' summer_sale template sent as a campaign with the seeds' options
    body = campaign(
        recipients=["+91 98765 43210"],
        template={"name": "summer_sale", "language": {"code": "en_US"}},
        product_policy="CLOUD_API_FALLBACK",
        message_activity_sharing=True,
        time_to_live=86400,
    )
    # When it is planned
    (planned,) = plan_all(body)
    sqs_body = planned.request.model_dump_json(exclude_none=True)
    # Then the SQS body parses as a send request with a deterministic id and the default phone number id
    request = parse_send_request(sqs_body)
    assert (request.campaign_id, request.message_id, request.phone_number_id) == (
        "diwali",
        "diwali-0",
        "1234567890",
    )
    assert request.identity() == "diwali-0"
    # And its wire body is the seeds' full_request example
    assert to_wire(request, ttl_on_wire=True) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "919876543210",
        "type": "template",
        "template": {"name": "summer_sale", "language": {"code": "en_US"}},
        "product_policy": "CLOUD_API_FALLBACK",
        "message_activity_sharing": True,
        "time_to_live": 86400,
    }


def test_variables_are_substituted_per_recipient():
    body = campaign(
        recipients=[
            {"to": IN, "variables": {"first_name": "Asha"}},
            {"to": IN_2, "variables": {"first_name": "Ravi"}},
        ]
    )
    texts = [p.request.template.components[0].parameters[0].text for p in plan_all(body)]
    assert texts == ["Hi Asha!", "Hi Ravi!"]


def test_a_missing_variable_names_the_recipient_and_the_variable():
    body = campaign(recipients=[{"to": IN, "variables": {"first_name": "Asha"}}, {"to": IN_2}])
    assert problems(body) == [
        ("recipients.1.variables.first_name", "missing: the template uses {{first_name}}")
    ]


def test_a_variable_that_breaks_metas_limits_names_the_variable():
    # Given a per-recipient coupon code that is not alphanumeric
    body = campaign(
        template={
            "name": "festival_offer",
            "language": {"code": "en_US"},
            "components": [
                {
                    "type": "button",
                    "sub_type": "copy_code",
                    "index": 0,
                    "parameters": [{"type": "coupon_code", "coupon_code": "{{code}}"}],
                }
            ],
        },
        recipients=[
            {"to": IN, "variables": {"code": "SAVE20"}},
            {"to": IN_2, "variables": {"code": "SAVE-20"}},
        ],
    )
    # Then the error points at recipient 1's variable and says why
    ((field, reason),) = problems(body)
    assert field == "recipients.1.variables.code"
    assert "alphanumeric" in reason and reason.startswith("template.components.0")


def test_a_template_error_is_reported_once_with_its_path():
    # Given a template component of an unknown type and three recipients
    body = campaign(
        template={
            "name": "festival_offer",
            "language": {"code": "en_US"},
            "components": [{"type": "footer"}],
        },
        recipients=[IN, IN_2, DE],
    )
    # Then one error names the template field, not the recipients
    ((field, _),) = problems(body)
    assert field.startswith("template.components.0")


def test_an_invalid_number_is_not_a_request_error_even_when_strict():
    body = campaign(recipients=[{"to": "", "variables": {"first_name": "A"}}])
    (planned,) = plan_all(body)
    assert (planned.state, planned.fields["reason"], planned.fields["details"]) == (
        "invalid",
        "invalid_number",
        "empty",
    )


def test_when_not_strict_a_recipients_own_problem_makes_it_invalid():
    # Given the CSV mode and a recipient whose variable is empty, the whole parameter text
    body = campaign(
        template={
            "name": "festival_offer",
            "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "{{first_name}}"}]}],
        },
        recipients=[
            {"to": IN, "variables": {"first_name": ""}},
            {"to": IN_2, "variables": {"first_name": "R"}},
        ],
    )
    # When planned without strictness
    first, second = plan_all(body, strict=False)
    # Then that recipient is recorded invalid with the reason, the next is queued
    assert (first.state, first.fields["reason"]) == ("invalid", "invalid_variables")
    assert "recipients.0.variables.first_name" in first.fields["details"]
    assert second.state == "queued"


def test_when_not_strict_a_template_problem_still_stops_everything():
    body = campaign(
        template={
            "name": "festival_offer",
            "language": {"code": "en_US"},
            "components": [{"type": "footer"}],
        },
        recipients=[IN],
    )
    assert problems(body, strict=False)


def test_the_same_number_twice_is_sent_once():
    # Given the same number written two ways
    body = campaign(
        recipients=[
            {"to": IN, "variables": {"first_name": "A"}},
            {"to": "+91 98765-43210", "variables": {"first_name": "B"}},
        ]
    )
    run = start(body)
    # When planned with deduplication
    planned = run.plan(enumerate(body.recipients), strict=True)
    # Then only the first is kept and the duplicate is counted
    assert [p.message_id for p in planned] == ["diwali-0"]
    assert run.counts.duplicate == 1


BSUID = "IN.13491208655302741918"


def test_a_user_named_by_phone_and_by_a_linked_bsuid_is_sent_once():
    # Given a user the webhooks linked: their phone number and their BSUID
    body = campaign(
        recipients=[
            {"to": BSUID, "variables": {"first_name": "A"}},
            {"to": IN, "variables": {"first_name": "B"}},
            {"to": "+91 98765 00000", "variables": {"first_name": "C"}},
        ]
    )
    run = start(body, KnownLinks({"919876543210", BSUID}))
    # When planned with deduplication
    planned = run.plan(enumerate(body.recipients), strict=True)
    # Then the phone number is the same user as the BSUID: one message to them, one to the other user
    assert [p.message_id for p in planned] == ["diwali-0", "diwali-2"]
    assert run.counts.duplicate == 1


def test_a_recipient_naming_both_identifiers_covers_a_later_row_with_either():
    body = campaign(
        recipients=[
            {"to": IN, "recipient": BSUID, "variables": {"first_name": "A"}},
            {"recipient": BSUID, "variables": {"first_name": "B"}},
        ]
    )
    run = start(body)
    assert [p.message_id for p in run.plan(enumerate(body.recipients), strict=True)] == ["diwali-0"]
    assert run.counts.duplicate == 1


def test_a_bsuid_recipient_of_a_max_price_campaign_is_blocked_with_131062_not_the_campaign():
    # Given a campaign with a max-price multiplier, to a phone number and to a BSUID
    body = campaign(
        bid_spec={"per_message_bid_multiplier": 1.5},
        recipients=[
            {"to": IN, "variables": {"first_name": "A"}},
            {"to": BSUID, "variables": {"first_name": "B"}},
        ],
    )
    phone, bsuid = plan_all(body)
    # Then the phone number is queued with the multiplier, the BSUID blocked with Meta's code and why
    assert phone.state == "queued" and phone.request.bid_spec.per_message_bid_multiplier == 1.5
    assert (bsuid.state, bsuid.fields["reason"], bsuid.fields["code"]) == (
        "blocked",
        "bsuid_max_price",
        131062,
    )
    assert "phone number" in bsuid.fields["details"]


def test_without_a_phone_number_id_anywhere_the_campaign_is_refused():
    service = Campaigns(Settings(phone_number_id=""), None, None)
    with pytest.raises(InvalidInput) as exc:
        service.start(campaign(), source="test")
    assert exc.value.errors[0][0] == "phone_number_id"


# ---------------------------------------------------------------- reports


def test_summarize_counts_statuses_categories_countries_codes_and_rates():
    # Given messages in every state a campaign goes through
    items = [
        {"status": "queued", "country": "IN"},
        {"status": "sending", "country": "IN"},
        {"status": "retry", "country": "IN", "error": {"code": 130429}},
        {"status": "accepted", "country": "IN", "wamid": "w1"},
        {"status": "sent", "country": "IN", "wamid": "w2", "pricing_category": "marketing_lite"},
        {"status": "delivered", "country": "IN", "wamid": "w3", "pricing_category": "marketing_lite"},
        {"status": "read", "country": "DE", "wamid": "w4", "pricing_category": "marketing"},
        {"status": "failed", "country": "IN", "wamid": "w5", "error": {"code": 131026}},
        {"status": "failed", "country": "IN", "error": {"code": 131026}},
        {"status": "blocked", "country": "US", "code": 131049, "reason": "us_recipient"},
        {"status": "blocked", "country": "IR", "reason": "sanctioned_recipient"},
        {"status": "invalid", "reason": "invalid_number"},
        {"status": "brand_new_status", "country": "IN"},
    ]
    # When they are summarized
    report = summarize(items)
    # Then every count is derived from the items
    assert report["messages"] == 13
    assert report["by_status"] == {
        "queued": 3,
        "accepted": 1,
        "sent": 1,
        "delivered": 1,
        "read": 1,
        "failed": 2,
        "blocked": 2,
        "invalid": 1,
        "expired": 0,
        "suppressed": 0,
        "unknown": 0,
        "cancelled": 0,
        "brand_new_status": 1,
    }
    assert report["by_pricing_category"] == {"marketing_lite": 2, "marketing": 1}
    assert report["by_country"] == {"DE": 1, "IN": 9, "IR": 1, "US": 1, "unknown": 1}
    assert report["failures_by_code"] == {"131026": 2}  # blocked (131049) counts by reason
    assert report["blocked_by_reason"] == {"sanctioned_recipient": 1, "us_recipient": 1}
    # And the rates: 2 of the 5 Meta took were delivered, 1 of the 2 delivered was read
    assert report["delivery_rate"] == 0.4
    assert report["read_rate"] == 0.5


def test_summarize_of_nothing_has_no_rates():
    report = summarize([])
    assert (report["messages"], report["delivery_rate"], report["read_rate"]) == (0, None, None)


def test_a_page_token_round_trips_and_only_for_its_listing():
    # Given where a page of campaign a's messages stopped
    key = {
        **keys.message("a-1"),
        **{k: {"S": v} for k, v in keys.campaign_messages("a", "queued", "a-1").items()},
    }
    attributes = frozenset(key)
    # When it becomes a token and comes back for the same campaign
    token = paging.encode(key)
    shard = keys.campaign_shard("a-1")
    assert paging.decode(token, attributes, {"gsi2pk": keys.campaign_partition("a", shard)}) == key
    # Then any other campaign's listing, or anything that is not a token, names next_token
    for bad, expect in (
        (token, {"gsi2pk": keys.campaign_partition("b", shard)}),
        ("not-a-token", {}),
        ("", {}),
        ("e30", {}),
    ):
        with pytest.raises(InvalidInput) as exc:
            paging.decode(bad, attributes, expect)
        assert exc.value.errors[0][0] == "next_token"


def test_sqs_batches_hold_ten_entries_and_stay_under_the_size_limit():
    small = [{"Id": str(i), "MessageBody": "x"} for i in range(23)]
    assert [len(b) for b in sqs_batches(small)] == [10, 10, 3]
    big = [{"Id": str(i), "MessageBody": "x" * (SQS_BATCH_BYTES // 3)} for i in range(5)]
    assert [len(b) for b in sqs_batches(big)] == [3, 2]


# ---------------------------------------------------------------- the CSV progress bar


def test_the_progress_bar_shows_share_rows_and_outcomes():
    bar = ProgressBar(1000, io.StringIO())
    line = bar.render(500, {"recipients": 1234, "queued": 1200, "blocked": 30, "invalid": 4}, 2.0)
    assert line.startswith("[" + "#" * 14 + "." * 14 + "]  50% 1,234 rows")
    assert "queued 1,200 blocked 30 invalid 4" in line and "617 rows/s" in line


def test_the_progress_bar_is_quiet_when_disabled_and_one_line_per_update_off_a_terminal():
    quiet, log = io.StringIO(), io.StringIO()
    ProgressBar(10, quiet, enabled=False).update(10, {}, force=True)
    bar = ProgressBar(10, log)
    bar.update(10, {"recipients": 1}, force=True)
    bar.close()
    assert quiet.getvalue() == ""
    assert log.getvalue().count("\n") == 1 and "100%" in log.getvalue()


def test_campaign_body_round_trips_as_json_schema():
    # The body model is what the API documents (Powertools builds the OpenAPI schema from it).
    schema = CampaignCreate.model_json_schema()
    assert {"name", "template"} <= set(schema["required"])
    assert {"recipients", "audience"} <= set(schema["properties"])  # one of them (inline, or in S3)
    assert json.dumps(schema)
