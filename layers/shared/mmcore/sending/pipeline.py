"""The send pipeline: one SQS batch in, every record taken to a recorded outcome or a scheduled retry.

validate -> deadline -> region rules -> route (by the template's latest category) -> suppression / halts ->
then chunk by chunk: claim -> POST (to ``/marketing_messages`` or ``/messages``) -> classify -> record

Claims are made just in time, a chunk (about a second of sending, :mod:`mmcore.sending.budget`) right before
its first POST is due, and only when the invocation's remaining time covers the chunk and the access token can
be read: what a crash, a SIGKILL or a Lambda timeout can leave claimed-but-unsent is the chunk being posted and
the next one (claimed a claim's duration before its first POST), and the records not reached go back to the
queue unclaimed (``deferred``). A claim whose POST never started (no token, a cancellation) is released back
to ``queued``, never left to become ``unknown``.

Pacing is the number's, not the container's (:mod:`mmcore.graph.limiter`): each chunk leases its POST times
from the number's pacing item, shared by every send container, and each POST goes out at its time. The next
chunk is leased and claimed once the chunk's POSTs have all started, not answered: a slow answer holds no
other POST (a sliding window of at most ``SEND_CONCURRENCY`` in flight, no chunk barrier). A 130429 slows the
whole number down through the same item.

DynamoDB work is amortized: one consistent BatchGetItem per 100 keys for the batch (suppressions, halts,
where each message stands and its template's category), one TransactWriteItems for the batch's other
transitions and one per chunk for its claims (each conditioned on the message being as read), one UpdateItem
per chunk for its lease, one BatchWriteItem per 25 outcome items (in a thread: POSTs keep their pace while
outcomes are written).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mmcore.graph import Accepted, GraphClient, NumberPacer, TokenUnavailable
from mmcore.meta.errors import GraphError
from mmcore.meta.messages import wire_bytes, with_deadline
from mmcore.meta.regions import RULES, Rule
from mmcore.meta.routing import Endpoint
from mmcore.observability import logger
from mmcore.sending.budget import RESERVE_SECONDS, Budget, check_capacity
from mmcore.sending.classify import classify
from mmcore.sending.decide import Work, decide, lost, parse
from mmcore.sending.outcomes import BatchReport, Outcome, Result
from mmcore.sending.records import Rescheduler, SqsMessage
from mmcore.sending.routing import route, template_keys
from mmcore.settings import Settings
from mmcore.store import messages as L
from mmcore.store import statuses
from mmcore.store.messages import Ledger
from mmcore.store.pacing import Granted

TOKEN_RETRY_SECONDS = 30  # no access token (a Secrets Manager outage is seconds): look again this soon
RECORD_RETRY_SECONDS = 5  # an accepted message whose record was throttled: its copy comes back this soon
REQUEUE_SECONDS = 2.0  # kept from the record writes' retries for queueing the copies of those not recorded
PACING_RETRY_SECONDS = 5  # the pacing item could not be read: the records come back this soon
THROUGHPUT_REACHED = 130429  # Meta's answer above the number's tier: slows the number for every container
CLAIM_LEAD = (0.02, 0.5)  # a chunk is claimed this long before its first POST: 1.5x the last claim, bounded

Claimed = list[tuple[Work, L.Change]]
Pending = dict[
    str, tuple[Work, str]
]  # record id -> (its work, the wamid Meta accepted it with), not recorded


@dataclass(slots=True)
class _Batch:
    """One batch's running state, shared by its numbers' streams and their chunks."""

    report: BatchReport
    pending: Pending
    pre: L.Prefetched
    remaining: Callable[[], float] | None
    in_flight: asyncio.Semaphore  # SEND_CONCURRENCY POSTs at most awaiting their answers


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
        pacer: NumberPacer | None = None,
    ) -> None:
        check_capacity(settings)
        self.settings = settings
        self.ledger = ledger
        self.graph = graph
        self.clock = clock
        self.rules = tuple(rules)  # the region table in force (mmcore.policy)
        # the number's tier, shared with every other container through its pacing item
        self.pacer = pacer or NumberPacer(ledger.client, ledger.table, settings.throughput_mps)
        self.budget = Budget.from_settings(settings)
        self._lease = int(settings.graph_timeout_seconds * 3) + 30
        self._claim_lead = CLAIM_LEAD[0]

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
            await self._record_recovered(recovered, pre, report, pending, _deadline(remaining))
        work = [w for w in work if not w.msg.accepted_wamid]
        to_send = self._settle(work, pre, int(now), report)
        by_number: dict[str, list[Work]] = {}
        for w in to_send:
            by_number.setdefault(w.fields["phone_number_id"], []).append(w)
        gate = asyncio.Semaphore(self.settings.send_concurrency)
        batch = _Batch(report, pending, pre, remaining, gate)
        await asyncio.gather(*(self._stream(number, ws, batch) for number, ws in by_number.items()))
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

    async def _claim(self, chunk: list[Work], pre: L.Prefetched, report: BatchReport) -> Claimed:
        """Claim one chunk (one transaction, the lease starting now); return the claims that won. The
        transaction runs in a thread, so the POSTs of the chunk before keep their times meanwhile; cancelled
        while it runs, the claims it won go back to ``queued``."""
        now = int(self.clock())
        changes = [
            L.claim(w.message_id, pre.messages.get(w.message_id), w.fields, now, self._lease) for w in chunk
        ]
        applying = asyncio.ensure_future(asyncio.to_thread(self.ledger.apply, changes))
        try:
            losers = await asyncio.shield(applying)
        except asyncio.CancelledError:
            losers = await applying
            self._release(
                [(w, c) for w, c in zip(chunk, changes, strict=True) if c.message_id not in losers],
                report,
                0,
                "cancelled",
            )
            raise
        claimed = []
        for w, change in zip(chunk, changes, strict=True):
            if change.message_id in losers:
                report.add(w.msg.record_id, lost(w, losers[change.message_id], now))
            else:
                w.attempts = int(change.item["attempts"]["N"])
                claimed.append((w, change))
        return claimed

    async def _stream(self, number: str, to_send: list[Work], batch: _Batch) -> None:
        """One number's records, chunk by chunk: each chunk's POST times leased from the number's pace, the
        chunk claimed just before the first is due, each POST at its time; the next chunk is leased once this
        one's POSTs have all started (not answered: a slow answer holds no other POST)."""
        size, report, remaining = self.budget.chunk, batch.report, batch.remaining
        chunks: list[asyncio.Task[None]] = []
        try:
            for start in range(0, len(to_send), size):
                chunk, rest = to_send[start : start + size], to_send[start:]
                asked, left = time.monotonic(), remaining() if remaining is not None else None
                if not self.budget.fits(len(chunk), left):
                    needed = self.budget.needed(len(chunk))
                    defer(rest, report, 0, f"{left:.1f} s left, a chunk of {len(chunk)} needs {needed:.1f} s")
                    break
                try:
                    self.graph.token()
                except TokenUnavailable as exc:  # nothing claimed: the whole rest waits for the secret
                    defer(rest, report, TOKEN_RETRY_SECONDS, str(exc))
                    break
                try:
                    lease = await self.pacer.lease(number, len(chunk))
                except Exception as exc:  # the pacing item unreadable (throttled, an outage): nothing claimed
                    logger.exception("pacing unavailable", extra={"phone_number_id": number})
                    defer(rest, report, PACING_RETRY_SECONDS, f"pacing unavailable: {type(exc).__name__}")
                    break
                needed = lease.end - self.pacer.clock() + self.budget.graph_timeout + RESERVE_SECONDS
                left = None if left is None else left - (time.monotonic() - asked)
                if left is not None and needed > left:  # its turn comes too late: its leased times go unused
                    defer(rest, report, 0, f"{left:.1f} s left, the number's turn needs {needed:.1f} s")
                    break
                await self.pacer.wait(lease.start - self._claim_lead)
                claimed_at = time.monotonic()
                claimed = await self._claim(chunk, batch.pre, report)
                lead = 1.5 * (time.monotonic() - claimed_at)
                self._claim_lead = min(CLAIM_LEAD[1], max(CLAIM_LEAD[0], lead))
                all_started = asyncio.get_running_loop().create_future()
                sent = self._send(number, claimed, lease, batch, _deadline(remaining), all_started)
                chunks.append(asyncio.create_task(sent))
                await asyncio.wait({all_started, chunks[-1]}, return_when=asyncio.FIRST_COMPLETED)
            await asyncio.gather(*chunks)
        except asyncio.CancelledError:  # each chunk gives back its claims whose POST had not started
            for task in chunks:
                task.cancel()
            await asyncio.gather(*chunks, return_exceptions=True)
            raise

    async def _send(
        self,
        number: str,
        claimed: Claimed,
        lease: Granted,
        batch: _Batch,
        deadline: float | None,
        all_started: asyncio.Future[None],
    ) -> None:
        """POST a claimed chunk, each at its leased time; give back the claims whose POST never started,
        record the others (the accepted ones whose record did not land by the deadline join ``pending``).
        ``all_started`` is set once every POST of the chunk may have left (or the task ends first)."""
        started: set[str] = set()
        report = batch.report

        def began(message_id: str) -> None:
            started.add(message_id)
            if len(started) == len(claimed) and not all_started.done():
                all_started.set_result(None)

        async def one(i: int, w: Work) -> Accepted | GraphError | None:
            await self.pacer.wait(lease.due(i))
            async with batch.in_flight:
                answer = await post(w, began, self.graph, self.settings)
            if isinstance(answer, GraphError) and answer.code == THROUGHPUT_REACHED:
                try:
                    await self.pacer.throttled(number)
                except Exception:  # the answer stands (retried); the next 130429 slows the number instead
                    logger.exception("slowing the number failed", extra={"phone_number_id": number})
            return answer

        try:
            answers = await asyncio.gather(*(one(i, w) for i, (w, _) in enumerate(claimed)))
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
            await self._record(items, accepted, report, batch.pending, deadline)

    def _release(self, claimed: Claimed, report: BatchReport, retry_in: int, why: str) -> None:
        """Claims whose POST never started back to ``queued`` (conditional: only if still as claimed)."""
        self.ledger.apply([L.release(change, w.fields) for w, change in claimed])
        defer([w for w, _ in claimed], report, retry_in, why)

    async def _record(
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
        written = await asyncio.to_thread(
            self.ledger.write, items, deadline
        )  # POSTs keep their pace meanwhile
        left = {str(item["message_id"]["S"]) for item in written}
        for message_id in left & set(accepted):
            w, wamid = accepted[message_id]
            pending[w.msg.record_id] = (w, wamid)
            report.results[w.msg.record_id].retry_in = RECORD_RETRY_SECONDS
        if left:
            logger.warning("outcomes not recorded in time", extra={"messages": len(left)})
        done = [(wamid, m) for m, (_, wamid) in accepted.items() if m not in left]
        if done:
            try:
                await asyncio.to_thread(statuses.reconcile, self.ledger.client, self.ledger.table, done)
            except Exception:  # the outcomes are recorded; a later webhook for these wamids applies its state
                logger.exception("reconcile failed", extra={"wamids": len(done)})

    async def _record_recovered(
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
            await self._record(items, accepted, report, pending, deadline)


async def post(
    w: Work, began: Callable[[str], None], graph: GraphClient, settings: Settings
) -> Accepted | GraphError | None:
    """One claimed message's POST and Meta's answer; None when the POST never started (the claim can be given
    back). ``began`` is told its id once its request may leave."""
    started = False
    try:
        request, endpoint = w.request, w.endpoint
        strict = settings.default_product_policy == "STRICT" and endpoint is Endpoint.MARKETING_MESSAGES
        if request.product_policy is None and strict:
            request = request.model_copy(update={"product_policy": "STRICT"})
        body = wire_bytes(request, ttl_on_wire=settings.ttl_on_wire, endpoint=endpoint)
        started = True
        began(w.message_id)
        return await graph.send(w.fields["phone_number_id"], body, endpoint)
    except GraphError as exc:
        return exc
    except TokenUnavailable:  # raised before any byte was written
        return None
    except Exception as exc:  # one record's failure never costs the others their outcome
        logger.exception("send failed", extra={"message_id": w.message_id})
        if not started:
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
