"""The OpenAPI document's examples and response tables, built by the code that shapes real answers (models,
caveats, domain errors through :func:`mmcore.api.body_of`), so the document cannot drift from the API.

The handler's decorators read :data:`RESPONSES` (route -> status -> description, model, examples) and
:data:`REQUESTS` (route -> request body examples).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import cache
from typing import Any

from mmcore import api
from mmcore.exceptions import (
    Conflict,
    InvalidInput,
    NotConfigured,
    NotFound,
    NotRecorded,
    RateLimited,
    UpstreamFailed,
)
from mmcore.meta import creative
from mmcore.optimizations.caveats import NOTES, changed, feature_views, region_caveats
from mmcore.optimizations.errors import invalid_features
from mmcore.optimizations.max_price import (
    CREATED_WITHOUT,
    REACH_NOTES,
    MaxPrices,
    convert,
    estimate_of,
    parse_countries,
)
from mmcore.optimizations.models import (
    AuditRecord,
    History,
    Onboarding,
    OptimizationsChange,
    OptimizationsView,
    Scope,
    Target,
    TtlChange,
    Who,
)
from mmcore.optimizations.onboarding import ELIGIBLE, ONBOARDED, where_sends_go
from mmcore.optimizations.pricing import (
    MaxPriceChange,
    MaxPriceUpdate,
    MaxPriceView,
    OptimizationSpec,
    ReachEstimate,
)
from mmcore.optimizations.service import NO_WABA
from mmcore.store import paging

_TEMPLATE_ID, _WABA_ID = "1234567890000002", "102290129340398"
_AUDIT_ID = "0b7f3c1e-5d2a-4f8e-9a61-3c2d7e8f9a10"
_DAY = dt.date(2026, 3, 20)
_WHO = Who(
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
_NOT_FOUND_GRAPH = {
    "code": 100,
    "message": "(#100) Unsupported get request.",
    "details": "Unsupported get request. Object with ID '1234567899999999' does not exist, cannot be "
    "loaded due to missing permissions, or does not support this operation.",
    "http_status": 400,
    "fbtrace_id": "AbCdEfGh123",
}


def _view(
    scope: Scope, target_id: str, reported: Mapping[str, str], country: str = "IN"
) -> OptimizationsView:
    return OptimizationsView(
        scope=scope,
        id=target_id,
        features=feature_views(reported),
        region=region_caveats(country, _DAY),
        notes=list(NOTES[scope]),
    )


def _change(scope: Scope, target_id: str, before: dict[str, str], requested: dict[str, str]) -> dict:
    after = {**before, **requested}
    return OptimizationsChange(
        **_view(scope, target_id, after).model_dump(),
        requested=requested,
        changed=changed(creative.with_defaults(before), creative.with_defaults(after)),
        audit_id=_AUDIT_ID,
    ).model_dump(mode="json")


def _caught(raise_it: Any) -> InvalidInput:
    """The error a real call raises (the example is what a caller gets)."""
    try:
        raise_it()
    except InvalidInput as exc:
        return exc
    except creative.FeatureSpecError as exc:
        return invalid_features(exc)
    raise AssertionError("the example call did not fail")


def _answers() -> dict[str, Any]:
    seeds_read = creative.from_graph(_SEEDS_READ)
    ttl_record = AuditRecord(
        audit_id=_AUDIT_ID,
        scope=Scope.TEMPLATE,
        target_id=_TEMPLATE_ID,
        at="2026-03-20T10:15:30.123456Z",
        who=_WHO,
        route="PUT /templates/{template_id}/ttl",
        change={"message_send_ttl_seconds": 43200},
        before={"message_send_ttl_seconds": None},
        after={"message_send_ttl_seconds": 43200},
        request_id="BmL3zhXDoAMEbQw=",
    )
    return _max_price_answers() | {
        "template_view": _view(Scope.TEMPLATE, _TEMPLATE_ID, seeds_read).model_dump(mode="json"),
        "template_view_eea": _view(Scope.TEMPLATE, _TEMPLATE_ID, seeds_read, "DE").model_dump(mode="json"),
        "template_change": _change(Scope.TEMPLATE, _TEMPLATE_ID, {}, _SEEDS_TEMPLATE),
        "waba_view": _view(Scope.WABA, _WABA_ID, {}).model_dump(mode="json"),
        "waba_change": _change(Scope.WABA, _WABA_ID, {}, _SEEDS_WABA),
        "ttl_change": TtlChange(
            id=_TEMPLATE_ID, message_send_ttl_seconds=43200, before=None, audit_id=_AUDIT_ID
        ).model_dump(mode="json"),
        "onboarded": where_sends_go(_WABA_ID, ONBOARDED, "CLOUD_API_FALLBACK").model_dump(mode="json"),
        "eligible_strict": where_sends_go(_WABA_ID, ELIGIBLE, "STRICT").model_dump(mode="json"),
        "history": History(
            scope=Scope.TEMPLATE, id=_TEMPLATE_ID, items=[ttl_record], next_token=None
        ).model_dump(mode="json"),
    }


# Meta's documented examples [MAXP]: a template's read answer (INR 0.87) and a reach estimate (USD).
_MAX_PRICE_READ = OptimizationSpec(bid_amount=87000, bid_strategy="LOWEST_COST_WITH_BID_CAP")
_REACH = {
    "waba_currency": "USD",
    "estimates": [
        {
            "bid_amount": 400,
            "users": 1000,
            "deliveries_lower_bound": 500,
            "deliveries_upper_bound": 570,
            "cost_lower_bound": 389.74,
            "cost_upper_bound": 390.74,
        }
    ],
}


def _max_price_answers() -> dict[str, Any]:
    target = Target(Scope.TEMPLATE, _TEMPLATE_ID)
    usd = convert(MaxPriceUpdate(price="0.05", currency="USD"), "USD")
    requested = OptimizationSpec(bid_amount=usd.bid_amount, bid_strategy="LOWEST_COST_WITH_BID_CAP")
    before = OptimizationSpec(bid_amount=4000, bid_strategy="LOWEST_COST_WITH_BID_CAP")
    change = MaxPriceChange(
        **MaxPrices.view_of(target, requested, "USD").model_dump(),
        requested=requested,
        before=before,
        conversion=usd.formula,
        audit_id=_AUDIT_ID,
    )
    reach = ReachEstimate(
        waba_id=_WABA_ID,
        countries=["IN"],
        interval="L7D",
        waba_currency="USD",
        estimates=[estimate_of(e, "USD") for e in _REACH["estimates"]],
        notes=list(REACH_NOTES),
    )
    return {
        "max_price_view": MaxPrices.view_of(target, _MAX_PRICE_READ, "INR").model_dump(mode="json"),
        "max_price_none": MaxPrices.view_of(target, None, "USD").model_dump(mode="json"),
        "max_price_change": change.model_dump(mode="json"),
        "reach_estimate": reach.model_dump(mode="json"),
    }


def _errors() -> dict[str, Any]:
    graph = {
        **_NOT_FOUND_GRAPH,
        "code": 190,
        "message": "(#190) Invalid OAuth access token",
        "http_status": 401,
    }
    errors = {
        "created_without_max_price": Conflict(
            CREATED_WITHOUT, [("template_id", "created without a max price")]
        ),
        "inexact_price": _caught(lambda: convert(MaxPriceUpdate(price="0.000015", currency="USD"), "USD")),
        "unknown_currency": _caught(lambda: convert(MaxPriceUpdate(bid_amount=5000), "XTS")),
        "wrong_currency": _caught(lambda: convert(MaxPriceUpdate(price="0.87", currency="INR"), "USD")),
        "bad_country": _caught(lambda: parse_countries("IN,XX")),
        "unknown_feature": _caught(lambda: creative.resolve_features({"auto_promo_tag": "OPT_IN"})),
        "ttl_out_of_range": InvalidInput.fields(
            [("message_send_ttl_seconds", "Input should be greater than or equal to 43200")]
        ),
        "invalid_template_id": InvalidInput.fields(
            [("template_id", "String should match pattern '^\\d{1,32}$'")]
        ),
        "bad_next_token": _caught(lambda: paging.decode("bm90LWEtdG9rZW4", frozenset({"pk", "sk"}), {})),
        "not_configured": NotConfigured(NO_WABA),
        "not_found": NotFound(
            "template 1234567899999999 does not exist, or the access token cannot see it",
            graph=_NOT_FOUND_GRAPH,
        ),
        "rate_limited": RateLimited(
            "Meta's rate limit (WABA rate limit reached): retry after 60 s",
            60,
            graph={
                **_NOT_FOUND_GRAPH,
                "code": 80007,
                "message": "(#80007) Rate limit issues",
                "details": None,
            },
        ),
        "graph_error": UpstreamFailed(
            "Meta refused the call on template 1234567890000002: (#190) Invalid OAuth access token",
            graph=graph,
        ),
        "audit_failed": NotRecorded(
            "the change was applied to template 1234567890000002, but its audit record could not be written "
            f"(ClientError); the record is in the function's log under audit_id {_AUDIT_ID}",
            audit_id=_AUDIT_ID,
            applied={"features": _SEEDS_TEMPLATE, "allow_unknown": False},
        ),
    }
    return {name: api.body_of(exc) for name, exc in errors.items()}


@cache
def openapi_examples() -> dict[str, Any]:
    """Request, answer and error examples by name."""
    requests = {
        "template_put": {"features": _SEEDS_TEMPLATE, "allow_unknown": False},
        "template_put_names": {"features": {"Auto Promotion Tag": "opt_in", "Text Formatting": "OPT_OUT"}},
        "template_put_unknown": {"features": {"dynamic_cta_text": "OPT_OUT"}, "allow_unknown": True},
        "waba_put": {"features": _SEEDS_WABA},
        "ttl_put": {"message_send_ttl_seconds": 43200},
        "max_price_put_price": {"price": "0.05", "currency": "USD"},
        "max_price_put_bid": {"bid_amount": 5000, "bid_strategy": "LOWEST_COST_WITH_BID_CAP"},
    }
    return requests | _answers() | _errors()


# ---------------------------------------------------------------- the handler's tables


def _examples(**named: str) -> dict[str, dict[str, Any]]:
    examples = openapi_examples()
    return {name: {"summary": name.replace("_", " "), "value": examples[key]} for name, key in named.items()}


def _answer(description: str, model: Any = api.ErrorBody, **named: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"model": model, "examples": _examples(**named)}},
    }


# Error answers by status; a route lists the ones it can give (422 is overridden where the body adds cases).
_ERRORS = {
    404: _answer(
        "Unknown template or WABA (Graph code 100 'does not exist', or HTTP 404)", not_found="not_found"
    ),
    422: _answer("template_id is not an ID", invalid_template_id="invalid_template_id"),
    429: _answer("Meta's rate limit (codes 4, 80007, 130429)", rate_limited="rate_limited")
    | {"headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}},
    502: _answer(
        "Meta refused the call or did not answer: Graph's code and fbtrace_id", graph_error="graph_error"
    ),
}
_AUDIT_FAILED = _answer(
    "Applied at Meta, but the audit record was not written (logged)", audit_failed="audit_failed"
)
_NOT_CONFIGURED = _answer("WABA_ID is not configured", not_configured="not_configured")


def _responses(ok: dict[str, Any], *codes: int, **others: dict[str, Any]) -> dict[int, Any]:
    """200, the listed common errors, and route-specific ones passed as s<status>=...; 422 in the one error body
    on every route (a query parameter at fault) unless a more specific one is listed."""
    invalid = {422: _answer("A field at fault, named in errors")}
    listed = {code: _ERRORS[code] for code in codes} | {int(k[1:]): v for k, v in others.items()}
    return {200: ok} | invalid | listed


RESPONSES: dict[str, dict[int, Any]] = {
    "template_get": _responses(
        _answer("Every catalog feature", OptimizationsView, seeds="template_view", eea="template_view_eea"),
        404,
        422,
        429,
        502,
    ),
    "template_put": _responses(
        _answer("Settings Meta reports after the change", OptimizationsChange, seeds="template_change"),
        404,
        429,
        502,
        s422=_answer(
            "Unknown or misspelt feature, bad status, or another invalid field",
            unknown_feature="unknown_feature",
            invalid_template_id="invalid_template_id",
        ),
        s500=_AUDIT_FAILED,
    ),
    "template_history": _responses(
        _answer("Audit records", History, ttl_change="history"),
        s422=_answer(
            "Invalid template_id or next_token",
            bad_next_token="bad_next_token",
            invalid_id="invalid_template_id",
        ),
    ),
    "ttl_put": _responses(
        _answer("The TTL Meta reports after the change", TtlChange, twelve_hours="ttl_change"),
        404,
        429,
        502,
        s422=_answer("Out of range (43200-2592000) or not an integer", out_of_range="ttl_out_of_range"),
        s500=_AUDIT_FAILED,
    ),
    "waba_get": _responses(
        _answer("Every catalog feature", OptimizationsView, nothing_set="waba_view"),
        404,
        429,
        502,
        s500=_NOT_CONFIGURED,
    ),
    "waba_put": _responses(
        _answer("Settings Meta reports after the change", OptimizationsChange, seeds="waba_change"),
        404,
        429,
        502,
        s422=_answer("Unknown or misspelt feature, or a bad status", unknown_feature="unknown_feature"),
        s500=_answer(
            "Audit record not written (change logged), or WABA_ID not configured",
            audit_failed="audit_failed",
            not_configured="not_configured",
        ),
    ),
    "waba_history": _responses(
        _answer("Audit records", History, example="history"),
        s422=_answer("Invalid next_token", bad_next_token="bad_next_token"),
        s500=_NOT_CONFIGURED,
    ),
    "onboarding_get": _responses(
        _answer("Onboarding and routing", Onboarding, onboarded="onboarded", not_onboarded="eligible_strict"),
        404,
        429,
        502,
        s500=_NOT_CONFIGURED,
    ),
}

RESPONSES |= {
    "max_price_get": _responses(
        _answer(
            "optimization_spec, and bid_amount as a price per delivery",
            MaxPriceView,
            max_price="max_price_view",
            standard_rate_card="max_price_none",
        ),
        404,
        422,
        429,
        502,
        s500=_NOT_CONFIGURED,
    ),
    "max_price_put": _responses(
        _answer("The max price Meta reports after the change", MaxPriceChange, usd="max_price_change"),
        404,
        429,
        502,
        s409=_answer(
            "The template was created without a max price (or Meta refuses the change)",
            created_without="created_without_max_price",
        ),
        s422=_answer(
            "A price that does not convert to a whole bid_amount, an unknown or other currency",
            inexact_price="inexact_price",
            unknown_currency="unknown_currency",
            wrong_currency="wrong_currency",
        ),
        s500=_AUDIT_FAILED,
    ),
    "reach_estimate_get": _responses(
        _answer("Meta's estimates, each cost also per delivery", ReachEstimate, india="reach_estimate"),
        429,
        502,
        s422=_answer(
            "A country that is not ISO 3166-1 alpha-2, or a bad interval", bad_country="bad_country"
        ),
        s500=_NOT_CONFIGURED,
    ),
}

REQUESTS: dict[str, dict[str, Any]] = {
    "template_put": _examples(
        seeds="template_put", display_names="template_put_names", allow_unknown="template_put_unknown"
    ),
    "waba_put": _examples(seeds="waba_put"),
    "ttl_put": _examples(twelve_hours="ttl_put"),
    "max_price_put": _examples(price="max_price_put_price", bid_amount="max_price_put_bid"),
}
