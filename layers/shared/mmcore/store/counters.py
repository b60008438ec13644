"""A campaign's report counters: :data:`~mmcore.store.keys.COUNTER_SHARDS` items per campaign
(``keys.campaign_counter``), each a flat map of counter name -> number that only ever moves by ``ADD``.

The aggregator (``functions/aggregator``) is their only writer. It applies a run of stream records in one
TransactWriteItems: the ``ADD`` of each counter item the run touches, and a marker
(``keys.stream_applied``: keyed by the run's first record, holding its last sequence number) put only if it
is new. Lambda re-delivers a stream batch from the first record it did not checkpoint, so a retry starts
at a run's first record: its marker exists, the transaction is refused with the marker, and the caller skips
to the record after the marker's last sequence number. A run is applied whole or not at all.

Why a marker per run rather than a guard per message: a per-message "applied version" needs a write per
message per transition (as many as the transitions themselves), while a run of up to 100 records costs one
marker. Why not a per-counter-item sequence high-water mark: a counter item takes records from every stream
shard and a Lambda stream record does not say which shard it came from, so sequence numbers of two writers
cannot be compared.

What this relies on: Lambda re-delivers a failed stream batch from its first unchecked record with at least
the records it had (BisectBatchOnFunctionError off, BatchSize unchanged between attempts). A retry batch that
ended inside an applied run would skip that run's tail and count it again in the next batch.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from mmcore.store import keys
from mmcore.store.calls import batch_get
from mmcore.store.codec import from_item, to_item

MARKER_SECONDS = 2 * 24 * 3600  # a stream keeps records 24 h: a marker outlives any retry of its run
TRANSACT_MAX = 100  # TransactWriteItems' limit: the marker and up to 99 counter items
_CONFLICT_ROUNDS = 5
_KEY_ATTRIBUTES = frozenset({"pk", "sk", "expires_at"})

Counts = dict[str, int | Decimal]


def _number(text: str) -> int | Decimal:
    value = Decimal(text)
    return int(value) if value == value.to_integral_value() else value


class AlreadyApplied(Exception):
    """The run's marker exists: its records were applied, up to ``last_sequence``."""

    def __init__(self, last_sequence: str) -> None:
        super().__init__(last_sequence)
        self.last_sequence = last_sequence


class CampaignCounters:
    """The counter items of one table, on a low-level DynamoDB client."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def read(self, campaign_id: str) -> Counts:
        """Every counter of the campaign, its shards summed: one consistent BatchGetItem of
        :data:`~mmcore.store.keys.COUNTER_SHARDS` keys, whatever the campaign's size."""
        return self.read_many([campaign_id]).get(campaign_id, {})

    def read_many(self, campaign_ids: Sequence[str]) -> dict[str, Counts]:
        """:meth:`read` for several campaigns at once (a listing's page): their counter items in one
        BatchGetItem pass (100 keys a call, in parallel). A campaign with no counters yet is left out."""
        wanted = [
            keys.campaign_counter(campaign_id, shard)
            for campaign_id in dict.fromkeys(campaign_ids)
            for shard in range(keys.COUNTER_SHARDS)
        ]
        totals: dict[str, Counts] = {}
        for item in batch_get(self.client, self.table, wanted, ()):
            campaign_id = keys.after(item["pk"]["S"], keys.COUNTER_PREFIX).rsplit("#", 1)[0]
            total = totals.setdefault(campaign_id, {})
            for name, value in item.items():
                if name not in _KEY_ATTRIBUTES and "N" in value:  # exact: spend is summed as Decimal
                    total[name] = total.get(name, 0) + _number(value["N"])
        return {
            campaign_id: {name: value for name, value in sorted(total.items()) if value}
            for campaign_id, total in totals.items()
        }

    def apply(
        self,
        deltas: Mapping[tuple[str, int], Mapping[str, int | Decimal]],
        first_event: str,
        last_sequence: str,
        now: int | None = None,
    ) -> None:
        """ADD ``deltas`` (by (campaign id, shard)) and put the run's marker, in one transaction. Raises
        :class:`AlreadyApplied` when the marker of ``first_event`` exists (a re-delivered run)."""
        now = int(time.time()) if now is None else now
        updates = [(target, delta) for target, delta in deltas.items() if any(delta.values())]
        if len(updates) >= TRANSACT_MAX:
            raise ValueError(f"a run touches at most {TRANSACT_MAX - 1} counter items, not {len(updates)}")
        marker = {
            **keys.plain(keys.stream_applied(first_event)),
            "last_sequence": last_sequence,
            "expires_at": now + MARKER_SECONDS,
        }
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": to_item(marker),
                    "ConditionExpression": "attribute_not_exists(pk)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
        ]
        actions += [self._add(campaign_id, shard, delta) for (campaign_id, shard), delta in updates]
        self._transact(actions)

    def _add(self, campaign_id: str, shard: int, delta: Mapping[str, int | Decimal]) -> dict[str, Any]:
        names, values, adds = {}, {}, []
        for i, (name, value) in enumerate(sorted(delta.items())):
            if value:
                names[f"#c{i}"], values[f":c{i}"] = name, value
                adds.append(f"#c{i} :c{i}")
        return {
            "Update": {
                "TableName": self.table,
                "Key": keys.campaign_counter(campaign_id, shard),
                "UpdateExpression": "ADD " + ", ".join(adds),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": to_item(values),
            }
        }

    def _transact(self, actions: list[dict[str, Any]]) -> None:
        for attempt in range(_CONFLICT_ROUNDS):
            try:
                self.client.transact_write_items(
                    TransactItems=actions,
                    ClientRequestToken=uuid.uuid4().hex,  # botocore's own retries of this round are idempotent
                )
                return
            except self.client.exceptions.TransactionCanceledException as exc:
                reasons = exc.response.get("CancellationReasons") or []
                marker = reasons[0] if reasons else {}
                if marker.get("Code") == "ConditionalCheckFailed":
                    raise AlreadyApplied(
                        from_item(marker.get("Item") or {}).get("last_sequence", "")
                    ) from exc
                if not any(r.get("Code") == "TransactionConflict" for r in reasons):
                    raise
                if attempt == _CONFLICT_ROUNDS - 1:
                    raise
                time.sleep(0.02 * 2**attempt)  # another aggregator added to the same counters: try again
