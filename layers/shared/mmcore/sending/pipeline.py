"""The send pipeline: one SQS batch in, every record taken to a recorded outcome or a scheduled retry.

validate -> deadline -> region rules -> suppression / halts -> claim -> POST -> classify -> record

DynamoDB work is amortized over the batch: one consistent BatchGetItem per 100 keys (suppressions, halts and
where each message stands), one TransactWriteItems for every claim and every other transition of the batch
(each conditioned on the message being as read), one BatchWriteItem per 25 outcome items. POSTs go out
concurrently over one pooled client, under a token-bucket rate limit (the number's throughput shared by the
concurrent pollers).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from mmcore.graph import Accepted, GraphClient, RateLimiter
from mmcore.meta.errors import GraphError
from mmcore.meta.messages import wire_bytes
from mmcore.meta.regions import RULES, Rule
from mmcore.observability import logger
from mmcore.sending.classify import classify
from mmcore.sending.decide import Work, decide, lost, parse
from mmcore.sending.outcomes import BatchReport, Outcome, Result
from mmcore.sending.records import Rescheduler, SqsMessage
from mmcore.settings import Settings
from mmcore.store import messages as L
from mmcore.store import statuses
from mmcore.store.messages import Ledger


class Sender:
    """Runs batches. Build one per warm container; it keeps the pooled Graph client. The few DynamoDB calls
    of a batch are synchronous: nothing else runs on the loop while they are in flight."""

    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        graph: GraphClient,
        clock: Callable[[], float] = time.time,
        rules: Sequence[Rule] = RULES,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.graph = graph
        self.clock = clock
        self.rules = tuple(rules)  # the region table in force (mmcore.policy)
        self.limiter = RateLimiter(settings.per_invocation_mps)
        self._lease = int(settings.graph_timeout_seconds * 3) + 30

    async def run(self, messages: Sequence[SqsMessage], rescheduler: Rescheduler) -> BatchReport:
        """Take every record of the batch to its result; records to retry are given back to the queue through
        ``rescheduler`` with their delays (the caller reports them as batch item failures)."""
        report = BatchReport()
        now = self.clock()
        work = parse(messages, self.settings, report, now, self.rules)
        pre = self.ledger.prefetch(
            [w.request.user for w in work if w.ended is None],
            [scope for w in work for scope in w.scopes.items()],
            int(now),
            [w.message_id for w in work],
        )
        to_send = self._claim(work, pre, int(now), report)
        semaphore = asyncio.Semaphore(self.settings.send_concurrency)
        answers = await asyncio.gather(*(self._post(w, semaphore) for w in to_send))

        items: list[dict[str, Any]] = []
        for w, answer in zip(to_send, answers, strict=True):
            classified = classify(w, answer, self.settings, int(self.clock()))
            report.add(w.msg.record_id, classified.result)
            items.extend(classified.items)
            if classified.failed_code is not None:
                report.failed_codes[classified.failed_code] += 1
            if (halt := classified.halt) is not None:
                self.ledger.halt(halt.scope, halt.key, halt.until, halt.code, halt.reason)
                report.halted.append(f"{halt.scope}:{halt.key}:{halt.code}")
        if items:
            self._record(items, report)
        rescheduler.reschedule(report.retries)
        return report

    def _claim(self, work: list[Work], pre: L.Prefetched, now: int, report: BatchReport) -> list[Work]:
        """Decide every record from what the ledger says, write all transitions in one transaction, and
        return the work whose claim won: the messages to POST."""
        changes: list[tuple[Work, L.Change, Result | None]] = []  # no Result: a claim, to be sent
        for w in work:
            decided = decide(w, pre, now, self.settings, self._lease)
            if isinstance(decided, Result):
                report.add(w.msg.record_id, decided)
            else:
                changes.append((w, *decided))
        losers = self.ledger.apply([change for _, change, _ in changes])

        to_send = []
        for w, change, result in changes:
            if change.message_id in losers:
                report.add(w.msg.record_id, lost(w, losers[change.message_id], now))
            elif result is None:
                w.attempts = int(change.item["attempts"]["N"])
                to_send.append(w)
            else:
                report.add(w.msg.record_id, result)
        return to_send

    async def _post(self, w: Work, semaphore: asyncio.Semaphore) -> Accepted | GraphError:
        request = w.request
        if request.product_policy is None and self.settings.default_product_policy == "STRICT":
            request = request.model_copy(update={"product_policy": "STRICT"})
        body = wire_bytes(request, ttl_on_wire=self.settings.ttl_on_wire)
        async with semaphore:
            await self.limiter.acquire()
            try:
                return await self.graph.send(w.fields["phone_number_id"], body)
            except GraphError as exc:
                return exc

    def _record(self, items: list[dict[str, Any]], report: BatchReport) -> None:
        """Write the outcomes, then apply statuses whose webhooks arrived before the wamid was recorded."""
        self.ledger.write(items)
        accepted = [
            (r.detail, r.message_id) for r in report.results.values() if r.outcome is Outcome.ACCEPTED
        ]
        if accepted:
            try:
                statuses.reconcile(self.ledger.client, self.ledger.table, accepted)
            except Exception:  # the outcomes are recorded; a later webhook for these wamids applies its state
                logger.exception("reconcile failed", extra={"wamids": len(accepted)})
