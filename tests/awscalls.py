"""The AWS actions each function's code really calls, recorded while the tests run its handler.

Every boto3 call goes through ``BaseClient._make_api_call``; :func:`install` wraps it and attributes each call
to the handler module on the calling thread's stack (``functions/campaigns/imports.py`` is
``campaigns/imports``; tests/iam.py maps a module to its function by ``CodeUri`` and ``Handler``, two functions
may share a folder). A thread a handler started, and each task a handler hands a thread pool (the sender's and
the webhook's DynamoDB pools, the campaign queue's writers: pools the layer may share between functions), work
for that handler: the attribution is carried from the thread that started or submitted them, never guessed
from whatever else runs at the time. Calls made by the tests themselves (seeding, reading back, driving the
layer directly) or by the local stack's own machinery (pollers, the state machine interpreter's ItemReader)
name no handler and are not recorded.

A call becomes what IAM authorises: ``TransactWriteItems`` is authorised item by item as ``PutItem``,
``UpdateItem``, ``DeleteItem`` or ``ConditionCheckItem`` (there is no IAM action of its own), SQS's batch
calls as their single forms (``SendMessageBatch`` needs ``sqs:SendMessage``), S3 object calls as the object
actions AWS checks (``HeadObject`` needs ``s3:GetObject``, a multipart upload's parts ``s3:PutObject``) on
``arn:aws:s3:::<bucket>/<key>``, Step Functions calls on the state machine or execution ARN they name.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ROOT / "functions"

_TRANSACT = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
_SQS_BATCH = {"SendMessageBatch", "DeleteMessageBatch", "ChangeMessageVisibilityBatch"}
# S3 operations -> the object action IAM checks (the rest are authorised under their own name)
_S3_OBJECT = {
    "GetObject": "GetObject",
    "HeadObject": "GetObject",
    "PutObject": "PutObject",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "AbortMultipartUpload": "AbortMultipartUpload",
    "ListParts": "ListMultipartUploadParts",
    "DeleteObject": "DeleteObject",
}
_S3_BUCKET = {"ListObjects": "ListBucket", "ListObjectsV2": "ListBucket", "HeadBucket": "ListBucket"}


@dataclass(frozen=True)
class Call:
    """One IAM-authorised action: ``dynamodb:PutItem`` on ``table`` (a physical name), with its index for a
    Query on one, and the partition keys it writes (``dynamodb:LeadingKeys``)."""

    action: str
    target: str
    index: str | None = None
    leading_keys: tuple[str, ...] = ()


calls: dict[str, set[Call]] = {}  # handler module (functions/campaigns/app.py: campaigns/app) -> calls
_lock = threading.Lock()
_carried = threading.local()  # .module: the handler a thread, or the pool task it runs, works for


def save(folder: Path, name: str) -> None:
    """Write this process's calls to ``folder/name.json``: a test process of a parallel run (pytest-xdist)
    hands them to the check that runs in a later session (the Makefile's ``test``)."""
    folder.mkdir(parents=True, exist_ok=True)
    with _lock:
        found = {
            module: [dataclasses.asdict(c) for c in sorted(got, key=repr)] for module, got in calls.items()
        }
    (folder / f"{name}.json").write_text(json.dumps(found))


def saved(folder: Path) -> dict[str, set[Call]]:
    """The calls every process wrote to ``folder`` (:func:`save`), by handler module."""
    found: dict[str, set[Call]] = {}
    for path in sorted(folder.glob("*.json")):
        for module, got in json.loads(path.read_text()).items():
            found.setdefault(module, set()).update(
                Call(c["action"], c["target"], c["index"], tuple(c["leading_keys"])) for c in got
            )
    return found


def install() -> None:
    """Record from now on (idempotent)."""
    from botocore.client import BaseClient

    if getattr(BaseClient._make_api_call, "_records", False):
        return
    original = BaseClient._make_api_call

    def recorded(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if (module := _handler(sys._getframe(1))) is not None:
            found = set(_iam_calls(self.meta.service_model.signing_name, operation, params))
            with _lock:
                calls.setdefault(module, set()).update(found)
        return original(self, operation, params)

    recorded._records = True  # type: ignore[attr-defined]
    BaseClient._make_api_call = recorded  # type: ignore[method-assign]

    submit = ThreadPoolExecutor.submit

    def carrying_submit(self: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        # Always carried, None included: a pool thread a handler started may later run a test's own task.
        return submit(self, _carry(fn, _handler(sys._getframe(1))), *args, **kwargs)

    ThreadPoolExecutor.submit = carrying_submit  # type: ignore[method-assign]

    start = threading.Thread.start

    def carrying_start(self: threading.Thread) -> None:
        if (module := _handler(sys._getframe(1))) is not None:
            self.run = _carry(self.run, module)  # type: ignore[method-assign]
        start(self)

    threading.Thread.start = carrying_start  # type: ignore[method-assign]


def _carry(fn: Callable[..., Any], module: str | None) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        saved = getattr(_carried, "module", None)
        _carried.module = module
        try:
            return fn(*args, **kwargs)
        finally:
            _carried.module = saved

    return run


def handler_module(frame: Any) -> str | None:
    """The innermost module of a function's code folder on the stack: ``campaigns/imports`` for
    functions/campaigns/imports.py (tests/iam.py refuses one that is no function's ``Handler``)."""
    while frame is not None:
        if (module := _module_of(frame.f_code.co_filename)) is not None:
            return module
        frame = frame.f_back
    return None


@functools.cache
def _module_of(filename: str) -> str | None:
    """Walked for every call and every task a pool is handed: a file's answer is worked out once."""
    path = Path(filename)
    return (
        f"{path.parent.name}/{path.stem}"
        if path.suffix == ".py" and path.parent.parent == FUNCTIONS
        else None
    )


def _handler(frame: Any) -> str | None:
    """The handler the code at ``frame`` runs for: its own stack's, else the one its thread or task carries."""
    return handler_module(frame) or getattr(_carried, "module", None)


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
    elif service == "s3":
        yield from _s3_calls(operation, params)
    elif service == "states":  # on the state machine (StartExecution) or the execution (DescribeExecution)
        yield Call(f"states:{operation}", params.get("stateMachineArn") or params.get("executionArn", ""))
    else:
        yield Call(f"{service}:{operation}", params.get("Name", ""))


def _s3_calls(operation: str, params: dict[str, Any]) -> Iterator[Call]:
    bucket = params.get("Bucket", "")
    if operation == "CopyObject":  # reads its source, writes its target
        source = params.get("CopySource", "")
        if isinstance(source, dict):
            source = f"{source.get('Bucket', '')}/{source.get('Key', '')}"
        yield Call("s3:GetObject", f"arn:aws:s3:::{source.lstrip('/').split('?', 1)[0]}")
        yield Call("s3:PutObject", f"arn:aws:s3:::{bucket}/{params.get('Key', '')}")
    elif operation in _S3_OBJECT:
        yield Call(f"s3:{_S3_OBJECT[operation]}", f"arn:aws:s3:::{bucket}/{params.get('Key', '')}")
    else:  # a bucket's own action (ListBucket...), or the operation's name: tests/iam.py shows it refused
        yield Call(f"s3:{_S3_BUCKET.get(operation, operation)}", f"arn:aws:s3:::{bucket}")


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
