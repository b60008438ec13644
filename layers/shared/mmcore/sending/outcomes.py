"""What became of each record of a batch."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum


class Outcome(StrEnum):
    """One record's outcome in a batch. The first seven (and ``cancelled``) are also the message's final ledger state
    (:class:`mmcore.store.messages.State`); the others leave the ledger as it was or mark a retry."""

    ACCEPTED = "accepted"
    FAILED = "failed"
    UNKNOWN = "unknown"  # Meta may or may not have it
    EXPIRED = "expired"
    BLOCKED = "blocked"
    SUPPRESSED = "suppressed"
    CANCELLED = "cancelled"  # its campaign was cancelled: never POSTed
    INVALID = "invalid"  # the body is not a send request: the record fails on its own, towards the DLQ
    DUPLICATE = "duplicate"  # already final, or twice in this batch: nothing done
    IN_FLIGHT = "in_flight"  # another copy is being sent: looked at again after its lease
    HALTED = "halted"  # its scope (account, number, template) is halted: back to the queue
    RETRY = "retry"  # Meta asked for a retry: back to the queue after a backoff
    # Not sent by this invocation and not failed: never claimed (no time left for its chunk, no token), or its
    # claim given back before its POST started. Back to the queue as it was.
    DEFERRED = "deferred"
    # Its campaign is paused: back to the queue as a fresh copy (its receive count untouched), looked at again
    # after the pause delay (``PAUSE_REQUEUE_SECONDS``).
    PAUSED = "paused"


@dataclass(slots=True)
class Result:
    """One record's outcome. ``retry_in`` set: the record goes back to the queue for that many seconds."""

    outcome: Outcome
    message_id: str | None = None
    retry_in: int | None = None
    detail: str = ""


@dataclass
class BatchReport:
    """Every record's result by SQS message id, with the counts the handler turns into metrics."""

    results: dict[str, Result] = field(default_factory=dict)
    counts: Counter[Outcome] = field(default_factory=Counter)
    failed_codes: Counter[int] = field(default_factory=Counter)
    halted: list[str] = field(default_factory=list)  # "<scope>:<key>:<code>" of each halt this batch wrote

    def add(self, record_id: str, result: Result) -> None:
        self.results[record_id] = result
        self.counts[result.outcome] += 1

    @property
    def retries(self) -> dict[str, int]:
        """Seconds until each record to retry is received again, by record id."""
        return {rid: r.retry_in for rid, r in self.results.items() if r.retry_in is not None}

    def batch_item_failures(self) -> list[dict[str, str]]:
        """The records to give back to the queue, as Lambda's partial batch response lists them."""
        return [{"itemIdentifier": rid} for rid in self.retries]
