"""What the campaign API answers, as models for its OpenAPI document (the answers themselves are built as dicts
by :mod:`mmcore.campaigns.reports`, :mod:`~mmcore.campaigns.service` and the other modules; the e2e test of the
README's examples checks every real answer against these).

The fields a client relies on are named and typed; ``extra="allow"`` keeps the rest of an answer (the campaign's
definition as posted, the report's breakdowns) without restating each of them here."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _View(BaseModel):
    model_config = ConfigDict(extra="allow")


class EnqueueCounts(_View):
    """What became of a campaign's recipients when they were planned."""

    recipients: int
    queued: int
    blocked: int
    blocked_by_reason: dict[str, int]
    invalid: int
    duplicate: int


class TemplateReadiness(_View):
    """Whether the template can be sent now (a template created minutes ago waits for Meta's sync)."""

    name: str
    language: str
    readiness: str
    ready_at: str | None = None
    delay_seconds: int


class CampaignCreated(_View):
    """``POST /campaigns``: the campaign recorded and its messages queued (or held, or waiting for an upload)."""

    campaign_id: str
    name: str
    status: str = Field(description="enqueued, held, scheduled, awaiting_upload, enqueuing...")
    counts: EnqueueCounts | None = Field(default=None, description="absent for an audience in S3")
    send_at: str | None = Field(default=None, description="when a scheduled campaign (or its import) starts")
    preflight: str | None = None
    template: TemplateReadiness | None = None


class DryRun(_View):
    """``POST /campaigns?dry_run=true``: what a campaign would do, nothing written."""

    dry_run: bool
    campaign_id: str
    name: str
    would_send: bool
    counts: EnqueueCounts
    by_country: dict[str, int]
    preflight: dict[str, Any]


class ImportStarted(_View):
    """``POST /campaigns/{id}/import``: the audience's import started, or scheduled for its ``send_at``."""

    campaign_id: str
    status: str = Field(description="enqueuing, or scheduled when the campaign's send_at is still to come")
    execution_arn: str | None = Field(default=None, description="absent while the import is scheduled")
    send_at: str | None = Field(default=None, description="when a scheduled import starts")


class FunnelStep(_View):
    step: str
    label: str
    count: int
    rate_from_previous: float | None


class CampaignReport(_View):
    """``GET /campaigns/{id}``: the campaign and its report, read from counters (the same cost at any size)."""

    campaign_id: str
    name: str
    status: str
    created_at: str
    finished_at: str | None = None
    messages: int
    by_status: dict[str, int]
    by_country: dict[str, int]
    by_path: dict[str, int]
    failures_by_code: dict[str, int]
    delivery_rate: float | None
    read_rate: float | None
    funnel: list[FunnelStep]
    over_time: list[dict[str, Any]]
    by_country_rates: dict[str, dict[str, Any]]
    failures: list[dict[str, Any]] = Field(description="each code with Meta's title and what to do")
    not_sent: list[dict[str, Any]]
    delivery_paths: list[dict[str, Any]]
    cost: dict[str, Any]


class TestMessage(_View):
    message_id: str
    to: str
    status: str
    wamid: str | None
    path: str | None = Field(description="mm_api, cloud_api_fallback or cloud_api once Meta's webhook says")
    error: dict[str, Any] | None


class TestSend(_View):
    """``POST /campaigns/{id}/test`` and ``GET`` of a test: each number's state and the rendered template."""

    campaign_id: str
    test_id: str
    created_at: str
    verdict: str = Field(description="pending, passed (every message delivered or read) or failed")
    messages: list[TestMessage]
    preview: dict[str, Any]
    warnings: list[Any]
    variables: dict[str, str]


class MessagesPage(_View):
    """``GET /campaigns/{id}/messages``: one page, and the token of the next one (null on the last)."""

    campaign_id: str
    status: str | None
    messages: list[dict[str, Any]]
    next_token: str | None


class StatusEvent(_View):
    wamid: str
    status: str
    timestamp: int


class MessageView(_View):
    """``GET /messages/{id}``: the message item and its status events, oldest first."""

    message: dict[str, Any]
    events: list[StatusEvent]


class CampaignState(BaseModel):
    """A campaign's state after a change (``PATCH /campaigns/{id}``)."""

    campaign_id: str
    status: str = Field(description="held, scheduled, enqueuing, running, paused, cancelled, completed, ...")
    paused_reason: str | None = Field(None, description="operator, or budget: why a paused campaign is")
    status_at: str | None = Field(None, description="when the status last changed (ISO 8601)")
    counts: dict[str, Any] | None = Field(None, description="a release's enqueue counts")
    cancelled_messages: int | None = Field(
        None, description="a held or scheduled campaign's recorded messages ended `cancelled`"
    )
    unscheduled: bool | None = Field(None, description="a scheduled campaign's start schedule deleted")


class CampaignSummary(BaseModel):
    """One campaign in ``GET /campaigns``: its state and counts (from its counters)."""

    campaign_id: str
    name: str | None = None
    status: str | None = None
    paused_reason: str | None = None
    created_at: str | None = None
    finished_at: str | None = None
    messages: int = Field(0, description="messages counted so far")
    by_status: dict[str, int] = Field(default_factory=dict, description="the report's counts by status")


class CampaignList(BaseModel):
    """A page of ``GET /campaigns``, newest first."""

    campaigns: list[CampaignSummary]
    next_token: str | None = None
