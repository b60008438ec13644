"""Optimization configuration: the creative optimizations of a template or of the whole WABA, a template's
TTL, the WABA's onboarding status, and the audit trail of every change.

Graph calls (reference sections 3 and 8):

- template: ``GET /<TEMPLATE_ID>?fields=degrees_of_freedom_spec`` answers UPPERCASE keys in a ``{key, value}``
  list; ``POST /<TEMPLATE_ID>`` takes ``{"degrees_of_freedom_spec": {"creative_features_spec": {lowercase:
  {enroll_status}}}}`` or ``{"message_send_ttl_seconds": N}``;
- WABA: ``POST /<WABA_ID>`` with the same ``degrees_of_freedom_spec``; ``GET /<WABA_ID>?fields=
  degrees_of_freedom_spec`` (read shape UNCONFIRMED, ``creative.from_graph`` reads both) and
  ``?fields=marketing_messages_onboarding_status``.

A change runs: validate -> read before -> POST -> read after -> write the audit record -> answer. So:

- a Graph failure (before-read or POST) writes nothing: no audit record claims a change Meta did not accept.
  A POST that got no answer may have been applied; the 502 says so and points to the read-back GET;
- a failed read-back after a successful POST still records the change, with ``after`` computed from
  ``before`` and what was sent, and the answer warns about it;
- a failed audit write after Graph succeeded answers 500 ``audit_failed`` and logs the whole record (who,
  what, before, after) at ERROR, so an applied change is never lost silently.

Audit items (``MainTable``): ``pk = AUDIT#template#<id>`` or ``AUDIT#waba#<id>``, ``sk = <ISO time>#<uuid>``
(UTC with microseconds, so the sort key orders by time); no ``expires_at``: audit history is kept.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from mmcore.meta import creative, regions
from mmcore.meta.errors import GraphError, backoff_delay
from mmcore.meta.messages import TTL_MAX, TTL_MIN
from mmcore.settings import Settings
from mmcore.store.codec import from_item, to_item

__all__ = [
    "HISTORY_DEFAULT",
    "HISTORY_MAX",
    "RATE_LIMIT_CODES",
    "ApiError",
    "AuditFailed",
    "AuditLog",
    "AuditRecord",
    "ChangeContext",
    "ErrorBody",
    "FeaturesUpdate",
    "GraphFailure",
    "History",
    "InvalidRequest",
    "NotConfigured",
    "NotFound",
    "Onboarding",
    "Optimizations",
    "OptimizationsChange",
    "OptimizationsView",
    "RateLimited",
    "Target",
    "TtlChange",
    "TtlUpdate",
    "Who",
    "feature_views",
    "map_graph_error",
    "openapi_examples",
    "region_caveats",
]

Scope = Literal["template", "waba"]

# Graph's rate limits [PLAT][ERR]: 4 (app), 80007 (WABA, management calls), 130429 (throughput). An HTTP 429
# without one of these codes is a rate limit too.
RATE_LIMIT_CODES = frozenset({4, 80007, 130429})

HISTORY_DEFAULT, HISTORY_MAX = 20, 100

ONBOARDED = "ONBOARDED"

_UNKNOWN = "unknown"
_NO_WABA = "WABA_ID is not configured (template.yaml parameter WabaId)"

# ---------------------------------------------------------------- API bodies


class EnrollObject(BaseModel):
    """Meta's own value shape, ``{"enroll_status": "OPT_IN"}``, accepted instead of the bare status."""

    model_config = ConfigDict(extra="forbid")

    enroll_status: str


class FeaturesUpdate(BaseModel):
    """``PUT .../optimizations``: the features to change; the others keep their current setting."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "features": {
                        "auto_promotion_tag": "OPT_IN",
                        "text_formatting_optimization": "OPT_OUT",
                        "product_extensions": "OPT_OUT",
                    },
                    "allow_unknown": False,
                }
            ]
        },
    )

    features: dict[str, str | EnrollObject] = Field(
        min_length=1,
        description="Feature -> OPT_IN | OPT_OUT. A feature is Meta's key in any case (auto_promotion_tag) "
        "or its display name ('Auto Promotion Tag'); a status may also be {\"enroll_status\": ...}.",
    )
    allow_unknown: StrictBool = Field(
        default=False,
        description="Pass a well-formed key outside the catalog (a feature Meta added later) to Meta as is, "
        "with a warning. Keys that look like a misspelt catalog key are refused anyway.",
    )

    def statuses(self) -> dict[str, str]:
        return {k: v if isinstance(v, str) else v.enroll_status for k, v in self.features.items()}


class TtlUpdate(BaseModel):
    """``PUT /templates/{template_id}/ttl``: how long Meta tries to deliver this template's messages."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"message_send_ttl_seconds": 43200}]}
    )

    message_send_ttl_seconds: int = Field(
        strict=True,
        ge=TTL_MIN,
        le=TTL_MAX,
        description=f"Seconds, {TTL_MIN} (12 hours) to {TTL_MAX} (30 days): Meta's range for marketing "
        "templates.",
    )


# ---------------------------------------------------------------- API answers


class FeatureView(BaseModel):
    """One creative optimization as this API shows it."""

    meta_key: str = Field(description="Meta's request key (lowercase); Meta's GET answers it in UPPERCASE")
    display_name: str | None = Field(
        description="The name users know (seeds); null for a key outside the catalog"
    )
    enroll_status: str = Field(description="OPT_IN or OPT_OUT (Meta's value, kept as is if it is new)")
    source: Literal["meta", "default"] = Field(
        description="meta: Meta reported it; default: Meta did not, so Meta's default applies "
        "('All optimization features are enabled by default': OPT_IN)"
    )
    state: Literal["active", "paused", "unknown"] = Field(
        description="paused: opting in is accepted but Meta may not apply it; unknown: not in the catalog"
    )
    key_confirmed: bool = Field(description="False: the key name comes from third-party docs only")
    notes: list[str] = Field(default_factory=list)


class FeatureOff(BaseModel):
    feature: str = Field(description="delivery_optimization | click_reporting | conversion_reporting")
    why: str


class RegionCaveats(BaseModel):
    """What Meta's region rules turn off for this business (``BUSINESS_COUNTRY``), and why."""

    business_country: str
    mm_api_available: bool
    off: list[FeatureOff] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class OptimizationsView(BaseModel):
    """``GET .../optimizations``: every catalog feature, plus any other key Meta reports."""

    scope: Scope
    id: str = Field(description="The template ID, or the WABA ID")
    features: list[FeatureView]
    region: RegionCaveats
    notes: list[str] = Field(default_factory=list)


class OptimizationsChange(OptimizationsView):
    """``PUT .../optimizations``: the settings Meta reports after the change, and what changed."""

    requested: dict[str, str] = Field(description="What was sent to Meta: lowercase key -> status")
    changed: list[str] = Field(description="Features whose effective status differs from before")
    warnings: list[str] = Field(default_factory=list)
    audit_id: str


class TtlChange(BaseModel):
    scope: Literal["template"] = "template"
    id: str
    message_send_ttl_seconds: int | None = Field(description="The TTL Meta reports after the change")
    before: int | None = Field(description="The TTL before the change; null: unset (Meta's default)")
    warnings: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    audit_id: str


class Onboarding(BaseModel):
    """``GET /waba/onboarding``: the WABA's MM API onboarding and where sends will go."""

    waba_id: str
    marketing_messages_onboarding_status: str | None = Field(
        description="Meta's value: ONBOARDED or ELIGIBLE are documented; the full list is UNCONFIRMED"
    )
    onboarded: bool
    default_product_policy: Literal["CLOUD_API_FALLBACK", "STRICT"]
    sends: Literal["mm_api", "cloud_api_fallback", "rejected"] = Field(
        description="What a send with the default product_policy does now"
    )
    by_product_policy: dict[str, Literal["mm_api", "cloud_api_fallback", "rejected"]] = Field(
        description="The same for each product_policy a message may set"
    )
    explanation: str
    notes: list[str] = Field(default_factory=list)


class Who(BaseModel):
    """The caller's IAM identity, from the HttpApi IAM authorizer (``unknown`` when absent)."""

    user_arn: str = _UNKNOWN
    caller_id: str = _UNKNOWN
    account_id: str = _UNKNOWN


class AuditRecord(BaseModel):
    """One change: who, what (route and request), before and after (full maps), when."""

    audit_id: str
    scope: Scope
    target_id: str
    at: str = Field(description="UTC, ISO 8601 with microseconds")
    who: Who
    route: str
    change: dict[str, Any]
    before: dict[str, Any]
    after: dict[str, Any]
    warnings: list[str] = Field(default_factory=list)
    request_id: str | None = None


class History(BaseModel):
    scope: Scope
    id: str
    items: list[AuditRecord] = Field(description="Newest first")
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page")


class ErrorBody(BaseModel):
    """Every error answer. ``errors`` names the fields at fault; the other keys depend on ``error``."""

    model_config = ConfigDict(extra="allow")

    message: str
    error: str
    errors: list[dict[str, str]] = Field(default_factory=list)


# ---------------------------------------------------------------- errors


class ApiError(Exception):
    """An outcome the API answers with ``status_code`` and :meth:`body` (handlers map it, nothing else)."""

    status_code = 500
    error = "internal_error"

    def __init__(self, message: str, errors: list[tuple[str, str]] = (), **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.errors = list(errors)
        self.details = details

    @property
    def headers(self) -> dict[str, str]:
        return {}

    def body(self) -> dict[str, Any]:
        """The same top-level shape as the campaign API's errors (message, errors[field, reason]), plus
        ``error`` (a stable slug) and the details of this kind of error."""
        return {
            "message": self.message,
            "error": self.error,
            "errors": [{"field": f, "reason": r} for f, r in self.errors],
            **self.details,
        }


class InvalidRequest(ApiError):
    status_code = 422
    error = "invalid_request"


class NotFound(ApiError):
    status_code = 404
    error = "not_found"


class RateLimited(ApiError):
    status_code = 429
    error = "rate_limited"

    def __init__(self, message: str, retry_after: int, **details: Any) -> None:
        super().__init__(message, retry_after_seconds=retry_after, **details)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class GraphFailure(ApiError):
    status_code = 502
    error = "graph_error"


class AuditFailed(ApiError):
    status_code = 500
    error = "audit_failed"


class NotConfigured(ApiError):
    status_code = 500
    error = "not_configured"


def _graph_details(exc: GraphError) -> dict[str, Any]:
    return {
        "code": exc.code,
        "message": exc.message,
        "details": exc.details,
        "http_status": exc.http_status,
        "fbtrace_id": exc.fbtrace_id,
    }


def _is_not_found(exc: GraphError) -> bool:
    """Graph's 'Object with ID ... does not exist' (code 100, subcode 33) or a plain HTTP 404."""
    if exc.http_status == 404:
        return True
    text = f"{exc.message} {exc.details or ''}".lower()
    return exc.code == 100 and (exc.error_subcode == 33 or "does not exist" in text)


def map_graph_error(exc: GraphError, target: Target, *, changing: bool = False) -> ApiError:
    """A Graph failure as this API answers it: 404 unknown node, 429 rate limit (with the delay the error
    catalog gives), 502 anything else (with Graph's code and fbtrace_id)."""
    graph = _graph_details(exc)
    if _is_not_found(exc):
        return NotFound(f"{target.label} does not exist, or the access token cannot see it", graph=graph)
    if exc.code in RATE_LIMIT_CODES or exc.http_status == 429:
        delay = max(1, backoff_delay(exc.rule, 1))
        return RateLimited(f"Meta's rate limit ({exc.rule.title}): retry after {delay} s", delay, graph=graph)
    if exc.http_status is None and changing:
        return GraphFailure(
            f"no answer from Meta ({exc.message}): the change may or may not have been applied; "
            f"read {target.label} back with GET",
            graph=graph,
        )
    return GraphFailure(f"Meta refused the call on {target.label}: {exc.message}", graph=graph)


# ---------------------------------------------------------------- what a change acts on


@dataclass(frozen=True, slots=True)
class Target:
    scope: Scope
    id: str

    @property
    def label(self) -> str:
        return f"template {self.id}" if self.scope == "template" else f"WABA {self.id}"

    @property
    def audit_pk(self) -> str:
        return f"AUDIT#{self.scope}#{self.id}"


@dataclass(frozen=True, slots=True)
class ChangeContext:
    """Who asks and through which route; the handler builds it from the request."""

    who: Who
    route: str
    request_id: str | None = None


# ---------------------------------------------------------------- region caveats

_REPORTING_AND_DELIVERY = "no delivery optimization and no click or conversion reporting"
_RECIPIENT_NOTE = (
    "Per message, whatever the business country: recipients in the EEA, the UK, Japan and South Korea get "
    f"{_REPORTING_AND_DELIVERY}; recipients in Russia get no click or conversion reporting (the sender "
    "applies and records this per message)."
)
_CREATIVE_NOTE = (
    "Meta names only delivery optimization and click/conversion reporting as off there; whether the "
    "creative optimizations apply is UNCONFIRMED."
)


def _place(country: str) -> str:
    if country in regions.EEA:
        return f"the EEA ({country})"
    names = {"GB": "the UK", "JP": "Japan", "KR": "South Korea", "RU": "Russia"}
    if country in names:
        return names[country]
    if country in regions.PRIVACY_RESTRICTED:
        return f"{country}, which shares an EEA member's or the UK's calling code"
    return country


_LABELS = {
    regions.Feature.DELIVERY_OPTIMIZATION.value: "delivery optimization",
    regions.Feature.CLICK_REPORTING.value: "click reporting",
    regions.Feature.CONVERSION_REPORTING.value: "conversion reporting",
}


def _why(feature: str, rule: regions.Rule, country: str) -> str:
    label = _LABELS.get(feature, feature)
    since = f"since {rule.since.isoformat()}, " if rule.since else ""
    if country in regions.PRIVACY_RESTRICTED:
        group = "the EEA, the UK, Japan and South Korea"
        return (
            f"{since}Meta turns {label} off for businesses in {group}; this business is in {_place(country)}"
        )
    return f"{since}Meta turns {label} off for businesses in {_place(country)}"


def region_caveats(business_country: str, on: dt.date) -> RegionCaveats:
    """What ``regions.RULES`` turn off for a business in ``business_country`` on ``on``, and why."""
    try:
        country = regions.normalize_business_country(business_country)
    except ValueError as exc:
        return RegionCaveats(business_country=business_country, mm_api_available=False, notes=[str(exc)])
    off: dict[str, str] = {}
    notes: list[str] = []
    available = True
    for rule in regions.RULES:
        if rule.party != "business" or country not in rule.places or not rule.active(on):
            continue
        if rule.block:
            available = False
            notes.append(
                f"MM API not available: businesses in {_place(country)} cannot use it ({rule.block})"
            )
            continue
        for feature in sorted(rule.disables):
            off.setdefault(feature, _why(feature, rule, country))
    if off:
        notes.append(_CREATIVE_NOTE)
    notes.append(_RECIPIENT_NOTE)
    caveats = [FeatureOff(feature=f, why=why) for f, why in sorted(off.items())]
    return RegionCaveats(business_country=country, mm_api_available=available, off=caveats, notes=notes)


# ---------------------------------------------------------------- shaping answers

_DEFAULT_NOTE = (
    "Features Meta does not report are OPT_IN: 'All optimization features are enabled by default'."
)
_MM_ONLY_NOTE = "Creative optimizations apply to MM API sends only; Cloud API fallbacks never get them."
_PRECEDENCE = (
    "Precedence between WABA and template settings is not documented by Meta (UNCONFIRMED): presumably a "
    "template's own setting overrides the WABA's (the seeds: 'unless overridden at the template level')."
)
_NOTES: dict[str, list[str]] = {
    "template": [
        "These settings apply to this template only; WABA-wide settings are at /waba/optimizations.",
        _PRECEDENCE,
        _DEFAULT_NOTE,
        _MM_ONLY_NOTE,
    ],
    "waba": [
        "These settings apply to the whole WABA (the seeds: 'all future templates'; whether existing "
        "templates change too is UNCONFIRMED); a template's own settings apply per template.",
        _PRECEDENCE,
        "Meta's answer to GET /<WABA_ID>?fields=degrees_of_freedom_spec is UNCONFIRMED; both the documented "
        "template shape and YCloud's data[] shape are read.",
        _DEFAULT_NOTE,
        _MM_ONLY_NOTE,
    ],
}


def _feature_notes(feature: creative.Feature) -> list[str]:
    notes = []
    if feature.state is creative.FeatureState.PAUSED:
        notes.append("paused (seeds' list): opting in is accepted, but Meta may not apply it")
    if not feature.confirmed:
        notes.append(f"key name from third-party docs ({feature.source}), not confirmed by Meta")
    return notes


def feature_views(reported: Mapping[str, str]) -> list[FeatureView]:
    """Every catalog feature (reported status, or Meta's default flagged as such), then any other key Meta
    reported, kept as is."""
    default = creative.DEFAULT_ENROLL_STATUS.value
    views = [
        FeatureView(
            meta_key=f.key,
            display_name=f.display_name,
            enroll_status=reported.get(f.key, default),
            source="meta" if f.key in reported else "default",
            state=f.state.value,
            key_confirmed=f.confirmed,
            notes=_feature_notes(f),
        )
        for f in creative.FEATURES
    ]
    views += [
        FeatureView(
            meta_key=key,
            display_name=None,
            enroll_status=status,
            source="meta",
            state="unknown",
            key_confirmed=False,
            notes=["not in this release's catalog: reported by Meta and shown as is"],
        )
        for key, status in reported.items()
        if key not in creative.BY_KEY
    ]
    return views


def _changed(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def _invalid_features(exc: creative.FeatureSpecError) -> InvalidRequest:
    if isinstance(exc, creative.UnknownFeatureError):
        errors = []
        for key in exc.keys:
            hint = exc.suggestions.get(key)
            errors.append(
                (
                    f"features.{key}",
                    f"unknown feature (did you mean {hint!r}?)" if hint else "unknown feature",
                )
            )
        return InvalidRequest(
            str(exc),
            errors,
            unknown=exc.keys,
            suggestions=exc.suggestions,
            valid_keys=exc.valid_keys,
            display_names={f.display_name: f.key for f in creative.FEATURES},
            hint="a feature Meta added after this catalog passes with allow_unknown: true "
            "(keys this close to a catalog key are refused as typos)",
        )
    if isinstance(exc, creative.InvalidEnrollStatus):
        return InvalidRequest(
            str(exc), [(f"features.{exc.field}", "enroll_status must be OPT_IN or OPT_OUT")]
        )
    return InvalidRequest(str(exc), [("features", str(exc))])


# ---------------------------------------------------------------- audit store


def _plain(value: Any) -> Any:
    """DynamoDB numbers (Decimal) back to int, at any depth."""
    if isinstance(value, Decimal):
        return int(value) if value == int(value) else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


_SORT_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z#[0-9a-f-]{36}$")


class AuditLog:
    """Audit records in the single table, on a low-level DynamoDB client (``boto3.client("dynamodb")``)."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def put(self, target: Target, record: AuditRecord) -> None:
        values = {
            "pk": target.audit_pk,
            "sk": f"{record.at}#{record.audit_id}",
            **record.model_dump(mode="json"),
        }
        self.client.put_item(
            TableName=self.table, Item=to_item(values), ConditionExpression="attribute_not_exists(pk)"
        )

    def list(self, target: Target, limit: int, cursor: str | None) -> tuple[list[AuditRecord], str | None]:
        """Newest first; ``cursor`` is the opaque ``next_cursor`` of the previous page."""
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": target.audit_pk}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor:
            query["ExclusiveStartKey"] = {"pk": {"S": target.audit_pk}, "sk": {"S": _decode_cursor(cursor)}}
        answer = self.client.query(**query)
        records = []
        for item in answer.get("Items", []):
            values = _plain(from_item(item))
            records.append(AuditRecord.model_validate(values))
        last = answer.get("LastEvaluatedKey")
        return records, _encode_cursor(last["sk"]["S"]) if last else None


def _encode_cursor(sort_key: str) -> str:
    return base64.urlsafe_b64encode(sort_key.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        sort_key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        sort_key = ""
    if not _SORT_KEY.match(sort_key):
        raise _bad_cursor()
    return sort_key


def _bad_cursor() -> InvalidRequest:
    return InvalidRequest("cursor is not a next_cursor of this history", [("cursor", "not a valid cursor")])


# ---------------------------------------------------------------- the service


def _utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Optimizations:
    """The optimization configuration API's domain: Graph calls, audit records, answers.

    ``graph`` is a :class:`mmcore.graph.GraphClient` (``call`` is what is used), ``audit`` an
    :class:`AuditLog`, ``logger`` the handler's Powertools logger (a stdlib logger by default: importing
    ``mmcore.observability`` here would build Powertools' objects before a test sets their environment);
    ``today`` and ``now`` are injectable clocks.
    """

    def __init__(
        self,
        graph: Any,
        audit: AuditLog,
        settings: Settings,
        *,
        logger: Any = None,
        today: Callable[[], dt.date] = _utc_today,
        now: Callable[[], str] = _utc_now,
    ) -> None:
        self.graph = graph
        self.audit = audit
        self.settings = settings
        self.logger = logger or logging.getLogger(__name__)
        self._today = today
        self._now = now

    # ------------------------------------------------------------ targets

    def template(self, template_id: str) -> Target:
        # The path allows digits only; this keeps the WABA and phone number nodes out of template routes.
        if template_id in (self.settings.waba_id, self.settings.phone_number_id):
            raise NotFound(f"{template_id} is the WABA or the phone number, not a template")
        return Target("template", template_id)

    def waba(self) -> Target:
        if not self.settings.waba_id:
            raise NotConfigured(_NO_WABA)
        return Target("waba", self.settings.waba_id)

    # ------------------------------------------------------------ creative optimizations

    async def view(self, target: Target) -> OptimizationsView:
        reported = await self._read_features(target)
        return self._view(target, reported)

    async def update(
        self, target: Target, request: FeaturesUpdate, ctx: ChangeContext
    ) -> OptimizationsChange:
        """Validate against the catalog, send the lowercase object, read back, audit, answer."""
        try:
            resolved = creative.resolve_features(request.statuses(), allow_unknown=request.allow_unknown)
        except creative.FeatureSpecError as exc:
            raise _invalid_features(exc) from None
        requested = {key: str(status) for key, status in resolved.features.items()}
        warnings = list(resolved.warnings)

        before = await self._read_features(target)
        await self._call(
            target, "POST", json_body=creative.to_degrees_of_freedom_spec(requested), changing=True
        )
        try:
            after = await self._read_features(target)
        except ApiError as exc:
            after = {**before, **requested}
            warnings.append(
                f"Meta accepted the change, but reading it back failed ({exc.message}): the settings shown "
                "are the previous ones with the change applied, not what Meta reports"
            )
        warnings += [
            f"{key}: Meta reports {after.get(key, 'nothing')} after {status} was sent"
            for key, status in requested.items()
            if after.get(key, status) != status
        ]
        full_before, full_after = creative.with_defaults(before), creative.with_defaults(after)
        change = {"features": requested, "allow_unknown": request.allow_unknown}
        record = self._record(target, ctx, change, full_before, full_after, warnings)
        self._write_audit(target, record)
        return OptimizationsChange(
            **self._view(target, after).model_dump(),
            requested=requested,
            changed=_changed(full_before, full_after),
            warnings=warnings,
            audit_id=record.audit_id,
        )

    # ------------------------------------------------------------ template TTL

    async def set_ttl(self, target: Target, request: TtlUpdate, ctx: ChangeContext) -> TtlChange:
        ttl = request.message_send_ttl_seconds
        before = await self._read_ttl(target)
        await self._call(target, "POST", json_body={"message_send_ttl_seconds": ttl}, changing=True)
        warnings = []
        try:
            after = await self._read_ttl(target)
        except ApiError as exc:
            after = ttl
            warnings.append(f"Meta accepted the TTL, but reading it back failed ({exc.message})")
        if after != ttl:
            warnings.append(f"Meta reports message_send_ttl_seconds={after} after {ttl} was sent")
        record = self._record(
            target,
            ctx,
            {"message_send_ttl_seconds": ttl},
            {"message_send_ttl_seconds": before},
            {"message_send_ttl_seconds": after},
            warnings,
        )
        self._write_audit(target, record)
        return TtlChange(
            id=target.id,
            message_send_ttl_seconds=after,
            before=before,
            warnings=warnings,
            notes=[
                "Meta stops trying to deliver this template's messages after the TTL; the sender also "
                "enforces each message's own time_to_live before sending."
            ],
            audit_id=record.audit_id,
        )

    # ------------------------------------------------------------ onboarding

    async def onboarding(self) -> Onboarding:
        target = self.waba()
        answer = await self._call(target, "GET", params={"fields": "marketing_messages_onboarding_status"})
        status = answer.get("marketing_messages_onboarding_status")
        if isinstance(status, Mapping):  # the business-portfolio shape {"status": ..., "time": ...}
            status = status.get("status")
        status = status if isinstance(status, str) and status else None
        onboarded = status == ONBOARDED
        policy = self.settings.default_product_policy
        outcomes = {
            "CLOUD_API_FALLBACK": "mm_api" if onboarded else "cloud_api_fallback",
            "STRICT": "mm_api" if onboarded else "rejected",
        }
        explanations = {
            "mm_api": "The WABA is onboarded: sends go through the MM API (pricing category marketing_lite). "
            "Each message's status webhook still tells which path it really took.",
            "cloud_api_fallback": f"The WABA is not onboarded ({status or 'no status'}): with "
            "CLOUD_API_FALLBACK, Meta sends through the Cloud API instead (pricing category marketing, no "
            "creative optimizations).",
            "rejected": f"The WABA is not onboarded ({status or 'no status'}): with STRICT, Meta rejects the "
            "sends (exact error code UNCONFIRMED; 134102 is the closest documented) and they are recorded as "
            "failed.",
        }
        notes = ["A message's own product_policy overrides DEFAULT_PRODUCT_POLICY."]
        if not onboarded:
            notes.append(
                "To onboard, a user with full control of the business portfolio accepts the MM API terms "
                "(WhatsApp Manager > Overview > Alerts, or App Dashboard > WhatsApp > Quickstart); the "
                "account_update webhook MM_LITE_TERMS_SIGNED says when it is done."
            )
        if status not in (ONBOARDED, "ELIGIBLE"):
            notes.append(
                "Only ONBOARDED and ELIGIBLE are documented; any other value is treated as not onboarded."
            )
        return Onboarding(
            waba_id=target.id,
            marketing_messages_onboarding_status=status,
            onboarded=onboarded,
            default_product_policy=policy,
            sends=outcomes[policy],
            by_product_policy=outcomes,
            explanation=explanations[outcomes[policy]],
            notes=notes,
        )

    # ------------------------------------------------------------ audit history

    def history(self, target: Target, limit: int = HISTORY_DEFAULT, cursor: str | None = None) -> History:
        items, next_cursor = self.audit.list(target, limit, cursor)
        return History(scope=target.scope, id=target.id, items=items, next_cursor=next_cursor)

    # ------------------------------------------------------------ internals

    async def _call(
        self,
        target: Target,
        method: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: dict[str, Any] | None = None,
        changing: bool = False,
    ) -> dict[str, Any]:
        try:
            return await self.graph.call(method, f"/{target.id}", params=params, json_body=json_body)
        except GraphError as exc:
            self.logger.warning(
                "graph call failed",
                extra={
                    "target": target.label,
                    "method": method,
                    "code": exc.code,
                    "fbtrace_id": exc.fbtrace_id,
                },
            )
            raise map_graph_error(exc, target, changing=changing) from None

    async def _read_features(self, target: Target) -> dict[str, str]:
        answer = await self._call(target, "GET", params={"fields": "degrees_of_freedom_spec"})
        return creative.from_graph(answer)

    async def _read_ttl(self, target: Target) -> int | None:
        answer = await self._call(target, "GET", params={"fields": "message_send_ttl_seconds"})
        value = answer.get("message_send_ttl_seconds")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def _view(self, target: Target, reported: Mapping[str, str]) -> OptimizationsView:
        return OptimizationsView(
            scope=target.scope,
            id=target.id,
            features=feature_views(reported),
            region=region_caveats(self.settings.business_country, self._today()),
            notes=list(_NOTES[target.scope]),
        )

    def _record(
        self,
        target: Target,
        ctx: ChangeContext,
        change: dict[str, Any],
        before: dict[str, Any],
        after: dict[str, Any],
        warnings: list[str],
    ) -> AuditRecord:
        return AuditRecord(
            audit_id=str(uuid.uuid4()),
            scope=target.scope,
            target_id=target.id,
            at=self._now(),
            who=ctx.who,
            route=ctx.route,
            change=change,
            before=before,
            after=after,
            warnings=warnings,
            request_id=ctx.request_id,
        )

    def _write_audit(self, target: Target, record: AuditRecord) -> None:
        """The last step of a change: Meta already has it, so a failure here is logged in full, never lost."""
        try:
            self.audit.put(target, record)
        except (
            Exception
        ) as exc:  # any failure: the change is applied at Meta, the record must survive in logs
            self.logger.exception(
                "change applied at Meta but its audit record was not written",
                extra={"audit": record.model_dump(mode="json"), "table": self.audit.table},
            )
            raise AuditFailed(
                f"the change was applied to {target.label}, but its audit record could not be written "
                f"({type(exc).__name__}); the record is in the function's log under audit_id "
                f"{record.audit_id}",
                audit_id=record.audit_id,
                applied=record.change,
            ) from None


# ---------------------------------------------------------------- OpenAPI examples

_EXAMPLE_TEMPLATE_ID, _EXAMPLE_WABA_ID = "1234567890000002", "102290129340398"
_EXAMPLE_AUDIT_ID = "0b7f3c1e-5d2a-4f8e-9a61-3c2d7e8f9a10"
_EXAMPLE_DAY = dt.date(2026, 3, 20)
_EXAMPLE_WHO = Who(
    user_arn="arn:aws:iam::123456789012:user/campaign-manager",
    caller_id="AIDACKCEVSQ6C2EXAMPLE",
    account_id="123456789012",
)
# The seeds' "Get Template Optimization Settings" answer (Meta's read shape: UPPERCASE keys in a list).
_SEEDS_READ = {
    "degrees_of_freedom_spec": {
        "creative_features_spec": [
            {"key": "AUTO_PROMOTION_TAG", "value": {"enroll_status": "OPT_IN"}},
            {"key": "TEXT_FORMATTING_OPTIMIZATION", "value": {"enroll_status": "OPT_OUT"}},
        ]
    }
}
_SEEDS_TEMPLATE = {
    "auto_promotion_tag": "OPT_IN",
    "text_formatting_optimization": "OPT_OUT",
    "product_extensions": "OPT_OUT",
}
_SEEDS_WABA = {
    "auto_promotion_tag": "OPT_IN",
    "text_extraction_for_headline": "OPT_IN",
    "product_extensions": "OPT_OUT",
}


def openapi_examples() -> dict[str, Any]:
    """Request and answer examples for the OpenAPI document, built by the code that shapes real answers."""

    def view(
        scope: Scope, target_id: str, reported: Mapping[str, str], country: str = "IN"
    ) -> OptimizationsView:
        return OptimizationsView(
            scope=scope,
            id=target_id,
            features=feature_views(reported),
            region=region_caveats(country, _EXAMPLE_DAY),
            notes=list(_NOTES[scope]),
        )

    def change(scope: Scope, target_id: str, before: dict[str, str], requested: dict[str, str]) -> dict:
        after = {**before, **requested}
        return OptimizationsChange(
            **view(scope, target_id, after).model_dump(),
            requested=requested,
            changed=_changed(creative.with_defaults(before), creative.with_defaults(after)),
            audit_id=_EXAMPLE_AUDIT_ID,
        ).model_dump(mode="json")

    seeds_read = creative.from_graph(_SEEDS_READ)
    not_found_graph = {
        "code": 100,
        "message": "(#100) Unsupported get request.",
        "details": "Unsupported get request. Object with ID '1234567899999999' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation.",
        "http_status": 400,
        "fbtrace_id": "AbCdEfGh123",
    }
    try:
        creative.resolve_features({"auto_promo_tag": "OPT_IN"})
    except creative.FeatureSpecError as exc:
        unknown_feature = _invalid_features(exc).body()
    onboarded = {"CLOUD_API_FALLBACK": "mm_api", "STRICT": "mm_api"}
    eligible = {"CLOUD_API_FALLBACK": "cloud_api_fallback", "STRICT": "rejected"}
    ttl_record = AuditRecord(
        audit_id=_EXAMPLE_AUDIT_ID,
        scope="template",
        target_id=_EXAMPLE_TEMPLATE_ID,
        at="2026-03-20T10:15:30.123456Z",
        who=_EXAMPLE_WHO,
        route="PUT /templates/{template_id}/ttl",
        change={"message_send_ttl_seconds": 43200},
        before={"message_send_ttl_seconds": None},
        after={"message_send_ttl_seconds": 43200},
        request_id="BmL3zhXDoAMEbQw=",
    )
    return {
        "template_put": {"features": _SEEDS_TEMPLATE, "allow_unknown": False},
        "template_put_names": {"features": {"Auto Promotion Tag": "opt_in", "Text Formatting": "OPT_OUT"}},
        "template_put_unknown": {"features": {"dynamic_cta_text": "OPT_OUT"}, "allow_unknown": True},
        "waba_put": {"features": _SEEDS_WABA},
        "ttl_put": {"message_send_ttl_seconds": 43200},
        "template_view": view("template", _EXAMPLE_TEMPLATE_ID, seeds_read).model_dump(mode="json"),
        "template_view_eea": view("template", _EXAMPLE_TEMPLATE_ID, seeds_read, "DE").model_dump(mode="json"),
        "template_change": change("template", _EXAMPLE_TEMPLATE_ID, {}, _SEEDS_TEMPLATE),
        "waba_view": view("waba", _EXAMPLE_WABA_ID, {}).model_dump(mode="json"),
        "waba_change": change("waba", _EXAMPLE_WABA_ID, {}, _SEEDS_WABA),
        "ttl_change": TtlChange(
            id=_EXAMPLE_TEMPLATE_ID, message_send_ttl_seconds=43200, before=None, audit_id=_EXAMPLE_AUDIT_ID
        ).model_dump(mode="json"),
        "onboarded": Onboarding(
            waba_id=_EXAMPLE_WABA_ID,
            marketing_messages_onboarding_status=ONBOARDED,
            onboarded=True,
            default_product_policy="CLOUD_API_FALLBACK",
            sends="mm_api",
            by_product_policy=onboarded,
            explanation="The WABA is onboarded: sends go through the MM API (pricing category "
            "marketing_lite).",
        ).model_dump(mode="json"),
        "eligible_strict": Onboarding(
            waba_id=_EXAMPLE_WABA_ID,
            marketing_messages_onboarding_status="ELIGIBLE",
            onboarded=False,
            default_product_policy="STRICT",
            sends="rejected",
            by_product_policy=eligible,
            explanation="The WABA is not onboarded (ELIGIBLE): with STRICT, Meta rejects the sends.",
        ).model_dump(mode="json"),
        "history": History(
            scope="template", id=_EXAMPLE_TEMPLATE_ID, items=[ttl_record], next_cursor=None
        ).model_dump(mode="json"),
        "unknown_feature": unknown_feature,
        "ttl_out_of_range": InvalidRequest(
            "message_send_ttl_seconds: Input should be greater than or equal to 43200",
            [("message_send_ttl_seconds", "Input should be greater than or equal to 43200")],
        ).body(),
        "invalid_template_id": InvalidRequest(
            "template_id: String should match pattern '^\\d{1,32}$'",
            [("template_id", "String should match pattern '^\\d{1,32}$'")],
        ).body(),
        "bad_cursor": _bad_cursor().body(),
        "not_configured": NotConfigured(_NO_WABA).body(),
        "not_found": NotFound(
            "template 1234567899999999 does not exist, or the access token cannot see it",
            graph=not_found_graph,
        ).body(),
        "rate_limited": RateLimited(
            "Meta's rate limit (WABA rate limit reached): retry after 60 s",
            60,
            graph={
                **not_found_graph,
                "code": 80007,
                "message": "(#80007) Rate limit issues",
                "details": None,
            },
        ).body(),
        "graph_error": GraphFailure(
            "Meta refused the call on template 1234567890000002: (#190) Invalid OAuth access token",
            graph={
                **not_found_graph,
                "code": 190,
                "message": "(#190) Invalid OAuth access token",
                "http_status": 401,
            },
        ).body(),
        "audit_failed": AuditFailed(
            "the change was applied to template 1234567890000002, but its audit record could not be written "
            f"(ClientError); the record is in the function's log under audit_id {_EXAMPLE_AUDIT_ID}",
            audit_id=_EXAMPLE_AUDIT_ID,
            applied={"features": _SEEDS_TEMPLATE, "allow_unknown": False},
        ).body(),
    }
