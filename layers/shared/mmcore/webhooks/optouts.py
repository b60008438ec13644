"""Who the webhook suppresses: ``user_preferences`` stop/resume, and failed statuses with 131050 (the user
stopped marketing messages) or 131049 (Meta's healthy-ecosystem limit: rest 24 h) [ERR][PUL].

The rules turn a POST's events into :class:`mmcore.store.suppressions.Suppression` events; the store applies
them, each user's in time order (:func:`apply`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace

from mmcore.meta.bsuids import user_key
from mmcore.meta.phones import mask
from mmcore.observability import logger
from mmcore.store.status_events import DeliveryStatus, StatusEvent
from mmcore.store.suppressions import Kind, Suppression, Suppressions
from mmcore.webhooks.batch import Preference

OPT_OUT_CODE, USER_LIMIT_CODE = 131050, 131049
USER_LIMIT_REST_SECONDS = 24 * 3600  # Meta: wait at least 24 h before the next marketing message
_COUNTS = {Kind.RESUME: "resumes", Kind.STOP: "opt_outs", Kind.REST: "rests"}  # -> Summary counts


def from_statuses(events: Iterable[StatusEvent], now: int) -> list[Suppression]:
    """Opt-outs (131050) and rests still running (131049) from failed statuses, on the recipient's phone
    number when Meta gives it, else on its BSUID (``recipient_user_id``: a send to a BSUID)."""
    out = []
    for e in events:
        if e.status != DeliveryStatus.FAILED:
            continue
        codes = {error.get("code") for error in e.errors}
        if not codes & {OPT_OUT_CODE, USER_LIMIT_CODE}:
            continue
        digits = user_key(e.recipient_id) or user_key(e.recipient_user_id)
        if not digits:
            logger.warning("failed status names no recipient: not suppressed", extra={"wamid": e.wamid})
            continue
        if OPT_OUT_CODE in codes:
            out.append(Suppression(digits, e.timestamp, Kind.STOP, OPT_OUT_CODE, "failed status 131050"))
        elif (until := e.timestamp + USER_LIMIT_REST_SECONDS) > now:
            out.append(
                Suppression(digits, e.timestamp, Kind.REST, USER_LIMIT_CODE, "failed status 131049", until)
            )
    return out


def from_preferences(preferences: Iterable[Preference]) -> tuple[list[Suppression], list[Preference]]:
    """Stops and resumes of marketing messages, as suppressions; and the preferences that are neither (another
    value, e.g. ``signup``, or another category), to keep: Meta's references define no effect of theirs on
    sending [WH-MSG][BSUID], so none is applied."""
    out, kept = [], []
    for p in preferences:
        if p.category not in (None, "marketing_messages") or p.value not in (Kind.STOP, Kind.RESUME):
            logger.info("user preference kept, not applied", extra={"category": p.category, "value": p.value})
            kept.append(p)
            continue
        out.append(
            Suppression(p.user, p.timestamp, Kind(p.value), None, p.detail or f"user_preferences {p.value}")
        )
    return out, kept


def for_every_identifier(
    suppressions: Iterable[Suppression], linked: Mapping[str, frozenset[str]]
) -> list[Suppression]:
    """Each event applied to every identifier of its user that is known (its phone number, BSUIDs), so a
    resume lifts what a stop under another identifier set, and a stop holds under each."""
    return [replace(s, user=user) for s in suppressions for user in sorted({s.user, *linked.get(s.user, ())})]


def apply(store: Suppressions, group: Iterable[Suppression], now: int) -> Counter[str]:
    """One user's events, oldest first: what each changed, as Summary counts."""
    done: Counter[str] = Counter()
    for s in sorted(group, key=lambda s: s.order):
        done[_COUNTS[s.kind]] += store.apply(s, now)
        logger.info("suppression %s", s.kind, extra={"to": mask(s.user), "code": s.code})
    return done
