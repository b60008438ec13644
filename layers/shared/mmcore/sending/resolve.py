"""Settling messages left ``unknown``: the POST's fate was not known (a timeout after the request left, a 5xx
whose acceptance Meta does not state, a send interrupted between POST and record), so Meta may have it.

The webhooks decide, not an operator. Every few minutes (the resolver function, on a schedule) each unknown
message (listed on ``gsi1``, :func:`mmcore.store.keys.unknown_message`) is looked at once it is
``MIN_AGE_SECONDS`` old:

- **Matched**: exactly one wamid that no message of ours claims (:mod:`mmcore.store.orphans`) was sent from
  the message's number to its user, in a marketing category, with its first status between
  ``unknown_match_before_seconds`` before the message went unknown and ``unknown_match_after_seconds`` after:
  that is the message. It is linked (the wamid link, then the message ``accepted`` with its wamid and
  ``resolved: webhook_match``) and the statuses already stored are applied to it.
- **Silent**: no such wamid, and the number's statuses kept arriving ``unknown_silence_seconds`` past the
  moment it went unknown (the stream is healthy, so the silence means Meta never took it). With
  ``resend_silent_unknown`` the message is queued again (at most ``MAX_RESENDS`` times, each after its own
  silence), within its original deadline; without it,
  it stays ``unknown`` with ``silent_since`` set, for an operator to see.
- **Ambiguous**: two or more candidate wamids: left alone (a wrong link would be worse than none), logged.

Residual risk of the match: a message to the same user from the same number, in the same window, sent by
another system of the business (not this product) and whose statuses arrive while ours are lost, would be
taken for ours. Residual risk of the re-send: Meta took the message but every status webhook of it was lost
while other messages' statuses arrived; the user would then get it twice. That is why re-sending is opt-in.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mmcore.meta.messages import InvalidSendRequest, with_deadline
from mmcore.observability import logger
from mmcore.settings import Settings
from mmcore.store import keys, statuses
from mmcore.store import messages as L
from mmcore.store.calls import batch_get, put_new
from mmcore.store.codec import from_item
from mmcore.store.orphans import Orphan, Orphans

MIN_AGE_SECONDS = 60  # the sender's own record and the webhooks' first statuses have landed by then
REQUEUE_DELAY_SECONDS = 30  # the SQS copy waits until the ledger says queued (see _resend)
MAX_RESENDS = 3  # each after its own proven silence: bounds what a wrong "silent" can cost
MARKETING = frozenset({"marketing_lite", "marketing"})  # MM API, or its Cloud API fallback
# What a message item holds that is not the message itself: its keys, indexes and the state's own fields.
_NOT_FIELDS = frozenset(
    {
        "pk",
        "sk",
        "gsi1pk",
        "gsi1sk",
        "gsi2pk",
        "gsi2sk",
        "state",
        "status",
        "updated_at",
        "expires_at",
        "lease_until",
        "error",
        "reason",
        "body",
        "silent_since",
    }
)


class Resolver:
    """Settles unknown messages (see the module docstring). ``sqs`` and ``queue_url`` re-send silent ones."""

    def __init__(
        self,
        client: Any,
        table: str,
        settings: Settings,
        *,
        sqs: Any = None,
        queue_url: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client, self.table, self.settings = client, table, settings
        self.ledger = L.Ledger(client, table)
        self.orphans = Orphans(client, table)
        self.sqs, self.queue_url, self.clock = sqs, queue_url, clock

    def run(self, deadline: Callable[[], float] | None = None) -> Counter[str]:
        """Look at every unknown message old enough, shard by shard, until done or ``deadline()`` (seconds
        left) runs low. Returns the outcomes by name."""
        now = int(self.clock())
        outcomes: Counter[str] = Counter()
        for shard in keys.unknown_shards():
            for message_id in self._listed(shard, now - MIN_AGE_SECONDS):
                if deadline is not None and deadline() < 5:
                    outcomes["unfinished"] += 1
                    return outcomes
                outcomes[self.settle(message_id, now)] += 1
        return outcomes

    def settle(self, message_id: str, now: int) -> str:
        """One unknown message: matched, resent, silent, waiting, ambiguous or gone (no longer unknown)."""
        message = self.ledger.get_message(message_id)
        if message is None or message.get("state") != L.State.UNKNOWN:
            return "gone"
        number, user, since = message.get("phone_number_id"), message.get("to"), int(message["updated_at"])
        if not number or not user:
            return "waiting"
        candidates = self._candidates(number, user, since)
        if len(candidates) == 1:
            return self._link(message, candidates[0])
        if candidates:
            logger.warning("unknown message matches several wamids", extra={"message_id": message_id})
            return "ambiguous"
        silence = self.settings.unknown_silence_seconds
        if now - since < silence or self.orphans.last_status_at(number) < since + silence:
            return "waiting"  # too early to tell, or the number's webhooks are not flowing
        if self.settings.resend_silent_unknown and int(message.get("resends") or 0) < MAX_RESENDS:
            return self._resend(message, now)
        if not message.get("silent_since"):
            self._write(message, L.State.UNKNOWN, {"silent_since": now, "reason": message.get("reason")})
        return "silent"

    # ------------------------------------------------------------------ matching

    def _candidates(self, number: str, user: str, since: int) -> list[Orphan]:
        """The orphans of this user and number in the window that are still no message's."""
        low = since - self.settings.unknown_match_before_seconds
        high = since + self.settings.unknown_match_after_seconds
        found = [
            o
            for o in self.orphans.of_user(number, user)
            if low <= o.first_at <= high and (o.category is None or o.category in MARKETING)
        ]
        linked = {
            keys.after(item["pk"]["S"], keys.WAMID_PREFIX)
            for item in batch_get(self.client, self.table, [keys.wamid_link(o.wamid) for o in found])
        }
        for o in found:
            if o.wamid in linked:  # the sender recorded it after its statuses came: an ordinary message
                self.orphans.forget(o)
        return [o for o in found if o.wamid not in linked]

    def _link(self, message: dict[str, Any], orphan: Orphan) -> str:
        message_id = message["message_id"]
        link = from_item(L.wamid_link_item(orphan.wamid, message_id, message.get("campaign_id")))
        if not put_new(self.client, self.table, link):
            return "gone"  # linked meanwhile: the next run sees it as no orphan
        extra = {"wamid": orphan.wamid, "resolved": "webhook_match"}
        if not self._write(message, L.State.ACCEPTED, extra):
            return "gone"
        statuses.reconcile(self.client, self.table, [(orphan.wamid, message_id)])
        self.orphans.forget(orphan)
        logger.info("unknown message matched to a wamid", extra={"message_id": message_id})
        return "matched"

    # ------------------------------------------------------------------ re-sending

    def _resend(self, message: dict[str, Any], now: int) -> str:
        """Queue a silent message again, once, within its original deadline. The SQS copy is sent first with
        a delay, then the ledger says ``queued``: a copy that arrives while the message is still unknown is a
        duplicate for the sender, and a crash between the two leaves the message unknown for the next run."""
        body = self._body_within_deadline(message, now)
        if body is None:
            self._write(message, L.State.EXPIRED, {"reason": "deadline passed while unknown"})
            return "expired"
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body, DelaySeconds=REQUEUE_DELAY_SECONDS)
        why = f"no status in {self.settings.unknown_silence_seconds} s while the number's statuses kept arriving"
        resends = int(message.get("resends") or 0) + 1
        if not self._write(
            message, L.State.QUEUED, {"resent": now, "resends": resends, "resent_because": why}
        ):
            return "gone"
        logger.warning("silent unknown message queued again", extra={"message_id": message["message_id"]})
        return "resent"

    def _body_within_deadline(self, message: dict[str, Any], now: int) -> str | None:
        """The message's body, its original deadline made explicit (:func:`with_deadline`); None when the
        deadline has passed or the body was not kept."""
        queued_at = datetime.fromtimestamp(int(message.get("queued_at") or now), UTC)
        try:
            body, deadline = with_deadline(message.get("body") or "", queued_at)
        except InvalidSendRequest:
            return None
        return None if deadline is not None and deadline.timestamp() <= now else body

    # ------------------------------------------------------------------ the ledger

    def _write(self, message: dict[str, Any], state: L.State, extra: dict[str, Any]) -> bool:
        """The message in ``state``, only if it is still as read; whether it was written."""
        fields = {k: v for k, v in message.items() if k not in _NOT_FIELDS and k != "message_id"}
        fields.update({k: v for k, v in extra.items() if v is not None})
        if state == L.State.UNKNOWN:
            fields["body"] = message.get("body")
        change = L.Change(
            message["message_id"], message, L.message_item(message["message_id"], state=state, **fields)
        )
        return not self.ledger.apply([change])

    def _listed(self, shard: str, older_than: int) -> list[str]:
        """The message ids listed unknown on one shard, up to ``older_than``."""
        ids: list[str] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": keys.UNKNOWN_INDEX,
            "KeyConditionExpression": "gsi1pk = :pk AND gsi1sk <= :sk",
            "ExpressionAttributeValues": {":pk": {"S": shard}, ":sk": {"S": f"{older_than:010d}~"}},
            "ProjectionExpression": "message_id",
        }
        while True:
            page = self.client.query(**kwargs)
            ids += [item["message_id"]["S"] for item in page.get("Items", ()) if "message_id" in item]
            if "LastEvaluatedKey" not in page:
                return ids
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
