"""The rate card in force: the built-in rates (``mmcore.meta.rates``), plus the operator's card when
``RATE_CARD_PARAMETER`` names an SSM parameter (``mmcore.meta.ratecards`` says its format).

Read once per container, at the first use, like the region policy (``mmcore.policy``): a bad card is a
:class:`~mmcore.exceptions.NotConfigured` error naming each field at fault, raised every time the card is asked
for, and never a silent fallback to the built-in rates (estimates and budgets would quietly change).
"""

from __future__ import annotations

from functools import cache

from mmcore import clients
from mmcore.exceptions import NotConfigured
from mmcore.meta import ratecards
from mmcore.meta.rates import BUILT_IN_CARD, RateCard
from mmcore.settings import get_settings

__all__ = ["BUILT_IN", "in_force", "load", "reset"]

BUILT_IN = BUILT_IN_CARD


def load(parameter: str, text: str) -> RateCard:
    """The card of an override's ``text`` read from ``parameter``; NotConfigured names each bad field."""
    try:
        override = ratecards.parse_rate_card(text)
    except ratecards.InvalidRateCard as exc:
        raise NotConfigured(
            f"the rate card in SSM parameter {parameter} is invalid (RATE_CARD_PARAMETER): {exc}",
            exc.errors,
            parameter=parameter,
        ) from None
    return ratecards.card(override)


def in_force() -> RateCard:
    """The card of this container: read on first use, kept until the container ends. Raises NotConfigured
    (each time it is asked: a failure is not cached) when the card cannot be read or is invalid."""
    name = get_settings().rate_card_parameter.lstrip("/")
    return _read_once(f"/{name}") if name else BUILT_IN


@cache
def _read_once(name: str) -> RateCard:
    return load(name, clients.operator_document(name, "RATE_CARD_PARAMETER", "the rate card"))


def reset() -> None:
    """Forget the card read by this container (tests call it after changing the parameter)."""
    _read_once.cache_clear()
