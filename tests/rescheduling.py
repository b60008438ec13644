"""A test double of the send path's :class:`~mmcore.sending.records.Rescheduler`."""

from __future__ import annotations


class Recorder:
    """A rescheduler that remembers what it was asked (the handler's sets SQS visibility timeouts and queues
    fresh copies); a copy counts as given back with its delay."""

    def __init__(self) -> None:
        self.delays: dict[str, int] = {}
        self.copies: dict[str, tuple[str, int]] = {}
        self.accepted: dict[str, str] = {}  # record id -> the wamid its copy carries
        self.paused: dict[
            str, int
        ] = {}  # record id -> the seconds its copy will have waited for its campaign

    def reschedule(self, delays):
        self.delays.update(delays)

    def requeue(self, copies, accepted=None, paused=None):
        self.copies.update(copies)
        self.accepted.update(accepted or {})
        self.paused.update(paused or {})
        self.delays.update({rid: delay for rid, (_body, delay) in copies.items()})  # given back all the same
        return set(copies)
