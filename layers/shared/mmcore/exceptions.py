"""The domain's errors: what went wrong, in the domain's words, with no HTTP in them.

Every capability raises these (or a subclass); each API handler maps them to a status with
:mod:`mmcore.api` (one table, one error body). ``errors`` are ``(field, reason)`` pairs naming what is at
fault; ``details`` is extra context a caller may act on (Graph's code and fbtrace_id, a retry delay...).
``kind`` is a stable slug a client can switch on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class DomainError(Exception):
    """Base of every error the product explains to a caller."""

    kind = "internal_error"

    def __init__(self, message: str, errors: Sequence[tuple[str, str]] = (), **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.errors = list(errors)
        self.details = details


class InvalidInput(DomainError):
    """The request cannot be accepted as given. Nothing was written."""

    kind = "invalid_request"

    @classmethod
    def fields(cls, errors: Sequence[tuple[str, str]], total: int | None = None) -> InvalidInput:
        """``N invalid field(s): a, b, c``, naming the first ``len(errors)`` of ``total`` in ``errors``."""
        total = len(errors) if total is None else total
        names = list(dict.fromkeys(f for f, _ in errors))
        listed = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        shown = "" if total <= len(errors) else f" (first {len(errors)} shown)"
        return cls(f"{total} invalid field{'s' if total != 1 else ''}: {listed}{shown}", errors)


class Malformed(InvalidInput):
    """The request cannot be read at all (a body that is not base64 or not JSON, or not the expected
    envelope), as opposed to one that reads but breaks a rule. Nothing was written."""

    kind = "malformed_request"


class NotFound(DomainError):
    """No such thing (campaign, message, template, WABA)."""

    kind = "not_found"


class Conflict(DomainError):
    """It exists already (a campaign id used twice): nothing is done twice."""

    kind = "conflict"


class NotAuthenticated(DomainError):
    """The caller did not prove who it is (a webhook POST without its signature)."""

    kind = "not_authenticated"


class Forbidden(DomainError):
    """The caller's proof is wrong (a bad signature or verify token)."""

    kind = "forbidden"


class TooLarge(DomainError):
    """The request is larger than the product accepts."""

    kind = "too_large"


class RateLimited(DomainError):
    """Meta's rate limit: try again after ``retry_after`` seconds."""

    kind = "rate_limited"

    def __init__(self, message: str, retry_after: int, **details: Any) -> None:
        super().__init__(message, retry_after_seconds=retry_after, **details)
        self.retry_after = retry_after


class UpstreamFailed(DomainError):
    """Meta refused the call or did not answer."""

    kind = "graph_error"


class Unavailable(DomainError):
    """AWS (DynamoDB, EventBridge) failed: nothing was acknowledged, try again later."""

    kind = "unavailable"


class NotConfigured(DomainError):
    """The stack lacks a setting this call needs (e.g. WABA_ID)."""

    kind = "not_configured"


class NotRecorded(DomainError):
    """Done, but its record could not be written (an applied change without its audit record)."""

    kind = "audit_failed"
