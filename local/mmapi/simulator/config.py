"""Every knob of the simulator, in one mutable dataclass.

Tests mutate a started simulator's ``config`` directly (``sim.config.mps = 5``); the control API
(``POST /_sim/config``) and the CLI (``--config``) go through :meth:`SimulatorConfig.update`, which checks names
and types. Every knob is read per request, so a change applies to the next request.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LATENCY_DISTRIBUTIONS = ("fixed", "uniform", "normal")


@dataclass
class SimulatorConfig:
    # Identity. Fixed defaults so a script can hard-code them; the seed varies only the random choices.
    seed: int = 0
    graph_version: str = "v25.0"  # the product's default (any vNN.N path is accepted)
    access_token: str = "sim-access-token"
    app_secret: str = "sim-app-secret"
    waba_id: str = "102290129340398"
    phone_number_id: str = "106540352242922"
    display_phone_number: str = "15550783881"
    # The WABA's billing currency: the unit of a max price's bid_amount and of pricing.cost [MAXP].
    waba_currency: str = "USD"

    # Onboarding and routing (reference sections 1.1 and 8.2).
    onboarded: bool = True
    # Share of recipients that fall back to Cloud API even when onboarded (pricing category `marketing`).
    fallback_ratio: float = 0.0
    # Not onboarded + product_policy STRICT. Meta's exact code is UNCONFIRMED (reference section 10); 134102
    # ("Template unavailable for use ... not eligible/onboarded", HTTP 500) is the closest documented one.
    # Set 100 to model the other candidate.
    strict_rejection_code: int = 134102
    # Utility/authentication template sent to /marketing_messages: Meta documents both 134100 and 131055.
    # The WABA setting (meta-2026-updates section 4, [SEND][CL] Apr 6, 2026; also POST /<WABA_ID>): /messages
    # refuses MARKETING templates with 131063, and so does the CLOUD_API_FALLBACK of a WABA not onboarded.
    disable_marketing_messages_on_cloud_api: bool = False
    non_marketing_code: int = 134100
    # Accept the seeds' `time_to_live` top-level field (a gateway that takes it). Off: Meta's schema rejects it.
    ttl_on_wire: bool = False
    # Recipients with a +1 US number get 131049 synchronously (seeds, reference section 7).
    us_block: bool = True
    # 131050 for opted-out users: in the send response (True) or, as Meta documents, in a failed webhook.
    opt_out_sync: bool = False

    # Limits. None or 0 disables one.
    mps: int | None = 80
    pair_interval_seconds: float | None = 6.0
    template_sync_seconds: float = 600.0
    template_dormant_seconds: float = 7 * 24 * 3600.0

    # Status webhooks (reference section 4). No URL: nothing is generated.
    webhook_url: str | None = None
    # The v23 shape carries `conversation` (with origin.type); v24+ omits it.
    include_conversation: bool = False
    delivered_ratio: float = 1.0
    read_ratio: float = 0.5  # share of delivered messages that are read
    sent_delay: float = 0.0  # seconds after acceptance
    delivered_delay: float = 0.0  # seconds after `sent`
    read_delay: float = 0.0  # seconds after `delivered`
    # {code: share of recipients}; the recipient gets only a `failed` status with that error. Chosen by a hash
    # of seed + recipient, so the same recipient fails the same way in every run.
    failure_ratios: dict[int, float] = field(default_factory=dict)
    # Numbers libphonenumber calls invalid are accepted, then fail with 131026 (undeliverable), as on Meta.
    invalid_numbers_fail: bool = True
    duplicate_ratio: float = 0.0  # share of webhook POSTs sent twice
    reorder_ratio: float = 0.0  # share of messages whose statuses are posted newest first
    webhook_batch_size: int = 1  # statuses per POST, at most (Meta: up to 1000, not guaranteed)
    webhook_concurrency: int = 8
    webhook_max_retries: int = 3  # on non-200 or connection error, like Meta (bounded here)
    webhook_retry_backoff: float = 0.05  # seconds, doubled per attempt
    webhook_timeout: float = 5.0

    # Fault injection on POST /marketing_messages.
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0  # uniform: +/- jitter; normal: standard deviation
    latency_distribution: str = "fixed"
    slow_ratio: float = 0.0  # share of requests delayed by slow_ms on top of the latency
    slow_ms: float = 0.0
    error_rates: dict[int, float] = field(default_factory=dict)  # {code: share}, e.g. {131000: 0.01}
    reset_ratio: float = 0.0  # share of requests whose connection is dropped without an answer
    # An injected 5xx or reset still delivers the message (the ambiguous outcome Meta warns about).
    faults_deliver: bool = False

    request_log_limit: int = 100_000

    def update(self, **changes: Any) -> SimulatorConfig:
        """Apply ``changes`` after checking names and coercing JSON shapes (string dict keys to codes)."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - set(fields))
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(unknown)}; valid: {', '.join(sorted(fields))}")
        for name, value in changes.items():
            setattr(self, name, _coerce(name, value, getattr(self, name)))
        if self.latency_distribution not in LATENCY_DISTRIBUTIONS:
            raise ValueError(f"latency_distribution must be one of {LATENCY_DISTRIBUTIONS}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, text_or_path: str) -> dict[str, Any]:
        """Parse ``--config``: inline JSON or a path to a JSON file; returns the changes to apply."""
        text = text_or_path
        if not text_or_path.lstrip().startswith("{"):
            text = Path(text_or_path).read_text(encoding="utf-8")
        changes = json.loads(text)
        if not isinstance(changes, dict):
            raise ValueError("config must be a JSON object")
        return changes


def _coerce(name: str, value: Any, current: Any) -> Any:
    if name in ("error_rates", "failure_ratios"):
        if not isinstance(value, dict):
            raise ValueError(f"{name} must be an object of code: ratio")
        return {int(code): float(ratio) for code, ratio in value.items()}
    if isinstance(current, bool) or name in ("onboarded", "us_block"):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be a boolean")
        return value
    if value is None:
        if name in ("mps", "pair_interval_seconds", "webhook_url"):
            return None
        raise ValueError(f"{name} cannot be null")
    if isinstance(current, float) or name == "pair_interval_seconds":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} must be a number")
        return float(value)
    if isinstance(current, int) or name == "mps":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer")
        return value
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value
