"""The HTTP edge every API shares: one error body, one request-validation mapper, one table from domain
errors (:mod:`mmcore.exceptions`) to statuses. A handler calls :func:`install` on its resolver once.

The error body: ``{"message": ..., "error": <kind>, "errors": [{"field": ..., "reason": ...}], ...details}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from mmcore import exceptions as E
from mmcore.observability import logger

STATUS: dict[type[E.DomainError], HTTPStatus] = {
    E.InvalidInput: HTTPStatus.UNPROCESSABLE_ENTITY,
    E.Malformed: HTTPStatus.BAD_REQUEST,
    E.NotFound: HTTPStatus.NOT_FOUND,
    E.Conflict: HTTPStatus.CONFLICT,
    E.NotAuthenticated: HTTPStatus.UNAUTHORIZED,
    E.Forbidden: HTTPStatus.FORBIDDEN,
    E.TooLarge: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    E.RateLimited: HTTPStatus.TOO_MANY_REQUESTS,
    E.UpstreamFailed: HTTPStatus.BAD_GATEWAY,
    E.Unavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    E.NotConfigured: HTTPStatus.INTERNAL_SERVER_ERROR,
    E.NotRecorded: HTTPStatus.INTERNAL_SERVER_ERROR,
}


class ErrorBody(BaseModel):
    """Every error answer. ``errors`` names the fields at fault; the other keys depend on ``error``."""

    model_config = ConfigDict(extra="allow")

    message: str
    error: str
    errors: list[dict[str, str]] = Field(default_factory=list)


def answers(
    status: int, model: Any, description: str, media: str | None = None, **errors: str
) -> dict[int, Any]:
    """A route's documented answers for its OpenAPI document: ``status`` with ``model`` (a pydantic model, or
    ``str`` for a page; ``media`` when it is not HTML or JSON), and each error status it can give
    (``e404="no such campaign"``) with :class:`ErrorBody`. 422 (a field at fault) is always there: every
    route validates its input."""
    media = media or (content_types.TEXT_HTML if model is str else content_types.APPLICATION_JSON)
    documented: dict[int, Any] = {status: {"description": description, "content": {media: {"model": model}}}}
    for name, why in {"e422": "A field at fault, named in errors", **errors}.items():
        documented[int(name[1:])] = {
            "description": why,
            "content": {content_types.APPLICATION_JSON: {"model": ErrorBody}},
        }
    return documented


def status_of(exc: E.DomainError) -> HTTPStatus:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return HTTPStatus.INTERNAL_SERVER_ERROR


def body_of(exc: E.DomainError) -> dict[str, Any]:
    return {
        "message": exc.message,
        "error": exc.kind,
        "errors": [{"field": f, "reason": r} for f, r in exc.errors],
        **exc.details,
    }


def error_response(exc: E.DomainError) -> Response:
    status = status_of(exc)
    # A rate limit, or a 503 that knows when to try again (Meta throttled the template registry's sync).
    retry_after = exc.details.get("retry_after_seconds")
    headers = {"Retry-After": str(retry_after)} if isinstance(retry_after, int) else None
    log = logger.warning if status >= 500 else logger.info
    log(
        "request refused",
        extra={"status": int(status), "error": exc.kind, "fields": [f for f, _ in exc.errors]},
    )
    return Response(status, content_types.APPLICATION_JSON, body_of(exc), headers=headers)


def validation_errors(exc: RequestValidationError) -> list[tuple[str, str]]:
    """Powertools' validation errors as ``(field, reason)``, the field named as the client wrote it
    (``recipients.3.to``, ``limit``); malformed JSON is ``body``."""
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        if err.get("type") == "json_invalid":  # loc is ("body", <character position>)
            errors.append(("body", f"not valid JSON: {err.get('ctx', {}).get('error', '')} at {loc[-1]}"))
            continue
        if len(loc) > 1 and loc[0] in ("body", "query", "path"):
            loc = loc[1:]
        errors.append((".".join(loc) or "body", str(err.get("msg", "invalid")).removeprefix("Value error, ")))
    return errors


def invalid_request(exc: RequestValidationError) -> Response:
    return error_response(E.InvalidInput.fields(validation_errors(exc)))


def install(app: Any, *, domain_errors: Sequence[type[E.DomainError]] = (E.DomainError,)) -> None:
    """Map every domain error, every validation error and unknown routes on ``app`` (a Powertools resolver)."""
    for cls in domain_errors:
        app.exception_handler(cls)(error_response)
    app.exception_handler(RequestValidationError)(invalid_request)
    app.not_found(lambda _exc: error_response(E.NotFound("no such route")))
