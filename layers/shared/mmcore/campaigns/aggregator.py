"""The table's stream -> campaign counters, exactly once per message transition.

One Lambda batch holds records of one stream shard, in order (a message's changes all land in one shard, in
order). The batch is cut into runs, each touching at most 99 campaigns; a run's counter changes are summed
per campaign onto ONE counter shard per run (picked from the run's first record, so a re-delivered run picks
the same: issue 15, 8 -> 1 counter item per campaign and run, ~1.1 -> ~0.2 write units per message) and
applied with its marker in one transaction (:class:`~mmcore.store.counters.
CampaignCounters`). A run Lambda delivers again (a crash after the commit, a later run's failure) is
recognised by its marker and skipped up to the marker's last sequence number. The first run that fails is
reported as the batch item failure, so Lambda resumes there and never re-delivers an applied run's records
except as a whole run from its first record.

After a run is applied, each campaign with a budget whose spend it moved is checked (:mod:`.budget`): the
campaign pauses itself once its budget is reached.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from mmcore.campaigns.budget import Budgets, touches_spend
from mmcore.campaigns.tally import Transition, is_ttl_removal, transitions
from mmcore.observability import logger
from mmcore.store import keys
from mmcore.store.codec import from_item
from mmcore.store.counters import TRANSACT_MAX, AlreadyApplied, CampaignCounters


@dataclass(frozen=True, slots=True)
class StreamChange:
    """One stream record, as far as counting goes: its identity, its place in the shard, what it changes."""

    event_id: str
    sequence: str
    changes: tuple[Transition, ...]

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> StreamChange:
        """From a record as Lambda delivers it (``eventID``, ``eventName``, ``dynamodb`` with
        ``SequenceNumber``, ``OldImage``/``NewImage`` in attribute-value form, ``userIdentity`` on a TTL
        removal)."""
        stream = record["dynamodb"]
        old, new = stream.get("OldImage"), stream.get("NewImage")
        found = transitions(
            from_item(old) if old else None,
            from_item(new) if new else None,
            expired=record.get("eventName") == "REMOVE" and is_ttl_removal(record),
        )
        return cls(str(record["eventID"]), str(stream["SequenceNumber"]), tuple(found))


class Aggregator:
    """Applies stream batches to the counters. Build one per warm container."""

    def __init__(self, counters: CampaignCounters, budgets: Budgets | None = None) -> None:
        self.counters = counters
        self.budgets = budgets

    def handle(self, records: Sequence[Mapping[str, Any]]) -> dict[str, list[dict[str, str]]]:
        """Count a Lambda stream batch; the answer is Lambda's partial batch response (the sequence number
        of the first record not applied, when a run failed)."""
        changes = [StreamChange.from_record(record) for record in records]
        start = 0
        while start < len(changes):
            end = _run_end(changes, start)
            deltas = _deltas(changes[start:end], keys.counter_shard(changes[start].event_id))
            if not any(any(delta.values()) for delta in deltas.values()):
                start = end  # nothing a report shows: nothing to apply twice, so no marker either
                continue
            try:
                self.counters.apply(deltas, changes[start].event_id, changes[end - 1].sequence)
            except AlreadyApplied as applied:
                end = max(_after(changes, start, applied.last_sequence), start + 1)
                logger.info("stream run already applied", extra={"from": changes[start].sequence})
            except Exception:
                logger.exception("counters not applied", extra={"from": changes[start].sequence})
                return {"batchItemFailures": [{"itemIdentifier": changes[start].sequence}]}
            else:
                self._check_budgets(deltas)
            start = end
        return {"batchItemFailures": []}

    def _check_budgets(self, deltas: Mapping[tuple[str, int], Mapping[str, Any]]) -> None:
        """Check the budget of each campaign whose spend the applied run moved; a failed check is logged and
        left to the next run (the counters are applied: the batch goes on)."""
        if self.budgets is None:
            return
        for campaign_id in sorted({c for (c, _), delta in deltas.items() if touches_spend(delta)}):
            try:
                self.budgets.check(campaign_id)
            except Exception:
                logger.exception("budget not checked", extra={"campaign_id": campaign_id})


def _run_end(changes: Sequence[StreamChange], start: int) -> int:
    """The end of the longest run from ``start`` that touches at most ``TRANSACT_MAX - 1`` campaigns."""
    touched: set[str] = set()
    for i in range(start, len(changes)):
        targets = {t.campaign_id for t in changes[i].changes}
        if len(touched | targets) > TRANSACT_MAX - 1:
            return i
        touched |= targets
    return len(changes)


def _after(changes: Sequence[StreamChange], start: int, last_sequence: str) -> int:
    """The index of the first record after ``last_sequence`` (sequence numbers grow within a shard)."""
    last = int(last_sequence) if last_sequence.isdigit() else -1
    for i in range(start, len(changes)):
        if int(changes[i].sequence) > last:
            return i
    return len(changes)


def _deltas(changes: Sequence[StreamChange], shard: int) -> dict[tuple[str, int], dict[str, int | Decimal]]:
    deltas: dict[tuple[str, int], dict[str, int | Decimal]] = defaultdict(dict)
    for change in changes:
        for t in change.changes:
            delta = deltas[t.campaign_id, shard]
            for name, value in t.delta.items():
                delta[name] = delta.get(name, 0) + value
    return dict(deltas)
