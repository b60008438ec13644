"""All configuration, read once per cold start from the environment template.yaml sets.

Nothing else in the product reads ``os.environ``. Secrets (access token, app secret, verify token) are not
settings: they come from Secrets Manager (``GRAPH_SECRET_ARN``: the access token; ``WEBHOOK_SECRET_ARN``: the
app secret and verify token), never from plain environment variables.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Environment variable names are the field names in upper case (e.g. ``GRAPH_API_VERSION``)."""

    # defer_build: the validator is built by the first get_settings(), not at import (cold start).
    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False, defer_build=True)

    # v25.0: Meta's recommended version since Feb 18, 2026, available until Jul 29, 2028; v23 ends Oct 8, 2027
    # (Graph API changelog, Oct 29, 2026; meta-2026-updates section 1). A parameter, so moving on is config.
    graph_api_version: str = Field(default="v25.0", pattern=r"^v\d+\.\d+$")
    graph_base_url: str = Field(default="https://graph.facebook.com", pattern=r"^https?://[^/\s]+(/\S*)?$")
    phone_number_id: str = Field(default="", pattern=r"^\d*$")
    waba_id: str = Field(default="", pattern=r"^\d*$")
    business_country: str = Field(default="IN", pattern=r"^[A-Z]{2}$")
    # The number's throughput tier, paced across all send containers (mmcore.store.pacing). Meta's tiers: 20
    # (coexistence numbers), 80 (default), 1,000 (automatic upgrade) [THRU, May 21 2026]; above 1,000 for a
    # tier Meta may grant later (none documented: UNCONFIRMED).
    throughput_mps: int = Field(default=80, ge=1, le=10000)
    send_max_concurrency: int = Field(default=5, ge=1, le=1000)
    # Concurrent in-flight POSTs within one invocation (one warm container): a batch of 100 (the template's
    # BatchSize) goes out in one round trip; the rate limiter, not this, keeps to the number's throughput.
    send_concurrency: int = Field(default=100, ge=1, le=1000)
    ttl_on_wire: bool = False
    default_product_policy: Literal["CLOUD_API_FALLBACK", "STRICT"] = "CLOUD_API_FALLBACK"
    # Re-send after an ambiguous outcome (timeout or 5xx with no code)? Off: Meta has no idempotency key.
    retry_unknown: bool = False
    # The resolver of unknown messages (mmcore.sending.resolve): a status of a wamid no message claims, to the
    # same user from the same number, from this long before the message went unknown to this long after,
    # settles it; with no such status while the number's other statuses kept flowing this long past it, the
    # message is re-sent if resend_silent_unknown (off: see the README on the residual risk).
    unknown_match_before_seconds: int = Field(default=900, ge=0, le=86400)
    unknown_match_after_seconds: int = Field(default=300, ge=0, le=86400)
    unknown_silence_seconds: int = Field(default=900, ge=60, le=7 * 86400)
    resend_silent_unknown: bool = False
    graph_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # A paused campaign's message goes back to the queue as a copy for this long first, then as long as it has
    # waited so far, up to SQS's 900 s (mmcore.sending.decide.pause_delay): a quick resume is quick, a long
    # pause costs few receives.
    pause_requeue_seconds: int = Field(default=60, ge=1, le=900)
    # The send function's SQS BatchSize and Timeout, as template.yaml sets them: a full batch must fit the
    # timeout at the per-invocation rate (mmcore.sending.budget.check_capacity).
    send_batch_size: int = Field(default=100, ge=1, le=10000)
    send_timeout_seconds: float = Field(default=30.0, gt=0, le=900)
    table_name: str = "mm-main"
    send_queue_url: str = ""
    # Audiences from S3 (mmcore.campaigns.imports): the bucket the stack reads them from, the import's state machine.
    audience_bucket: str = ""
    import_state_machine_arn: str = ""
    # send_at and send windows (mmcore.campaigns.schedule): the EventBridge Scheduler group its one-time
    # schedules go in, and the role Scheduler assumes to invoke the campaigns function ("" = not available);
    # that function's ARN, for the audience import's schedules of send windows' openings (the campaigns
    # function itself names its own ARN from its context).
    schedule_group: str = ""
    scheduler_role_arn: str = ""
    schedule_target_arn: str = ""
    # Two secrets so that the public webhook function, which only needs the second, cannot read the token.
    graph_secret_arn: str = ""
    webhook_secret_arn: str = ""
    # EventBridge bus that receives customer replies for the business's bot ("" = don't publish).
    event_bus_name: str = ""
    # Cache lifetime of the secret in a warm container (Powertools Parameters).
    secret_max_age_seconds: int = Field(default=300, ge=0)
    # SSM parameter holding the region policy override, read once per cold start ("" = the built-in table); its
    # leading slash is optional: "mm/region-policy" and "/mm/region-policy" both name /mm/region-policy.
    policy_parameter: str = Field(default="", max_length=2048, pattern=r"^[A-Za-z0-9_.\-/]*$")
    # SSM parameter holding the operator's rate card (mmcore.meta.ratecards), read once per cold start ("" = the
    # built-in rates only); its leading slash is optional, as for policy_parameter.
    rate_card_parameter: str = Field(default="", max_length=2048, pattern=r"^[A-Za-z0-9_.\-/]*$")

    @field_validator("business_country", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.strip().upper() if isinstance(v, str) else v

    @field_validator("graph_base_url")
    @classmethod
    def _no_trailing_slash(cls, v: str) -> str:
        return v.rstrip("/")

    @property
    def graph_url(self) -> str:
        """Base URL including the pinned Graph version, e.g. ``https://graph.facebook.com/v25.0``."""
        return f"{self.graph_base_url}/{self.graph_api_version}"

    @property
    def per_invocation_mps(self) -> float:
        """The send rate one invocation gets when every concurrent poller is busy (its fair share of the number's
        throughput): what the start-up check and the chunk size assume; the pace itself is the number's."""
        return self.throughput_mps / self.send_max_concurrency


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()`` after changing env)."""
    return Settings()
