"""Meta Graph / WhatsApp errors: parsing Meta's answers and choosing the rule for each.

The rules themselves are data in :mod:`mmcore.meta.error_codes` (one line per code, with sources and dates);
this module looks them up, classifies answers without a known code by HTTP status, and computes delays.

Build logic on `code` (and `error_data.details` for humans); `error_subcode` is deprecated since v16.0 and
titles change, so neither drives a decision. Where Meta gives one code two meanings, the answer's text picks
the variant (``error_codes.VARIANTS``).
`ambiguous` rules mark outcomes where Meta may already have queued the message. Meta has no idempotency key,
so the sender records those as `unknown` and does not retry them unless configured to (design: "The send
path").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from mmcore.meta.error_codes import (
    MAX_SQS_DELAY,
    RANGES,
    RULES,
    VARIANTS,
    Action,
    ErrorRule,
    Scope,
)

__all__ = [
    "AMBIGUOUS",
    "CATALOG",
    "MAX_SQS_DELAY",
    "NOT_SENT",
    "THROTTLED",
    "UNKNOWN",
    "Action",
    "ErrorRule",
    "GraphError",
    "Scope",
    "backoff_delay",
    "classify",
    "lookup",
    "retries_exhausted",
    "rule_for",
]

_MESSAGE_MAX_CHARS = 300

CATALOG: dict[int, ErrorRule] = {rule.code: rule for rule in RULES if rule.code is not None}

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


def lookup(code: int | None, text: str = "") -> ErrorRule | None:
    """The catalog entry for `code` (including the 200-299 range), or None.

    `text` (the answer's message and details) picks among a code's variants when Meta gives it several
    meanings, e.g. 100 for a missing recipient vs an unsigned max price agreement.
    """
    if code is None:
        return None
    variant = next((rule for pattern, rule in VARIANTS.get(code, ()) if text and pattern.search(text)), None)
    rule = variant or CATALOG.get(code)
    if rule is not None:
        return rule
    return next((r for lo, hi, r in RANGES if lo <= code <= hi), None)


def rule_for(code: int | None, text: str = "") -> ErrorRule:
    """The rule for an error Meta reported (HTTP answer or webhook); unknown or missing codes: PERMANENT."""
    return lookup(code, text) or UNKNOWN


def classify(code: int | None, http_status: int | None, text: str = "") -> ErrorRule:
    """The rule for a synchronous send that failed with `code` (if any) and `http_status` (None: no answer).

    Known codes win (`text` picks a code's variant, see :func:`lookup`). Otherwise the HTTP status decides:
    - no answer, 5xx or a non-error status: the message may already be queued, so AMBIGUOUS (the sender
      records `unknown` instead of retrying blindly: no duplicate);
    - 429: Meta refused before doing anything, so THROTTLED (retry with backoff);
    - any other 4xx: Meta refused the request; PERMANENT, which never risks a duplicate or a retry storm.
    """
    rule = lookup(code, text)
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
            text = f"{message} {details or ''}"
            rule = classify(code, http_status, text) if http_status is not None else rule_for(code, text)
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
            rule=rule_for(code, f"{item.get('message') or ''} {details or ''}"),
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
    text = value.strip() if isinstance(value, str) else ""
    # ASCII only (int() refuses "²", which isdigit() accepts) and bounded (int() refuses 4,300+ digits).
    if text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    return None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
