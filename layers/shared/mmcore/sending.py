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
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mmcore.graph import Accepted, GraphClient, RateLimiter
from mmcore.meta.errors import MAX_SQS_DELAY, Action, GraphError, backoff_delay, retries_exhausted
from mmcore.meta.messages import InvalidSendRequest, SendRequest, parse_send_request, wire_bytes
from mmcore.meta.phones import mask
from mmcore.meta.regions import evaluate
from mmcore.observability import logger
from mmcore.settings import Settings
from mmcore.store import messages as L
from mmcore.store import statuses
from mmcore.store.messages import Ledger

HALT_SECONDS = MAX_SQS_DELAY  # a halted scope is probed again after this long
LOST_RETRY_SECONDS = 5  # a claim lost to a writer we could not see: look again this soon
ACCOUNT_SCOPE = ("account", "*")


@dataclass(frozen=True, slots=True)
class SqsMessage:
    """What the pipeline needs from one SQS record."""

    record_id: str
    receipt_handle: str
    body: str
    receive_count: int
    sent_at: datetime

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SqsMessage:
        attributes = record.get("attributes") or {}
        sent_ms = int(attributes.get("SentTimestamp") or time.time() * 1000)
        return cls(
            record_id=record["messageId"],
            receipt_handle=record.get("receiptHandle", ""),
            body=record.get("body") or "",
            receive_count=int(attributes.get("ApproximateReceiveCount") or 1),
            sent_at=datetime.fromtimestamp(sent_ms / 1000, UTC),
        )


@dataclass(slots=True)
class Result:
    """One record's outcome. ``retry_in`` set: the record goes back to the queue for that many seconds."""

    outcome: str
    message_id: str | None = None
    retry_in: int | None = None
    detail: str = ""


@dataclass
class BatchReport:
    results: dict[str, Result] = field(default_factory=dict)  # by SQS messageId
    counts: Counter[str] = field(default_factory=Counter)
    failed_codes: Counter[int] = field(default_factory=Counter)
    halted: list[str] = field(default_factory=list)

    def add(self, record_id: str, result: Result) -> None:
        self.results[record_id] = result
        self.counts[result.outcome] += 1

    @property
    def retries(self) -> dict[str, int]:
        return {rid: r.retry_in for rid, r in self.results.items() if r.retry_in is not None}

    def batch_item_failures(self) -> list[dict[str, str]]:
        return [{"itemIdentifier": rid} for rid in self.retries]


@dataclass(slots=True)
class _Work:
    msg: SqsMessage
    request: SendRequest
    message_id: str
    fields: dict[str, Any]
    ended: tuple[str, dict[str, Any], str] | None = None  # not to be sent: (state, extra fields, detail)
    attempts: int = 1


class Sender:
    """Runs batches. Build one per warm container; it keeps the pooled Graph client. The few DynamoDB calls
    of a batch are synchronous: nothing else runs on the loop while they are in flight."""

    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        graph: GraphClient,
        sqs: Any,
        queue_url: str,
        clock: Any = time.time,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.graph = graph
        self.sqs = sqs
        self.queue_url = queue_url
        self.clock = clock
        self.limiter = RateLimiter(settings.per_invocation_mps)
        self._lease = int(settings.graph_timeout_seconds * 3) + 30

    async def run(self, records: Sequence[Mapping[str, Any]]) -> BatchReport:
        report = BatchReport()
        now = self.clock()
        work = self._parse(records, report, now)
        pre = self.ledger.prefetch(
            [w.request.to for w in work if w.ended is None],
            [s for w in work for s in self._scopes(w)],
            int(now),
            [w.message_id for w in work],
        )

        # Decide every record from what the ledger says, then write all transitions in one transaction.
        changes: list[tuple[_Work, L.Change, Result | None]] = []  # no Result: a claim, to be sent
        for w in work:
            decided = self._decide(w, pre, int(now))
            if isinstance(decided, Result):
                report.add(w.msg.record_id, decided)
            else:
                changes.append((w, *decided))
        lost = self.ledger.apply([change for _, change, _ in changes])

        to_send = []
        for w, change, result in changes:
            if change.message_id in lost:
                report.add(w.msg.record_id, self._lost(w, lost[change.message_id], int(now)))
            elif result is None:
                w.attempts = int(change.item["attempts"]["N"])
                to_send.append(w)
            else:
                report.add(w.msg.record_id, result)

        semaphore = asyncio.Semaphore(self.settings.send_concurrency)
        outcomes = await asyncio.gather(*(self._post(w, semaphore) for w in to_send))

        items: list[dict[str, Any]] = []
        for w, outcome in zip(to_send, outcomes, strict=True):
            result, item = self._classify(w, outcome, report)
            report.add(w.msg.record_id, result)
            items.extend(item)
        if items:
            self._record(items, report)
        self._reschedule(report, records)
        return report

    # -------------------------------------------------------------- steps

    def _fields(self, request: SendRequest, msg: SqsMessage) -> dict[str, Any]:
        return {
            "campaign_id": request.campaign_id,
            "to": request.to,
            "template": request.template.name,
            "language": request.template.language.code,
            "phone_number_id": request.phone_number_id or self.settings.phone_number_id,
            "product_policy": request.product_policy or self.settings.default_product_policy,
            "queued_at": int(msg.sent_at.timestamp()),
        }

    def _scopes(self, w: _Work) -> list[tuple[str, str]]:
        return [
            ACCOUNT_SCOPE,
            ("phone_number", w.fields["phone_number_id"]),
            ("template", f"{w.request.template.name}:{w.request.template.language.code}"),
        ]

    def _parse(self, records: Sequence[Mapping[str, Any]], report: BatchReport, now: float) -> list[_Work]:
        """Validate every record and apply the rules that need no I/O: deadline, then region."""
        today = datetime.fromtimestamp(now, UTC).date()
        work, seen = [], set()
        for record in records:
            msg = SqsMessage.from_record(record)
            try:
                request = parse_send_request(msg.body)
            except InvalidSendRequest as exc:
                # Poison message: fail only this record; it reaches the DLQ after maxReceiveCount.
                logger.error(
                    "invalid send request", extra={"sqs_message_id": msg.record_id, "reason": str(exc)}
                )
                report.add(msg.record_id, Result(L.State.INVALID, retry_in=0, detail=str(exc)))
                continue
            message_id = request.identity()
            if message_id in seen:  # the same message twice in one batch: one decision is enough
                report.add(msg.record_id, Result("duplicate", message_id, detail="twice in one batch"))
                continue
            seen.add(message_id)
            w = _Work(msg, request, message_id, self._fields(request, msg))
            deadline = request.deadline(msg.sent_at)
            if deadline is not None and deadline.timestamp() <= now:
                w.ended = (L.State.EXPIRED, {"reason": "deadline passed"}, "")
            elif not request.to.startswith("user."):
                verdict = evaluate(request.to, self.settings.business_country, today)
                w.fields["country"] = verdict.recipient_country
                if verdict.disabled_features:
                    w.fields["disabled_features"] = sorted(verdict.disabled_features)
                if not verdict.allowed:
                    why = {"reason": verdict.reason, "code": verdict.code, "details": verdict.message}
                    w.ended = (L.State.BLOCKED, why, verdict.reason or "")
            work.append(w)
        return work

    def _decide(self, w: _Work, pre: L.Prefetched, now: int) -> Result | tuple[L.Change, Result | None]:
        """What to do with one message given the ledger: a result with nothing to write, or the transition
        to write with its result (None: the transition is a claim, and the message is sent if it wins)."""
        current = pre.messages.get(w.message_id)
        state = (current or {}).get("state")
        if state in L.FINAL:
            logger.info("duplicate: already %s", state, extra={"message_id": w.message_id})
            return Result("duplicate", w.message_id, detail=state)
        if state == L.State.SENDING:
            lease = int(current.get("lease_until") or 0)
            if lease > now:  # another copy is being sent right now: look again once its lease has run out
                return Result("in_flight", w.message_id, retry_in=min(lease - now + 1, MAX_SQS_DELAY))
            if not self.settings.retry_unknown:  # interrupted between POST and record: Meta may have it
                why = "interrupted between POST and record"
                logger.warning("interrupted send recorded as unknown", extra={"message_id": w.message_id})
                change = L.finish(w.message_id, current, L.State.UNKNOWN, {**w.fields, "reason": why})
                return change, Result(L.State.UNKNOWN, w.message_id, detail=why)
        if w.ended is not None:
            ended, extra, detail = w.ended
            return L.finish(w.message_id, current, ended, {**w.fields, **extra}), Result(
                ended, w.message_id, detail=detail
            )
        halt = next((pre.halted[s] for s in self._scopes(w) if s in pre.halted), None)
        if halt is not None:
            wait = min(max(int(halt["until"] - now), 1), MAX_SQS_DELAY)
            return Result("halted", w.message_id, retry_in=wait, detail=halt["reason"])
        if w.request.to in pre.suppressed:
            why = "on the suppression list (opted out, or resting after a per-user limit)"
            change = L.finish(w.message_id, current, L.State.SUPPRESSED, {**w.fields, "reason": why})
            return change, Result(L.State.SUPPRESSED, w.message_id)
        return L.claim(w.message_id, current, w.fields, now, self._lease), None

    def _lost(self, w: _Work, current: Mapping[str, Any] | None, now: int) -> Result:
        """Another writer changed the message since the batch read it (a duplicate in another batch)."""
        state = (current or {}).get("state")
        if state in L.FINAL:
            return Result("duplicate", w.message_id, detail=state)
        lease = (
            int((current or {}).get("lease_until") or 0)
            if state == L.State.SENDING
            else now + LOST_RETRY_SECONDS
        )
        return Result("in_flight", w.message_id, retry_in=min(max(lease - now + 1, 1), MAX_SQS_DELAY))

    async def _post(self, w: _Work, semaphore: asyncio.Semaphore) -> Accepted | GraphError:
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

    def _classify(
        self, w: _Work, outcome: Accepted | GraphError, report: BatchReport
    ) -> tuple[Result, list[dict[str, Any]]]:
        fields, mid, attempt = w.fields, w.message_id, w.attempts
        if isinstance(outcome, Accepted):
            item = L.message_item(
                mid,
                state=L.State.ACCEPTED,
                wamid=outcome.wamid,
                message_status=outcome.message_status,
                attempts=attempt,
                **fields,
            )
            link = L.wamid_link_item(outcome.wamid, mid, fields.get("campaign_id"))
            logger.debug("accepted", extra={"message_id": mid, "wamid": outcome.wamid})
            return Result(L.State.ACCEPTED, mid, detail=outcome.wamid), [item, link]

        rule, error = outcome.rule, outcome.to_dict()
        log = {"message_id": mid, "code": outcome.code, "action": rule.action.value, "to": mask(w.request.to)}
        if rule.action is Action.HALT:
            scope = rule.scope.value if rule.scope else "account"
            key = {"template": self._scopes(w)[2][1], "phone_number": fields["phone_number_id"]}.get(
                scope, "*"
            )
            self.ledger.halt(scope, key, int(self.clock()) + HALT_SECONDS, outcome.code, outcome.message)
            report.halted.append(f"{scope}:{key}:{outcome.code}")
            logger.error("sending halted", extra={**log, "scope": scope, "key": key})
            item = L.message_item(mid, state=L.State.RETRY, error=error, attempts=attempt, **fields)
            return Result("halted", mid, retry_in=HALT_SECONDS, detail=str(outcome.code)), [item]
        if rule.ambiguous and not self.settings.retry_unknown:
            logger.warning("ambiguous outcome recorded as unknown", extra=log)
            item = L.message_item(mid, state=L.State.UNKNOWN, error=error, attempts=attempt, **fields)
            return Result(L.State.UNKNOWN, mid, detail=outcome.message), [item]
        if rule.action in (Action.RETRY, Action.RETRY_AFTER) and not retries_exhausted(rule, attempt):
            delay = backoff_delay(rule, attempt)
            logger.info("retry scheduled", extra={**log, "retry_in": delay})
            item = L.message_item(mid, state=L.State.RETRY, error=error, attempts=attempt, **fields)
            return Result("retry", mid, retry_in=delay, detail=str(outcome.code)), [item]
        report.failed_codes[outcome.code or 0] += 1
        logger.info("failed", extra=log)
        item = L.message_item(mid, state=L.State.FAILED, error=error, attempts=attempt, **fields)
        return Result(L.State.FAILED, mid, detail=str(outcome.code)), [item]

    def _record(self, items: list[dict[str, Any]], report: BatchReport) -> None:
        """Write the outcomes, then apply statuses whose webhooks arrived before the wamid was recorded."""
        self.ledger.write(items)
        accepted = [
            (r.detail, r.message_id) for r in report.results.values() if r.outcome == L.State.ACCEPTED
        ]
        if accepted:
            try:
                statuses.reconcile(self.ledger.client, self.ledger.table, accepted)
            except Exception:  # the outcomes are recorded; a later webhook for these wamids applies its state
                logger.exception("reconcile failed", extra={"wamids": len(accepted)})

    def _reschedule(self, report: BatchReport, records: Sequence[Mapping[str, Any]]) -> None:
        """Give each retried record its delay: its visibility timeout, set in ChangeMessageVisibilityBatch."""
        receipts = {r["messageId"]: r.get("receiptHandle") for r in records}
        entries = [
            {"Id": str(i), "ReceiptHandle": receipts[rid], "VisibilityTimeout": delay}
            for i, (rid, delay) in enumerate(report.retries.items())
            if receipts.get(rid)
        ]
        for start in range(0, len(entries), 10):
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url, Entries=entries[start : start + 10]
            )
