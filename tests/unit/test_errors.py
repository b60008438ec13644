"""Error catalog: every code of the reference's section 5 and of meta-2026-updates section 11 gets the
reference's handling, unknown codes are classified by HTTP status, one code with two meanings is told apart by
Meta's text, Meta's error bodies parse (and broken ones don't crash), backoff grows and caps."""

import json

import pytest

from mmcore.meta.errors import (
    AMBIGUOUS,
    CATALOG,
    MAX_SQS_DELAY,
    THROTTLED,
    UNKNOWN,
    Action,
    GraphError,
    Scope,
    backoff_delay,
    classify,
    retries_exhausted,
    rule_for,
)

R, AFTER, P, HALT = Action.RETRY, Action.RETRY_AFTER, Action.PERMANENT, Action.HALT
ACCOUNT, PHONE, TEMPLATE = Scope.ACCOUNT, Scope.PHONE_NUMBER, Scope.TEMPLATE

# The reference's section 5 (and the retry map of section 9), then the codes of Meta's table it lacked and the
# 2026 codes (meta-2026-updates section 11), written out independently of the module.
EXPECTED: dict[int, tuple[Action, Scope | None]] = {
    0: (HALT, ACCOUNT), 1: (R, None), 2: (R, None), 3: (HALT, ACCOUNT), 4: (R, None), 10: (HALT, ACCOUNT),
    100: (P, None), 190: (HALT, ACCOUNT), 368: (HALT, ACCOUNT), 80007: (R, None),
    130429: (R, None), 130472: (P, None), 130497: (P, None), 131000: (R, None), 131005: (HALT, ACCOUNT),
    131008: (P, None), 131009: (AFTER, None), 131016: (R, None), 131021: (P, None), 131026: (P, None),
    131031: (HALT, ACCOUNT), 131037: (HALT, PHONE), 131042: (HALT, ACCOUNT), 131045: (HALT, PHONE),
    131047: (P, None), 131048: (AFTER, None), 131049: (P, None), 131050: (P, None), 131051: (P, None),
    131052: (P, None), 131053: (P, None), 131055: (P, None), 131056: (R, None), 131057: (R, None),
    132000: (P, None), 132001: (P, None), 132005: (P, None), 132007: (P, None), 132012: (P, None),
    132015: (HALT, TEMPLATE), 132016: (HALT, TEMPLATE), 132018: (P, None), 132068: (P, None),
    132069: (AFTER, None), 133004: (R, None), 133010: (HALT, PHONE), 134011: (HALT, ACCOUNT),
    135000: (P, None), 134100: (P, None), 134101: (AFTER, None), 134102: (P, None), 134103: (P, None),
    1752041: (P, None), 131062: (P, None),
    # Meta's table beyond section 5: template management, the 133xxx registration codes, maintenance, 33.
    2388040: (P, None), 2388047: (P, None), 2388072: (P, None), 2388073: (P, None), 2388293: (P, None),
    2388299: (P, None), 2388019: (P, None), 2494100: (R, None), 33: (HALT, ACCOUNT),
    133000: (HALT, PHONE), 133005: (HALT, PHONE), 133006: (HALT, PHONE), 133008: (HALT, PHONE),
    133009: (HALT, PHONE), 133015: (HALT, PHONE), 133016: (HALT, PHONE),
    # 2026: wrong endpoint / wrong recipient form is permanent; marketing disabled on Cloud API is the WABA's.
    131061: (P, None), 131063: (HALT, ACCOUNT),
}  # fmt: skip

SAMPLE = (
    b'{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,'
    b'"error_data":{"messaging_product":"whatsapp",'
    b'"details":"Cloud API message throughput has been reached."},'
    b'"error_subcode":2494055,"fbtrace_id":"Az8or2yhqkZfEZ-_4Qn_Bam"}}'
)


def test_catalog_holds_exactly_the_reference_codes():
    assert set(CATALOG) == set(EXPECTED)


@pytest.mark.parametrize(("code", "expected"), sorted(EXPECTED.items()))
def test_every_code_maps_to_the_reference_class(code, expected):
    rule = rule_for(code)
    assert (rule.action, rule.scope) == expected
    assert rule.code == code
    assert rule.title


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_catalog_rules_are_consistent(code):
    rule = CATALOG[code]
    retryable = rule.action in (R, AFTER)
    assert (rule.delay_seconds > 0) == retryable
    assert (rule.scope is not None) == (rule.action is HALT)
    assert 0 < backoff_delay(rule, 1) <= MAX_SQS_DELAY if retryable else backoff_delay(rule, 1) == 0


@pytest.mark.parametrize("code", [200, 201, 250, 299])
def test_the_200_to_299_range_is_a_permission_halt(code):
    rule = classify(code, 403)
    assert rule.action is HALT and rule.scope is ACCOUNT
    assert "Permission" in rule.title


@pytest.mark.parametrize("code", [199, 300])
def test_codes_just_outside_the_permission_range_are_unknown(code):
    assert rule_for(code) is UNKNOWN


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        (None, None, AMBIGUOUS),  # timeout after the request left
        (None, 500, AMBIGUOUS),
        (None, 503, AMBIGUOUS),
        (999999, 502, AMBIGUOUS),
        (999999, 200, AMBIGUOUS),  # an "error" on a success status: may have been accepted
        (None, 429, THROTTLED),
        (999999, 429, THROTTLED),
        (999999, 400, UNKNOWN),
        (None, 404, UNKNOWN),
        (None, 401, UNKNOWN),
    ],
)
def test_unknown_codes_are_classified_by_http_status(code, status, expected):
    assert classify(code, status) is expected


def test_known_codes_win_over_the_http_status():
    assert classify(130429, 500).action is R
    assert classify(134102, 500).action is P


def test_ambiguous_outcomes_are_flagged_so_the_sender_does_not_retry_blindly():
    assert AMBIGUOUS.ambiguous and rule_for(131000).ambiguous
    assert not rule_for(130429).ambiguous and not UNKNOWN.ambiguous and not THROTTLED.ambiguous


def test_an_unknown_or_missing_code_reported_by_meta_is_permanent():
    assert rule_for(424242).action is P
    assert rule_for(None).action is P


@pytest.mark.parametrize("text", ["The parameter to is required.", "(#100) Invalid parameter", ""])
def test_100_for_a_bad_request_is_permanent(text):
    assert rule_for(100, text).action is P and classify(100, 400, text).action is P


def test_100_for_a_missing_recipient_says_so():
    error = GraphError.from_response(
        400, {"error": {"code": 100, "message": "The parameter to is required."}}
    )
    assert error.rule.action is P and "recipient" in error.rule.why


def test_100_for_an_unsigned_max_price_agreement_halts_that_template_only():
    # [MAXP]: max-price sends fail until the business enrolls; templates without a price still go out.
    details = "You need to sign the testing legal agreement before using max price."
    error = GraphError.from_response(
        400,
        {"error": {"code": 100, "message": "(#100) Invalid parameter", "error_data": {"details": details}}},
    )
    assert (error.rule.action, error.rule.scope) == (HALT, TEMPLATE)
    assert "max_price_agreements" in error.rule.why
    webhook = GraphError.from_webhook_error({"code": 100, "title": "Invalid parameter", "message": details})
    assert webhook.rule is error.rule


def test_2026_codes_say_what_to_do_instead():
    assert "/marketing_messages" in rule_for(131061).why
    assert "phone number" in rule_for(131062).why
    assert "onboarding" in rule_for(131063).why


def test_the_per_user_limit_is_permanent_for_this_send():
    # Meta asks for >= 24 h; SQS cannot hold a message that long and repeated retries just fail.
    rule = rule_for(131049)
    assert rule.action is P and "24 h" in rule.why


# One test per action class.
def test_retry_throughput_backs_off_exponentially_up_to_the_sqs_cap():
    rule = rule_for(130429)
    delays = [backoff_delay(rule, attempt) for attempt in range(1, 12)]
    assert delays[:4] == [2, 4, 8, 16]
    assert delays == sorted(delays) and delays[-1] == MAX_SQS_DELAY
    assert not retries_exhausted(rule, 50)


def test_retry_pair_rate_limit_follows_metas_four_to_the_x():
    rule = rule_for(131056)
    assert [backoff_delay(rule, attempt) for attempt in range(1, 7)] == [1, 4, 16, 64, 256, MAX_SQS_DELAY]


def test_retry_api_unknown_gives_up_after_a_few_tries():
    rule = rule_for(1)
    assert [retries_exhausted(rule, attempt) for attempt in (1, 2, 3, 4)] == [False, False, False, True]


def test_retry_after_template_sync_waits_ten_minutes_each_time():
    rule = rule_for(134101)
    assert [backoff_delay(rule, attempt) for attempt in (1, 2, 3)] == [600, 600, 600]


def test_retry_after_131009_once_then_permanent():
    rule = rule_for(131009)
    assert backoff_delay(rule, 1) == 600
    assert not retries_exhausted(rule, 1) and retries_exhausted(rule, 2)


def test_retry_after_spam_limit_waits_the_longest_sqs_delay():
    assert backoff_delay(rule_for(131048), 1) == MAX_SQS_DELAY == 900


def test_permanent_rules_have_no_delay():
    assert backoff_delay(rule_for(131050), 3) == 0


def test_halt_rules_name_their_scope():
    assert rule_for(190).scope is ACCOUNT
    assert rule_for(133010).scope is PHONE
    assert rule_for(132015).scope is TEMPLATE
    assert backoff_delay(rule_for(190), 1) == 0


def test_parses_the_reference_sample_error():
    error = GraphError.from_response(400, SAMPLE)
    assert error.code == 130429
    assert error.message == "(#130429) Rate limit hit"
    assert error.details == "Cloud API message throughput has been reached."
    assert error.type == "OAuthException"
    assert error.error_subcode == 2494055
    assert error.fbtrace_id == "Az8or2yhqkZfEZ-_4Qn_Bam"
    assert error.http_status == 400
    assert error.rule is CATALOG[130429]
    assert str(error) == "(#130429) Rate limit hit"


@pytest.mark.parametrize("body", [SAMPLE, SAMPLE.decode(), json.loads(SAMPLE)])
def test_accepts_bytes_text_or_parsed_bodies(body):
    assert GraphError.from_response(400, body).code == 130429


def test_to_dict_has_what_a_failed_message_records():
    record = GraphError.from_response(400, SAMPLE).to_dict()
    assert record["code"] == 130429 and record["action"] == "retry" and record["http_status"] == 400
    assert record["details"] == "Cloud API message throughput has been reached."


def test_html_error_page_gives_a_short_readable_message_and_no_code():
    page = "<html><head><style>p{color:red}</style></head><body><h1>502   Bad Gateway</h1>" + "x" * 1000
    error = GraphError.from_response(502, page)
    assert error.code is None
    assert error.message.startswith("502 Bad Gateway")
    assert len(error.message) <= 300 and "<" not in error.message and "color" not in error.message
    assert error.rule is AMBIGUOUS


@pytest.mark.parametrize(
    "body",
    [None, b"", b"not json", b"\xff\xfe\x00", "[]", "null", '{"error": "oops"}', '{"error": {}}', {"x": 1}],
)
def test_malformed_bodies_never_raise(body):
    error = GraphError.from_response(400, body)
    assert error.code is None
    assert error.message
    assert error.rule is UNKNOWN


def test_missing_keys_and_odd_types_are_tolerated():
    body = {"error": {"message": "(#131026) Message Undeliverable", "code": "131026", "error_data": "x"}}
    error = GraphError.from_response(400, body)
    assert error.code == 131026 and error.details is None and error.fbtrace_id is None
    assert error.rule.action is P


def test_code_is_recovered_from_the_message_when_the_field_is_missing():
    body = {"error": {"message": "(#131056) (Business Account, Consumer) pair rate limit hit"}}
    error = GraphError.from_response(400, body)
    assert error.code == 131056


def test_webhook_error_item_parses_into_the_same_class():
    item = {
        "code": 131049,
        "title": "This message was not delivered to maintain healthy ecosystem engagement.",
        "message": "This message was not delivered to maintain healthy ecosystem engagement.",
        "error_data": {"details": "In order to maintain a healthy ecosystem engagement, the message failed."},
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    }
    error = GraphError.from_webhook_error(item)
    assert error.code == 131049 and error.http_status is None
    assert error.details.startswith("In order to maintain")
    assert error.href.endswith("error-codes/")
    assert error.rule.action is P


def test_webhook_error_with_an_unknown_code_is_permanent_not_ambiguous():
    error = GraphError.from_webhook_error({"code": 999999, "title": "Something new"})
    assert error.message == "Something new"
    assert error.rule is UNKNOWN


def test_no_response_is_ambiguous():
    assert GraphError.no_response("read timeout").rule is AMBIGUOUS
