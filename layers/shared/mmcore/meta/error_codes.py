"""Meta's error codes as data: what the product does with each code it can meet.

One line per code: Meta's HTTP status (None where Meta's table gives none), Meta's title as the table
spells it, the action, and why, with its source tag in a comment. Sources (Meta's pages under
developers.facebook.com/documentation/business-messaging/whatsapp/...):
  [ERR]  support/error-codes (table of Nov 19, 2025: ../shared/conformance/meta_error_codes.json; copy of
         Jun 18, 2026 in meta-2026-updates section 11)
  [PLAT] about-the-platform ("Rate limits", "Pair rate limits")   [THRU] throughput
  [PUL]  templates/marketing-templates/per-user-limits            [SUP]  support
  [MM-CL] marketing-messages/changelog (Dec 2025)   [MM-START] marketing-messages/get-started (Dec 2025)
  [SEND] marketing-messages/send-marketing-messages (May 5, 2026)  [CL] marketing-messages/changelog (2026)
  [MAXP] marketing-messages/pricing, "Set a max price" (Jun 26, 2026)
  [BSUID] business-scoped-user-ids (May-Nov 2026)

A rule answers "what now?" for one failed call:
  RETRY        retry with exponential backoff (`delay_seconds * backoff_factor ** (attempt - 1)`);
  RETRY_AFTER  retry after a fixed delay (`delay_seconds`);
  PERMANENT    this message (or this template change) failed for good; record it and move on;
  HALT         stop spending in `scope` (account, phone number or template) and alert; the sender probes the
               scope again later, so a halt ends by itself once a human has fixed the cause.
`ambiguous` marks outcomes where Meta may already have queued the message (no idempotency key at Meta).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# SQS caps DelaySeconds at 900 s. (A visibility-timeout change can reach 12 h, still short of the 24 h that
# 131049 asks for.) Every delay a rule holds is capped here.
MAX_SQS_DELAY = 900


class Action(StrEnum):
    """What the sender does with a failed send."""

    RETRY = "retry"
    RETRY_AFTER = "retry_after"
    PERMANENT = "permanent"
    HALT = "halt"


class Scope(StrEnum):
    """What a HALT stops: everything on the WABA/app, one sending number, or one template."""

    ACCOUNT = "account"
    PHONE_NUMBER = "phone_number"
    TEMPLATE = "template"


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """One catalog entry. `code` is None for the synthetic rules (no code, or a code we don't know)."""

    code: int | None
    title: str
    action: Action
    delay_seconds: int = 0
    backoff_factor: int = 1
    scope: Scope | None = None
    max_retries: int | None = None  # None: bounded by the queue's maxReceiveCount and the message deadline
    ambiguous: bool = False
    why: str = ""
    http_status: int | None = None  # Meta's documented HTTP status, for the record; the answer's own wins


def _retry(code: int, http: int | None, title: str, base: int, factor: int = 2, **kw: Any) -> ErrorRule:
    return ErrorRule(code, title, Action.RETRY, base, factor, http_status=http, **kw)


def _after(code: int, http: int | None, title: str, delay: int, **kw: Any) -> ErrorRule:
    return ErrorRule(code, title, Action.RETRY_AFTER, min(delay, MAX_SQS_DELAY), http_status=http, **kw)


def _perm(code: int, http: int | None, title: str, why: str = "") -> ErrorRule:
    return ErrorRule(code, title, Action.PERMANENT, why=why, http_status=http)


def _halt(code: int, http: int | None, title: str, scope: Scope, why: str = "") -> ErrorRule:
    return ErrorRule(code, title, Action.HALT, scope=scope, why=why, http_status=http)


_ACCOUNT, _PHONE, _TEMPLATE = Scope.ACCOUNT, Scope.PHONE_NUMBER, Scope.TEMPLATE

# Any code in 200..299 is "API Permission" [ERR]; the lookup maps the whole range to this one entry.
PERMISSION_RULE = _halt(200, 403, "API Permission", _ACCOUNT, "permission not granted or removed (200-299)")
RANGES: tuple[tuple[int, int, ErrorRule], ...] = ((200, 299, PERMISSION_RULE),)

# fmt: off
RULES: tuple[ErrorRule, ...] = (
    # Retry with backoff: Meta refused before queueing (throttling) or is briefly unavailable.
    _retry(130429, 400, "Rate limit hit", 2, why="throughput (mps) reached: throttle"),   # [ERR][THRU]
    _retry(131056, 400, "(Business Account, Consumer Account) pair rate limit hit", 1,  # [PLAT] 4^X s
           factor=4, why="too many messages to this recipient; other recipients unaffected"),
    _retry(4, 400, "API Too Many Calls", 60, why="the app's rate limit"),                # [ERR][PLAT]
    _retry(80007, 400, "Rate limit issues", 60, why="the WABA's rate limit"),            # [ERR][PLAT]
    # 5xx answers whose acceptance Meta does not state: the request reached Meta, which may have queued the
    # message before failing (no idempotency key). Ambiguous: recorded `unknown`, never re-POSTed blindly
    # (41 duplicate POSTs in the fault runs of issue 16 came from retrying 131016/133004 as "not sent").
    _retry(131000, 500, "Something went wrong", 5, ambiguous=True,                       # [ERR]
           why="may already be queued: a retry can duplicate the message"),
    _retry(131016, 500, "Service unavailable", 30, ambiguous=True,                       # [ERR]
           why="5xx without a statement that nothing was queued: a retry can duplicate the message"),
    _retry(131057, 500, "Account in maintenance mode", 60, ambiguous=True,               # [THRU]
           why="e.g. throughput upgrade, <= 1 min; 5xx, acceptance not stated: a retry can duplicate"),
    _retry(2494100, None, "Account is in maintenance mode", 60,                          # [ERR] migration
           why="the business number is in maintenance mode: try again in a few minutes"),
    _retry(2, 503, "API Service", 300, ambiguous=True,                                   # [ERR][SUP]
           why="downtime or overload, <= 5 min during API updates; 5xx: a retry can duplicate"),
    _retry(133004, 503, "Server Temporarily Unavailable", 30, ambiguous=True,            # [ERR]
           why="5xx without a statement that nothing was queued: a retry can duplicate the message"),
    _retry(1, 400, "API Unknown", 5, max_retries=3,                                      # [ERR]
           why="invalid request or server error: a few tries, then permanent"),
    # Retry after a fixed delay.
    _after(134101, 400, "Your template is still syncing", 600, max_retries=3),           # [ERR][MM-CL]
    _after(131009, 400, "Parameter value is not valid", 600, max_retries=1,              # [ERR]
           why="on MM API: ad syncing may be incomplete; retried once, then permanent"),
    _after(131048, 400, "Spam rate limit hit", MAX_SQS_DELAY,                            # [ERR]
           why="slow-down signal (blocked/flagged messages): check the number's quality"),
    _after(132069, 400, "Flow is throttled", MAX_SQS_DELAY, why="10 messages per hour per flow"),  # [ERR]
    # Permanent for this message. 131049 would need >= 24 h, more than SQS can hold a message (see
    # MAX_SQS_DELAY), and Meta says repeated retries just fail; so the send is recorded as failed and a
    # later campaign may try again. The same code covers the US marketing block [MM-START].
    _perm(131049, 400, "Meta chose not to deliver",                                      # [ERR][PUL][SUP]
          "per-user marketing limit (retry no sooner than 24 h) or a US recipient"),
    _perm(131050, 400, "User has stopped receipt of marketing messages",                 # [ERR] by webhook
          "opted out: suppress until a user_preferences resume"),
    _perm(131026, 400, "Message Undeliverable", "not on WhatsApp, ToS not accepted or old client"),  # [ERR]
    _perm(100, 400, "Invalid parameter", "unsupported or misspelled parameter; MM: not a template"),
    _perm(132000, 400, "Template Param Count Mismatch"),                                 # [ERR]
    _perm(132001, 404, "Template does not exist", "not in this language, or not approved (new: 134101)"),
    _perm(132005, 400, "Template Hydrated Text Too Long"),                               # [ERR]
    _perm(132007, 400, "Template Format Character Policy Violated"),                     # [ERR]
    _perm(132012, 400, "Template Parameter Format Mismatch"),                            # [ERR]
    _perm(132018, None, "Invalid template parameters"),                                  # changelog, v23.0+
    _perm(134100, 400, "Only marketing messages supported", "a utility/authentication template"),  # [ERR]
    _perm(131055, 400, "Method not allowed", "only marketing templates: the rest go to /messages"),
    _perm(130472, 400, "User's number is part of an experiment", "Meta's marketing message experiment"),
    _perm(130497, 403, "Business account is restricted from messaging users in this country"),  # [ERR]
    _perm(131008, 400, "Required parameter is missing"),                                 # [ERR]
    _perm(131021, 400, "Recipient cannot be sender"),                                    # [ERR]
    _perm(131047, 400, "Re-engagement message", "more than 24 h since the user replied; free-form only"),
    _perm(131051, 400, "Unsupported message type"),                                      # [ERR]
    _perm(131052, 400, "Media download error", "inbound media only"),                    # [ERR]
    _perm(131053, 400, "Media upload error", "fix the media (e.g. its MIME type)"),       # [ERR]
    _perm(135000, 400, "Generic user error", "unknown error with the request parameters"),  # [ERR]
    _perm(134103, None, "Marketing Messages error 134103", "meaning unpublished"),       # [MM-CL] only
    _perm(132068, 400, "Flow is blocked"),                                               # [ERR]
    _perm(1752041, 400, "Duplicate Request", "already invited by a partner; nothing to do"),  # [ERR]
    # 2026 [MAXP][SEND][BSUID]: wrong endpoint or wrong recipient form for this template; the same request
    # fails again, so permanent. The fix is a different request (see `why`), not a retry.
    _perm(131061, None, "Max price template sent to Cloud API",                          # [MAXP]
          "max-price templates go only through /marketing_messages: resend there"),
    _perm(131062, None, "BSUID recipient not supported",                                 # [SEND][BSUID]
          "max-price or authentication template to a BSUID: send to the phone number or another template"),
    # Template management (create/edit a template): the request must change [ERR].
    _perm(2388040, None, "Character limit exceeded", "a template field is too long"),
    _perm(2388047, None, "Message header format is incorrect"),
    _perm(2388072, None, "Message body format is incorrect"),
    _perm(2388073, None, "Message footer format is incorrect"),
    _perm(2388293, None, "Parameters words ratio exceeds limit", "too many variables for the text's length"),
    _perm(2388299, None, "Leading or trailing parameters not allowed"),
    _perm(2388019, None, "Message Template Limit Exceeded", "the WABA holds 250 templates: delete some"),
    # Halt: nothing sent from this scope can succeed until a human acts.
    _halt(0, 401, "AuthException", _ACCOUNT, "unable to authenticate: refresh the token"),  # [ERR]
    _halt(3, 500, "API Method", _ACCOUNT, "capability or permission issue"),             # [ERR]
    _halt(10, 403, "Permission Denied", _ACCOUNT, "app not eligible or permission missing"),  # [ERR]
    _halt(190, 401, "Access token has expired", _ACCOUNT, "refresh the token"),          # [ERR]
    _halt(368, 403, "Temporarily blocked for policies violations", _ACCOUNT),            # [ERR]
    _halt(131005, 403, "Access denied", _ACCOUNT, "permission not granted or removed"),  # [ERR]
    _halt(131031, 403, "Account has been locked", _ACCOUNT),                             # [ERR]
    _halt(131042, 400, "Business eligibility payment issue", _ACCOUNT),                  # [ERR]
    _halt(134011, 400, "WhatsApp Payments terms of service has not been accepted", _ACCOUNT),  # [ERR]
    # 33 [ERR] "the business phone number has been deleted"; 2026 [BSUID]: invalid ID (bad phone number ID,
    # deleted WABA, or a token without whatsapp_business_management). Configuration, account-wide.
    _halt(33, 400, "Parameter value is not valid", _ACCOUNT, "invalid ID: fix the phone number/WABA/token"),
    # 131063 [SEND][CL]: `disable_marketing_messages_on_cloud_api` is on and the message would go through
    # Cloud API (/messages, or the CLOUD_API_FALLBACK of a WABA not fully onboarded). Meta's handling: not a
    # recipient issue; finish onboarding. Every such send from the WABA fails alike, so PERMANENT would fail
    # a whole campaign over one setting; a halt keeps the messages, alerts, and its probe resumes them once
    # onboarding is done or the setting is off. (STRICT sends on that WABA fail with 134102 anyway.)
    _halt(131063, None, "Marketing templates disabled for Cloud API", _ACCOUNT,
          "finish MM API onboarding or turn off disable_marketing_messages_on_cloud_api"),
    _halt(131037, 400, "WhatsApp provided number needs display name approval before message can be sent",
          _PHONE, "a 555 number without an approved display name"),                      # [ERR]
    _halt(131045, 500, "Incorrect certificate", _PHONE, "phone number registration error"),  # [ERR]
    _halt(133010, 400, "Phone number Not Registered", _PHONE),                           # [ERR]
    # The 133xxx registration codes [ERR]: the product never registers numbers, so on a send they mean the
    # sending number is mid-(de)registration; nothing from it succeeds until that is resolved.
    _halt(133000, 500, "Incomplete Deregistration", _PHONE, "deregister the number again, then register"),
    _halt(133005, 400, "Two step verification PIN Mismatch", _PHONE),
    _halt(133006, 400, "Phone number re-verification needed", _PHONE, "verify, then register the number"),
    _halt(133008, 400, "Too Many two step verification PIN Guesses", _PHONE),
    _halt(133009, 400, "Two step verification PIN Guessed Too Fast", _PHONE),
    _halt(133015, 400, "Please wait a few minutes before attempting to register this phone number", _PHONE,
          "the number was recently deleted"),
    _halt(133016, 400, "Account register deregister rate limit exceeded", _PHONE,
          "too many (de)registration attempts: blocked until the limit resets"),
    _halt(132015, 400, "Template is Paused", _TEMPLATE, "low quality; resume after an edit"),  # also pacing
    _halt(132016, 400, "Template is Disabled", _TEMPLATE, "disabled for good: create a new template"),
    # Permanent, not a halt: it is what a STRICT message gets on a WABA that is not onboarded, and STRICT
    # means "fail instead of falling back" (seeds); halting would also stop the CLOUD_API_FALLBACK traffic
    # that still goes through.
    _perm(134102, 500, "Template unavailable for use",                                   # [ERR][MM-CL]
          "ad sync failed, or not eligible/onboarded: check marketing_messages_onboarding_status"),
)

# One code, several meanings: the first rule whose pattern matches the answer's message or details wins,
# else the code's rule above. (`error_subcode` is deprecated since v16.0, so the text is all there is.)
VARIANTS: dict[int, tuple[tuple[re.Pattern[str], ErrorRule], ...]] = {
    100: (
        # [SEND] neither `to` nor `recipient`: a bug in the request.
        (re.compile(r"parameter to is required", re.I),
         _perm(100, 400, "Invalid parameter", "neither `to` nor `recipient` was sent")),
        # [MAXP] "You need to sign the testing legal agreement...": every max-price template fails until the
        # business enrolls, other templates still go out, so each max-price template halts on its own.
        (re.compile(r"legal agreement|agreement (is )?required", re.I),
         _halt(100, None, "Max price agreement not signed", _TEMPLATE,
               "sign the max price agreement (POST /<BUSINESS_ID>/max_price_agreements)")),
    ),
}

# Codes of Meta's table [ERR] the product cannot meet: it never calls the endpoints that answer them.
NOT_MET: dict[int, str] = {
    2388001: "phone number migration: the product never migrates numbers between WABAs",
    2388012: "phone number migration",
    2388091: "phone number migration (ownership verification)",
    2388093: "phone number migration (ownership verification)",
    2388103: "phone number migration",
    200005: "template insights: the product never enables or reads template insights",
    200006: "template insights (disabling them)",
    200007: "template insights (reading them)",
    2593079: "WABA migration to another solution (deprecated On-Behalf-Of model)",
    2593085: "On-Behalf-Of ownership transfer (deprecated model)",
    2593107: "WhatsApp Business app coexistence data synchronization: never called",
    2593108: "WhatsApp Business app coexistence data synchronization: never called",
}
# fmt: on
