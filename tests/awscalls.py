"""The AWS actions each function's code really calls, recorded while the tests run its handler.

Every boto3 call goes through ``BaseClient._make_api_call``; :func:`install` wraps it and attributes each call
to the function whose ``functions/<name>/app.py`` is on the calling thread's stack, or, for a call from the
layer's code on a worker thread the handler started (the sender's and the webhook's DynamoDB pools), to the one
handler running on any thread at that moment. Calls made by the tests themselves (seeding, reading back) or by
the local stack's own machinery name no function and are not recorded; a call while two handlers run is
ambiguous and dropped rather than guessed.

A call becomes what IAM authorises: ``TransactWriteItems`` is authorised item by item as ``PutItem``,
``UpdateItem``, ``DeleteItem`` or ``ConditionCheckItem`` (there is no IAM action of its own), and SQS's batch
calls as their single forms (``SendMessageBatch`` needs ``sqs:SendMessage``).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS, LAYER = ROOT / "functions", ROOT / "layers" / "shared" / "mmcore"

_TRANSACT = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
_SQS_BATCH = {"SendMessageBatch", "DeleteMessageBatch", "ChangeMessageVisibilityBatch"}


@dataclass(frozen=True)
class Call:
    """One IAM-authorised action: ``dynamodb:PutItem`` on ``table`` (a physical name), with its index for a
    Query on one, and the partition keys it writes (``dynamodb:LeadingKeys``)."""

    action: str
    target: str
    index: str | None = None
    leading_keys: tuple[str, ...] = ()


calls: dict[str, set[Call]] = {}  # function folder name (functions/<name>) -> what it called
_lock = threading.Lock()


def install() -> None:
    """Record from now on (idempotent)."""
    from botocore.client import BaseClient

    if getattr(BaseClient._make_api_call, "_records", False):
        return
    original = BaseClient._make_api_call

    def recorded(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if (function := _running_function()) is not None:
            found = set(_iam_calls(self.meta.service_model.signing_name, operation, params))
            with _lock:
                calls.setdefault(function, set()).update(found)
        return original(self, operation, params)

    recorded._records = True  # type: ignore[attr-defined]
    BaseClient._make_api_call = recorded  # type: ignore[method-assign]


def _function_of(frame: Any) -> str | None:
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.name == "app.py" and path.parent.parent == FUNCTIONS:
            return path.parent.name
        frame = frame.f_back
    return None


def _in_layer(frame: Any) -> bool:
    while frame is not None:
        if Path(frame.f_code.co_filename).is_relative_to(LAYER):
            return True
        frame = frame.f_back
    return False


def _running_function() -> str | None:
    caller = sys._getframe(2)
    if (own := _function_of(caller)) is not None:
        return own
    # A worker thread runs the layer's code for the handler that started it; a thread outside the layer (a
    # test seeding a table, the local stack's SQS poller standing in for Lambda's) is nobody's role.
    if not _in_layer(caller):
        return None
    running = {name for frame in sys._current_frames().values() if (name := _function_of(frame))}
    return running.pop() if len(running) == 1 else None


def _pk(item: dict[str, Any] | None) -> tuple[str, ...]:
    """The written partition key's kind (``AUDIT#``, ``MSG#``...): what a LeadingKeys pattern tells apart,
    and few enough to keep for a whole test session."""
    value = (item or {}).get("pk", {})
    return (value["S"].split("#", 1)[0] + "#",) if isinstance(value, dict) and "S" in value else ()


def _iam_calls(service: str, operation: str, params: dict[str, Any]) -> Iterator[Call]:
    if service == "dynamodb":
        yield from _dynamodb_calls(operation, params)
    elif service == "sqs":
        action = operation.removesuffix("Batch") if operation in _SQS_BATCH else operation
        yield Call(f"sqs:{action}", params.get("QueueUrl", "").rsplit("/", 1)[-1])
    elif service == "secretsmanager":
        yield Call(f"secretsmanager:{operation}", params.get("SecretId", ""))
    elif service == "scheduler":  # a schedule, named in its group
        yield Call(f"scheduler:{operation}", f"{params.get('GroupName', 'default')}/{params.get('Name', '')}")
    elif service == "events":
        for entry in params.get("Entries", ()):
            yield Call(f"events:{operation}", entry.get("EventBusName", "default"))
    else:
        yield Call(f"{service}:{operation}", params.get("Name", ""))


def _dynamodb_calls(operation: str, params: dict[str, Any]) -> Iterator[Call]:
    if operation == "TransactWriteItems":
        for member in params.get("TransactItems", ()):
            for kind, request in member.items():
                keys = _pk(request.get("Key") or request.get("Item"))
                yield Call(f"dynamodb:{_TRANSACT[kind]}", request["TableName"], leading_keys=keys)
    elif operation == "BatchWriteItem":
        for table, requests in params.get("RequestItems", {}).items():
            keys = tuple(
                k
                for r in requests
                for k in _pk(
                    (r.get("PutRequest") or {}).get("Item") or (r.get("DeleteRequest") or {}).get("Key")
                )
            )
            yield Call("dynamodb:BatchWriteItem", table, leading_keys=keys)
    elif operation == "BatchGetItem":
        for table in params.get("RequestItems", {}):
            yield Call("dynamodb:BatchGetItem", table)
    else:
        keys = _pk(params.get("Key") or params.get("Item"))
        yield Call(f"dynamodb:{operation}", params.get("TableName", ""), params.get("IndexName"), keys)
