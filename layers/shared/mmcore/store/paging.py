"""One paging convention for every listing: ``limit`` + ``next_token``, the token an opaque encoding of
DynamoDB's ``LastEvaluatedKey`` (string attributes), checked on the way back to belong to the same listing."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from mmcore.exceptions import InvalidInput

DEFAULT_LIMIT = 50


def encode(last_key: Mapping[str, Any] | None) -> str | None:
    """The ``next_token`` for a page that stopped at ``last_key`` (None: the last page)."""
    if not last_key:
        return None
    plain = {k: v["S"] for k, v in last_key.items()}
    raw = json.dumps(plain, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str, attributes: frozenset[str], expect: Mapping[str, str]) -> dict[str, Any]:
    """Back to an ``ExclusiveStartKey``. ``attributes``: exactly the key attributes of this listing;
    ``expect``: values they must have (the listing's partition). Anything else is :class:`InvalidInput`
    naming ``next_token``."""
    try:
        key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error):
        key = None
    ok = (
        isinstance(key, dict)
        and set(key) == attributes
        and all(isinstance(v, str) for v in key.values())
        and all(key.get(k) == v for k, v in expect.items())
    )
    if not ok:
        raise InvalidInput(
            "next_token is not a token of this listing", [("next_token", "not a next_token of this listing")]
        )
    return {k: {"S": v} for k, v in key.items()}
