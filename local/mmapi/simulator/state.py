"""What the simulated Meta remembers: the clock, templates, accepted messages, limits and the request log."""

from __future__ import annotations

import base64
import hashlib
import itertools
import random
import threading
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from typing import Any

from .config import SimulatorConfig
from .validation import TemplateSpec


class Clock:
    """Wall time plus an offset that tests move forward with :meth:`advance`.

    ``frozen=True`` stops real time from passing: only ``advance`` moves it, for fully deterministic timestamps
    and windows. The sliding 1-second throughput window, the pair limit, template sync and the webhook
    timestamps all read this clock.
    """

    def __init__(self, start: float | None = None, *, frozen: bool = False) -> None:
        self._frozen = frozen
        if start is None:  # whole seconds when frozen, so advancing by exact amounts stays exact
            start = int(time.time()) if frozen else time.time()
        self._start = float(start)
        self._t0 = time.monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        if self._frozen:
            return self._start + self._offset
        return self._start + (time.monotonic() - self._t0) + self._offset

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds`` (never backwards); returns the new now."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()


def stable_unit(seed: int, *parts: object) -> float:
    """A number in [0, 1) fixed by the seed and ``parts``: the same recipient gets the same fate every run."""
    digest = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(slots=True)
class Template:
    id: str
    name: str
    language: str
    category: str
    components: list[dict[str, Any]]
    spec: TemplateSpec
    parameter_format: str = "POSITIONAL"
    status: str = "APPROVED"
    message_send_ttl_seconds: int | None = None
    creative_features: dict[str, str] = field(default_factory=dict)  # lowercase key -> OPT_IN | OPT_OUT
    optimization_spec: dict[str, Any] | None = None  # max price: {bid_strategy, bid_amount} [MAXP]
    created_at: float = 0.0
    synced_at: float = 0.0  # sends before this get 134101
    last_sent_at: float | None = None

    def as_graph(self) -> dict[str, Any]:
        """The template node as ``GET /<TEMPLATE_ID>`` and the list endpoint return it."""
        node: dict[str, Any] = {
            "name": self.name,
            "parameter_format": self.parameter_format,
            "components": self.components,
            "language": self.language,
            "status": self.status,
            "category": self.category,
            "id": self.id,
        }
        if self.message_send_ttl_seconds is not None:
            node["message_send_ttl_seconds"] = self.message_send_ttl_seconds
        return node


@dataclass(slots=True)
class Message:
    """A message Meta accepted: what its webhooks and inbound replies refer to."""

    wamid: str
    to: str
    wa_id: str
    template: str
    language: str
    # marketing_lite (MM API) | marketing (Cloud API: fallback, or /messages) | utility | authentication
    pricing_category: str
    accepted_at: float
    cost: dict[str, Any] | None = None  # pricing.cost {amount, currency} of a max-price message [MAXP]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class LoggedRequest:
    seq: int
    time: float
    method: str
    path: str
    query: str
    body: Any  # parsed JSON when it parsed, else the raw text
    status: int = 0
    error_code: int | None = None
    recipient: str | None = None  # wa_id of a /marketing_messages POST
    template: str | None = None
    wamid: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SimState:
    """Mutable state; touched only from the server's event loop (the handle marshals calls onto it)."""

    def __init__(self, config: SimulatorConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        from .templates import install_seed_templates  # templates.py builds on this module

        self.templates: dict[str, Template] = {}
        self.template_keys: dict[tuple[str, str], str] = {}
        self.waba_creative_features: dict[str, str] = {}
        self.opted_out: set[str] = set()  # phone numbers and BSUIDs that sent a stop (users.py reads both)
        self.user_ids: dict[str, str] = {}  # wa_id -> the BSUID the simulator issued for it
        self.phones: dict[str, str] = {}  # and back
        self.last_sent: dict[str, float] = {}
        self.send_window: deque[float] = deque()
        self.messages: dict[str, Message] = {}
        self.requests: deque[LoggedRequest] = deque(maxlen=self.config.request_log_limit)
        self.send_counts: Counter[tuple[str, str | None]] = Counter()
        self.accepted_counts: Counter[tuple[str, str | None]] = Counter()
        self.rng = random.Random(self.config.seed)
        self._request_seq = itertools.count(1)
        self._message_seq = itertools.count(1)
        self._template_seq = itertools.count(1)
        install_seed_templates(self)

    # Identifiers, deterministic under the seed.

    def next_request_seq(self) -> int:
        return next(self._request_seq)

    def new_template_id(self) -> str:
        return str(1_234_567_890_000_000 + next(self._template_seq))

    def new_wamid(self, wa_id: str) -> str:
        # Shaped like Meta's: base64 of a small binary record that embeds the recipient, unique by sequence.
        seq = next(self._message_seq)
        salt = hashlib.blake2b(f"{self.config.seed}:{seq}".encode(), digest_size=9).digest()
        raw = b"\x1c\x18" + bytes([len(wa_id) & 0xFF]) + wa_id.encode() + b"\x15\x02\x00\x11\x18\x12" + salt
        return "wamid." + base64.b64encode(raw).decode()

    def fbtrace_id(self) -> str:
        return base64.urlsafe_b64encode(self.rng.randbytes(17)).decode()[:23]

    # Templates.

    def add_template(self, template: Template) -> None:
        self.templates[template.id] = template
        self.template_keys[(template.name, template.language)] = template.id

    def find_template(self, name: str, language: str) -> Template | None:
        template_id = self.template_keys.get((name, language))
        return self.templates.get(template_id) if template_id else None

    # Inspection.

    def count_send(self, record: LoggedRequest) -> None:
        """Tally a /marketing_messages POST; kept apart from the bounded log so no send is ever forgotten."""
        if record.recipient is not None:
            key = (record.recipient, record.template)
            self.send_counts[key] += 1
            if record.wamid is not None:
                self.accepted_counts[key] += 1

    def sends_by_recipient(self, *, accepted_only: bool = False, template: str | None = None) -> Counter[str]:
        counts = self.accepted_counts if accepted_only else self.send_counts
        totals: Counter[str] = Counter()
        for (recipient, name), n in list(counts.items()):
            if template is None or name == template:
                totals[recipient] += n
        return totals
