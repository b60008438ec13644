"""Meta's WhatsApp webhooks: the handshake, the signature, the envelope, and what each change does.

Reference: section 4 of the project's Meta MM API reference (sources [WH-EP], [WH-OVR], [WH-STATUS], [WH-MSG],
[MM-ONB], [BSUID]). In one POST:

1. the body is at most 3 MB (Meta's limit) and signed: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the
   raw body bytes with the app secret>``. Missing: 401, wrong: 403, nothing written;
2. it is JSON with ``entry[].changes[]``, else 400 and nothing written. Everything inside is tolerated: an item
   that does not parse is kept raw (``WEBHOOK#invalid``) and logged; unknown fields, statuses and categories
   are kept and logged; the valid events of the same POST are stored;
3. each change is applied (:class:`Ingestor`); any storage failure is a 5xx so Meta retries, and the retry is
   safe: every write is idempotent and each event's own record is written last, as its "done" marker.

Items written here (``pk`` / ``sk``), besides the status items of :mod:`mmcore.statuses`:

- ``INBOUND#<wamid>`` / ``MSG``: a customer's message (text, quick-reply button tap...), also published to
  EventBridge for the business's bot (at least once: a consumer dedupes on ``message.id``);
- ``SUPPRESS#<digits>`` / ``SUPPRESS``: as :meth:`mmcore.ledger.Ledger.prefetch` reads it; ``since`` is the
  event time. ``SUPPRESS#<digits>`` / ``RESUME`` remembers the last ``resume`` so a late ``stop`` or 131050
  (Meta retries for days) older than it cannot opt the user out again;
- ``TEMPLATE#<name>:<language>`` / ``STATUS`` (latest template status, forward by event time) and
  ``/ EVT#<time>#<event>``; PAUSED and DISABLED write the sender's template halt (``HALT#template#...``);
- ``ACCOUNT#<waba_id>`` / ``ONBOARDING``: ``MM_LITE_TERMS_SIGNED`` (MM API onboarding done);
- ``WEBHOOK#<field or kind>`` / ``EVT#<time>#<digest>``: anything else, raw.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WrapValidator,
)
from pydantic_core import from_json

from mmcore.meta.errors import GraphError
from mmcore.meta.phones import mask
from mmcore.observability import logger
from mmcore.store import keys, statuses
from mmcore.store.batch import batch_get, batch_write
from mmcore.store.codec import from_item, to_item
from mmcore.store.keys import LINK, STATE
from mmcore.store.messages import RETENTION_SECONDS, Ledger
from mmcore.store.statuses import StatusEvent

MAX_BODY_BYTES = 3 * 1024 * 1024  # [WH-OVR] maximum payload size
SIGNATURE_HEADER = "X-Hub-Signature-256"
UNCONFIGURED_SECRETS = frozenset({"", "REPLACE_ME"})  # template.yaml's placeholder must never verify a POST

EVENT_SOURCE = "whatsapp.mm"
EVENT_DETAIL_TYPE = "WhatsApp Message Received"
_EVENT_MAX_BYTES = 250_000  # PutEvents: 256 KB per entry, envelope included
_PUT_EVENTS_MAX = 10

_RAW_MAX_CHARS = 64_000  # <= 256 KB of UTF-8: the raw copy always fits a 400 KB item
_TEXT_MAX = 1024
_ERRORS_MAX = 5

# Opt-outs and rests from failed statuses [ERR][PUL]; template statuses that halt or free a template.
OPT_OUT_CODE, USER_LIMIT_CODE = 131050, 131049
USER_LIMIT_REST_SECONDS = 24 * 3600  # Meta: wait at least 24 h before the next marketing message
TEMPLATE_HALTS: Mapping[
    str, tuple[int, int]
] = {  # event -> (seconds halted, error code the sender would get)
    "PAUSED": (7 * 24 * 3600, 132015),
    "DISABLED": (30 * 24 * 3600, 132016),
}
TEMPLATE_RELEASES = frozenset({"APPROVED", "REINSTATED"})
MM_TERMS_SIGNED = "MM_LITE_TERMS_SIGNED"


class WebhookRejected(Exception):
    """A request refused before anything is written: ``status`` is the HTTP answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class StoreUnavailable(Exception):
    """DynamoDB or EventBridge failed: answer 5xx so Meta delivers the POST again."""


# ---------------------------------------------------------------- handshake, body, signature


def verify_subscription(params: Mapping[str, str] | None, verify_token: str) -> str:
    """Meta's GET handshake [WH-EP]: the ``hub.challenge`` to echo, or WebhookRejected(403)."""
    params = params or {}
    token = params.get("hub.verify_token") or ""
    challenge = params.get("hub.challenge") or ""
    if (
        params.get("hub.mode") != "subscribe"
        or not verify_token
        or not challenge
        or len(challenge) > _TEXT_MAX
    ):
        raise WebhookRejected(403, "verification failed")
    if not hmac.compare_digest(token.encode(), verify_token.encode()):
        raise WebhookRejected(403, "verification failed")
    return challenge


def raw_body(body: str | None, is_base64_encoded: bool) -> bytes:
    """The exact bytes Meta sent: API Gateway base64-encodes bodies it does not treat as text."""
    if body is None:
        return b""
    if len(body) > MAX_BODY_BYTES * 4 // 3 + 4:  # refuse before decoding a huge body
        raise WebhookRejected(413, f"body larger than {MAX_BODY_BYTES} bytes")
    if is_base64_encoded:
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise WebhookRejected(400, "body is not valid base64") from None
    else:
        raw = body.encode("utf-8", errors="surrogateescape")
    if len(raw) > MAX_BODY_BYTES:
        raise WebhookRejected(413, f"body larger than {MAX_BODY_BYTES} bytes")
    return raw


def sign(app_secret: str, raw: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends for ``raw``."""
    return "sha256=" + hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()


def check_signature(raw: bytes, header: str | None, app_secret: str) -> None:
    """HMAC-SHA256 over the raw bytes, constant-time [WH-EP]. Missing: 401; anything else wrong: 403."""
    if app_secret in UNCONFIGURED_SECRETS:
        logger.error("webhook app secret is not configured: every POST is refused")
        raise WebhookRejected(403, "signature cannot be verified")
    if not header:
        raise WebhookRejected(401, f"missing {SIGNATURE_HEADER}")
    expected = sign(app_secret, raw).encode()
    if not hmac.compare_digest(header.strip().encode("utf-8", errors="replace"), expected):
        raise WebhookRejected(403, "invalid signature")


# ---------------------------------------------------------------- wire models (tolerant: extra="allow")

_T = TypeVar("_T")


def _or_none(value: Any, handler: Any) -> Any:
    try:
        return handler(value)
    except ValidationError:
        return None


# A field that is dropped (None) instead of failing its item when Meta sends an unexpected shape.
Lenient = Annotated[_T | None, WrapValidator(_or_none)]


def _epoch(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("must be epoch seconds")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 11:
        value = int(value)
    if not isinstance(value, int) or not 0 <= value < 10**11:
        raise ValueError("must be epoch seconds (digits)")
    return value


def _id_text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Epoch = Annotated[int, BeforeValidator(_epoch)]
WireId = Annotated[str, StringConstraints(min_length=1, max_length=400)]  # wamids fit a 2 KB key
Token = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
Short = Annotated[str, StringConstraints(max_length=128)]
Text = Annotated[str, StringConstraints(max_length=_TEXT_MAX)]
Number = Annotated[str, BeforeValidator(_id_text), StringConstraints(max_length=64)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class Envelope(_Wire):
    object: Lenient[Short] = None
    entry: list[Any]


class Entry(_Wire):
    id: Lenient[Number] = None
    time: Lenient[Epoch] = None
    changes: list[Any]


class Change(_Wire):
    field: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    value: dict[str, Any]


class Metadata(_Wire):
    display_phone_number: Lenient[Short] = None
    phone_number_id: Lenient[Number] = None


class Pricing(_Wire):
    billable: Lenient[bool] = None
    pricing_model: Lenient[Short] = None
    type: Lenient[Short] = None
    category: Lenient[Short] = None


class Origin(_Wire):
    type: Lenient[Short] = None


class Conversation(_Wire):
    id: Lenient[Short] = None
    origin: Lenient[Origin] = None


class StatusWire(_Wire):
    id: WireId
    status: Token
    timestamp: Epoch
    recipient_id: Lenient[Short] = None  # "" for BSUID sends [BSUID]
    recipient_user_id: Lenient[Short] = None
    biz_opaque_callback_data: Lenient[Annotated[str, StringConstraints(max_length=512)]] = None
    conversation: Lenient[Conversation] = None  # omitted in v24+
    pricing: Lenient[Pricing] = None
    errors: Lenient[list[Any]] = None


class Context(_Wire):
    id: Lenient[WireId] = None
    sender: Lenient[Short] = Field(None, alias="from")


class InboundWire(_Wire):
    id: WireId
    sender: Lenient[Short] = Field(None, alias="from")
    timestamp: Lenient[Epoch] = None
    type: Lenient[Short] = None
    context: Lenient[Context] = None


class PreferenceWire(_Wire):
    wa_id: Annotated[str, StringConstraints(pattern=r"^\d{5,20}$")]
    value: Token
    timestamp: Epoch
    category: Lenient[Short] = None
    detail: Lenient[Text] = None


class TemplateStatusWire(_Wire):
    event: Token
    message_template_name: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    message_template_language: Lenient[Annotated[str, StringConstraints(min_length=1, max_length=32)]] = None
    message_template_id: Lenient[Number] = None
    reason: Lenient[Text] = None


class WabaInfo(_Wire):
    waba_id: Lenient[Number] = None
    owner_business_id: Lenient[Number] = None


class AccountUpdateWire(_Wire):
    event: Token
    waba_info: Lenient[WabaInfo] = None


# ---------------------------------------------------------------- what one POST carries


@dataclass(frozen=True, slots=True)
class Inbound:
    wamid: str
    sender: str | None
    type: str | None
    timestamp: int | None
    context_id: str | None
    message: dict[str, Any]
    contact: dict[str, Any] | None
    metadata: dict[str, Any]
    waba_id: str | None


@dataclass(frozen=True, slots=True)
class Preference:
    digits: str
    value: str
    category: str | None
    timestamp: int
    detail: str | None


@dataclass(frozen=True, slots=True)
class TemplateChange:
    name: str
    language: str | None
    event: str
    reason: str | None
    template_id: str | None
    at: int
    raw: str


@dataclass(frozen=True, slots=True)
class AccountChange:
    waba_id: str
    event: str
    owner_business_id: str | None
    at: int
    raw: str


@dataclass(frozen=True, slots=True)
class Other:
    """Kept raw: an unknown field, a system error, a click, or an item that did not parse (``invalid``)."""

    kind: str
    at: int
    raw: str
    reason: str = ""


@dataclass
class Batch:
    statuses: list[StatusEvent] = field(default_factory=list)
    inbound: list[Inbound] = field(default_factory=list)
    preferences: list[Preference] = field(default_factory=list)
    templates: list[TemplateChange] = field(default_factory=list)
    accounts: list[AccountChange] = field(default_factory=list)
    other: list[Other] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(
            map(
                len,
                (self.statuses, self.inbound, self.preferences, self.templates, self.accounts, self.other),
            )
        )


def parse(raw: bytes, now: int | None = None) -> Batch:
    """A signed body -> its events. WebhookRejected(400) when it is not JSON or not a webhook envelope;
    inside, an item that does not parse is kept as ``Other("invalid")`` and the rest is read."""
    now = int(time.time()) if now is None else now
    try:
        document = from_json(raw, allow_inf_nan=False)
    except ValueError as exc:
        raise WebhookRejected(400, f"malformed JSON: {exc}") from None
    try:
        envelope = Envelope.model_validate(document)
    except ValidationError as exc:
        raise WebhookRejected(400, "not a webhook envelope: " + _first_error(exc)) from None
    if envelope.object != "whatsapp_business_account":
        logger.warning("unexpected webhook object", extra={"object": envelope.object})
    batch = Batch()
    for item in envelope.entry:
        try:
            entry = Entry.model_validate(item)
        except ValidationError as exc:
            batch.other.append(_invalid("entry", item, exc, now))
            continue
        for change_item in entry.changes:
            try:
                change = Change.model_validate(change_item)
            except ValidationError as exc:
                batch.other.append(_invalid("change", change_item, exc, now))
                continue
            _read_change(batch, entry, change, now)
    return batch


def _read_change(batch: Batch, entry: Entry, change: Change, now: int) -> None:
    at = entry.time or now
    value = change.value
    if change.field == "messages":
        _read_messages(batch, entry, value, at)
    elif change.field == "user_preferences":
        for item in _items(batch, value, "user_preferences", at):
            try:
                pref = PreferenceWire.model_validate(item)
            except ValidationError as exc:
                batch.other.append(_invalid("user_preferences", item, exc, at))
                continue
            batch.preferences.append(
                Preference(pref.wa_id, pref.value, pref.category, pref.timestamp, pref.detail)
            )
    elif change.field == "message_template_status_update":
        try:
            tpl = TemplateStatusWire.model_validate(value)
        except ValidationError as exc:
            batch.other.append(_invalid(change.field, value, exc, at))
            return
        raw, _ = _raw(value)
        batch.templates.append(
            TemplateChange(
                tpl.message_template_name,
                tpl.message_template_language,
                tpl.event.upper(),
                tpl.reason,
                tpl.message_template_id,
                at,
                raw,
            )
        )
    elif change.field == "account_update":
        try:
            account = AccountUpdateWire.model_validate(value)
        except ValidationError as exc:
            batch.other.append(_invalid(change.field, value, exc, at))
            return
        waba = account.waba_info.waba_id if account.waba_info else None
        waba = waba or entry.id
        if account.event == MM_TERMS_SIGNED and waba:
            owner = account.waba_info.owner_business_id if account.waba_info else None
            batch.accounts.append(AccountChange(waba, account.event, owner, at, _raw(value)[0]))
        else:
            batch.other.append(Other(f"account_update.{account.event}", at, _raw(value)[0]))
    else:
        logger.info("webhook field kept raw", extra={"field": change.field})
        batch.other.append(Other(change.field, at, _raw(value)[0]))


_MESSAGES_KEYS = frozenset({"messaging_product", "metadata", "statuses", "messages", "contacts"})


def _read_messages(batch: Batch, entry: Entry, value: dict[str, Any], at: int) -> None:
    metadata = Metadata.model_validate(value["metadata"]) if isinstance(value.get("metadata"), dict) else None
    phone_number_id = metadata.phone_number_id if metadata else None
    for item in _items(batch, value, "statuses", at):
        try:
            wire = StatusWire.model_validate(item)
        except ValidationError as exc:
            batch.other.append(_invalid("statuses", item, exc, at))
            continue
        batch.statuses.append(_status_event(wire, item, phone_number_id, entry.id))
    contacts = value.get("contacts") if isinstance(value.get("contacts"), list) else []
    for item in _items(batch, value, "messages", at):
        try:
            wire_message = InboundWire.model_validate(item)
        except ValidationError as exc:
            batch.other.append(_invalid("messages", item, exc, at))
            continue
        contact = next(
            (c for c in contacts if isinstance(c, dict) and c.get("wa_id") == wire_message.sender),
            contacts[0] if len(contacts) == 1 and isinstance(contacts[0], dict) else None,
        )
        batch.inbound.append(
            Inbound(
                wire_message.id,
                wire_message.sender,
                wire_message.type,
                wire_message.timestamp,
                wire_message.context.id if wire_message.context else None,
                item,
                contact,
                value["metadata"] if isinstance(value.get("metadata"), dict) else {},
                entry.id,
            )
        )
    for kind in ("errors", "user_actions"):  # system errors (e.g. 130429) and MM API click events
        for item in _items(batch, value, kind, at):
            if kind == "errors":
                logger.error("webhook system error", extra={"code": _code(item), "title": _title(item)})
            batch.other.append(Other(kind, at, _raw(item)[0]))
    extra = {k: v for k, v in value.items() if k not in _MESSAGES_KEYS | {"errors", "user_actions"}}
    if extra:
        logger.info("unknown webhook keys kept raw", extra={"keys": sorted(extra)[:20]})
        batch.other.append(Other("messages.unknown", at, _raw(extra)[0]))


def _items(batch: Batch, value: Mapping[str, Any], key: str, at: int) -> list[Any]:
    items = value.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        batch.other.append(Other("invalid", at, _raw({key: items})[0], f"{key}: not a list"))
        return []
    return items


def _status_event(
    wire: StatusWire, item: Mapping[str, Any], phone_number_id: str | None, waba_id: str | None
) -> StatusEvent:
    raw, truncated = _raw(item)
    pricing = wire.pricing or Pricing()
    origin = wire.conversation.origin.type if wire.conversation and wire.conversation.origin else None
    status = wire.status.lower()
    if status not in statuses.RANK:
        logger.warning("unknown status kept", extra={"wamid": wire.id, "status": status})
    category = pricing.category
    if (category or origin) and statuses.path_for(category or origin) not in statuses.PATHS.values():
        logger.info(
            "non-marketing pricing category", extra={"wamid": wire.id, "category": category or origin}
        )
    return StatusEvent(
        wamid=wire.id,
        status=status,
        timestamp=wire.timestamp,
        recipient_id=wire.recipient_id or "",
        recipient_user_id=wire.recipient_user_id,
        pricing_category=category,
        billable=pricing.billable,
        pricing_model=pricing.pricing_model,
        pricing_type=pricing.type,
        origin_type=origin,
        errors=tuple(_error(e) for e in (wire.errors or [])[:_ERRORS_MAX] if isinstance(e, dict)),
        biz_opaque_callback_data=wire.biz_opaque_callback_data,
        phone_number_id=phone_number_id,
        waba_id=waba_id,
        raw=raw,
        raw_truncated=truncated,
    )


def _error(item: Mapping[str, Any]) -> dict[str, Any]:
    """One failed status's ``errors[]`` item: code, title, details (bounded for storage)."""
    error = GraphError.from_webhook_error(item)
    code = error.code if error.code is not None and 0 <= error.code < 10**12 else None
    return {
        k: v
        for k, v in {
            "code": code,
            "title": _cap(error.title or error.rule.title),
            "message": _cap(error.message),
            "details": _cap(error.details),
            "action": error.rule.action.value,
        }.items()
        if v is not None
    }


def _code(item: Any) -> int | None:
    return _error(item).get("code") if isinstance(item, dict) else None


def _title(item: Any) -> str | None:
    return _error(item).get("title") if isinstance(item, dict) else None


def _cap(text: str | None, limit: int = _TEXT_MAX) -> str | None:
    return text if text is None or len(text) <= limit else text[: limit - 1] + "…"


def _raw(value: Any) -> tuple[str, bool]:
    """The item as received, as compact JSON text; cut (flag True) past what one item may hold."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    if len(text) <= _RAW_MAX_CHARS:
        return text, False
    return text[:_RAW_MAX_CHARS], True


def _invalid(kind: str, item: Any, exc: ValidationError, at: int) -> Other:
    reason = _first_error(exc)
    logger.warning("webhook item kept raw: it does not parse", extra={"kind": kind, "reason": reason})
    return Other("invalid", at, _raw(item)[0], f"{kind}: {reason}")


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error.get("loc", ())) or "body"
    return _cap(f"{where}: {error.get('msg', 'invalid')}", 200) or "invalid"


# ---------------------------------------------------------------- storing a batch


@dataclass
class Summary:
    counts: Counter[str] = field(default_factory=Counter)
    paths: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class _Suppression:
    digits: str
    at: int
    kind: str  # "stop" | "resume" | "rest"
    code: int | None = None
    reason: str = ""
    until: int | None = None


_KIND_ORDER = {"rest": 0, "stop": 1, "resume": 2}


class Ingestor:
    """Stores what one POST carries. Build one per warm container: it keeps a thread pool for the
    independent DynamoDB calls (boto3 clients are thread-safe), sized to the client's connection pool."""

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        events: Callable[[], Any] | None = None,
        bus_name: str = "",
        clock: Callable[[], float] = time.time,
        workers: int | None = None,
    ) -> None:
        self.client = client
        self.table = table
        self.events = events
        self.bus_name = bus_name
        self.clock = clock
        self.ledger = Ledger(client, table)
        if workers is None:  # more threads than pooled connections would only queue (and warn)
            config = getattr(getattr(client, "meta", None), "config", None)
            workers = getattr(config, "max_pool_connections", None) or 10
        self._pool = ThreadPoolExecutor(max_workers=max(workers, 1), thread_name_prefix="webhook")

    def ingest(self, batch: Batch) -> Summary:
        """Store everything; StoreUnavailable when AWS failed (nothing is acknowledged that is not stored)."""
        try:
            return self._ingest(batch, int(self.clock()))
        except (BotoCoreError, ClientError) as exc:
            logger.exception("webhook not stored: Meta will retry")
            raise StoreUnavailable(str(exc)) from exc

    def _ingest(self, batch: Batch, now: int) -> Summary:
        summary = Summary()
        counts = summary.counts
        events = list({e.key: e for e in batch.statuses}.values())
        inbound = list({m.wamid: m for m in batch.inbound}.values())
        counts["duplicates"] += len(batch.statuses) - len(events) + len(batch.inbound) - len(inbound)

        # 1. One consistent read (BatchGetItem, 100 keys a call, in parallel): what is already stored (each
        # event's own item is written last: skip it), and each wamid's STATE and LINK. Keys that are not there
        # cost DynamoDB next to nothing, which is the common case for events.
        wamids = list(dict.fromkeys(e.wamid for e in events if e.rank))
        contexts = [m.context_id for m in inbound if m.context_id]
        found = self._read(
            [keys.status_event(e.wamid, e.timestamp, e.status) for e in events]
            + [_inbound_key(m.wamid) for m in inbound]
            + [keys.wamid_state(w) for w in wamids]
            + [keys.wamid_link(w) for w in dict.fromkeys([*wamids, *contexts])]
        )
        new_events = [e for e in events if (f"WAMID#{e.wamid}", e.sk) not in found]
        new_inbound = [m for m in inbound if (f"INBOUND#{m.wamid}", "MSG") not in found]
        counts["duplicates"] += len(events) - len(new_events) + len(inbound) - len(new_inbound)
        counts["statuses"] += len(new_events)
        counts["unknown_statuses"] += sum(1 for e in new_events if e.rank == 0)
        for e in new_events:
            if e.path:
                summary.paths[e.path] += 1

        # 2. State first (then links, read consistently: see mmcore.statuses.reconcile), side effects.
        by_wamid: dict[str, list[StatusEvent]] = defaultdict(list)
        for e in new_events:
            if e.rank:
                by_wamid[e.wamid].append(e)
        by_user: dict[str, list[_Suppression]] = defaultdict(list)
        for s in self._suppressions(new_events, batch.preferences, now, counts):
            by_user[s.digits].append(s)
        by_template: dict[str, list[TemplateChange]] = defaultdict(list)
        for t in batch.templates:
            by_template[f"{t.name}:{t.language}"].append(t)
        tasks: list[Callable[[], Any]] = [
            lambda wamid=wamid, group=group: self._advance(group, found.get((f"WAMID#{wamid}", STATE)), now)
            for wamid, group in by_wamid.items()
        ]
        outcomes = self._run(
            tasks
            + [lambda group=group: self._template(group, now) for group in by_template.values()]
            + [lambda a=a: self._account(a, now) for a in batch.accounts]
            + [lambda o=o: self._other(o, now) for o in batch.other]
        )
        latest: dict[str, dict[str, Any]] = {}
        for wamid, (state, changed) in zip(by_wamid, outcomes[: len(tasks)], strict=True):
            counts["transitions"] += changed
            if state is not None:
                latest[wamid] = state
        for outcome in outcomes[len(tasks) :]:
            if isinstance(outcome, Counter):
                counts.update(outcome)
        # Opt-outs are transactions and rare: one after another, once the other writes are done, so no
        # transaction races a write of the same POST.
        for group in by_user.values():
            counts.update(self._suppress(group, now))
        counts["other"] += len(batch.other)
        counts["invalid"] += sum(1 for o in batch.other if o.kind == "invalid")

        # 3. Links: which message each wamid (and each reply's context) belongs to. A link never changes, so
        # the ones step 1 found hold; the others are read again, now that the state is written.
        links = {pk.removeprefix("WAMID#"): _link(item) for (pk, sk), item in found.items() if sk == LINK}
        wanted = [*latest, *(m.context_id for m in new_inbound if m.context_id)]
        links.update(self._links([w for w in wanted if w not in links]))

        # 4. Mirror onto the messages; hand replies to the bus.
        mirror = [
            (links[w]["message_id"], s) for w, s in latest.items() if links.get(w, {}).get("message_id")
        ]
        counts["awaiting_sender"] += len(latest) - len(mirror)
        publish = [lambda: self._publish(new_inbound, links)] if new_inbound else []
        applied = self._run(
            [lambda m=m, s=s: statuses.apply_to_message(self.client, self.table, m, s) for m, s in mirror]
            + publish
        )
        counts["mirrored"] += sum(applied[: len(mirror)])
        counts["published"] += sum(applied[len(mirror) :])

        # 5. Each event's own item, last: the "done" marker a retry checks. Events in BatchWriteItems (an
        # event's key decides its content: writing it twice leaves one item), replies one conditional put each.
        items = [e.event_item(now) for e in new_events]
        written = self._run(
            [lambda: batch_write(self.client, self.table, items)]
            + [lambda m=m: self._put_new(_inbound_item(m, links, now)) for m in new_inbound]
        )[1:]
        counts["stored"] += len(new_events)
        counts["inbound"] += sum(written)
        counts["duplicates"] += written.count(False)
        return summary

    # -------------------------------------------------------------- steps

    def _run(self, tasks: Sequence[Callable[[], Any]]) -> list[Any]:
        """Run independent calls on the pool; every one finishes before the first error is raised."""
        if len(tasks) <= 1:
            return [task() for task in tasks]
        futures = [self._pool.submit(task) for task in tasks]
        wait(futures)
        return [f.result() for f in futures]

    def _read(self, keys: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Consistent reads: (pk, sk) -> the item (plain values) for those that exist."""
        found = batch_get(self.client, self.table, keys)
        return {(item["pk"]["S"], item["sk"]["S"]): from_item(item) for item in found}

    def _links(self, wamids: list[str]) -> dict[str, dict[str, str]]:
        wanted = [keys.wamid_link(w) for w in wamids]
        found = batch_get(self.client, self.table, wanted, ("message_id", "campaign_id"))
        return {item["pk"]["S"].removeprefix("WAMID#"): _link(from_item(item)) for item in found}

    def _advance(
        self, events: list[StatusEvent], found: Mapping[str, Any] | None, now: int
    ) -> tuple[dict[str, Any] | None, bool]:
        """One wamid's events, on its state as read: (the newest state snapshot, whether they changed it)."""
        recorded = statuses.advance(self.client, self.table, events, found, now)
        return recorded.state, recorded.changed

    def _put_new(self, item: dict[str, Any]) -> bool:
        """Conditional put: False when the item already exists (a duplicate delivered concurrently)."""
        try:
            self.client.put_item(
                TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # -------------------------------------------------------------- suppressions

    def _suppressions(
        self, events: list[StatusEvent], preferences: list[Preference], now: int, counts: Counter[str]
    ) -> list[_Suppression]:
        out = []
        for e in events:
            if e.status != "failed":
                continue
            codes = {error.get("code") for error in e.errors}
            digits = "".join(ch for ch in e.recipient_id if ch.isdigit())
            if not codes & {OPT_OUT_CODE, USER_LIMIT_CODE}:
                continue
            if not digits:  # a BSUID send: no phone number to suppress
                logger.info("failed status without recipient_id: not suppressed", extra={"wamid": e.wamid})
                continue
            if OPT_OUT_CODE in codes:
                out.append(_Suppression(digits, e.timestamp, "stop", OPT_OUT_CODE, "failed status 131050"))
            elif (until := e.timestamp + USER_LIMIT_REST_SECONDS) > now:
                out.append(
                    _Suppression(digits, e.timestamp, "rest", USER_LIMIT_CODE, "failed status 131049", until)
                )
        for p in preferences:
            if p.category not in (None, "marketing_messages") or p.value not in ("stop", "resume"):
                logger.warning(
                    "user preference kept, not applied", extra={"category": p.category, "value": p.value}
                )
                counts["preferences_ignored"] += 1
                continue
            out.append(
                _Suppression(p.digits, p.timestamp, p.value, None, p.detail or f"user_preferences {p.value}")
            )
        return out

    def _suppress(self, group: list[_Suppression], now: int) -> Counter[str]:
        done: Counter[str] = Counter()
        for s in sorted(group, key=lambda s: (s.at, _KIND_ORDER[s.kind])):
            if s.kind == "resume":
                done["resumes"] += self._resume(s, now)
            elif s.kind == "stop":
                done["opt_outs"] += self._opt_out(s, now)
            else:
                done["rests"] += self._rest(s, now)
            logger.info("suppression %s", s.kind, extra={"to": mask(s.digits), "code": s.code})
        return done

    def _suppress_item(self, s: _Suppression, now: int) -> dict[str, Any]:
        return to_item(
            {
                **_plain(keys.suppression(s.digits)),
                "since": s.at,
                "until": s.until,
                "code": s.code,
                "reason": _cap(s.reason),
                "source": "webhook",
                "updated_at": now,
                "expires_at": s.until + 86400 if s.until else None,
            }
        )

    def _opt_out(self, s: _Suppression, now: int) -> bool:
        """Suppressed until a resume, unless a resume newer than this event is on record."""
        values = to_item({":at": s.at})
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": self.table,
                            "Key": _resume_key(s.digits),
                            "ConditionExpression": "attribute_not_exists(pk) OR resumed_at < :at",
                            "ExpressionAttributeValues": values,
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": self._suppress_item(s, now),
                            # a rest (until) becomes an opt-out; an older opt-out is refreshed
                            "ConditionExpression": "attribute_not_exists(pk) OR attribute_exists(#until) "
                            "OR attribute_not_exists(since) OR since < :at",
                            "ExpressionAttributeNames": {"#until": "until"},
                            "ExpressionAttributeValues": values,
                        }
                    },
                ]
            )
        except self.client.exceptions.TransactionCanceledException as exc:
            reasons = {r.get("Code") for r in exc.response.get("CancellationReasons", [])}
            if reasons <= {"None", "ConditionalCheckFailed"}:
                return False
            raise
        return True

    def _rest(self, s: _Suppression, now: int) -> bool:
        """131049: no marketing to this user until ``until``; never shortens a rest or lifts an opt-out."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item=self._suppress_item(s, now),
                ConditionExpression="attribute_not_exists(pk) OR (attribute_exists(#until) AND #until < :until)",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues=to_item({":until": s.until}),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _resume(self, s: _Suppression, now: int) -> bool:
        """Record the resume (newest wins), then lift an opt-out that is not newer than it."""
        # A newer resume may be on record already; the delete below is still guarded by this one's time.
        with contextlib.suppress(self.client.exceptions.ConditionalCheckFailedException):
            self.client.put_item(
                TableName=self.table,
                Item=to_item(
                    {
                        **_plain(_resume_key(s.digits)),
                        "resumed_at": s.at,
                        "updated_at": now,
                        "expires_at": now + RETENTION_SECONDS,
                    }
                ),
                ConditionExpression="attribute_not_exists(pk) OR resumed_at < :at",
                ExpressionAttributeValues=to_item({":at": s.at}),
            )
        try:
            self.client.delete_item(
                TableName=self.table,
                Key=keys.suppression(s.digits),
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(#until) "
                "AND (attribute_not_exists(since) OR since <= :at)",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues=to_item({":at": s.at}),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # -------------------------------------------------------------- templates, account, the rest

    def _template(self, group: list[TemplateChange], now: int) -> Counter[str]:
        done: Counter[str] = Counter()
        for t in sorted(group, key=lambda t: t.at):
            key = f"{t.name}:{t.language}"
            pk = f"TEMPLATE#{key}"
            self._put_new(
                to_item(
                    {
                        "pk": pk,
                        "sk": f"EVT#{t.at}#{t.event}",
                        "event": t.event,
                        "reason": _cap(t.reason),
                        "template_id": t.template_id,
                        "raw": t.raw,
                        "received_at": now,
                        "expires_at": now + RETENTION_SECONDS,
                    }
                )
            )
            try:  # the latest status per template, forward by event time: a late event decides nothing
                self.client.put_item(
                    TableName=self.table,
                    Item=to_item(
                        {
                            "pk": pk,
                            "sk": "STATUS",
                            "name": t.name,
                            "language": t.language,
                            "status": t.event,
                            "reason": _cap(t.reason),
                            "template_id": t.template_id,
                            "event_at": t.at,
                            "updated_at": now,
                        }
                    ),
                    ConditionExpression="attribute_not_exists(pk) OR event_at <= :at",
                    ExpressionAttributeValues=to_item({":at": t.at}),
                )
            except self.client.exceptions.ConditionalCheckFailedException:
                continue
            log = {"template": key, "event": t.event, "reason": t.reason}
            if t.language is None and (t.event in TEMPLATE_HALTS or t.event in TEMPLATE_RELEASES):
                logger.warning("template status without language: no halt change", extra=log)
            elif t.event in TEMPLATE_HALTS:
                seconds, code = TEMPLATE_HALTS[t.event]
                self.ledger.halt(
                    "template", key, now + seconds, code, f"template {t.event}: {t.reason or ''}"
                )
                done["template_halts"] += 1
                logger.error("template halted by webhook", extra=log)
            elif t.event in TEMPLATE_RELEASES:
                self.client.delete_item(TableName=self.table, Key=keys.halt("template", key))
                done["template_releases"] += 1
                logger.info("template released by webhook", extra=log)
            else:
                logger.info("template status recorded", extra=log)
        return done

    def _account(self, a: AccountChange, now: int) -> Counter[str]:
        try:
            self.client.put_item(
                TableName=self.table,
                Item=to_item(
                    {
                        "pk": f"ACCOUNT#{a.waba_id}",
                        "sk": "ONBOARDING",
                        "waba_id": a.waba_id,
                        "status": "ONBOARDED",
                        "event": a.event,
                        "owner_business_id": a.owner_business_id,
                        "event_at": a.at,
                        "raw": a.raw,
                        "updated_at": now,
                    }
                ),
                ConditionExpression="attribute_not_exists(pk) OR event_at <= :at",
                ExpressionAttributeValues=to_item({":at": a.at}),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return Counter()
        logger.info("MM API terms signed", extra={"waba_id": a.waba_id})
        return Counter(onboarded=1)

    def _other(self, o: Other, now: int) -> Counter[str]:
        digest = hashlib.blake2b(f"{o.kind}\n{o.raw}".encode(), digest_size=12).hexdigest()
        self._put_new(
            to_item(
                {
                    "pk": f"WEBHOOK#{o.kind}",
                    "sk": f"EVT#{o.at}#{digest}",
                    "kind": o.kind,
                    "reason": o.reason or None,
                    "raw": o.raw,
                    "received_at": now,
                    "expires_at": now + RETENTION_SECONDS,
                }
            )
        )
        return Counter()

    # -------------------------------------------------------------- replies -> EventBridge

    def _publish(self, messages: list[Inbound], links: Mapping[str, Mapping[str, str]]) -> int:
        """PutEvents in tens; an entry that keeps failing raises (5xx: Meta retries, and the consumer
        dedupes what was already delivered on ``detail.message.id``)."""
        if not messages:
            return 0
        if not self.bus_name or self.events is None:
            logger.debug("no event bus configured: replies stored, not published")
            return 0
        entries = [self._entry(m, links) for m in messages]
        events = self.events()
        for start in range(0, len(entries), _PUT_EVENTS_MAX):
            pending = entries[start : start + _PUT_EVENTS_MAX]
            for _attempt in range(3):
                answer = events.put_events(Entries=pending)
                if not answer.get("FailedEntryCount"):
                    break
                pending = [e for e, r in zip(pending, answer["Entries"], strict=True) if r.get("ErrorCode")]
            else:
                raise StoreUnavailable(f"EventBridge refused {len(pending)} events")
        return len(entries)

    def _entry(self, m: Inbound, links: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
        link = links.get(m.context_id or "") or {}
        detail: dict[str, Any] = {
            "message": m.message,
            "contact": m.contact,
            "metadata": m.metadata,
            "waba_id": m.waba_id,
            "in_reply_to": {"wamid": m.context_id, **link} if m.context_id else None,
        }
        try:
            text = json.dumps(detail, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except ValueError:
            text = ""
        if (
            not text or len(text.encode()) > _EVENT_MAX_BYTES
        ):  # too big for an event: point to the stored copy
            text = json.dumps(
                {
                    "message": {"id": m.wamid, "from": m.sender, "type": m.type, "timestamp": m.timestamp},
                    "truncated": True,
                    "stored": {"pk": f"INBOUND#{m.wamid}", "sk": "MSG"},
                    "waba_id": m.waba_id,
                    "in_reply_to": detail["in_reply_to"],
                },
                ensure_ascii=False,
                default=str,
            )
        entry = {
            "Source": EVENT_SOURCE,
            "DetailType": EVENT_DETAIL_TYPE,
            "Detail": text,
            "EventBusName": self.bus_name,
        }
        if m.timestamp:
            entry["Time"] = datetime.fromtimestamp(m.timestamp, UTC)
        return entry


def _link(item: Mapping[str, Any]) -> dict[str, str]:
    return {k: item[k] for k in ("message_id", "campaign_id") if isinstance(item.get(k), str)}


def _inbound_key(wamid: str) -> dict[str, Any]:
    return {"pk": {"S": f"INBOUND#{wamid}"}, "sk": {"S": "MSG"}}


def _resume_key(digits: str) -> dict[str, Any]:
    return {"pk": {"S": f"SUPPRESS#{digits}"}, "sk": {"S": "RESUME"}}


def _plain(key: Mapping[str, Any]) -> dict[str, str]:
    return {k: v["S"] for k, v in key.items()}


def _inbound_item(m: Inbound, links: Mapping[str, Mapping[str, str]], now: int) -> dict[str, Any]:
    raw, truncated = _raw(m.message)
    link = links.get(m.context_id or "") or {}
    button = m.message.get("button") if isinstance(m.message.get("button"), dict) else {}
    return to_item(
        {
            **_plain(_inbound_key(m.wamid)),
            "wamid": m.wamid,
            "from": m.sender,
            "type": m.type,
            "timestamp": m.timestamp,
            "context_id": m.context_id,
            "in_reply_to_message_id": link.get("message_id"),
            "campaign_id": link.get("campaign_id"),
            "button_payload": _cap(button.get("payload")) if isinstance(button.get("payload"), str) else None,
            "phone_number_id": _cap(str(m.metadata.get("phone_number_id")), 64)
            if m.metadata.get("phone_number_id") is not None
            else None,
            "waba_id": m.waba_id,
            "raw": raw,
            "raw_truncated": truncated or None,
            "received_at": now,
            "expires_at": now + RETENTION_SECONDS,
        }
    )
