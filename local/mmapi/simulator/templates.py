"""Template and WABA management: create/list/read/edit templates, creative optimizations, onboarding status."""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import urlencode

from .categories import CATEGORIES, set_cloud_api_marketing
from .errors import GraphError, invalid, required
from .max_price import CREATED_WITHOUT, parse_optimization_spec, refuse_bid_spec
from .state import SimState, Template
from .validation import compile_template

# Creative optimization keys (reference section 3.1). Meta's own keys, in the order of Meta's GET example;
# GET lists all of them, each OPT_IN unless set ("All optimization features are enabled by default").
META_CREATIVE_FEATURES = (
    "image_brightness_and_contrast",
    "image_touchups",
    "add_text_overlay",
    "image_animation",
    "image_background_gen",
    "auto_promotion_tag",
    "text_extraction_for_headline",
    "text_extraction_for_tap_target",
    "product_extensions",
    "text_formatting_optimization",
)
# Seen only in third-party docs (dualhook, ycloud), UNCONFIRMED by Meta: accepted, listed once set.
THIRD_PARTY_CREATIVE_FEATURES = ("image_banner", "hyperlink_formatting", "dynamic_cta_text", "image_end_card")
CREATIVE_FEATURES = frozenset(META_CREATIVE_FEATURES + THIRD_PARTY_CREATIVE_FEATURES)
ENROLL_STATUSES = ("OPT_IN", "OPT_OUT")

TEMPLATE_STATUSES = ("APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED")
# message_send_ttl_seconds ranges by category (reference section 1.3); -1 means 30 days, not for marketing.
TTL_RANGES = {"MARKETING": (43200, 2592000), "UTILITY": (30, 43200), "AUTHENTICATION": (30, 900)}
CREATE_FIELDS = frozenset(
    {
        "name",
        "language",
        "category",
        "components",
        "parameter_format",
        "degrees_of_freedom_spec",
        "message_send_ttl_seconds",
        "allow_category_change",
        "optimization_spec",
    }
)
EDIT_FIELDS = frozenset(
    {"degrees_of_freedom_spec", "message_send_ttl_seconds", "components", "category", "optimization_spec"}
)
TEMPLATE_FIELDS = frozenset(
    {
        "id",
        "name",
        "language",
        "status",
        "category",
        "components",
        "parameter_format",
        "message_send_ttl_seconds",
        "degrees_of_freedom_spec",
        "rejected_reason",
        "quality_score",
        "optimization_spec",
    }
)
WABA_FIELDS = frozenset(
    {
        "id",
        "name",
        "currency",
        "timezone_id",
        "message_template_namespace",
        "account_review_status",
        "marketing_messages_onboarding_status",
        "degrees_of_freedom_spec",
        "disable_marketing_messages_on_cloud_api",
    }
)
PHONE_FIELDS = frozenset(
    {"id", "display_phone_number", "verified_name", "quality_rating", "throughput", "platform_type"}
)
# Fields of Meta's template node the simulator holds no value for: Graph omits a field without a value, so
# asking for one answers without it. pywa 4.5's TemplateDetails asks for all of them on every read. The list is
# Meta's template node reference as pywa 4.5 and Meta's business SDKs read it (no copy in ../shared: UNCONFIRMED).
VALUELESS_TEMPLATE_FIELDS = frozenset(
    {
        "correct_category",
        "previous_category",
        "library_template_name",
        "cta_url_link_tracking_opted_out",
        "sub_category",
    }
)
READABLE_TEMPLATE_FIELDS = TEMPLATE_FIELDS | VALUELESS_TEMPLATE_FIELDS
# `summary=` of the list edge. Meta's per-WABA template limit depends on business verification: 250 assumed.
TEMPLATE_SUMMARY_FIELDS = frozenset(
    {"total_count", "message_template_count", "message_template_limit", "are_translations_complete"}
)
TEMPLATE_LIMIT = 250
_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")

# The seeds' templates (seeds/*.txt): festival_offer takes one positional body variable, the others none;
# spring_coupons (the CSV examples) a body variable and a copy-code button.
SEED_TEMPLATES = (
    (
        "festival_offer",
        [
            {
                "type": "BODY",
                "text": "Festival offer: {{1}}. Tap to see the deals.",
                "example": {"body_text": [["Get 20% OFF today only"]]},
            },
            {"type": "FOOTER", "text": "Reply STOP to opt out"},
        ],
    ),
    ("summer_sale", [{"type": "BODY", "text": "Our summer sale is on: up to 50% off everything."}]),
    ("flash_sale", [{"type": "BODY", "text": "Flash sale! Prices drop for the next 12 hours only."}]),
    (
        "spring_coupons",
        [
            {
                "type": "BODY",
                "text": "{{1}} Your spring coupon is below.",
                "example": {"body_text": [["Hi!"]]},
            },
            {"type": "BUTTONS", "buttons": [{"type": "COPY_CODE", "example": "SPRING10"}]},
        ],
    ),
)


def install_seed_templates(state: SimState) -> None:
    """Approved MARKETING en_US templates, already synced (sendable at once)."""
    now = state.clock.now()
    for name, components in SEED_TEMPLATES:
        state.add_template(
            Template(
                id=state.new_template_id(),
                name=name,
                language="en_US",
                category="MARKETING",
                components=components,
                spec=compile_template(components, "POSITIONAL"),
                created_at=now - state.config.template_sync_seconds,
                synced_at=now,
            )
        )


def create_template(state: SimState, body: Any) -> dict[str, Any]:
    """``POST /<WABA_ID>/message_templates``: approved at once, syncing for ``template_sync_seconds``."""
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object")
    refuse_bid_spec(body)
    _no_unknown(body, CREATE_FIELDS)
    for field_name in ("name", "language", "category", "components"):
        if field_name not in body:
            raise required(field_name)
    name, language = body["name"], body["language"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise invalid("Param name must be lowercase letters, digits and underscores (at most 512).")
    if not isinstance(language, str) or not _LANGUAGE.match(language):
        raise invalid(f"Param language must be a locale code such as en_US, got {language!r}.")
    category = _category(body["category"])
    parameter_format = str(body.get("parameter_format", "positional")).upper()
    if parameter_format not in ("POSITIONAL", "NAMED"):
        raise invalid("Param parameter_format must be one of {POSITIONAL, NAMED}.")
    spec = compile_template(body["components"], parameter_format)
    ttl = _ttl(body["message_send_ttl_seconds"], category) if "message_send_ttl_seconds" in body else None
    features = (
        parse_creative_features(body["degrees_of_freedom_spec"]) if "degrees_of_freedom_spec" in body else {}
    )
    bid = parse_optimization_spec(body["optimization_spec"]) if "optimization_spec" in body else None
    if state.find_template(name, language):
        raise GraphError(100, f"Content in this language already exists for template {name} ({language}).")
    now = state.clock.now()
    template = Template(
        id=state.new_template_id(),
        name=name,
        language=language,
        category=category,
        components=body["components"],
        spec=spec,
        parameter_format=parameter_format,
        message_send_ttl_seconds=ttl,
        creative_features=features,
        optimization_spec=bid,
        created_at=now,
        synced_at=now + state.config.template_sync_seconds,
    )
    state.add_template(template)
    return {"id": template.id, "status": template.status, "category": template.category}


def edit_template(state: SimState, template: Template, body: Any) -> dict[str, Any]:
    """``POST /<TEMPLATE_ID>``: creative optimizations, TTL, components or category."""
    if not isinstance(body, dict) or not body:
        raise invalid("The request body must be a non-empty JSON object")
    refuse_bid_spec(body)
    _no_unknown(body, EDIT_FIELDS)
    category = _category(body["category"]) if "category" in body else template.category
    spec = compile_template(body["components"], template.parameter_format) if "components" in body else None
    ttl = _ttl(body["message_send_ttl_seconds"], category) if "message_send_ttl_seconds" in body else None
    features = (
        parse_creative_features(body["degrees_of_freedom_spec"]) if "degrees_of_freedom_spec" in body else {}
    )
    bid = parse_optimization_spec(body["optimization_spec"]) if "optimization_spec" in body else None
    if bid is not None and template.optimization_spec is None:
        raise GraphError(100, CREATED_WITHOUT, message=CREATED_WITHOUT)
    # All checks passed: apply together, so a bad field leaves the template untouched.
    template.category = category
    if spec is not None:
        template.components, template.spec = body["components"], spec
    if ttl is not None:
        template.message_send_ttl_seconds = ttl
    template.creative_features.update(features)
    if bid is not None:
        template.optimization_spec = bid
    return {"success": True}


def list_templates(state: SimState, query: dict[str, str], url: str = "") -> dict[str, Any]:
    """``GET /<WABA_ID>/message_templates`` with Graph's filters and cursor paging: ``paging.cursors`` and, while
    more remain, ``paging.next`` (the full URL of the next page, the query repeated with ``after``, as Graph
    gives it; ``url`` is this request's URL without its query)."""
    selected = [
        t
        for t in state.templates.values()
        if all(
            query.get(key) in (None, value)
            for key, value in (("name", t.name), ("language", t.language), ("status", t.status))
        )
        and query.get("category", t.category).upper() == t.category
    ]
    try:
        limit = max(1, min(int(query.get("limit", 25)), 1000))
        start = int(base64.b64decode(query["after"]).decode()) if "after" in query else 0
    except ValueError as exc:
        raise invalid("Param limit must be an integer and after a cursor from a previous page.") from exc
    page = selected[start : start + limit]
    fields = parse_fields(query, READABLE_TEMPLATE_FIELDS, "MessageTemplate")
    result: dict[str, Any] = {"data": [template_node(state, t, fields) for t in page]}
    summary = parse_fields({"fields": query.get("summary", "")}, TEMPLATE_SUMMARY_FIELDS, "MessageTemplate")
    if summary:
        values = {
            "total_count": len(selected),
            "message_template_count": len(state.templates),
            "message_template_limit": TEMPLATE_LIMIT,
            "are_translations_complete": True,
        }
        result["summary"] = {name: values[name] for name in summary}
    if page:
        cursors = {"before": _cursor(start), "after": _cursor(start + len(page))}
        result["paging"] = {"cursors": cursors}
        if start + limit < len(selected):
            following = {**query, "limit": str(limit), "after": cursors["after"]}
            result["paging"]["next"] = f"{url}?{urlencode(following)}"
    return result


def template_node(state: SimState, template: Template, fields: list[str] | None) -> dict[str, Any]:
    """``GET /<TEMPLATE_ID>[?fields=...]``."""
    if not fields:
        return template.as_graph()
    full = template.as_graph()
    node: dict[str, Any] = {}
    for name in fields:
        if name == "degrees_of_freedom_spec":
            effective = {**state.waba_creative_features, **template.creative_features}
            node[name] = {"creative_features_spec": feature_list(effective)}
        elif name == "optimization_spec":
            if template.optimization_spec is not None:  # no max price: Graph leaves the field out
                node[name] = dict(template.optimization_spec)
        elif name == "rejected_reason":
            node[name] = "NONE"
        elif name == "quality_score":
            node[name] = {"score": "UNKNOWN", "date": int(template.created_at)}
        elif name in full:
            node[name] = full[name]
    node["id"] = template.id
    return node


def set_template_status(state: SimState, name: str, status: str, language: str = "en_US") -> Template:
    """PAUSED and DISABLED make sends fail with 132015 and 132016; APPROVED restores them."""
    if status not in TEMPLATE_STATUSES:
        raise ValueError(f"status must be one of {TEMPLATE_STATUSES}")
    template = state.find_template(name, language)
    if template is None:
        raise KeyError(f"no template {name} ({language})")
    template.status = status
    return template


def edit_waba(state: SimState, body: Any) -> dict[str, Any]:
    """``POST /<WABA_ID>`` with ``degrees_of_freedom_spec``: the WABA-wide creative optimizations; or with
    ``disable_marketing_messages_on_cloud_api`` (a boolean), answered ``{"id": <WABA_ID>}`` [SEND].

    The ``{"success": true}`` answer is UNCONFIRMED (reference section 3.4): it is Graph's usual update answer.
    """
    if isinstance(body, dict) and "disable_marketing_messages_on_cloud_api" in body:
        return set_cloud_api_marketing(state, body)
    if not isinstance(body, dict) or "degrees_of_freedom_spec" not in body:
        raise required("degrees_of_freedom_spec")
    _no_unknown(body, frozenset({"degrees_of_freedom_spec"}))
    state.waba_creative_features.update(parse_creative_features(body["degrees_of_freedom_spec"]))
    return {"success": True}


def waba_node(state: SimState, fields: list[str] | None) -> dict[str, Any]:
    """``GET /<WABA_ID>?fields=...``.

    ``degrees_of_freedom_spec`` at WABA level is UNCONFIRMED by Meta (reference section 3.4); the shape here,
    ``{"data": [{"creative_features_spec": [{key, value}, ...]}]}``, follows YCloud's description of it.
    """
    config = state.config
    values = {
        "id": config.waba_id,
        "name": "Simulated WhatsApp Business Account",
        "currency": config.waba_currency,
        "timezone_id": "1",
        "message_template_namespace": "sim_namespace",
        "account_review_status": "APPROVED",
        "marketing_messages_onboarding_status": "ONBOARDED" if config.onboarded else "ELIGIBLE",
        "disable_marketing_messages_on_cloud_api": config.disable_marketing_messages_on_cloud_api,
    }
    if not fields:
        return {"id": config.waba_id, "name": values["name"]}
    node: dict[str, Any] = {}
    for name in fields:
        if name == "degrees_of_freedom_spec":
            spec = feature_list(state.waba_creative_features)
            node[name] = {"data": [{"creative_features_spec": spec}]}
        else:
            node[name] = values[name]
    node["id"] = config.waba_id
    return node


def phone_node(state: SimState, fields: list[str] | None) -> dict[str, Any]:
    config = state.config
    values = {
        "id": config.phone_number_id,
        "display_phone_number": config.display_phone_number,
        "verified_name": "Simulated Business",
        "quality_rating": "GREEN",
        "throughput": {"level": "HIGH" if (config.mps or 0) > 80 else "STANDARD"},
        "platform_type": "CLOUD_API",
    }
    return {name: values[name] for name in fields or ("display_phone_number", "verified_name", "id")} | {
        "id": config.phone_number_id
    }


def parse_creative_features(spec: Any) -> dict[str, str]:
    """Check a request's ``degrees_of_freedom_spec``; returns {lowercase key: enroll_status}."""
    if not isinstance(spec, dict) or set(spec) != {"creative_features_spec"}:
        raise invalid("Param degrees_of_freedom_spec must be an object with only creative_features_spec.")
    features = spec["creative_features_spec"]
    if not isinstance(features, dict) or not features:
        raise invalid("Param degrees_of_freedom_spec['creative_features_spec'] must be a non-empty object.")
    parsed = {}
    for key, value in features.items():
        if key not in CREATIVE_FEATURES:
            raise invalid(
                f"Param degrees_of_freedom_spec['creative_features_spec'] has an unknown feature {key!r};"
                f" valid: {', '.join(sorted(CREATIVE_FEATURES))}."
            )
        status = value.get("enroll_status") if isinstance(value, dict) else None
        if status not in ENROLL_STATUSES or len(value) != 1:
            raise invalid(
                f"Param degrees_of_freedom_spec['creative_features_spec']['{key}'] must be"
                ' {"enroll_status": OPT_IN | OPT_OUT}.'
            )
        parsed[key] = status
    return parsed


def feature_list(settings: dict[str, str]) -> list[dict[str, Any]]:
    """Meta's read shape: every Meta feature plus any other set key, ``{key: UPPER, value: {enroll_status}}``."""
    keys = list(META_CREATIVE_FEATURES) + [k for k in settings if k not in META_CREATIVE_FEATURES]
    return [{"key": k.upper(), "value": {"enroll_status": settings.get(k, "OPT_IN")}} for k in keys]


def parse_fields(query: dict[str, str], allowed: frozenset[str], node_type: str) -> list[str] | None:
    """Graph's ``?fields=a,b``; a field the node does not have is error 100, as on Graph."""
    raw = query.get("fields")
    if not raw:
        return None
    fields = [f.strip() for f in raw.split(",") if f.strip()]
    for name in fields:
        if name not in allowed:
            raise GraphError(
                100,
                f"Tried accessing nonexisting field ({name}) on node type ({node_type})",
                message=f"Tried accessing nonexisting field ({name}) on node type ({node_type})",
            )
    return fields


def _no_unknown(body: dict, allowed: frozenset[str]) -> None:
    for name in body:
        if name not in allowed:
            raise GraphError(100, f'Unexpected key "{name}" on param "<root>".')


def _category(value: Any) -> str:
    category = str(value).upper()
    if category not in CATEGORIES:
        raise invalid(f"Param category must be one of {{{', '.join(CATEGORIES)}}}.")
    return category


def _ttl(value: Any, category: str) -> int:
    low, high = TTL_RANGES[category]
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid("Param message_send_ttl_seconds must be an integer.")
    if value == -1 and category != "MARKETING":
        return value
    if not low <= value <= high:
        raise invalid(
            f"Param message_send_ttl_seconds must be between {low} and {high} for {category} templates."
        )
    return value


def _cursor(index: int) -> str:
    return base64.b64encode(str(index).encode()).decode()
