"""After the POST: what Meta's answer means for the message, and what to record.

Accepted: the message item with its wamid, and the wamid -> message link the webhook reads. An error that
says the template went to the wrong endpoint (:data:`mmcore.meta.routing.REROUTES`: 131063 or 131061 on
``/messages``, 134100 or 131055 on ``/marketing_messages``) re-routes the message once: back to the queue at
once, its item noting the other endpoint (``reroute``), no halt. Any other error: the catalog's rule
(:mod:`mmcore.meta.errors`) decides between a halt of its scope, ``unknown`` (Meta may have it), a retry with
backoff, and a final failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mmcore.graph import Accepted
from mmcore.meta.errors import MAX_SQS_DELAY, Action, GraphError, Scope, backoff_delay, retries_exhausted
from mmcore.meta.phones import mask
from mmcore.meta.routing import reroute
from mmcore.observability import logger
from mmcore.sending.decide import Work
from mmcore.sending.outcomes import Outcome, Result
from mmcore.settings import Settings
from mmcore.store import messages as L
from mmcore.store.halts import Halt

HALT_SECONDS = MAX_SQS_DELAY  # a halted scope is probed again after this long
REROUTE_SECONDS = 1  # a re-routed message is sent again this soon, to the other endpoint


@dataclass(slots=True)
class Classified:
    """One sent message's result, the items to write for it, and the halt its error calls for, if any."""

    result: Result
    items: list[dict[str, Any]]
    halt: Halt | None = None
    failed_code: int | None = None  # set when the message failed for good (0: no code)


def classify(w: Work, outcome: Accepted | GraphError, settings: Settings, now: int) -> Classified:
    """Meta's answer to one POST as a result and the message's next item."""
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
        return Classified(Result(Outcome.ACCEPTED, mid, detail=outcome.wamid), [item, link])

    rule, error = outcome.rule, outcome.to_dict()
    log = {"message_id": mid, "code": outcome.code, "action": rule.action.value, "to": mask(w.request.user)}

    def item(state: L.State) -> list[dict[str, Any]]:
        kept = {**fields, "body": w.msg.body} if state == L.State.UNKNOWN else fields  # so it can be re-sent
        return [L.message_item(mid, state=state, error=error, attempts=attempt, **kept)]

    to = reroute(w.endpoint, outcome.code)
    if to is not None and not fields.get("reroute"):
        logger.warning("re-routed", extra={**log, "from": w.endpoint.value, "to": to.value})
        again = L.message_item(
            mid, state=L.State.RETRY, error=error, attempts=attempt, **fields, reroute=to.value
        )
        detail = f"{outcome.code}: re-routed from /{w.endpoint} to /{to}"
        return Classified(Result(Outcome.RETRY, mid, retry_in=REROUTE_SECONDS, detail=detail), [again])
    if rule.action is Action.HALT:
        scope = rule.scope or Scope.ACCOUNT
        halt = Halt(scope, w.scopes[scope], now + HALT_SECONDS, outcome.code, outcome.message)
        logger.error("sending halted", extra={**log, "scope": scope, "key": halt.key})
        result = Result(Outcome.HALTED, mid, retry_in=HALT_SECONDS, detail=str(outcome.code))
        return Classified(result, item(L.State.RETRY), halt)
    if rule.ambiguous and not settings.retry_unknown:
        logger.warning("ambiguous outcome recorded as unknown", extra=log)
        return Classified(Result(Outcome.UNKNOWN, mid, detail=outcome.message), item(L.State.UNKNOWN))
    if rule.action in (Action.RETRY, Action.RETRY_AFTER) and not retries_exhausted(rule, attempt):
        delay = backoff_delay(rule, attempt)
        logger.info("retry scheduled", extra={**log, "retry_in": delay})
        return Classified(
            Result(Outcome.RETRY, mid, retry_in=delay, detail=str(outcome.code)), item(L.State.RETRY)
        )
    logger.info("failed", extra=log)
    result = Result(Outcome.FAILED, mid, detail=str(outcome.code))
    return Classified(result, item(L.State.FAILED), failed_code=outcome.code or 0)
