"""Before the POST: what each record of a batch is, and what to do with it given the ledger.

Pure decisions (no I/O): :func:`parse` validates every record and applies the rules that need nothing but the
record (deadline, region); :func:`decide` reads the batch's prefetch and returns a result with nothing to
write, the ledger transition to write, or nothing for a message to send: those are claimed later, a chunk at
a time right before their POSTs (:mod:`mmcore.sending.pipeline`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mmcore.meta.bsuids import evaluate_user
from mmcore.meta.errors import MAX_SQS_DELAY, Scope
from mmcore.meta.messages import InvalidSendRequest, SendRequest, parse_send_request
from mmcore.meta.regions import RULES, Feature, Rule
from mmcore.meta.routing import Endpoint
from mmcore.observability import logger
from mmcore.sending.outcomes import BatchReport, Outcome, Result
from mmcore.sending.records import SqsMessage
from mmcore.settings import Settings
from mmcore.store import messages as L
from mmcore.store.campaigns import CampaignStatus
from mmcore.store.halts import account_halt_key, template_halt_key

LOST_RETRY_SECONDS = 5  # a claim lost to a writer we could not see: look again this soon
CANCELLED_REASON = "campaign cancelled"


def pause_delay(waited: int, first: int) -> int:
    """How long a paused campaign's message waits before it is looked at again: ``first`` (the setting), then
    as long as it has waited so far (a resume is seen within the pause's own length), at most SQS's 900 s.

    A paused 1M-message campaign: each round costs a receive, a SendMessageBatch and a DeleteMessageBatch per
    10 messages (~300,000 SQS requests, ~$0.12) and one prefetch per 100 (~10,000 BatchGetItems); 60 + 60 +
    120 + 240 + 480 s then 900 s rounds are ~7 rounds in the first hour and 4 an hour after that."""
    return min(max(first, waited), MAX_SQS_DELAY)


@dataclass(frozen=True, slots=True)
class Ended:
    """A message not to be sent: the state it ends in, the fields that say why, a detail for the result."""

    state: L.State
    why: dict[str, Any]
    detail: str = ""


@dataclass(slots=True)
class Work:
    """One valid record on its way through the batch."""

    msg: SqsMessage
    request: SendRequest
    message_id: str
    fields: dict[str, Any]  # what the message's ledger item records
    scopes: dict[Scope, str]  # the halt keys that stop it, by scope
    ended: Ended | None = None
    attempts: int = 1  # this send's attempt, once claimed
    endpoint: Endpoint = Endpoint.MARKETING_MESSAGES  # where its POST goes (mmcore.sending.routing)


def fields(request: SendRequest, msg: SqsMessage, settings: Settings) -> dict[str, Any]:
    """The message's fields in the ledger (its number: the request's own, else the stack's)."""
    return {
        "campaign_id": request.campaign_id,
        "to": request.user,
        "template": request.template.name,
        "language": request.template.language.code,
        "phone_number_id": request.phone_number_id or settings.phone_number_id,
        "product_policy": request.product_policy or settings.default_product_policy,
        "queued_at": int(msg.sent_at.timestamp()),
    }


def halt_scopes(request: SendRequest, phone_number_id: str, settings: Settings) -> dict[Scope, str]:
    """Every halt that stops this message: its WABA's, its number's, its template's."""
    return {
        Scope.ACCOUNT: account_halt_key(settings.waba_id),
        Scope.PHONE_NUMBER: phone_number_id,
        Scope.TEMPLATE: template_halt_key(
            settings.waba_id, request.template.name, request.template.language.code
        ),
    }


def parse(
    messages: Sequence[SqsMessage],
    settings: Settings,
    report: BatchReport,
    now: float,
    rules: Sequence[Rule] = RULES,
) -> list[Work]:
    """Validate every record and apply the rules that need no I/O: deadline, then region (``rules``: the
    region table in force). Invalid records and second copies within the batch get their result in ``report``
    and no work."""
    today = datetime.fromtimestamp(now, UTC).date()
    work, seen = [], set()
    for msg in messages:
        try:
            request = parse_send_request(msg.body)
        except InvalidSendRequest as exc:
            # Poison message: fail only this record; it reaches the DLQ after maxReceiveCount.
            logger.error("invalid send request", extra={"sqs_message_id": msg.record_id, "reason": str(exc)})
            report.add(msg.record_id, Result(Outcome.INVALID, retry_in=0, detail=str(exc)))
            continue
        message_id = request.identity()
        if message_id in seen:  # the same message twice in one batch: one decision is enough
            report.add(msg.record_id, Result(Outcome.DUPLICATE, message_id, detail="twice in one batch"))
            continue
        seen.add(message_id)
        values = fields(request, msg, settings)
        w = Work(msg, request, message_id, values, halt_scopes(request, values["phone_number_id"], settings))
        deadline = request.deadline(msg.sent_at)
        if deadline is not None and deadline.timestamp() <= now:
            w.ended = Ended(L.State.EXPIRED, {"reason": "deadline passed"})
        elif (verdict := evaluate_user(request.user, settings.business_country, today, rules)) is not None:
            w.fields["country"] = verdict.recipient_country
            if verdict.disabled_features:
                w.fields["disabled_features"] = sorted(verdict.disabled_features)
            if request.bid_spec is not None and Feature.MAX_PRICE in verdict.disabled_features:
                # [START] 2026: no max price for users there; the bid multiplier stays off the wire
                w.request = request.model_copy(update={"bid_spec": None})
                w.fields["bid_spec_dropped"] = "max_price disabled for the recipient's country"
            if not verdict.allowed:
                why = {"reason": verdict.reason, "code": verdict.code, "details": verdict.message}
                w.ended = Ended(L.State.BLOCKED, why, verdict.reason or "")
        else:  # an older-form BSUID: no country to apply a rule to; no delivery optimization [SEND]
            w.fields["disabled_features"] = [Feature.DELIVERY_OPTIMIZATION.value]
        work.append(w)
    return work


def decide(
    w: Work, pre: L.Prefetched, now: int, settings: Settings
) -> Result | tuple[L.Change, Result] | None:
    """What to do with one message given the ledger: a result with nothing to write, a transition to write
    with its result, or None: the message is to be sent (claimed with its chunk, right before its POST)."""
    current = pre.messages.get(w.message_id)
    state = (current or {}).get("state")
    if state in L.FINAL:
        logger.info("duplicate: already %s", state, extra={"message_id": w.message_id})
        return Result(Outcome.DUPLICATE, w.message_id, detail=state)
    if state == L.State.SENDING:
        lease = int(current.get("lease_until") or 0)
        if lease > now:  # another copy is being sent right now: look again once its lease has run out
            return Result(Outcome.IN_FLIGHT, w.message_id, retry_in=min(lease - now + 1, MAX_SQS_DELAY))
        if not settings.retry_unknown:  # interrupted between POST and record: Meta may have it
            why = "interrupted between POST and record"
            logger.warning("interrupted send recorded as unknown", extra={"message_id": w.message_id})
            fields = {**w.fields, "reason": why, "body": w.msg.body}  # the body: so it can be re-sent
            change = L.finish(w.message_id, current, L.State.UNKNOWN, fields)
            return change, Result(Outcome.UNKNOWN, w.message_id, detail=why)
    campaign = pre.campaigns.get(w.request.campaign_id or "")
    if campaign == CampaignStatus.CANCELLED:  # never POSTed; ended before an expiry or a block could say
        why = {**w.fields, "reason": CANCELLED_REASON}
        change = L.finish(w.message_id, current, L.State.CANCELLED, why)
        return change, Result(Outcome.CANCELLED, w.message_id, detail=CANCELLED_REASON)
    if w.ended is not None:
        ended = w.ended
        change = L.finish(w.message_id, current, ended.state, {**w.fields, **ended.why})
        return change, Result(Outcome(ended.state), w.message_id, detail=ended.detail)
    if campaign == CampaignStatus.PAUSED:  # back to the queue as a copy (mmcore.sending.pipeline)
        wait = pause_delay(w.msg.paused_for, settings.pause_requeue_seconds)
        return Result(Outcome.PAUSED, w.message_id, retry_in=wait, detail="campaign paused")
    halt = next((pre.halted[s] for s in w.scopes.items() if s in pre.halted), None)
    if halt is not None:
        wait = min(max(halt.until - now, 1), MAX_SQS_DELAY)
        return Result(Outcome.HALTED, w.message_id, retry_in=wait, detail=halt.reason)
    if w.request.user in pre.suppressed:
        why = "on the suppression list (opted out, or resting after a per-user limit)"
        change = L.finish(w.message_id, current, L.State.SUPPRESSED, {**w.fields, "reason": why})
        return change, Result(Outcome.SUPPRESSED, w.message_id)
    return None


def lost(w: Work, current: dict[str, Any] | None, now: int) -> Result:
    """Another writer changed the message since the batch read it (a duplicate in another batch)."""
    state = (current or {}).get("state")
    if state in L.FINAL:
        return Result(Outcome.DUPLICATE, w.message_id, detail=state)
    if state == L.State.SENDING:
        lease = int((current or {}).get("lease_until") or 0)
    else:
        lease = now + LOST_RETRY_SECONDS
    return Result(Outcome.IN_FLIGHT, w.message_id, retry_in=min(max(lease - now + 1, 1), MAX_SQS_DELAY))
