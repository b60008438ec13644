"""moto, as the local stack, the tests and the benchmarks run it:
``python -m mmapi.motoserver [--parent-pid PID] [moto.server args]`` (with ``--parent-pid``, the server exits
when that process is gone, however it ended).

Two performance fixes are applied first (:func:`install`); what DynamoDB and SQS answer is unchanged.

- DynamoDB: moto's ``TransactWriteItems`` saves a deep copy of the *whole table* for every item of the
  transaction, to roll back if one condition fails: a 100-item claim on a table of 10,000 items deep-copies a
  million items (seconds per call, growing with the table). The fix keeps moto's own transaction code and its
  error answers; it only makes the rollback copy the items the transaction touches. All items applied, or none.

One fidelity fix too. moto applies a transaction's writes one by one and, when a later one fails its
condition, puts the earlier items back behind the stream's back: their stream records stay (DynamoDB's stream
never shows a cancelled transaction), and a request served meanwhile by another thread sees, or overwrites,
half a transaction. Counters kept from the stream then drift (``mmapi demo`` once showed ``accepted -1``).
The fix serialises moto's DynamoDB and DynamoDB Streams requests on one lock (DynamoDB isolates a
transaction from every other request) and drops the stream records of a cancelled transaction.
- SQS: each message's visibility and delay checks read the clock through moto's ``unix_time_millis`` (a
  datetime round trip), queue counts walk every message with it, and each *received* message rebuilds every
  queue attribute (those counts included) to read the retention period: receiving from a queue of n messages
  cost O(n^2) clock reads (168 s of moto CPU to receive 2,000 messages; 0.8 s with the fix). The fix reads
  ``time.time()`` once per walk and the retention period from the queue.
- Every request: moto finds its backend by listing moto's package folder and trying ~1,000 URL patterns, under
  one lock, and werkzeug logs a line per request (to a stderr nobody reads): 24% of moto's CPU in `mmapi demo`.
  The fix remembers the backend of each host (a pure function of it) and keeps werkzeug's per-request log off.
- DynamoDB Streams ``GetRecords``: moto builds each answer through its generic, schema-walking serializer, 31%
  of moto's CPU in `mmapi demo` (100 records with both images per call). The records are already the wire's
  JSON (attribute-value maps), so the fix answers with ``json.dumps`` of them, the timestamp in epoch seconds
  as the serializer writes it (``tests/unit/test_motoserver.py`` checks both answers parse the same).
"""

from __future__ import annotations

import copy
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any

_deepcopy = copy.deepcopy


def install() -> None:
    """Patch moto's DynamoDB, DynamoDB Streams and SQS backends and its request dispatch in this process
    (idempotent)."""
    _install_sqs()
    _install_dispatch()
    _install_stream_records()
    _install_isolation()
    from moto.dynamodb import models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    backend = models.DynamoDBBackend
    if getattr(backend.transact_write_items, "_touched_items_only", False):
        return
    original = backend.transact_write_items

    class _Copy:
        """``copy`` as moto's models module sees it: tables are not deep-copied (the wrapper below saves
        the touched items instead); everything else is."""

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else _deepcopy(value, memo)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        for entry in transact_items:
            op = next(iter(entry.values()), {})
            table = self.tables.get(op.get("TableName"))
            key = op.get("Key") or op.get("Item") or {}
            try:
                hash_key = DynamoType(key[table.hash_key_attr])
                range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            except (AttributeError, KeyError, TypeError):
                continue  # malformed: moto's own code answers with its validation error
            saved.append((table, hash_key, range_key, _deepcopy(table.get_item(hash_key, range_key))))
        streams = {
            id(t.stream_shard): (t.stream_shard, len(t.stream_shard.items))
            for t, *_ in saved
            if t.stream_shard
        }
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(saved):
                if item is None:
                    table.delete_item(hash_key, range_key)
                elif range_key is None:
                    table.items[hash_key] = item
                else:
                    table.items[hash_key][range_key] = item
            for shard, length in streams.values():  # a cancelled transaction leaves no stream record
                del shard.items[length:]
            raise

    transact_write_items._touched_items_only = True
    models.copy = _Copy
    backend.transact_write_items = transact_write_items


def _install_sqs() -> None:
    from moto.sqs import models

    queue, message, backend = models.Queue, models.Message, models.SQSBackend
    if getattr(backend.is_message_valid_based_on_retention_period, "_from_queue", False):
        return

    def now_ms() -> float:
        return time.time() * 1000.0

    def visible_messages(self: Any) -> list[Any]:
        now = now_ms()
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]

    def delayed_count(self: Any) -> int:
        now = now_ms()
        return sum(1 for m in self._messages if now < m.delayed_until)

    def not_visible_count(self: Any) -> int:
        now = now_ms()
        return sum(1 for m in self._messages if not now > m.visible_at)

    def valid_by_retention(self: Any, queue_name: str, msg: Any) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return retention + msg.sent_timestamp / 1000 > time.time()

    valid_by_retention._from_queue = True
    message.visible = property(lambda self: now_ms() > self.visible_at)
    message.delayed = property(lambda self: now_ms() < self.delayed_until)
    queue.messages = property(visible_messages)
    queue.approximate_number_of_messages = property(lambda self: len(self.messages))
    queue.approximate_number_of_messages_delayed = property(delayed_count)
    queue.approximate_number_of_messages_not_visible = property(not_visible_count)
    backend.is_message_valid_based_on_retention_period = valid_by_retention


_DYNAMODB = threading.RLock()  # one DynamoDB request at a time (see the module docstring)


def _install_isolation() -> None:
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    for handler in (DynamoHandler, DynamoDBStreamsHandler):
        if getattr(handler.call_action, "_isolated", False):
            continue
        original = handler.call_action

        def call_action(self: Any, _original: Any = original) -> Any:
            with _DYNAMODB:
                return _original(self)

        call_action._isolated = True
        handler.call_action = call_action


def _install_dispatch() -> None:
    import logging

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication as app

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if getattr(app.get_backend_for_host, "_memo", False):
        return
    original, memo = app.get_backend_for_host, {}

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        if host not in memo:
            memo[host] = original(self, host)
        return memo[host]

    get_backend_for_host._memo = True
    app.get_backend_for_host = get_backend_for_host


def _install_stream_records() -> None:
    import base64
    import json
    from datetime import datetime

    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler as handler

    if getattr(handler.get_records, "_plain_json", False):
        return

    def wire(value: Any) -> Any:
        if isinstance(value, datetime):
            return int(value.timestamp() * 1000) / 1000  # whole milliseconds, as moto's serializer writes it
        if isinstance(value, bytes):  # binary attributes travel base64-encoded
            return base64.b64encode(value).decode()
        raise TypeError(f"not JSON: {value!r}")

    def get_records(self: Any) -> str:
        limit = self._get_param("Limit")
        answer = self.backend.get_records(self._get_param("ShardIterator"), 1000 if limit is None else limit)
        return json.dumps(answer, default=wire)

    get_records._plain_json = True
    get_records.original = handler.get_records
    handler.get_records = get_records


def start(attempts: int = 3, timeout: float = 30) -> tuple[subprocess.Popen[bytes], str]:
    """A moto server child on a free port of 127.0.0.1 (see :mod:`mmapi.lifecycle`), and its URL, once it
    accepts connections. Another process may bind the free port first: then the next attempt takes another."""
    from mmapi.lifecycle import reap, spawn

    for _ in range(attempts):
        port = _free_port()
        argv = ["--parent-pid", str(os.getpid()), "-H", "127.0.0.1", "-p", str(port)]
        child = spawn(
            [sys.executable, "-m", "mmapi.motoserver", *argv],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while child.poll() is None and time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return child, f"http://127.0.0.1:{port}"
            except OSError:
                time.sleep(0.1)
        reap(child)
    raise RuntimeError(f"moto server did not start on 127.0.0.1 ({attempts} attempts)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def watch_parent(parent_pid: int, every: float = 0.5) -> None:
    """Exit as soon as ``parent_pid`` is no longer this process's parent: a parent killed by SIGKILL cannot
    stop its moto server, so the server stops itself (its state dies with the stack that used it)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(every)
        os._exit(0)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--parent-pid" in args:  # ours, not moto's: taken out before moto.server parses the rest
        at = args.index("--parent-pid")
        watch_parent(int(args[at + 1]))
        del args[at : at + 2]
    install()
    from moto.server import main as moto_main

    moto_main(args)


if __name__ == "__main__":
    main()
