"""Graph's and the feature catalog's failures as domain errors (:mod:`mmcore.exceptions`): what the caller
is told, with Graph's code and fbtrace_id in ``details``. The handler maps them to HTTP."""

from __future__ import annotations

from typing import Any

from mmcore.exceptions import Conflict, DomainError, InvalidInput, NotFound, RateLimited, UpstreamFailed
from mmcore.meta import creative
from mmcore.meta.errors import GraphError, backoff_delay
from mmcore.optimizations.models import Target

# Graph's rate limits [PLAT][ERR]: 4 (app), 80007 (WABA, management calls), 130429 (throughput). An HTTP 429
# without one of these codes is a rate limit too.
RATE_LIMIT_CODES = frozenset({4, 80007, 130429})


def graph_details(exc: GraphError) -> dict[str, Any]:
    """What a caller may act on from a Graph error (the ``graph`` detail of an error answer)."""
    return {
        "code": exc.code,
        "message": exc.message,
        "details": exc.details,
        "http_status": exc.http_status,
        "fbtrace_id": exc.fbtrace_id,
    }


def _is_not_found(exc: GraphError) -> bool:
    """Graph's 'Object with ID ... does not exist' (code 100, subcode 33) or a plain HTTP 404."""
    if exc.http_status == 404:
        return True
    text = f"{exc.message} {exc.details or ''}".lower()
    return exc.code == 100 and (exc.error_subcode == 33 or "does not exist" in text)


def map_graph_error(exc: GraphError, target: Target, *, changing: bool = False) -> DomainError:
    """A Graph failure in the domain's words: an unknown node is :class:`NotFound`, a rate limit
    :class:`RateLimited` (with the delay the error catalog gives), anything else :class:`UpstreamFailed`
    (a change without an answer says it may have been applied)."""
    graph = graph_details(exc)
    if _is_not_found(exc):
        return NotFound(f"{target.label} does not exist, or the access token cannot see it", graph=graph)
    if exc.code in RATE_LIMIT_CODES or exc.http_status == 429:
        delay = max(1, backoff_delay(exc.rule, 1))
        return RateLimited(f"Meta's rate limit ({exc.rule.title}): retry after {delay} s", delay, graph=graph)
    if exc.http_status is None and changing:
        return UpstreamFailed(
            f"no answer from Meta ({exc.message}): the change may or may not have been applied; "
            f"read {target.label} back with GET",
            graph=graph,
        )
    return UpstreamFailed(f"Meta refused the call on {target.label}: {exc.message}", graph=graph)


# Meta's refusals of a max price change (code 100, invalid parameter) [MAXP][ENROLL]. Meta publishes no
# subcodes for them, so they are told apart by their wording (lowercase fragments). The agreement text is
# Meta's ("You need to sign the testing legal agreement..."); the others are UNCONFIRMED wordings.
_MAX_PRICE_CONFLICTS = (
    ("legal agreement", "the business has not signed Meta's max price agreement (POST "
     "/<BUSINESS_ID>/max_price_agreements, status must be accepted)"),
    ("created without", "the template was created without a max price; Meta does not add one later"),
    ("cannot be added", "the template was created without a max price; Meta does not add one later"),
)  # fmt: skip


def max_price_refusal(exc: GraphError, target: Target, *, changing: bool = False) -> DomainError:
    """A refused ``optimization_spec`` change: a state Meta will not change (agreement unsigned, template
    created without a max price) is :class:`Conflict`, another invalid parameter :class:`InvalidInput` on
    ``optimization_spec``, both with Meta's reason; anything else as :func:`map_graph_error`."""
    if exc.code != 100 or _is_not_found(exc) or exc.http_status is None:
        return map_graph_error(exc, target, changing=changing)
    graph = graph_details(exc)
    text = f"{exc.message} {exc.details or ''}".lower()
    for fragment, why in _MAX_PRICE_CONFLICTS:
        if fragment in text:
            return Conflict(
                f"Meta refused the max price on {target.label}: {why} ({exc.message})", graph=graph
            )
    return InvalidInput(
        f"Meta refused the max price on {target.label}: {exc.message}",
        [("optimization_spec", exc.details or exc.message)],
        graph=graph,
    )


def invalid_features(exc: creative.FeatureSpecError) -> InvalidInput:
    """A request the catalog refuses, naming each feature at fault (and, for unknown keys, the valid ones)."""
    if isinstance(exc, creative.UnknownFeatureError):
        errors = []
        for key in exc.keys:
            hint = exc.suggestions.get(key)
            reason = f"unknown feature (did you mean {hint!r}?)" if hint else "unknown feature"
            errors.append((f"features.{key}", reason))
        return InvalidInput(
            str(exc),
            errors,
            unknown=exc.keys,
            suggestions=exc.suggestions,
            valid_keys=exc.valid_keys,
            display_names={f.display_name: f.key for f in creative.FEATURES},
            hint="a feature Meta added after this catalog passes with allow_unknown: true "
            "(keys this close to a catalog key are refused as typos)",
        )
    if isinstance(exc, creative.InvalidEnrollStatus):
        return InvalidInput(str(exc), [(f"features.{exc.field}", "enroll_status must be OPT_IN or OPT_OUT")])
    return InvalidInput(str(exc), [("features", str(exc))])
