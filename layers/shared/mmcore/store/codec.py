"""The one item codec: Python values <-> DynamoDB attribute values, and DynamoDB values -> JSON-ready ones."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from typing import Any


@cache
def _codec() -> tuple[Any, Any]:
    """boto3's DynamoDB serializer and deserializer, imported on first use (cold start)."""
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """Python values -> DynamoDB attribute values (None dropped). Floats, which boto3 refuses and
    :func:`from_item` returns for decimals, are written as the Decimal they print as: what was read can be
    written back."""
    serialize = _codec()[0].serialize
    out = {}
    for k, v in values.items():
        if v is None:
            continue
        try:
            out[k] = serialize(v)
        except TypeError:  # a float somewhere inside: the rare case, so the common one pays nothing
            out[k] = serialize(exact(v))
    return out


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values -> plain Python: numbers as int or float at any depth, sets as sorted lists,
    binary as base64 text (booleans stay booleans). What every reader of the table gets."""
    deserialize = _codec()[1].deserialize
    return {k: plain(deserialize(v)) for k, v in item.items()}


def plain(value: Any) -> Any:
    """Deserialized DynamoDB values as JSON-ready Python (Decimal -> int/float, sets -> sorted lists)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(plain(v) for v in value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    return value


def dynamo_safe(value: Any) -> Any:
    """Arbitrary JSON (template components) as DynamoDB accepts it: floats become Decimals."""
    return json.loads(json.dumps(value), parse_float=Decimal)


def exact(value: Any) -> Any:
    """Floats as the Decimal they print as, at any depth (DynamoDB's serializer refuses floats)."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {k: exact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [exact(v) for v in value]
    return value
