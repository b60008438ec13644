"""Campaigns: one template to many recipients, enqueued as validated send requests, and their reports.

A campaign is the body of ``POST /campaigns`` (or a CSV streamed by the local CLI): a template, shared send
options and recipients. Each recipient becomes one :class:`~mmcore.meta.messages.SendRequest` (the same
validation as any send request) with the envelope fields ``campaign_id``, ``message_id``
(``<campaign_id>-<index>``, deterministic) and ``phone_number_id``. Then:

- invalid number: recorded in the ledger as ``invalid`` (reason ``invalid_number``), never queued;
- blocked by the region rules (US 131049, sanctioned places...): recorded as ``blocked``, never queued;
- otherwise recorded as ``queued`` (with the country and the MM API features the rules turn off) and put on
  the send queue, ``SendMessageBatch`` 10 at a time, the body being exactly what ``parse_send_request``
  accepts. The ledger item is written before the SQS message, so the sender always finds it.

Personalisation. Any string value inside ``template.components`` may hold placeholders ``{{name}}``
(letters, digits, underscores; not starting with a digit), replaced by that recipient's
``variables[name]``. ``{{1}}`` is not a placeholder and stays as written. A recipient without a variable the
template uses, or whose values break Meta's limits (e.g. a coupon code that is not alphanumeric), makes the
API request a 422 naming ``recipients.<i>.variables.<name>``; in a CSV it makes that row ``invalid``.

Template readiness (reference 8.1: a template needs ~10 minutes to sync with its ad account after creation
and after its first use following 7 days of inactivity). Items ``TEMPLATE#<name>#<language>`` / ``TEMPLATE``
keep ``created_at``, ``last_sent_at`` (set when a campaign releases traffic for it) and ``sync_until``
(epoch seconds). A campaign may say ``template_created_at``. Not ready means:
created < 10 min ago -> every message waits until created_at + 10 min; unused > 7 days -> one warm-up message
goes at once and the rest wait 10 min. Nothing known -> ready. The wait is the SQS ``DelaySeconds``, capped at
900 s (the SQS maximum): a longer wait (only with a ``template_created_at`` in the future) is cut to 900 s
and the sender's 134101 rule ("still syncing: retry in 10 minutes") covers the rest.

Reports are derived from the message items (GSI ``gsi2``: ``CAMPAIGN#<id>`` / ``<status>#<message_id>``),
never from counters, so they are always consistent with the ledger; a report reads every message item
of the campaign (fine for tens of thousands of messages, slow for millions).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache, cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    field_validator,
    model_validator,
)

from mmcore.meta.errors import MAX_SQS_DELAY
from mmcore.meta.messages import (
    TEXT_PARAM_MAX,
    TTL_MAX,
    TTL_MIN,
    InvalidSendRequest,
    Language,
    SendRequest,
    parse_send_request,
)
from mmcore.meta.regions import evaluate
from mmcore.observability import logger
from mmcore.settings import Settings
from mmcore.store import keys
from mmcore.store import messages as L
from mmcore.store.codec import to_item
from mmcore.store.messages import Ledger, message_item

__all__ = [
    "MAX_INLINE_RECIPIENTS",
    "CampaignCreate",
    "CampaignDefinition",
    "CampaignError",
    "CampaignExists",
    "Campaigns",
    "InvalidInput",
    "NotFound",
    "Planned",
    "Readiness",
    "Recipient",
    "Run",
    "placeholders",
    "readiness",
    "render",
    "summarize",
]

MAX_INLINE_RECIPIENTS = 10_000  # per POST /campaigns (6 MB Lambda payload, 30 s API Gateway timeout)
MAX_PAGE = 500
DEFAULT_PAGE = 50
MAX_ERRORS = 50  # problems listed in one 422 answer
SYNC_SECONDS = 600  # a new or re-awakened template syncs with its ad account for up to 10 minutes [MM-SEND]
DORMANT_SECONDS = 7 * 86_400  # unused for longer than 7 days: needs the sync again [MM-SEND]
SQS_BATCH = 10  # SendMessageBatch entries per call
SQS_BATCH_BYTES = 256 * 1024  # total payload of one SendMessageBatch
ENQUEUE_ATTEMPTS = 5
WRITERS = 8  # concurrent BatchWriteItem / SendMessageBatch calls

_ID = r"^[A-Za-z0-9_.:-]{1,100}$"  # leaves room for "-<index>" within messages' 128-character ids
_VARIABLE = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}")
_BSUID = re.compile(r"^user\.")

# What a report shows, in this order; the sender's in-flight states count as queued.
REPORT_STATUSES = (
    "queued",
    "accepted",
    "sent",
    "delivered",
    "read",
    "failed",
    "expired",
    "blocked",
    "suppressed",
    "invalid",
    "unknown",
)
_AS_QUEUED = frozenset({L.State.SENDING, L.State.RETRY})
_MET_BY_META = frozenset({"accepted", "sent", "delivered", "read"})  # Meta took the message
_INTERNAL = frozenset({"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "expires_at"})


# ---------------------------------------------------------------- errors


class CampaignError(Exception):
    """Base of the domain errors the API maps to status codes."""

    def __init__(self, message: str, errors: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []


class InvalidInput(CampaignError):
    """The request cannot be accepted as given; ``errors`` are ``(field, reason)`` pairs. Nothing was written."""

    def __init__(self, errors: list[tuple[str, str]], total: int | None = None) -> None:
        total = len(errors) if total is None else total
        shown = "" if total <= len(errors) else f" (first {len(errors)} shown)"
        super().__init__(f"{total} invalid field{'s' if total != 1 else ''}{shown}", errors)


class NotFound(CampaignError):
    """No such campaign or message."""


class CampaignExists(CampaignError):
    """A campaign with this id was already created: it is never enqueued twice."""


# ---------------------------------------------------------------- request models

VariableName = Annotated[str, StringConstraints(pattern=_VARIABLE)]
VariableValue = Annotated[StrictStr, StringConstraints(max_length=TEXT_PARAM_MAX)] | StrictInt | StrictFloat


class _Model(BaseModel):
    # defer_build: each model's validator is built when first used, not at import (cold start).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Recipient(_Model):
    """One recipient: a number (or a business-scoped user id) and the values of the template's placeholders.

    A plain string is accepted as ``{"to": string}``.
    """

    # An empty or malformed number is not a 422: it is recorded as an invalid recipient, like any bad number.
    to: str = Field(max_length=64, description="WhatsApp number with country code, or user.<id>")
    variables: dict[VariableName, VariableValue] = Field(default_factory=dict, max_length=100)

    @model_validator(mode="before")
    @classmethod
    def _number_only(cls, data: Any) -> Any:
        return {"to": data} if isinstance(data, str) else data

    @field_validator("variables")
    @classmethod
    def _as_text(cls, v: dict[str, Any]) -> dict[str, str]:
        return {name: str(value) for name, value in v.items()}

    @classmethod
    def from_cells(cls, to: str, variables: dict[str, str]) -> Recipient:
        """A CSV row's cells, taken as they are: a bad value makes the row invalid when it is planned (the
        send request's validation), never an exception here."""
        return cls.model_construct(to=to, variables=variables)


class TemplateSpec(_Model):
    """The template as in a send request; string values in ``components`` may hold ``{{placeholders}}``."""

    name: str = Field(min_length=1, max_length=512)
    language: Language
    components: list[dict[str, Any]] | None = Field(default=None, max_length=20)


class CampaignDefinition(_Model):
    """Everything about a campaign except its recipients (the CSV CLI takes this, the API extends it)."""

    name: str = Field(min_length=1, max_length=200)
    campaign_id: str | None = Field(
        default=None, pattern=_ID, description="optional, client-chosen; a second create with it is a 409"
    )
    phone_number_id: str | None = Field(default=None, pattern=r"^\d{1,32}$", description="default: settings")
    template: TemplateSpec
    product_policy: Literal["CLOUD_API_FALLBACK", "STRICT"] | None = None
    message_activity_sharing: StrictBool | None = None
    time_to_live: int | None = Field(default=None, ge=TTL_MIN, le=TTL_MAX)
    not_after: datetime | None = None
    template_created_at: datetime | None = Field(
        default=None, description="when the template was created, if recent: its traffic waits for the sync"
    )

    @field_validator("not_after", "template_created_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("must include a timezone, e.g. 2026-01-01T00:00:00Z")
        return v


class CampaignCreate(CampaignDefinition):
    """The body of ``POST /campaigns``."""

    recipients: list[Recipient] = Field(min_length=1, max_length=MAX_INLINE_RECIPIENTS)


# ---------------------------------------------------------------- personalisation


def placeholders(value: Any) -> frozenset[str]:
    """The placeholder names used anywhere in ``value`` (nested dicts, lists and strings)."""
    names: set[str] = set()
    for text in _strings(value):
        names.update(_PLACEHOLDER.findall(text))
    return frozenset(names)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def render(value: Any, variables: Mapping[str, str]) -> Any:
    """``value`` with every ``{{name}}`` in its strings replaced by ``variables[name]`` (keys untouched).

    Raises ``KeyError`` for a placeholder without a value; check ``placeholders`` first.
    """
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: variables[m.group(1)], value) if "{{" in value else value
    if isinstance(value, Mapping):
        return {k: render(v, variables) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render(v, variables) for v in value]
    return value


# ---------------------------------------------------------------- template readiness


@dataclass(frozen=True, slots=True)
class Readiness:
    """When a template can take MM API traffic. ``ready_at`` None: now. ``warm_up``: send one message at once
    to wake a dormant template, hold the rest until ``ready_at``."""

    ready_at: int | None = None
    warm_up: bool = False
    reason: str = ""

    def delay(self, now: float) -> int:
        """The SQS DelaySeconds for a message enqueued at ``now`` (0-900)."""
        if self.ready_at is None:
            return 0
        return max(0, min(int(self.ready_at - now + 0.999), MAX_SQS_DELAY))


def readiness(
    created_at: int | None, last_sent_at: int | None, sync_until: int | None, now: float
) -> Readiness:
    """Apply the sync-delay rules (reference 8.1) to what is known about a template. Unknown means ready."""
    if created_at is not None and now < created_at + SYNC_SECONDS:
        return Readiness(int(created_at + SYNC_SECONDS), False, "template_created_recently")
    if sync_until is not None and now < sync_until:
        return Readiness(int(sync_until), False, "template_syncing")
    if last_sent_at is not None and now - last_sent_at > DORMANT_SECONDS:
        return Readiness(int(now) + SYNC_SECONDS, True, "template_dormant")
    return Readiness()


def template_key(name: str, language: str) -> dict[str, Any]:
    return {"pk": {"S": f"TEMPLATE#{name}#{language}"}, "sk": {"S": "TEMPLATE"}}


def campaign_key(campaign_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"CAMPAIGN#{campaign_id}"}, "sk": {"S": "CAMPAIGN"}}


# ---------------------------------------------------------------- planning (pure)


@dataclass(slots=True)
class Planned:
    """One recipient's fate before anything is written: ``state`` queued, blocked or invalid."""

    index: int
    message_id: str
    state: str
    fields: dict[str, Any]
    request: SendRequest | None = None

    def item(self) -> dict[str, Any]:
        return message_item(self.message_id, state=self.state, **self.fields)


@dataclass(frozen=True, slots=True)
class _Problem:
    field: str
    reason: str
    per_recipient: bool  # caused by this recipient's data (else the campaign's, the same for every recipient)


class Planner:
    """Turns recipients into :class:`Planned` messages for one campaign. Pure: no I/O."""

    def __init__(
        self,
        definition: CampaignDefinition,
        campaign_id: str,
        business_country: str,
        today: date,
        *,
        phone_number_id: str | None,
        default_product_policy: str,
    ) -> None:
        self.campaign_id = campaign_id
        self.business_country = business_country
        self.today = today
        template = definition.template
        self.template: dict[str, Any] = {
            "name": template.name,
            "language": template.language.model_dump(exclude_none=True),
        }
        if template.components is not None:
            self.template["components"] = template.components
        self.names = placeholders(template.components)
        self.phone_number_id = phone_number_id
        self.base: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "type": "template",
            "product_policy": definition.product_policy,
            "message_activity_sharing": definition.message_activity_sharing,
            "time_to_live": definition.time_to_live,
            "campaign_id": campaign_id,
            "phone_number_id": phone_number_id,
            "not_after": definition.not_after.isoformat() if definition.not_after else None,
        }
        self.base = {k: v for k, v in self.base.items() if v is not None}
        self.common = {
            "campaign_id": campaign_id,
            "template": template.name,
            "language": template.language.code,
            "phone_number_id": phone_number_id,
            "product_policy": definition.product_policy or default_product_policy,
        }

    def plan(self, index: int, recipient: Recipient) -> Planned | list[_Problem]:
        """The message for one recipient, or the problems that stop it from being built."""
        message_id = f"{self.campaign_id}-{index}"
        missing = sorted(self.names - recipient.variables.keys())
        if missing:
            return [
                _Problem(f"recipients.{index}.variables.{n}", f"missing: the template uses {{{{{n}}}}}", True)
                for n in missing
            ]
        template = dict(self.template)
        if self.names:
            template["components"] = render(self.template["components"], recipient.variables)
        body = {**self.base, "to": recipient.to, "template": template, "message_id": message_id}
        try:
            request = parse_send_request(body)
        except InvalidSendRequest as exc:
            bad_number = [reason.removeprefix("to: ") for f, reason in exc.errors if f == "to"]
            problems = [self._problem(index, f, reason) for f, reason in exc.errors if f != "to"]
            if problems:
                return problems
            fields = {**self.common, "to": recipient.to.strip(), "reason": "invalid_number"}
            return Planned(index, message_id, L.State.INVALID, {**fields, "details": "; ".join(bad_number)})

        fields = {**self.common, "to": request.to}
        if _BSUID.match(request.to):  # a business-scoped user id carries no country: no region rule applies
            return Planned(index, message_id, L.State.QUEUED, fields, request)
        verdict = evaluate(request.to, self.business_country, self.today)
        fields["country"] = verdict.recipient_country
        if not verdict.allowed:
            fields.update(reason=verdict.reason, code=verdict.code, details=verdict.message)
            return Planned(index, message_id, L.State.BLOCKED, fields)
        if verdict.disabled_features:
            fields["disabled_features"] = sorted(verdict.disabled_features)
        return Planned(index, message_id, L.State.QUEUED, fields, request)

    def _problem(self, index: int, path: str, reason: str) -> _Problem:
        """Whose fault is an error: the campaign's (reported once, with its path) or this recipient's values
        (reported as ``recipients.<i>.variables.<name>``)."""
        if not (path == "template" or path.startswith("template.")) or not self.names:
            return _Problem(path, reason, False)
        value, exact = _subtree(self.template, path.split(".")[1:])
        names = placeholders(value)
        # The failing value is a placeholder string: the substituted text broke the rule. Otherwise, an error
        # the template also has with neutral values is structural (a wrong type, a missing field...).
        if not (exact and isinstance(value, str) and names) and (path, reason) in self._structural:
            return _Problem(path, reason, False)
        where = f"recipients.{index}"
        if names:
            where += ".variables" + (f".{next(iter(names))}" if len(names) == 1 else "")
        return _Problem(where, f"{path} after substitution: {reason}", True)

    @cached_property
    def _structural(self) -> frozenset[tuple[str, str]]:
        # The errors of the template with every placeholder replaced by "0": a value nearly every field takes
        # (alphanumeric, short, a valid button index), so what remains does not depend on the recipients.
        neutral = {
            **self.template,
            "components": render(self.template["components"], dict.fromkeys(self.names, "0")),
        }
        body = {
            **self.base,
            "to": _NEUTRAL_NUMBER,
            "template": neutral,
            "message_id": f"{self.campaign_id}-0",
        }
        try:
            parse_send_request(body)
        except InvalidSendRequest as exc:
            return frozenset((f, r) for f, r in exc.errors if f != "to")
        return frozenset()


_NEUTRAL_NUMBER = "919876543210"


def _subtree(value: Any, parts: list[str]) -> tuple[Any, bool]:
    """The deepest value of ``value`` along ``parts``, and whether the whole path was found."""
    for part in parts:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return value, False
    return value, True


# ---------------------------------------------------------------- counts and reports (pure)


@dataclass
class EnqueueCounts:
    """What happened to a campaign's recipients at enqueue."""

    recipients: int = 0
    queued: int = 0
    invalid: int = 0
    duplicate: int = 0
    enqueue_failed: int = 0
    blocked_by_reason: Counter[str] = field(default_factory=Counter)

    def add(self, planned: Planned) -> None:
        self.recipients += 1
        if planned.state == L.State.QUEUED:
            self.queued += 1
        elif planned.state == L.State.BLOCKED:
            self.blocked_by_reason[planned.fields["reason"]] += 1
        else:
            self.invalid += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "recipients": self.recipients,
            "queued": self.queued,
            "blocked": sum(self.blocked_by_reason.values()),
            "blocked_by_reason": dict(sorted(self.blocked_by_reason.items())),
            "invalid": self.invalid,
            "duplicate": self.duplicate,
            "enqueue_failed": self.enqueue_failed,
        }


def _error_code(item: Mapping[str, Any]) -> Any:
    error = item.get("error")
    if isinstance(error, Mapping) and error.get("code") is not None:
        return error["code"]
    if item.get("code") is not None:
        return item["code"]
    errors = item.get("errors")  # a status webhook's errors[] as stored
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        return errors[0].get("code")
    return None


def summarize(items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts for a campaign report from its message items (as :func:`from_item` returns them).

    ``by_status``: the item's ``status`` (``sending``/``retry`` count as queued; unknown values are kept).
    ``delivery_rate``: (delivered + read) / messages Meta accepted (accepted, sent, delivered, read, and failed
    ones that got a wamid). ``read_rate``: read / (delivered + read). Rates are None with no denominator.
    """
    by_status: Counter[str] = Counter({s: 0 for s in REPORT_STATUSES})
    pricing: Counter[str] = Counter({"marketing_lite": 0, "marketing": 0})
    countries: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    total = taken = 0
    for item in items:
        total += 1
        status = str(item.get("status") or item.get("state") or "unknown")
        status = "queued" if status in _AS_QUEUED else status
        by_status[status] += 1
        if status in _MET_BY_META or item.get("wamid"):
            taken += 1
        if item.get("pricing_category"):
            pricing[str(item["pricing_category"])] += 1
        countries[str(item.get("country") or "unknown")] += 1
        if status == "failed" and (code := _error_code(item)) is not None:  # blocked: by reason, below
            codes[str(code)] += 1
        if status == "blocked":
            reasons[str(item.get("reason") or "unknown")] += 1
    delivered = by_status["delivered"] + by_status["read"]
    return {
        "messages": total,
        "by_status": dict(by_status),
        "by_pricing_category": dict(pricing),
        "by_country": dict(sorted(countries.items())),
        "failures_by_code": dict(sorted(codes.items())),
        "blocked_by_reason": dict(sorted(reasons.items())),
        "delivery_rate": round(delivered / taken, 4) if taken else None,
        "read_rate": round(by_status["read"] / delivered, 4) if delivered else None,
    }


def plain(value: Any) -> Any:
    """DynamoDB values as JSON-ready Python (Decimal -> int/float, sets -> sorted lists, bytes -> base64)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(plain(v) for v in value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    return value


@cache
def _deserializer() -> Callable[[Mapping[str, Any]], Any]:
    from boto3.dynamodb.types import TypeDeserializer  # boto3: on the first read, not at import

    return TypeDeserializer().deserialize


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain JSON-ready values (booleans stay booleans, unlike ``ledger.from_item``)."""
    deserialize = _deserializer()
    return {k: plain(deserialize(v)) for k, v in item.items()}


def _public(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in _INTERNAL}


def _iso(epoch: Any) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(int(epoch), UTC).isoformat().replace("+00:00", "Z")


def _dynamo_safe(value: Any) -> Any:
    # Arbitrary JSON (template components) as DynamoDB accepts it: floats become Decimals.
    return json.loads(json.dumps(value), parse_float=Decimal)


def encode_token(key: Mapping[str, Any]) -> str:
    """An opaque page token for a DynamoDB ``LastEvaluatedKey`` (string attributes only)."""
    plain_key = {k: v["S"] for k, v in key.items()}
    raw = json.dumps(plain_key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, expect: Mapping[str, str]) -> dict[str, Any]:
    """Back to an ``ExclusiveStartKey``; raises :class:`InvalidInput` (``next_token``) for anything that is not
    a token of this listing (``expect``: attributes it must carry, e.g. the campaign's ``gsi2pk``)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        key = json.loads(raw)
    except (ValueError, binascii.Error):
        key = None
    ok = (
        isinstance(key, dict)
        and set(key) == {"pk", "sk", "gsi2pk", "gsi2sk"}
        and all(isinstance(v, str) for v in key.values())
        and all(key.get(k) == v for k, v in expect.items())
    )
    if not ok:
        raise InvalidInput([("next_token", "not a next_token of this listing")])
    return {k: {"S": v} for k, v in key.items()}


def sqs_batches(entries: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """SendMessageBatch calls: at most 10 entries and 256 KiB of bodies each."""
    batch: list[dict[str, Any]] = []
    size = 0
    for entry in entries:
        n = len(entry["MessageBody"].encode())
        if batch and (len(batch) == SQS_BATCH or size + n > SQS_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += n
    if batch:
        yield batch


# ---------------------------------------------------------------- the service


class Campaigns:
    """Creates campaigns (enqueue) and answers their reports. Build one per warm container."""

    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        sqs: Any,
        queue_url: str,
        *,
        clock: Callable[[], float] = time.time,
        workers: int = WRITERS,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.sqs = sqs
        self.queue_url = queue_url
        self.clock = clock
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="enqueue")
        self.sleep = time.sleep

    @property
    def db(self) -> Any:
        return self.ledger.client

    @property
    def table(self) -> str:
        return self.ledger.table

    # -------------------------------------------------------------- create

    def create(self, body: CampaignCreate) -> dict[str, Any]:
        """Validate every recipient, then record and enqueue them. Raises :class:`InvalidInput` (nothing
        written) or :class:`CampaignExists`. Returns the campaign id, counts and the template's readiness."""
        run = self.start(body, source="api", dedupe=True)
        planned = run.plan(enumerate(body.recipients), strict=True)
        try:
            run.enqueue(planned)
        except BaseException:
            if run.opened:
                run.finish("incomplete")
            raise
        return run.finish()

    def start(self, definition: CampaignDefinition, *, source: str, dedupe: bool = False) -> Run:
        """A campaign to enqueue in chunks (the CSV path); nothing is written before its first ``enqueue``."""
        phone_number_id = definition.phone_number_id or self.settings.phone_number_id or None
        if phone_number_id is None:
            raise InvalidInput([("phone_number_id", "required: no default PHONE_NUMBER_ID is configured")])
        now = self.clock()
        campaign_id = definition.campaign_id or new_campaign_id(now)
        planner = Planner(
            definition,
            campaign_id,
            self.settings.business_country,
            datetime.fromtimestamp(now, UTC).date(),
            phone_number_id=phone_number_id,
            default_product_policy=self.settings.default_product_policy,
        )
        return Run(self, definition, planner, source=source, dedupe=dedupe, started=now)

    def template_state(self, name: str, language: str) -> dict[str, Any]:
        answer = self.db.get_item(TableName=self.table, Key=template_key(name, language), ConsistentRead=True)
        return from_item(answer["Item"]) if "Item" in answer else {}

    # -------------------------------------------------------------- reports

    def campaign(self, campaign_id: str) -> dict[str, Any]:
        answer = self.db.get_item(TableName=self.table, Key=campaign_key(campaign_id), ConsistentRead=True)
        if "Item" not in answer:
            raise NotFound(f"campaign {campaign_id} not found")
        return from_item(answer["Item"])

    def report(self, campaign_id: str) -> dict[str, Any]:
        """The campaign with counts by status, pricing category, country and error code, and its rates."""
        campaign = self.campaign(campaign_id)
        names = {
            "#s": "status",
            "#st": "state",
            "#p": "pricing_category",
            "#c": "country",
            "#e": "error",
            "#es": "errors",
            "#k": "code",
            "#r": "reason",
            "#w": "wamid",
        }
        items = self._query(
            IndexName="gsi2",
            KeyConditionExpression="gsi2pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"CAMPAIGN#{campaign_id}"}},
            ProjectionExpression=", ".join(names),
            ExpressionAttributeNames=names,
        )
        return {**_campaign_view(campaign), **summarize(items)}

    def messages(
        self,
        campaign_id: str,
        status: str | None = None,
        limit: int = DEFAULT_PAGE,
        next_token: str | None = None,
    ) -> dict[str, Any]:
        """One page of the campaign's messages, optionally of one status (its exact ``status`` value)."""
        self.campaign(campaign_id)
        gsi2pk = f"CAMPAIGN#{campaign_id}"
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "gsi2",
            "Limit": max(1, min(limit, MAX_PAGE)),
            "KeyConditionExpression": "gsi2pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": gsi2pk}},
        }
        if status:
            query["KeyConditionExpression"] += " AND begins_with(gsi2sk, :status)"
            query["ExpressionAttributeValues"][":status"] = {"S": f"{status}#"}
        if next_token:
            query["ExclusiveStartKey"] = decode_token(next_token, {"gsi2pk": gsi2pk})
        answer = self.db.query(**query)
        last = answer.get("LastEvaluatedKey")
        return {
            "campaign_id": campaign_id,
            "status": status,
            "messages": [_public(from_item(item)) for item in answer.get("Items", [])],
            "next_token": encode_token(last) if last else None,
        }

    def message(self, message_id: str) -> dict[str, Any]:
        """One message and its status events (oldest first; empty until Meta gave it a wamid)."""
        answer = self.db.get_item(TableName=self.table, Key=keys.message(message_id), ConsistentRead=True)
        if "Item" not in answer:
            raise NotFound(f"message {message_id} not found")
        item = from_item(answer["Item"])
        events: list[dict[str, Any]] = []
        if item.get("wamid"):
            events = self._query(
                KeyConditionExpression="pk = :pk AND begins_with(sk, :evt)",
                ExpressionAttributeValues={":pk": {"S": f"WAMID#{item['wamid']}"}, ":evt": {"S": "EVT#"}},
            )
        return {"message": _public(item), "events": [_public(e) for e in events]}

    def _query(self, **query: Any) -> list[dict[str, Any]]:
        items, start = [], None
        while True:
            answer = self.db.query(
                TableName=self.table, **query, **({"ExclusiveStartKey": start} if start else {})
            )
            items.extend(from_item(i) for i in answer.get("Items", []))
            start = answer.get("LastEvaluatedKey")
            if not start:
                return items


def new_campaign_id(now: float) -> str:
    """Sortable by creation time and unguessable: ``20261123T121916-9f2c1ab4``."""
    return f"{datetime.fromtimestamp(now, UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"


def _campaign_view(item: Mapping[str, Any]) -> dict[str, Any]:
    view = _public(item)
    for name in ("created_at", "finished_at", "template_ready_at"):
        if name in view:
            view[name] = _iso(view[name])
    view.pop("counts", None)
    view["enqueue"] = item.get("counts") or {}
    return view


class Run:
    """One campaign being enqueued, chunk by chunk: ``plan`` (pure), ``enqueue`` (writes), ``finish``.

    The campaign item is created (conditionally: a campaign id is used once) and the template's readiness
    read at the first ``enqueue``; so a request that fails validation writes nothing.
    """

    def __init__(
        self,
        campaigns: Campaigns,
        definition: CampaignDefinition,
        planner: Planner,
        *,
        source: str,
        dedupe: bool,
        started: float,
    ) -> None:
        self.campaigns = campaigns
        self.definition = definition
        self.planner = planner
        self.campaign_id = planner.campaign_id
        self.source = source
        self.started = started
        self.counts = EnqueueCounts()
        self.ready: Readiness | None = None
        self._seen: set[str] | None = set() if dedupe else None
        self._warmed = False
        self._opened = False  # the campaign item exists (created by this run)

    @property
    def opened(self) -> bool:
        """Whether this run created its campaign item (so there is something to finish)."""
        return self._opened

    # -------------------------------------------------------------- planning

    def plan(self, recipients: Iterable[tuple[int, Recipient]], *, strict: bool) -> list[Planned]:
        """Plan ``(index, recipient)`` pairs. Problems common to every recipient (the template, the shared
        options) always raise :class:`InvalidInput`; a recipient's own (missing or bad variables) raise too
        when ``strict``, else that recipient is recorded ``invalid`` with the reason."""
        planned: list[Planned] = []
        problems: dict[tuple[str, str], None] = {}
        for index, recipient in recipients:
            outcome = self.planner.plan(index, recipient)
            if isinstance(outcome, Planned):
                planned.append(outcome)
                continue
            if strict or not all(p.per_recipient for p in outcome):
                for p in outcome:
                    if strict or not p.per_recipient:
                        problems.setdefault((p.field, p.reason))
                if len(problems) >= MAX_ERRORS:
                    break
                continue
            details = "; ".join(f"{p.field}: {p.reason}" for p in outcome)
            fields = {**self.planner.common, "to": recipient.to.strip(), "reason": "invalid_variables"}
            planned.append(
                Planned(index, f"{self.campaign_id}-{index}", L.State.INVALID, {**fields, "details": details})
            )
        if problems:
            raise InvalidInput(list(problems)[:MAX_ERRORS])
        if self._seen is not None:
            planned = [p for p in planned if self._first(p)]
        return planned

    def _first(self, planned: Planned) -> bool:
        if planned.state == L.State.INVALID:
            return True
        if planned.fields["to"] in self._seen:  # type: ignore[operator]
            self.counts.duplicate += 1
            return False
        self._seen.add(planned.fields["to"])  # type: ignore[union-attr]
        return True

    # -------------------------------------------------------------- writing

    def enqueue(self, planned: list[Planned]) -> None:
        """Record every planned message in the ledger, then put the queued ones on the send queue."""
        if not self._opened:
            self._open(any(p.state == L.State.QUEUED for p in planned))
        for p in planned:
            self.counts.add(p)
        c = self.campaigns
        items = [p.item() for p in planned]
        list(c.pool.map(c.ledger.write, [items[i : i + 25] for i in range(0, len(items), 25)]))

        queued = [p for p in planned if p.state == L.State.QUEUED]
        now = c.clock()
        entries = []
        for n, p in enumerate(queued):
            assert p.request is not None
            entry = {"Id": str(n), "MessageBody": p.request.model_dump_json(exclude_none=True)}
            delay = self.ready.delay(now) if self.ready else 0
            if self.ready and self.ready.warm_up and not self._warmed:
                delay, self._warmed = 0, True  # the warm-up message wakes the template for the rest
            if delay:
                entry["DelaySeconds"] = delay
            entries.append(entry)
        unsent = [e for failed in c.pool.map(self._send, list(sqs_batches(entries))) for e in failed]
        failed = []
        for entry, why in unsent:
            p = queued[int(entry["Id"])]
            fields = {**p.fields, "reason": "enqueue_failed", "details": why}
            failed.append(L.finish(p.message_id, {"state": L.State.QUEUED}, L.State.FAILED, fields))
            self.counts.queued -= 1
            self.counts.enqueue_failed += 1
        c.ledger.apply(failed)  # unless a sender got the message after all (it is then no longer queued)
        if unsent:
            logger.error(
                "messages could not be enqueued",
                extra={"campaign_id": self.campaign_id, "count": len(unsent), "reason": unsent[0][1]},
            )

    def _send(self, batch: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
        """One SendMessageBatch, retrying the entries SQS did not take. Returns those it never took."""
        c = self.campaigns
        pending, why = batch, ""
        for attempt in range(ENQUEUE_ATTEMPTS):
            if attempt:
                c.sleep(min(0.1 * 2**attempt, 2.0))
            try:
                answer = c.sqs.send_message_batch(QueueUrl=c.queue_url, Entries=pending)
            except Exception as exc:  # after botocore's own retries; the entries may or may not be queued
                why = f"{type(exc).__name__}: {exc}"[:300]
                continue
            failed = {f["Id"]: f for f in answer.get("Failed", [])}
            if not failed:
                return []
            why = "; ".join(
                sorted({f"{f.get('Code')}: {f.get('Message', '')}"[:200] for f in failed.values()})
            )
            pending = [e for e in pending if e["Id"] in failed]
            if all(f.get("SenderFault") for f in failed.values()):
                break  # our request is wrong: the same entries would fail again
        return [(e, why) for e in pending]

    def _open(self, releases_traffic: bool) -> None:
        c, d = self.campaigns, self.definition
        template = d.template
        now = c.clock()
        known = c.template_state(template.name, template.language.code)
        created_at = (
            int(d.template_created_at.timestamp()) if d.template_created_at else known.get("created_at")
        )
        ready = readiness(created_at, known.get("last_sent_at"), known.get("sync_until"), now)
        campaign = {
            **{k: v["S"] for k, v in campaign_key(self.campaign_id).items()},
            "campaign_id": self.campaign_id,
            "name": d.name,
            "template": _dynamo_safe(self.planner.template),
            "phone_number_id": self.planner.phone_number_id,
            "product_policy": d.product_policy,
            "message_activity_sharing": d.message_activity_sharing,
            "time_to_live": d.time_to_live,
            "not_after": d.not_after.isoformat() if d.not_after else None,
            "source": self.source,
            "status": "enqueuing",
            "created_at": int(now),
            "template_ready_at": ready.ready_at,
            "template_readiness": ready.reason or "ready",
            "expires_at": int(now) + L.RETENTION_SECONDS,
        }
        try:
            c.db.put_item(
                TableName=c.table,
                Item=to_item(campaign),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except c.db.exceptions.ConditionalCheckFailedException:
            raise CampaignExists(f"campaign {self.campaign_id} already exists") from None
        self._opened, self.ready = True, ready
        # last_sent_at is set when traffic is released (the queue drains within minutes of it).
        sets = ["template_name = :n", "#lang = :l"]
        values: dict[str, Any] = {":n": template.name, ":l": template.language.code}
        if releases_traffic:
            sets.append("last_sent_at = :now")
            values[":now"] = int(now)
        if d.template_created_at:
            sets.append("created_at = :c")
            values[":c"] = created_at
        if ready.warm_up and releases_traffic:
            sets.append("sync_until = :r")
            values[":r"] = ready.ready_at
        c.db.update_item(
            TableName=c.table,
            Key=template_key(template.name, template.language.code),
            UpdateExpression="SET " + ", ".join(sets),
            ExpressionAttributeNames={"#lang": "language"},
            ExpressionAttributeValues=to_item(values),
        )

    def finish(self, status: str = "enqueued") -> dict[str, Any]:
        """Store the counts on the campaign item; the answer of ``POST /campaigns``."""
        c = self.campaigns
        counts = self.counts.as_dict()
        now = c.clock()
        if self._opened:
            c.db.update_item(
                TableName=c.table,
                Key=campaign_key(self.campaign_id),
                UpdateExpression="SET #s = :s, counts = :c, finished_at = :now",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=to_item({":s": status, ":c": counts, ":now": int(now)}),
            )
        ready = self.ready or Readiness()
        logger.info(
            "campaign %s",
            status,
            extra={"campaign_id": self.campaign_id, "counts": counts, "readiness": ready.reason or "ready"},
        )
        return {
            "campaign_id": self.campaign_id,
            "name": self.definition.name,
            "status": status,
            "counts": counts,
            "template": {
                "name": self.definition.template.name,
                "language": self.definition.template.language.code,
                "readiness": ready.reason or "ready",
                "ready_at": _iso(ready.ready_at),
                "delay_seconds": ready.delay(self.started),
                "warm_up": ready.warm_up,
            },
        }
