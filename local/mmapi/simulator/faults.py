"""Injected faults for POST /marketing_messages: latency, slow answers, error codes, dropped connections."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .config import SimulatorConfig
from .errors import GraphError


@dataclass(frozen=True, slots=True)
class Fault:
    delay: float = 0.0  # seconds before answering
    reset: bool = False  # drop the connection without an answer
    error: GraphError | None = None

    @property
    def fails(self) -> bool:
        return self.reset or self.error is not None

    @property
    def ambiguous(self) -> bool:
        """A dropped connection or a 5xx: the client cannot know whether the message left."""
        return self.reset or (self.error is not None and self.error.http_status >= 500)


NO_FAULT = Fault()


def choose_fault(config: SimulatorConfig, rng: random.Random) -> Fault:
    """Draw this request's faults from the seeded ``rng``; no draw at all when none is configured."""
    if not (config.latency_ms or config.slow_ratio or config.error_rates or config.reset_ratio):
        return NO_FAULT
    delay = _latency(config, rng) / 1000.0
    if config.slow_ratio and rng.random() < config.slow_ratio:
        delay += config.slow_ms / 1000.0
    reset = bool(config.reset_ratio) and rng.random() < config.reset_ratio
    error = None
    if config.error_rates and not reset:
        draw, cumulative = rng.random(), 0.0
        for code in sorted(config.error_rates):
            cumulative += config.error_rates[code]
            if draw < cumulative:
                error = GraphError(code)
                break
    return Fault(delay, reset, error)


def _latency(config: SimulatorConfig, rng: random.Random) -> float:
    base, jitter = config.latency_ms, config.latency_jitter_ms
    if not jitter or config.latency_distribution == "fixed":
        return base
    if config.latency_distribution == "uniform":
        return max(0.0, rng.uniform(base - jitter, base + jitter))
    return max(0.0, rng.gauss(base, jitter))
