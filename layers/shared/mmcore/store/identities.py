"""Which identifiers name the same user: a phone number (digits), its BSUID, parent BSUID and the BSUIDs it
had before (``user_id_update``), as learned from webhooks (``contacts[]{wa_id, user_id}`` and the like).

One item per identifier (key in :mod:`mmcore.store.keys`) holding the set of the user's OTHER identifiers.
The sets are kept closed: learning that A and B are one user writes every identifier already linked to
either into each member's set, so one read of an identifier's item gives all of its user's identifiers. The
writes are set additions (``ADD``): idempotent and order-independent, so Meta's retries and any arrival order
end the same. Nothing is ever unlinked, and the items do not expire: a link forgotten could let an opt-out
leak to the user's other identifier.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mmcore.store import keys
from mmcore.store.calls import batch_get

MAX_LINKED = 50  # a user has a phone, a BSUID, a parent and a few past BSUIDs: more is a bad payload


def merge(groups: Iterable[Iterable[str]]) -> list[frozenset[str]]:
    """Groups that share an identifier, merged (each identifier in exactly one result)."""
    merged: list[set[str]] = []
    for group in groups:
        members = {g for g in group if g}
        if len(members) < 2:
            continue
        overlapping = [m for m in merged if m & members]
        for m in overlapping:
            members |= m
            merged.remove(m)
        merged.append(members)
    return [frozenset(m) for m in merged]


class Identities:
    """The user links on a low-level DynamoDB client (``boto3.client("dynamodb")``)."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def linked(self, users: Iterable[str]) -> dict[str, frozenset[str]]:
        """Each known identifier -> the user's other identifiers (one consistent read per 100)."""
        wanted = [keys.identity(u) for u in dict.fromkeys(u for u in users if u)]
        out = {}
        for item in batch_get(self.client, self.table, wanted, ("ids",)):
            user = keys.after(item["pk"]["S"], keys.IDENTITY_PREFIX)
            out[user] = frozenset(item.get("ids", {}).get("SS", ()))
        return out

    def learn(self, groups: Iterable[Iterable[str]], now: int) -> int:
        """Record that each group's identifiers name one user; the number of items that changed."""
        merged = merge(groups)
        if not merged:
            return 0
        known = self.linked(u for g in merged for u in g)
        changed = 0
        for group in merged:
            closed = set(group)
            for user in group:
                closed |= known.get(user, frozenset())
            changed += self._write(closed, known, now)
        return changed

    def _write(self, closed: set[str], known: Mapping[str, frozenset[str]], now: int) -> int:
        if len(closed) > MAX_LINKED:
            raise ValueError(f"more than {MAX_LINKED} identifiers linked to one user")
        changed = 0
        for user in sorted(closed):
            missing = closed - {user} - known.get(user, frozenset())
            if not missing:
                continue
            self.client.update_item(
                TableName=self.table,
                Key=keys.identity(user),
                UpdateExpression="ADD ids :ids SET updated_at = :now",
                ExpressionAttributeValues={":ids": {"SS": sorted(missing)}, ":now": {"N": str(now)}},
            )
            changed += 1
        return changed
