"""Meta Graph / WhatsApp error codes: what the sender does with each one.

The catalog is data: one line per code of section 5 of the project's Meta MM API reference, with its source
tag in a comment. Sources (Meta's pages as of Nov-Dec 2025):
  [ERR]  developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes
  [PLAT] .../whatsapp/about-the-platform ("Rate limits", "Pair rate limits")
  [THRU] .../whatsapp/throughput      [PUL] .../templates/marketing-templates/per-user-limits
  [SUP]  .../whatsapp/support         [MM-CL] .../marketing-messages/changelog
  [MM-START] .../marketing-messages/get-started   [BSUID] .../whatsapp/business-scoped-user-ids

Build logic on `code` (and `error_data.details` for humans); `error_subcode` is deprecated since v16.0 and
titles change, so neither drives a decision.

A rule answers "what now?" for one failed send:
  RETRY        retry with exponential backoff (`delay_seconds * backoff_factor ** (attempt - 1)`);
  RETRY_AFTER  retry after a fixed delay (`delay_seconds`);
  PERMANENT    this message failed for good; record it and move on;
  HALT         stop spending in `scope` (account, phone number or template) and alert.
`ambiguous` marks outcomes where Meta may already have queued the message. Meta has no idempotency key, so
the sender records those as `unknown` and does not retry them unless configured to (design: "The send path").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# SQS caps DelaySeconds at 900 s. (A visibility-timeout change can reach 12 h, still short of the 24 h that
# 131049 asks for.) Every delay this module returns is capped here.
MAX_SQS_DELAY = 900

_MESSAGE_MAX_CHARS = 300


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


def _retry(code: int, title: str, base: int, factor: int = 2, **kw: Any) -> ErrorRule:
    return ErrorRule(code, title, Action.RETRY, base, factor, **kw)


def _after(code: int, title: str, delay: int, **kw: Any) -> ErrorRule:
    return ErrorRule(code, title, Action.RETRY_AFTER, min(delay, MAX_SQS_DELAY), **kw)


def _perm(code: int, title: str, why: str = "") -> ErrorRule:
    return ErrorRule(code, title, Action.PERMANENT, why=why)


def _halt(code: int, title: str, scope: Scope, why: str = "") -> ErrorRule:
    return ErrorRule(code, title, Action.HALT, scope=scope, why=why)


_ACCOUNT, _PHONE, _TEMPLATE = Scope.ACCOUNT, Scope.PHONE_NUMBER, Scope.TEMPLATE

# Any code in 200..299 is "API Permission" [ERR]; rule_for() maps the whole range to this one entry.
PERMISSION_RULE = _halt(200, "API Permission (200-299)", _ACCOUNT, "the token lacks a permission")
_RANGES: tuple[tuple[int, int, ErrorRule], ...] = ((200, 299, PERMISSION_RULE),)

# fmt: off
_RULES: tuple[ErrorRule, ...] = (
    # Retry with backoff: Meta refused before queueing (throttling) or is briefly unavailable.
    _retry(130429, "Rate limit hit (throughput)", 2),                  # [ERR][THRU] 80 mps default; throttle
    _retry(131056, "Pair rate limit hit", 1, factor=4),                 # [PLAT] retry after 4^X s, X=0,1,2...
    _retry(4, "API Too Many Calls (app rate limit)", 60),               # [ERR][PLAT]
    _retry(80007, "WABA rate limit reached", 60),                       # [ERR][PLAT]
    _retry(131000, "Something went wrong", 5, ambiguous=True,           # [ERR] HTTP 500
           why="may already be queued: a retry can duplicate the message"),
    _retry(131016, "Service unavailable", 30),                          # [ERR] HTTP 500
    _retry(131057, "Account in maintenance mode", 60),                  # [ERR][THRU] upgrade takes <= 1 min
    _retry(2, "API Service: temporary downtime or overload", 300),      # [ERR][SUP] <= 5 min during updates
    _retry(133004, "Server temporarily unavailable", 30),               # [ERR] HTTP 503
    _retry(1, "API Unknown", 5, max_retries=3,                          # [ERR] bad request or server error
           why="a few tries, then permanent"),
    # Retry after a fixed delay.
    _after(134101, "Template is still syncing", 600, max_retries=3),    # [ERR][MM-CL] ad sync <= 10 min
    _after(131009, "Parameter value is not valid", 600, max_retries=1,  # [ERR] MM: "Wait 10 minutes"
           why="on MM API: ad syncing may be incomplete; retried once, then permanent"),
    _after(131048, "Spam rate limit hit", MAX_SQS_DELAY,                # [ERR] quality signal: slow down
           why="slow-down signal (blocked/flagged messages): check the number's quality"),
    _after(132069, "Flow throttled", MAX_SQS_DELAY,                     # [ERR] 10 messages/h per flow
           why="flow limited to 10 messages per hour"),
    # Permanent for this message. 131049 would need >= 24 h, more than SQS can hold a message (see
    # MAX_SQS_DELAY), and Meta says repeated retries just fail; so the send is recorded as failed and a
    # later campaign may try again. The same code covers the US marketing block [MM-START].
    _perm(131049, "Meta chose not to deliver",                          # [ERR][PUL][SUP][MM-START]
          "per-user marketing limit (retry no sooner than 24 h) or a US recipient"),
    _perm(131050, "User stopped marketing messages",                    # [ERR] arrives by webhook
          "opted out: suppress until a user_preferences resume"),
    _perm(131026, "Message undeliverable", "not on WhatsApp, ToS not accepted or old client"),  # [ERR]
    _perm(100, "Invalid parameter"),                                    # [ERR] MM: must be a template message
    _perm(132000, "Template parameter count mismatch"),                 # [ERR]
    _perm(132001, "Template does not exist or is not approved"),        # [ERR] (new templates: 134101)
    _perm(132005, "Template hydrated text too long"),                   # [ERR]
    _perm(132007, "Template format character policy violated"),         # [ERR]
    _perm(132012, "Template parameter format mismatch"),                # [ERR]
    _perm(132018, "Invalid template parameters"),                       # platform changelog, v23.0+
    _perm(134100, "Only marketing messages supported"),                 # [ERR][MM-CL] utility/auth template
    _perm(131055, "Method not allowed: marketing templates only"),      # [ERR] route to /messages instead
    _perm(130472, "User's number is part of an experiment"),            # [ERR]
    _perm(130497, "Business restricted from messaging this country"),   # [ERR]
    _perm(131008, "Required parameter is missing"),                     # [ERR]
    _perm(131021, "Recipient cannot be sender"),                        # [ERR]
    _perm(131047, "Re-engagement message"),                             # [ERR] free-form only
    _perm(131051, "Unsupported message type"),                          # [ERR]
    _perm(131052, "Media download error", "inbound media only"),        # [ERR] N/A to a sender
    _perm(131053, "Media upload error"),                                # [ERR] fix the media
    _perm(135000, "Generic user error"),                                # [ERR]
    _perm(134103, "Marketing Messages error 134103", "meaning unpublished"),  # [MM-CL] absent from [ERR]
    _perm(131062, "BSUID recipient not allowed"),                       # [BSUID], third-party SDK
    _perm(132068, "Flow is blocked"),                                   # [ERR]
    _perm(1752041, "Duplicate onboarding request", "already invited by a partner; nothing to do"),  # [ERR]
    # Halt: nothing sent from this scope can succeed until a human acts.
    _halt(0, "AuthException: unable to authenticate", _ACCOUNT, "refresh the token"),  # [ERR] 401
    _halt(3, "API Method: capability or permission issue", _ACCOUNT),   # [ERR]
    _halt(10, "Permission denied", _ACCOUNT, "app not eligible or permission missing"),  # [ERR] 403
    _halt(190, "Access token has expired", _ACCOUNT, "refresh the token"),  # [ERR] 401
    _halt(368, "Temporarily blocked for policy violations", _ACCOUNT),  # [ERR]
    _halt(131005, "Access denied", _ACCOUNT),                           # [ERR]
    _halt(131031, "Account has been locked", _ACCOUNT),                 # [ERR]
    _halt(131042, "Business eligibility payment issue", _ACCOUNT),      # [ERR]
    _halt(134011, "WhatsApp Payments terms not accepted", _ACCOUNT),    # [ERR] N/A to marketing
    _halt(131037, "Display name needs approval", _PHONE),               # [ERR] 555 numbers
    _halt(131045, "Incorrect certificate", _PHONE, "phone number registration error"),  # [ERR]
    _halt(133010, "Phone number not registered", _PHONE),               # [ERR]
    _halt(132015, "Template is paused", _TEMPLATE, "low quality; resume after an edit"),  # [ERR] also pacing
    _halt(132016, "Template is disabled", _TEMPLATE, "disabled for good"),  # [ERR]
    # Permanent, not a halt: it is what a STRICT message gets on a WABA that is not onboarded, and STRICT
    # means "fail instead of falling back" (seeds); halting would also stop the CLOUD_API_FALLBACK traffic
    # that still goes through. The stored details say to check marketing_messages_onboarding_status.
    _perm(134102, "Template unavailable for use",                       # [ERR][MM-CL] HTTP 500
          "ad sync failed, or not eligible/onboarded: check marketing_messages_onboarding_status"),
)
# fmt: on

CATALOG: dict[int, ErrorRule] = {rule.code: rule for rule in _RULES if rule.code is not None}

# Synthetic rules for what the catalog does not cover (see classify()).
AMBIGUOUS = ErrorRule(
    None,
    "No answer or server error without a known code",
    Action.RETRY,
    30,
    2,
    ambiguous=True,
    why="the request may have been accepted: recorded as unknown unless ambiguous retries are enabled",
)
NOT_SENT = ErrorRule(
    None,
    "Connection failed before the request was sent",
    Action.RETRY,
    5,
    2,
    why="nothing reached Meta: safe to retry",
)
THROTTLED = ErrorRule(None, "HTTP 429 without a known code", Action.RETRY, 30, 2, why="nothing sent")
UNKNOWN = ErrorRule(None, "Unknown error code", Action.PERMANENT, why="not in the catalog: fail this message")


def lookup(code: int | None) -> ErrorRule | None:
    """The catalog entry for `code` (including the 200-299 range), or None."""
    if code is None:
        return None
    rule = CATALOG.get(code)
    if rule is not None:
        return rule
    return next((r for lo, hi, r in _RANGES if lo <= code <= hi), None)


def rule_for(code: int | None) -> ErrorRule:
    """The rule for an error Meta reported (HTTP answer or webhook); unknown or missing codes: PERMANENT."""
    return lookup(code) or UNKNOWN


def classify(code: int | None, http_status: int | None) -> ErrorRule:
    """The rule for a synchronous send that failed with `code` (if any) and `http_status` (None: no answer).

    Known codes win. Otherwise the HTTP status decides:
    - no answer, 5xx or a non-error status: the message may already be queued, so AMBIGUOUS (the sender
      records `unknown` instead of retrying blindly: no duplicate);
    - 429: Meta refused before doing anything, so THROTTLED (retry with backoff);
    - any other 4xx: Meta refused the request; PERMANENT, which never risks a duplicate or a retry storm.
    """
    rule = lookup(code)
    if rule is not None:
        return rule
    if http_status is None or http_status >= 500 or http_status < 400:
        return AMBIGUOUS
    if http_status == 429:
        return THROTTLED
    return UNKNOWN


def backoff_delay(rule: ErrorRule, attempt: int) -> int:
    """Seconds to wait before retrying after failed try number `attempt` (1-based, e.g. SQS receive count).

    RETRY grows as `delay_seconds * backoff_factor ** (attempt - 1)`; RETRY_AFTER is fixed; both are capped
    at MAX_SQS_DELAY. PERMANENT and HALT rules return 0.
    """
    if rule.action is Action.RETRY:
        exponent = max(attempt, 1) - 1
        return min(rule.delay_seconds * rule.backoff_factor**exponent, MAX_SQS_DELAY)
    if rule.action is Action.RETRY_AFTER:
        return min(rule.delay_seconds, MAX_SQS_DELAY)
    return 0


def retries_exhausted(rule: ErrorRule, attempt: int) -> bool:
    """True when a rule's `max_retries` are used up after try number `attempt`: treat it as PERMANENT."""
    return rule.max_retries is not None and attempt > rule.max_retries


class GraphError(Exception):
    """A failed Graph call or a failed message reported by webhook, with its catalog rule in `.rule`."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        details: str | None = None,
        title: str | None = None,
        error_subcode: int | None = None,
        type: str | None = None,
        fbtrace_id: str | None = None,
        href: str | None = None,
        rule: ErrorRule | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        self.details = details
        self.title = title
        self.error_subcode = error_subcode
        self.type = type
        self.fbtrace_id = fbtrace_id
        self.href = href
        if rule is None:
            rule = classify(code, http_status) if http_status is not None else rule_for(code)
        self.rule = rule

    def __repr__(self) -> str:
        return f"GraphError(code={self.code!r}, http_status={self.http_status!r}, message={self.message!r})"

    @classmethod
    def from_response(cls, status: int, body: bytes | str | Mapping[str, Any] | None) -> GraphError:
        """Parse Meta's `{"error": {...}}` answer; tolerates non-JSON, HTML pages and missing keys."""
        parsed, text = _parse_body(body)
        error = parsed.get("error") if isinstance(parsed, Mapping) else None
        if not isinstance(error, Mapping):
            return cls(_short_text(text) or f"HTTP {status}", http_status=status)
        message = _str_or_none(error.get("message")) or f"HTTP {status}"
        error_data = error.get("error_data")
        details = error_data.get("details") if isinstance(error_data, Mapping) else None
        code = _int_or_none(error.get("code"))
        if code is None:
            found = re.search(r"\(#(\d+)\)", message)
            code = int(found.group(1)) if found else None
        return cls(
            message,
            code=code,
            http_status=status,
            details=_str_or_none(details) or _str_or_none(error.get("error_user_msg")),
            title=_str_or_none(error.get("error_user_title")),
            error_subcode=_int_or_none(error.get("error_subcode")),
            type=_str_or_none(error.get("type")),
            fbtrace_id=_str_or_none(error.get("fbtrace_id")),
        )

    @classmethod
    def from_webhook_error(cls, item: Mapping[str, Any]) -> GraphError:
        """Parse one webhook `errors[]` item: `{code, title, message, error_data: {details}, href}`."""
        error_data = item.get("error_data")
        details = error_data.get("details") if isinstance(error_data, Mapping) else None
        title = _str_or_none(item.get("title"))
        code = _int_or_none(item.get("code"))
        return cls(
            _str_or_none(item.get("message")) or title or "webhook error",
            code=code,
            details=_str_or_none(details),
            title=title,
            href=_str_or_none(item.get("href")),
            rule=rule_for(code),
        )

    @classmethod
    def no_response(cls, message: str) -> GraphError:
        """A send that got no answer after the request left (timeout, connection reset): ambiguous."""
        return cls(message, rule=AMBIGUOUS)

    def to_dict(self) -> dict[str, Any]:
        """The fields worth recording with a failed message."""
        return {
            "code": self.code,
            "title": self.title or self.rule.title,
            "message": self.message,
            "details": self.details,
            "http_status": self.http_status,
            "fbtrace_id": self.fbtrace_id,
            "action": self.rule.action.value,
        }


def _parse_body(body: bytes | str | Mapping[str, Any] | None) -> tuple[Any, str]:
    if body is None:
        return None, ""
    if isinstance(body, Mapping):
        return body, ""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes | bytearray) else str(body)
    try:
        return json.loads(text), text
    except ValueError:
        return None, text


def _short_text(text: str) -> str:
    """Readable text from a non-JSON body (e.g. an HTML error page), whitespace collapsed and truncated."""
    text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", text)
    text = " ".join(re.sub(r"<[^>]+>", " ", text).split())
    return text if len(text) <= _MESSAGE_MAX_CHARS else text[: _MESSAGE_MAX_CHARS - 1] + "…"


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
