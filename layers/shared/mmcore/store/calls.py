"""The DynamoDB calls every repository shares: BatchGetItem (100 keys) and BatchWriteItem (25 items) over any
number of keys or items, the calls of one batch in parallel, unprocessed keys or items retried with backoff;
and the put that never overwrites."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from mmcore.store.codec import to_item

BATCH_GET_MAX, BATCH_WRITE_MAX = 100, 25

T, R = TypeVar("T"), TypeVar("R")


def chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


@cache
def _threads() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=8, thread_name_prefix="ddb")


def in_parallel(call: Callable[[T], R], parts: list[T]) -> list[R]:
    """A batch's independent DynamoDB calls (8 BatchWriteItem for 100 sends) overlap their round trips."""
    if len(parts) <= 1:
        return [call(part) for part in parts]
    return list(_threads().map(call, parts))


_UNBOUNDED_THROTTLE_ROUNDS = 8  # without a deadline, a throttled call is tried this often, then raised


def _pause(attempt: int) -> float:
    """Exponential backoff with full jitter, capped at 1 s: unprocessed keys or items mean throttling."""
    return random.uniform(0, min(0.05 * 2**attempt, 1.0))


def _backoff(attempt: int) -> None:
    time.sleep(_pause(attempt))


def batch_get(
    client: Any, table: str, keys: Iterable[Mapping[str, Any]], attributes: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Consistent BatchGetItem over any number of ``pk``/``sk`` keys (duplicates dropped): 100 a call, the
    calls in parallel, unprocessed keys retried with backoff. ``attributes`` limits what is read (the keys
    are always included). Returns the items found, as DynamoDB attribute values."""
    unique = list({(k["pk"]["S"], k["sk"]["S"]): k for k in keys}.values())
    extra: dict[str, Any] = {}
    if attributes:
        names = {f"#p{i}": name for i, name in enumerate(dict.fromkeys(["pk", "sk", *attributes]))}
        extra = {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}

    def get(chunk: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        request: dict[str, Any] | None = {table: {"Keys": chunk, "ConsistentRead": True, **extra}}
        items: list[dict[str, Any]] = []
        for attempt in itertools.count():
            answer = client.batch_get_item(RequestItems=request)
            items.extend(answer["Responses"].get(table, []))
            request = answer.get("UnprocessedKeys") or None
            if not request:
                break
            _backoff(attempt)
        return items

    return [item for items in in_parallel(get, list(chunks(unique, BATCH_GET_MAX))) for item in items]


def put_new(client: Any, table: str, values: Mapping[str, Any]) -> bool:
    """Put an item unless its key exists: False when it does (a duplicate, maybe delivered concurrently)."""
    try:
        client.put_item(TableName=table, Item=to_item(values), ConditionExpression="attribute_not_exists(pk)")
    except client.exceptions.ConditionalCheckFailedException:
        return False
    return True


# What DynamoDB answers when a partition or the table is over its throughput (on-demand too, past a partition's
# ~1,000 WCU/s): retried with backoff, within a deadline when the caller has one.
THROTTLING = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)


def throttled(exc: BaseException) -> bool:
    """Whether a boto3 error is DynamoDB's throttling (after botocore's own retries)."""
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in THROTTLING


def batch_write(
    client: Any,
    table: str,
    items: Sequence[Mapping[str, Any]],
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[Mapping[str, Any]]:
    """Unconditional puts: 25 a BatchWriteItem, the calls in parallel, unprocessed items and throttling
    retried with backoff; with a ``deadline`` (a ``clock`` time) only until then. Returns the items not
    written (always none without a deadline). Only for items the caller owns (a claimed message, its wamid
    link) or whose key decides their content (a status event: wamid + status + timestamp), so that a second
    put changes nothing."""

    def put(chunk: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        request: dict[str, Any] | None = {table: [{"PutRequest": {"Item": item}} for item in chunk]}
        attempt = 0
        while True:
            try:
                answer = client.batch_write_item(RequestItems=request)
                request = answer.get("UnprocessedItems") or None
            except ClientError as exc:
                if not throttled(exc) or (deadline is None and attempt >= _UNBOUNDED_THROTTLE_ROUNDS):
                    raise
            if not request:
                return []
            pause = _pause(attempt)
            if deadline is not None and clock() + pause > deadline:
                return [entry["PutRequest"]["Item"] for entry in request[table]]
            time.sleep(pause)
            attempt += 1

    return [item for left in in_parallel(put, list(chunks(list(items), BATCH_WRITE_MAX))) for item in left]
