"""A registry item (plain values, :func:`mmcore.store.codec.from_item`) as ``GET /templates`` and ``GET /templates/{id}`` show it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Item attributes the API shows, in this order (the rest, keys and clocks, are the store's).
SHOWN = (
    "template_id",
    "name",
    "language",
    "status",
    "category",
    "quality_score",
    "parameter_format",
    "components",
    "shape",
    "optimization_spec",
    "message_send_ttl_seconds",
    "reason",
    "previous_category",
    "pending_category",
)
TIMES = ("listed_at", "unlisted_at", "created_at", "last_sent_at", "sync_until")


def template_view(item: Mapping[str, Any]) -> dict[str, Any]:
    """The template: Meta's facts, whether Meta still lists it, and the readiness facts (ISO 8601)."""
    values = {**item, "name": item.get("template_name")}
    view = {k: values[k] for k in SHOWN if values.get(k) is not None}
    view["listed"] = item.get("listed_at") is not None and item.get("unlisted_at") is None
    for k in TIMES:
        if item.get(k) is not None:
            view[k] = datetime.fromtimestamp(int(item[k]), UTC).isoformat().replace("+00:00", "Z")
    return view


# ---------------------------------------------------------------- the answers' models (the OpenAPI document)


class _View(BaseModel):
    model_config = ConfigDict(extra="allow")


class TemplateView(_View):
    """One template as the registry knows it (the ``SHOWN`` attributes it has, and ``TIMES`` as ISO 8601)."""

    template_id: str
    name: str
    language: str
    status: str
    category: str | None = None
    components: list[dict[str, Any]] = []
    shape: dict[str, Any] | None = Field(
        default=None, description="header format, placeholders by component, buttons by index"
    )
    listed: bool = Field(description="whether Meta's last complete list had it")


class TemplatesPage(_View):
    templates: list[TemplateView]
    next_token: str | None


class SyncView(_View):
    """What one sync did: templates added, changed, the same, unlisted; pages read; templates listed."""

    added: int
    changed: int
    same: int
    unlisted: int
    pages: int
    templates: int
