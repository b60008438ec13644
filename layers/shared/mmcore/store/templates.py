"""Templates in the single table: ONE item per template (``keys.template``: WABA, name, language) holding what
the product knows of it, and its events as Meta sent them.

On the item: readiness facts a campaign writes (``created_at``, ``last_sent_at``, ``sync_until``, epoch
seconds) and what the template webhooks write, each moving forward by its own event time only: the status
(``status``, ``reason``, ``template_id``, ``event_at``), the category (``category``, ``previous_category``, and
while a change is announced ``pending_category``/``pending_category_at``; ``category_at``) and the quality
(``quality_score``, ``previous_quality_score``, ``quality_at``). Each writer sets its own attributes
(UpdateItem), never the other's.

The registry (a full sync of ``GET /<WABA_ID>/message_templates``, :meth:`Templates.record_listed`) adds the
definition: ``template_id``, ``parameter_format``, ``components`` as Meta lists them, their compiled
``shape`` (:mod:`mmcore.meta.templates`: header format, placeholders, buttons by index and sub-type),
``optimization_spec``, ``message_send_ttl_seconds`` and ``listed_at``; a template Meta no longer lists gets
``unlisted_at`` (it is kept, never taken for approved). The status, category and quality a sync reads move
forward on the webhooks' clocks, as the sync's time. Every item is listed on ``gsi1`` by WABA (name, language).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from typing import Any

from mmcore.store import keys, paging
from mmcore.store.calls import put_new
from mmcore.store.codec import dynamo_safe, from_item, to_item
from mmcore.store.messages import RETENTION_SECONDS

# What a sync writes as it reads it (the definition), and what it moves on a webhook's clock.
DEFINITION = (
    "template_id",
    "parameter_format",
    "components",
    "shape",
    "optimization_spec",
    "message_send_ttl_seconds",
)
CLOCKED = (("status", "event_at"), ("category", "category_at"), ("quality_score", "quality_at"))
FILTERS = ("status", "category", "language")
_LISTING_KEY = frozenset({"pk", "sk", "gsi1pk", "gsi1sk"})


def routing_keys(waba_id: str, name: str, language: str) -> list[keys.Key]:
    """The keys of a template's item as a send names it (``en_US``) and as Meta's own category webhook example
    spells the language (``en-US`` [TCU]): the send path's prefetch reads both (:func:`routing_facts`)."""
    spellings = dict.fromkeys((language, language.replace("_", "-")))
    return [keys.template(waba_id or "-", name, spelling) for spelling in spellings]


def routing_facts(
    found: Mapping[str, Mapping[str, Any]], waba_id: str, name: str, language: str
) -> dict[str, Any]:
    """What routing needs of a template from a prefetch (items by pk, :func:`routing_keys`): its latest
    ``category`` (the spelling whose category moved last) and ``optimization_spec`` (a max price), if any.
    Empty when nothing is known of the template."""
    items = [found[k["pk"]["S"]] for k in routing_keys(waba_id, name, language) if k["pk"]["S"] in found]
    items.sort(key=lambda item: int(item.get("category_at") or 0))
    facts: dict[str, Any] = {}
    for item in items:
        facts.update({k: item[k] for k in ("category", "optimization_spec") if item.get(k) is not None})
    return facts


class Templates:
    """The templates of one WABA, on a low-level DynamoDB client (``boto3.client("dynamodb")``)."""

    def __init__(self, client: Any, table: str, waba_id: str) -> None:
        self.client = client
        self.table = table
        self.waba_id = waba_id or "-"

    def _key(self, name: str, language: str | None) -> dict[str, Any]:
        return keys.template(self.waba_id, name, language)

    def get(self, name: str, language: str | None) -> dict[str, Any]:
        """What is known of the template (plain values; empty when nothing is)."""
        answer = self.client.get_item(
            TableName=self.table, Key=self._key(name, language), ConsistentRead=True
        )
        return from_item(answer.get("Item") or {})

    def record_listed(self, listed: Mapping[str, Any], now: int) -> str:
        """Keep one template as Meta lists it (``name``, ``language`` and the fields of :data:`DEFINITION`
        and :data:`CLOCKED`). Returns ``added`` (new to the registry), ``changed`` or ``same``."""
        name, language = listed["name"], listed["language"]
        known = self.get(name, language)
        definition = {k: dynamo_safe(listed.get(k)) for k in DEFINITION}
        was = {k: known.get(k) for k in DEFINITION}
        outcome = "added" if "listed_at" not in known else "same"
        if outcome == "same" and (
            was != definition
            or known.get("unlisted_at") is not None
            or any(known.get(a) != listed.get(a) for a, _ in CLOCKED)
        ):
            outcome = "changed"
        self._set(
            name,
            language,
            {"template_name": name, "language": language, **definition, "listed_at": now},
            remove=("unlisted_at", *(k for k, v in definition.items() if v is None)),
        )
        for attribute, clock in CLOCKED:
            value = listed.get(attribute)
            if value is None or known.get(attribute) == value:
                continue
            # a webhook newer than this sync decided it: it stays
            with suppress(self.client.exceptions.ConditionalCheckFailedException):
                self._set(
                    name,
                    language,
                    {attribute: value, clock: now},
                    condition="attribute_not_exists(#c) OR #c <= :at",
                    names={"#c": clock},
                    at=now,
                )
        return outcome

    def record_sync(self, now: int, report: Mapping[str, int]) -> None:
        """A complete listing of the WABA's templates ended at ``now``."""
        item = {**keys.plain(keys.template_sync(self.waba_id)), "synced_at": now, **report}
        self.client.put_item(TableName=self.table, Item=to_item(item))

    def synced_at(self) -> int | None:
        """When the last complete listing ended (None: never)."""
        answer = self.client.get_item(TableName=self.table, Key=keys.template_sync(self.waba_id))
        at = from_item(answer.get("Item") or {}).get("synced_at")
        return None if at is None else int(at)

    def mark_unlisted(self, name: str, language: str, now: int) -> None:
        """Meta no longer lists the template: kept, marked (never sent as approved)."""
        self._set(name, language, {"unlisted_at": now})

    def page(
        self, limit: int, next_token: str | None = None, **filters: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the WABA's templates by name and language, filtered by exact ``status``, ``category``
        or ``language``; the token is :mod:`mmcore.store.paging`'s."""
        listing = keys.template_listing(self.waba_id, "", "")["gsi1pk"]
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": keys.TEMPLATES_INDEX,
            "KeyConditionExpression": "gsi1pk = :p",
            "ExpressionAttributeValues": {":p": {"S": listing}},
            "Limit": limit,
        }
        wanted = {k: v for k, v in filters.items() if v is not None}
        if wanted:
            request["FilterExpression"] = " AND ".join(f"#f{i} = :f{i}" for i in range(len(wanted)))
            request["ExpressionAttributeNames"] = {f"#f{i}": k for i, k in enumerate(wanted)}
            request["ExpressionAttributeValues"] |= to_item(
                {f":f{i}": v for i, v in enumerate(wanted.values())}
            )
        if next_token:
            request["ExclusiveStartKey"] = paging.decode(next_token, _LISTING_KEY, {"gsi1pk": listing})
        answer = self.client.query(**request)
        items = [from_item(i) for i in answer.get("Items", [])]
        return items, paging.encode(answer.get("LastEvaluatedKey"))

    def everything(self) -> list[dict[str, Any]]:
        """Every template item of the WABA (a WABA holds hundreds at most)."""
        items, token = self.page(1000)
        while token:
            more, token = self.page(1000, token)
            items += more
        return items

    def by_id(self, template_id: str) -> dict[str, Any] | None:
        """The template with Meta's id ``template_id``, if the registry knows it."""
        return next((t for t in self.everything() if str(t.get("template_id")) == template_id), None)

    def languages(self, name: str) -> list[str]:
        """The languages the registry holds ``name`` in (listed by Meta)."""
        listing = keys.template_listing(self.waba_id, name, "")
        answer = self.client.query(
            TableName=self.table,
            IndexName=keys.TEMPLATES_INDEX,
            KeyConditionExpression="gsi1pk = :p AND begins_with(gsi1sk, :n)",
            ExpressionAttributeValues={":p": {"S": listing["gsi1pk"]}, ":n": {"S": f"{name}#"}},
        )
        items = (from_item(i) for i in answer.get("Items", []))
        return sorted(i["language"] for i in items if i.get("listed_at") and not i.get("unlisted_at"))

    def record_use(self, name: str, language: str, facts: Mapping[str, int | None]) -> None:
        """Set readiness facts (``created_at``, ``last_sent_at``, ``sync_until``; None values are left)."""
        values = {
            "template_name": name,
            "language": language,
            **{k: v for k, v in facts.items() if v is not None},
        }
        self._set(name, language, values)

    def record_status(
        self, name: str, language: str | None, status: str, at: int, now: int, **fields: Any
    ) -> bool:
        """Keep one template event (once: its key is its time and kind) and move the template's status to it
        unless a later event is on record. False: this event is older than the status, which stays."""
        # A reason belongs to the event that gave it: a newer event without one clears it.
        stale = ("reason",) if fields.get("reason") is None else ()
        return self._record(name, language, status, at, now, "event_at", {"status": status}, stale, fields)

    def record_update(
        self,
        name: str,
        language: str | None,
        event: str,
        at: int,
        now: int,
        *,
        clock: str,
        values: Mapping[str, Any],
        remove: tuple[str, ...] = (),
        **fields: Any,
    ) -> bool:
        """Keep one template event and set ``values`` (removing ``remove``) unless an event later than ``at``
        set them: ``clock`` is the attribute holding that time (``category_at``, ``quality_at``), so a status,
        a category and a quality each move forward on their own. False: this event is older; kept only."""
        return self._record(name, language, event, at, now, clock, values, remove, fields)

    def _record(
        self,
        name: str,
        language: str | None,
        event: str,
        at: int,
        now: int,
        clock: str,
        values: Mapping[str, Any],
        remove: tuple[str, ...],
        fields: Mapping[str, Any],
    ) -> bool:
        put_new(
            self.client,
            self.table,
            {
                **keys.plain(keys.template_event(self.waba_id, name, language, at, event)),
                "event": event,
                **{k: v for k, v in values.items() if v is not None},
                **fields,
                "received_at": now,
                "expires_at": now + RETENTION_SECONDS,
            },
        )
        values = {
            "template_name": name,
            "language": language,
            **values,
            clock: at,
            "updated_at": now,
            **{k: v for k, v in fields.items() if k != "raw"},
        }
        try:
            self._set(
                name,
                language,
                values,
                condition="attribute_not_exists(#c) OR #c <= :at",
                remove=remove,
                names={"#c": clock},
                at=at,
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _set(
        self,
        name: str,
        language: str | None,
        values: Mapping[str, Any],
        condition: str | None = None,
        remove: tuple[str, ...] = (),
        names: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        values = {**keys.template_listing(self.waba_id, name, language), **values}
        values = {k: v for k, v in values.items() if v is not None}
        names = (
            {f"#a{i}": k for i, k in enumerate(values)}
            | {f"#r{i}": k for i, k in enumerate(remove)}
            | dict(names or {})
        )
        placeholders = {f":a{i}": v for i, v in enumerate(values.values())}
        expression = "SET " + ", ".join(f"#a{i} = :a{i}" for i in range(len(values)))
        if remove:
            expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))
        request: dict[str, Any] = {
            "TableName": self.table,
            "Key": self._key(name, language),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_item({**placeholders, **{f":{k}": v for k, v in extra.items()}}),
        }
        if condition:
            request["ConditionExpression"] = condition
        self.client.update_item(**request)
