"""Optimization configuration: the creative optimizations of a template or of the whole WABA, a template's
TTL, the WABA's onboarding status, and the audit trail of every change.

``models`` (bodies and answers), ``caveats`` (region caveats, feature views, notes), ``errors`` (Graph's and
the catalog's failures as domain errors), ``nodes`` (the Graph calls on a template or WABA), ``onboarding``
(where sends go), ``max_price`` and ``pricing`` (a template's max price and the WABA's reach estimate, and
their bodies), ``trail`` (audit records and history, stored by :mod:`mmcore.store.audit`), ``service``
(:class:`Optimizations`: a change from request to answer), ``examples`` (the OpenAPI examples and response
tables; it imports :mod:`mmcore.api`, so only the handler and tests load it).
"""

from mmcore.optimizations.caveats import feature_views, region_caveats
from mmcore.optimizations.errors import RATE_LIMIT_CODES, map_graph_error
from mmcore.optimizations.max_price import MaxPrices
from mmcore.optimizations.models import (
    AuditRecord,
    ChangeContext,
    FeaturesUpdate,
    History,
    Onboarding,
    OptimizationsChange,
    OptimizationsView,
    Scope,
    Target,
    TtlChange,
    TtlUpdate,
    Who,
)
from mmcore.optimizations.pricing import MaxPriceChange, MaxPriceUpdate, MaxPriceView, ReachEstimate
from mmcore.optimizations.service import HISTORY_DEFAULT, HISTORY_MAX, Optimizations

__all__ = [
    "HISTORY_DEFAULT",
    "HISTORY_MAX",
    "RATE_LIMIT_CODES",
    "AuditRecord",
    "ChangeContext",
    "FeaturesUpdate",
    "History",
    "MaxPriceChange",
    "MaxPriceUpdate",
    "MaxPriceView",
    "MaxPrices",
    "Onboarding",
    "Optimizations",
    "OptimizationsChange",
    "OptimizationsView",
    "ReachEstimate",
    "Scope",
    "Target",
    "TtlChange",
    "TtlUpdate",
    "Who",
    "feature_views",
    "map_graph_error",
    "region_caveats",
]
