"""The send pipeline: one SQS batch in, every record taken to a recorded outcome or a scheduled retry.

validate -> deadline -> region rules -> route (by the template's latest category) -> suppression / halts ->
then chunk by chunk: claim -> POST (to ``/marketing_messages`` or ``/messages``) -> classify -> record

Claims are made just in time, a chunk (about a second of sending, :mod:`mmcore.sending.budget`) right before
its POSTs, and only when the invocation's remaining time covers the chunk and the access token can be read:
what a crash, a SIGKILL or a Lambda timeout can leave claimed-but-unsent is the chunk in flight, and the
records not reached go back to the queue unclaimed (``deferred``). A claim whose POST never started (no
token, a cancellation) is released back to ``queued``, never left to become ``unknown``.

DynamoDB work is amortized: one consistent BatchGetItem per 100 keys for the batch (suppressions, halts,
where each message stands and its template's category), one TransactWriteItems for the batch's other transitions and one per chunk for its
claims (each conditioned on the message being as read), one BatchWriteItem per 25 outcome items. A chunk's
POSTs go out concurrently over one pooled client, under a token-bucket rate limit (the number's throughput
shared by the concurrent pollers).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mmcore.graph import Accepted, GraphClient, RateLimiter, TokenUnavailable
from mmcore.meta.errors import GraphError
from mmcore.meta.messages import wire_bytes, with_deadline
from mmcore.meta.regions import RULES, Rule
from mmcore.meta.routing import Endpoint
from mmcore.observability import logger
from mmcore.sending.budget import Budget, check_capacity
from mmcore.sending.classify import classify
from mmcore.sending.decide import Work, decide, lost, parse
from mmcore.sending.outcomes import BatchReport, Outcome, Result
from mmcore.sending.records import Rescheduler, SqsMessage
from mmcore.sending.routing import route, template_keys
from mmcore.settings import Settings
from mmcore.store import messages as L
from mmcore.store import statuses
from mmcore.store.messages import Ledger

TOKEN_RETRY_SECONDS = 30  # no access token (a Secrets Manager outage is seconds): look again this soon
RECORD_RETRY_SECONDS = 5  # an accepted message whose record was throttled: its copy comes back this soon
REQUEUE_SECONDS = 2.0  # kept from the record writes' retries for queueing the copies of those not recorded

Claimed = list[tuple[Work, L.Change]]
Pending = dict[
    str, tuple[Work, str]
]  # record id -> (its work, the wamid Meta accepted it with), not recorded


class Sender:
    """Runs batches. Build one per warm container; it keeps the pooled Graph client. Refuses to be built
    when a full batch cannot finish within the send function's timeout (:func:`check_capacity`). The few
    DynamoDB calls of a batch are synchronous: nothing else runs on the loop while they are in flight."""

    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        graph: GraphClient,
        clock: Callable[[], float] = time.time,
        rules: Sequence[Rule] = RULES,
    ) -> None:
        check_capacity(settings)
        self.settings = settings
        self.ledger = ledger
        self.graph = graph
        self.clock = clock
        self.rules = tuple(rules)  # the region table in force (mmcore.policy)
        self.limiter = RateLimiter(settings.per_invocation_mps)
        self.budget = Budget.from_settings(settings)
        self._lease = int(settings.graph_timeout_seconds * 3) + 30

    async def run(
        self,
        messages: Sequence[SqsMessage],
        rescheduler: Rescheduler,
        remaining: Callable[[], float] | None = None,
    ) -> BatchReport:
        """Take every record of the batch to its result; records to retry are given back to the queue through
        ``rescheduler`` with their delays (the caller reports them as batch item failures). ``remaining``:
        the invocation's seconds left (Lambda's context); None: no deadline."""
        report = BatchReport()
        now = self.clock()
        work = parse(messages, self.settings, report, now, self.rules)
        pre = self.ledger.prefetch(
            [w.request.user for w in work if w.ended is None],
            [scope for w in work for scope in w.scopes.items()],
            int(now),
            [w.message_id for w in work],
            template_keys(work, self.settings),
            campaigns=[w.request.campaign_id for w in work if w.request.campaign_id],
        )
        route(work, pre, self.settings)
        pending: Pending = {}
        recovered = [w for w in work if w.msg.accepted_wamid]
        if recovered:
            self._record_recovered(recovered, pre, report, pending, _deadline(remaining))
        work = [w for w in work if not w.msg.accepted_wamid]
        to_send = self._settle(work, pre, int(now), report)
        size = self.budget.chunk
        for start in range(0, len(to_send), size):
            chunk = to_send[start : start + size]
            left = remaining() if remaining is not None else None
            if not self.budget.fits(len(chunk), left):
                why = (
                    f"{left:.1f} s left, a chunk of {len(chunk)} needs {self.budget.needed(len(chunk)):.1f} s"
                )
                defer(to_send[start:], report, 0, why)
                break
            try:
                self.graph.token()
            except TokenUnavailable as exc:  # nothing claimed: the whole rest waits for the secret
                defer(to_send[start:], report, TOKEN_RETRY_SECONDS, str(exc))
                break
            await self._send(self._claim(chunk, pre, report), report, pending, _deadline(remaining))
        _requeue_pending(pending, report, rescheduler)
        _requeue_deferred(messages, report, rescheduler)
        rescheduler.reschedule(report.retries)
        return report

    def _settle(self, work: list[Work], pre: L.Prefetched, now: int, report: BatchReport) -> list[Work]:
        """Decide every record from what the ledger says and write the transitions that send nothing
        (expired, blocked, suppressed, unknown) in one transaction; return the work to send."""
        changes: list[tuple[Work, L.Change, Result]] = []
        to_send = []
        for w in work:
            decided = decide(w, pre, now, self.settings)
            if decided is None:
                to_send.append(w)
            elif isinstance(decided, Result):
                report.add(w.msg.record_id, decided)
            else:
                changes.append((w, *decided))
        losers = self.ledger.apply([change for _, change, _ in changes])
        for w, change, result in changes:
            lose = change.message_id in losers
            report.add(w.msg.record_id, lost(w, losers[change.message_id], now) if lose else result)
        return to_send

    def _claim(self, chunk: list[Work], pre: L.Prefetched, report: BatchReport) -> Claimed:
        """Claim one chunk (one transaction, the lease starting now); return the claims that won."""
        now = int(self.clock())
        changes = [
            L.claim(w.message_id, pre.messages.get(w.message_id), w.fields, now, self._lease) for w in chunk
        ]
        losers = self.ledger.apply(changes)
        claimed = []
        for w, change in zip(chunk, changes, strict=True):
            if change.message_id in losers:
                report.add(w.msg.record_id, lost(w, losers[change.message_id], now))
            else:
                w.attempts = int(change.item["attempts"]["N"])
                claimed.append((w, change))
        return claimed

    async def _send(
        self, claimed: Claimed, report: BatchReport, pending: Pending, deadline: float | None
    ) -> None:
        """POST a claimed chunk, give back the claims whose POST never started, record the others (the
        accepted ones whose record did not land by ``deadline`` join ``pending``)."""
        started: set[str] = set()
        try:
            answers = await asyncio.gather(
                *(post(w, started, self.graph, self.limiter, self.settings) for w, _ in claimed)
            )
        except asyncio.CancelledError:  # shutdown: the POSTs in flight stay `sending` (Meta may have them)
            self._release([(w, c) for w, c in claimed if w.message_id not in started], report, 0, "cancelled")
            raise
        unsent = [(w, c) for (w, c), answer in zip(claimed, answers, strict=True) if answer is None]
        if unsent:
            self._release(unsent, report, TOKEN_RETRY_SECONDS, "not posted")
        items: list[dict[str, Any]] = []
        accepted: dict[str, tuple[Work, str]] = {}
        for (w, _), answer in zip(claimed, answers, strict=True):
            if answer is None:
                continue
            classified = classify(w, answer, self.settings, int(self.clock()))
            report.add(w.msg.record_id, classified.result)
            items.extend(classified.items)
            if classified.result.outcome is Outcome.ACCEPTED:
                accepted[w.message_id] = (w, classified.result.detail)
            if classified.failed_code is not None:
                report.failed_codes[classified.failed_code] += 1
            if (halt := classified.halt) is not None:
                self.ledger.halt(halt.scope, halt.key, halt.until, halt.code, halt.reason)
                report.halted.append(f"{halt.scope}:{halt.key}:{halt.code}")
        if items:
            self._record(items, accepted, report, pending, deadline)

    def _release(self, claimed: Claimed, report: BatchReport, retry_in: int, why: str) -> None:
        """Claims whose POST never started back to ``queued`` (conditional: only if still as claimed)."""
        self.ledger.apply([L.release(change, w.fields) for w, change in claimed])
        defer([w for w, _ in claimed], report, retry_in, why)

    def _record(
        self,
        items: list[dict[str, Any]],
        accepted: Mapping[str, tuple[Work, str]],
        report: BatchReport,
        pending: Pending,
        deadline: float | None,
    ) -> None:
        """Write the outcomes, retrying throttling until ``deadline``; then apply statuses whose webhooks
        arrived before the wamid was recorded. An accepted message whose items did not all land joins
        ``pending``: a copy carrying its wamid is queued, and its next delivery records it with no POST. (Any
        other outcome not written leaves its message claimed: its next delivery finds it ``sending``.)"""
        left = {str(item["message_id"]["S"]) for item in self.ledger.write(items, deadline)}
        for message_id in left & set(accepted):
            w, wamid = accepted[message_id]
            pending[w.msg.record_id] = (w, wamid)
            report.results[w.msg.record_id].retry_in = RECORD_RETRY_SECONDS
        if left:
            logger.warning("outcomes not recorded in time", extra={"messages": len(left)})
        done = [(wamid, m) for m, (_, wamid) in accepted.items() if m not in left]
        if done:
            try:
                statuses.reconcile(self.ledger.client, self.ledger.table, done)
            except Exception:  # the outcomes are recorded; a later webhook for these wamids applies its state
                logger.exception("reconcile failed", extra={"wamids": len(done)})

    def _record_recovered(
        self,
        work: list[Work],
        pre: L.Prefetched,
        report: BatchReport,
        pending: Pending,
        deadline: float | None,
    ) -> None:
        """Copies of messages Meta accepted whose record did not land: record them now, no POST. A message
        still claimed (or queued, or left unknown) becomes ``accepted``; one already accepted keeps its item
        (webhooks may have joined statuses onto it) and gets its wamid link."""
        items: list[dict[str, Any]] = []
        accepted: dict[str, tuple[Work, str]] = {}
        for w in work:
            wamid, seen = w.msg.accepted_wamid, pre.messages.get(w.message_id) or {}
            state = seen.get("state")
            if state in L.FINAL and state not in (L.State.ACCEPTED, L.State.UNKNOWN):
                report.add(w.msg.record_id, Result(Outcome.DUPLICATE, w.message_id, detail=str(state)))
                continue
            if state != L.State.ACCEPTED:
                fields = {**w.fields, "attempts": seen.get("attempts")}
                items.append(L.message_item(w.message_id, state=L.State.ACCEPTED, wamid=wamid, **fields))
            items.append(L.wamid_link_item(wamid, w.message_id, w.fields.get("campaign_id")))
            accepted[w.message_id] = (w, wamid)
            report.add(w.msg.record_id, Result(Outcome.ACCEPTED, w.message_id, detail=wamid))
        if items:
            self._record(items, accepted, report, pending, deadline)


async def post(
    w: Work, started: set[str], graph: GraphClient, limiter: RateLimiter, settings: Settings
) -> Accepted | GraphError | None:
    """One claimed message's POST and Meta's answer; None when the POST never started (the claim can be given
    back). Its id joins ``started`` once its request may leave."""
    try:
        request, endpoint = w.request, w.endpoint
        strict = settings.default_product_policy == "STRICT" and endpoint is Endpoint.MARKETING_MESSAGES
        if request.product_policy is None and strict:
            request = request.model_copy(update={"product_policy": "STRICT"})
        body = wire_bytes(request, ttl_on_wire=settings.ttl_on_wire, endpoint=endpoint)
        await limiter.acquire()
        started.add(w.message_id)
        return await graph.send(w.fields["phone_number_id"], body, endpoint)
    except GraphError as exc:
        return exc
    except TokenUnavailable:  # raised before any byte was written
        return None
    except Exception as exc:  # one record's failure never costs the others their outcome
        logger.exception("send failed", extra={"message_id": w.message_id})
        if w.message_id not in started:
            return None
        return GraphError.no_response(f"{type(exc).__name__}: {exc}")  # after the POST began: ambiguous


def defer(work: list[Work], report: BatchReport, retry_in: int, why: str) -> None:
    """Give records back to the queue unclaimed (or released): not sent, not failed."""
    if work:
        logger.warning("records deferred", extra={"records": len(work), "why": why})
    for w in work:
        report.add(w.msg.record_id, Result(Outcome.DEFERRED, w.message_id, retry_in=retry_in, detail=why))


def _deadline(remaining: Callable[[], float] | None) -> float | None:
    """When the record writes must stop retrying (a ``time.monotonic`` time): the invocation's end less what
    queueing the copies of the messages not recorded takes; None without a deadline."""
    if remaining is None:
        return None
    return time.monotonic() + remaining() - REQUEUE_SECONDS


def _requeue_pending(pending: Pending, report: BatchReport, rescheduler: Rescheduler) -> None:
    """Accepted messages whose record did not land go back as copies carrying their wamid: the next delivery
    records ``accepted`` without a second POST. A copy that could not be queued leaves its original to come
    back by visibility (its message still claimed: see :mod:`mmcore.sending.resolve` for what then)."""
    if not pending:
        return
    copies = {
        rid: (with_deadline(w.msg.body, w.msg.sent_at)[0], RECORD_RETRY_SECONDS)
        for rid, (w, _) in pending.items()
    }
    for rid in rescheduler.requeue(copies, {rid: wamid for rid, (_, wamid) in pending.items()}):
        report.results[rid].retry_in = None  # its original is deleted: the copy carries it


def _requeue_deferred(messages: Sequence[SqsMessage], report: BatchReport, rescheduler: Rescheduler) -> None:
    """Deferred records (never tried: no time left, no token) and those of a paused campaign go back as fresh
    copies, their deadline kept: a record given back by visibility counts a receive, and a long wait (a secret
    outage, a run of short invocations, a pause) would move it to the dead-letter queue without a ledger item.
    A paused one's copy carries how long it has waited. A copy that could not be queued falls back to
    visibility."""
    by_id = {m.record_id: m for m in messages}
    again = {
        rid: r
        for rid, r in report.results.items()
        if r.outcome in (Outcome.DEFERRED, Outcome.PAUSED) and rid in by_id
    }
    copies = {
        rid: (with_deadline(by_id[rid].body, by_id[rid].sent_at)[0], r.retry_in or 0)
        for rid, r in again.items()
    }
    paused = {
        rid: by_id[rid].paused_for + (r.retry_in or 0)
        for rid, r in again.items()
        if r.outcome is Outcome.PAUSED
    }
    for rid in rescheduler.requeue(copies, paused=paused) if copies else ():
        report.results[rid].retry_in = None  # its original is deleted: the copy carries it
