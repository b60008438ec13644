"""Signed webhook POSTs in Meta's envelope: message statuses, inbound replies, user preferences.

Nothing here runs on the request path: a send only puts statuses on a queue (or starts a timer task when
delays are configured); worker tasks POST them with an aiohttp client, retrying non-200 answers with bounded
backoff like Meta does.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
from collections import deque
from dataclasses import dataclass
from typing import Any

import aiohttp

from .errors import GraphError
from .state import Message, SimState, stable_unit
from .users import contact, user_id_for

SIGNATURE_HEADER = "X-Hub-Signature-256"
CONVERSATION_SECONDS = 24 * 3600


def sign(app_secret: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the exact body bytes with the app secret."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


# Payloads.


def envelope(waba_id: str, changes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "whatsapp_business_account", "entry": [{"id": waba_id, "changes": changes}]}


def change(state: SimState, field_name: str, **parts: Any) -> dict[str, Any]:
    config = state.config
    metadata = {
        "display_phone_number": config.display_phone_number,
        "phone_number_id": config.phone_number_id,
    }
    return {"field": field_name, "value": {"messaging_product": "whatsapp", "metadata": metadata, **parts}}


def status_event(
    state: SimState, message: Message, status: str, at: float, failure: GraphError | None = None
) -> dict[str, Any]:
    """One ``statuses[]`` item. ``pricing`` rides on sent and delivered (Meta: sent + one of delivered/read);
    ``conversation`` only in the v23 shape (``include_conversation``)."""
    config = state.config
    event: dict[str, Any] = {"id": message.wamid, "status": status, "timestamp": str(int(at))}
    # 2026 [BSUID]: `recipient_id` omitted for a BSUID send; `recipient_user_id` always, except on a failed
    # message sent to a phone number.
    if message.wa_id:
        event["recipient_id"] = message.wa_id
    if not (status == "failed" and message.wa_id):
        event["recipient_user_id"] = user_id_for(state, message.wa_id) if message.wa_id else message.to
    if status in ("sent", "delivered"):
        if config.include_conversation:
            seed = f"{config.seed}:{message.wa_id or message.to}:{message.pricing_category}"
            conversation: dict[str, Any] = {"id": hashlib.blake2b(seed.encode(), digest_size=16).hexdigest()}
            if status == "sent":
                conversation["expiration_timestamp"] = str(int(message.accepted_at) + CONVERSATION_SECONDS)
            conversation["origin"] = {"type": message.pricing_category}
            event["conversation"] = conversation
        event["pricing"] = _pricing(message)
    if message.cost is not None and status in ("delivered", "read"):  # a max-price message's estimate [MAXP]
        event.setdefault("pricing", _pricing(message))["cost"] = message.cost
    if failure is not None:
        event["errors"] = [failure.webhook_error()]
    return event


def _pricing(message: Message) -> dict[str, Any]:
    return {"billable": True, "pricing_model": "PMP", "type": "regular", "category": message.pricing_category}


def status_contacts(state: SimState, message: Message, status: str) -> list[dict[str, Any]]:
    """``value.contacts[]`` beside a status (2026 [BSUID]); a ``failed`` status has none."""
    return [] if status == "failed" else [contact(state, message.wa_id or message.to)]


def status_plan(state: SimState, message: Message, failure: GraphError | None) -> list[tuple[str, float]]:
    """(status, seconds after acceptance) for one message, fixed by the seed and the wamid."""
    config = state.config
    at = config.sent_delay
    if failure is not None:
        return [("failed", at)]
    plan = [("sent", at)]
    if stable_unit(config.seed, "delivered", message.wamid) < config.delivered_ratio:
        at += config.delivered_delay
        plan.append(("delivered", at))
        if stable_unit(config.seed, "read", message.wamid) < config.read_ratio:
            at += config.read_delay
            plan.append(("read", at))
    return plan


def inbound_change(
    state: SimState,
    user: str,
    message: dict[str, Any],
    name: str | None = None,
) -> dict[str, Any]:
    """A user's message; ``user`` is a phone number or, for a user who shares none, a BSUID."""
    return change(state, "messages", contacts=[contact(state, user, name)], messages=[message])


def preference_change(state: SimState, user: str, value: str, name: str | None = None) -> dict[str, Any]:
    """A stop/resume; by BSUID alone it carries ``user_id`` and no ``wa_id`` (2026 [BSUID])."""
    # `timestamp` is a number here, as in Meta's user_preferences example.
    detail = (
        "User requested to stop marketing messages" if value == "stop" else "User resumed marketing messages"
    )
    who = contact(state, user, name)
    preference = {
        **{key: who[key] for key in ("wa_id", "user_id") if key in who},
        "detail": detail,
        "category": "marketing_messages",
        "value": value,
        "timestamp": int(state.clock.now()),
    }
    return change(state, "user_preferences", contacts=[who], user_preferences=[preference])


# Delivery.


@dataclass(slots=True)
class Delivery:
    """One POST attempt to the callback URL."""

    seq: int
    time: float
    url: str
    body: bytes
    signature: str
    attempt: int
    status: int | None = None
    error: str | None = None

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "url": self.url,
            "attempt": self.attempt,
            "status": self.status,
            "error": self.error,
            "signature": self.signature,
            "payload": self.payload,
        }


@dataclass(slots=True)
class _Post:
    body: bytes
    units: int  # queued items (or duplicate copies) this POST settles
    attempt: int = 0


@dataclass(slots=True)
class _Item:
    change: dict[str, Any]
    key: str  # stable identity for the duplicate draw
    status: dict[str, Any] | None = None


class WebhookDispatcher:
    """Queue, workers and retry timers; ``pending`` counts everything not yet settled."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.deliveries: deque[Delivery] = deque(maxlen=state.config.request_log_limit)
        self._seq = itertools.count(1)
        self._pending = 0
        self._queue: asyncio.Queue[_Item] | None = None
        self._idle: asyncio.Event | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._idle = asyncio.Event()
        self._idle.set()
        self._session = aiohttp.ClientSession()
        for _ in range(max(1, self.state.config.webhook_concurrency)):
            self._spawn(self._worker())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    @property
    def pending(self) -> int:
        return self._pending

    async def wait_idle(self, timeout: float) -> bool:
        """True once every scheduled webhook is delivered or given up; False after ``timeout`` seconds."""
        assert self._idle is not None
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # Producers, called on the event loop.

    def message_accepted(self, message: Message, failure: GraphError | None) -> None:
        config = self.state.config
        if not config.webhook_url:
            return
        plan = status_plan(self.state, message, failure)
        reorder = (
            config.reorder_ratio and stable_unit(config.seed, "reorder", message.wamid) < config.reorder_ratio
        )
        if reorder or any(delay for _, delay in plan):
            self._add(1)
            self._spawn(self._play(message, failure, plan, bool(reorder)))
        else:
            for status, delay in plan:
                self._enqueue_status(message, status, message.accepted_at + delay, failure)

    def publish(self, payload: dict[str, Any], key: str) -> None:
        """Queue a non-status change (inbound message, user preference)."""
        if self.state.config.webhook_url:
            self._add(1)
            assert self._queue is not None
            self._queue.put_nowait(_Item(payload, key))

    # Internals.

    async def _play(
        self, message: Message, failure: GraphError | None, plan: list[tuple[str, float]], reorder: bool
    ) -> None:
        try:
            if reorder:  # everything at the end, newest first
                await asyncio.sleep(plan[-1][1])
                for status, delay in reversed(plan):
                    self._enqueue_status(message, status, message.accepted_at + delay, failure)
                return
            elapsed = 0.0
            for status, delay in plan:
                if delay > elapsed:
                    await asyncio.sleep(delay - elapsed)
                    elapsed = delay
                self._enqueue_status(message, status, message.accepted_at + delay, failure)
        finally:
            self._done(1)

    def _enqueue_status(self, message: Message, status: str, at: float, failure: GraphError | None) -> None:
        event = status_event(self.state, message, status, at, failure)
        contacts = status_contacts(self.state, message, status)
        value = change(
            self.state, "messages", **({"contacts": contacts} if contacts else {}), statuses=[event]
        )
        self._add(1)
        assert self._queue is not None
        self._queue.put_nowait(_Item(value, f"{message.wamid}:{status}", event))

    async def _worker(self) -> None:
        assert self._queue is not None
        while True:
            items = [await self._queue.get()]
            config = self.state.config
            while len(items) < max(1, config.webhook_batch_size) and not self._queue.empty():
                items.append(self._queue.get_nowait())
            body = json.dumps(envelope(config.waba_id, _merge(items)), separators=(",", ":")).encode()
            duplicate = stable_unit(config.seed, "duplicate", items[0].key) < config.duplicate_ratio
            if duplicate:
                self._add(1)
                self._spawn(self._post(_Post(body, 1)))
            await self._post(_Post(body, len(items)))

    async def _post(self, post: _Post) -> None:
        config = self.state.config
        url = config.webhook_url
        signature = sign(config.app_secret, post.body)
        delivery = Delivery(
            next(self._seq), self.state.clock.now(), url or "", post.body, signature, post.attempt
        )
        self.deliveries.append(delivery)
        if url:
            try:
                assert self._session is not None
                async with self._session.post(
                    url,
                    data=post.body,
                    headers={
                        "Content-Type": "application/json",
                        SIGNATURE_HEADER: signature,
                        "User-Agent": "facebookexternalua",
                    },
                    timeout=aiohttp.ClientTimeout(total=config.webhook_timeout),
                ) as response:
                    await response.read()
                    delivery.status = response.status
            except Exception as exc:  # any failure to deliver is Meta's "no 200": retry, then give up
                delivery.error = f"{type(exc).__name__}: {exc}"
        if delivery.status != 200 and url and post.attempt < config.webhook_max_retries:
            post.attempt += 1
            backoff = config.webhook_retry_backoff * 2 ** (post.attempt - 1)
            asyncio.get_running_loop().call_later(backoff, lambda: self._spawn(self._post(post)))
            return
        self._done(post.units)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _add(self, units: int) -> None:
        self._pending += units
        assert self._idle is not None
        self._idle.clear()

    def _done(self, units: int) -> None:
        self._pending -= units
        if self._pending <= 0:
            self._pending = 0
            assert self._idle is not None
            self._idle.set()


def _merge(items: list[_Item]) -> list[dict[str, Any]]:
    """Batch: all statuses in one ``messages`` change (their contacts once each), other changes after it."""
    statuses = [item.status for item in items if item.status is not None]
    changes = [item.change for item in items if item.status is None]
    if not statuses:
        return changes
    first = next(item for item in items if item.status is not None).change
    contacts = {
        who["user_id"]: who
        for item in items
        if item.status is not None
        for who in item.change["value"].get("contacts", [])
    }
    value = {**first["value"], "statuses": statuses}
    if contacts:
        value["contacts"] = list(contacts.values())
    return [{"field": "messages", "value": value}, *changes]
