"""moto, as the local stack, the tests and the benchmarks run it: ``python -m mmapi.motoserver [moto.server args]``.

One fix is applied first (:func:`install`). moto's ``TransactWriteItems`` saves a deep copy of the *whole table*
for every item of the transaction, to roll back if one condition fails: a 100-item claim on a table of
10,000 items deep-copies a million items (seconds per call, growing with the table). The fix keeps moto's
own transaction code and its error answers; it only makes the rollback copy the items the transaction touches
instead of every table. DynamoDB semantics are unchanged: all items applied, or none.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

_deepcopy = copy.deepcopy


def install() -> None:
    """Patch moto's DynamoDB backend in this process (idempotent)."""
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
            raise

    transact_write_items._touched_items_only = True  # type: ignore[attr-defined]
    models.copy = _Copy  # type: ignore[attr-defined]
    backend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    install()
    from moto.server import main as moto_main

    moto_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
