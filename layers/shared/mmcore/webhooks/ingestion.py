"""Storing what one POST carries (:class:`Ingestor`): each change applied; any AWS failure is Unavailable
(a 5xx, so Meta retries), and the retry is safe: every write is idempotent and each event's own record is
written last, as its "done" marker. Status items are :mod:`mmcore.store.statuses`'; the other changes are
:mod:`mmcore.webhooks.changes`', :mod:`mmcore.webhooks.optouts`' and :mod:`mmcore.webhooks.publishing`'.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mmcore.exceptions import Unavailable
from mmcore.meta.bsuids import user_key
from mmcore.observability import logger
from mmcore.store import deliveries, keys, statuses
from mmcore.store.calls import batch_get, batch_write
from mmcore.store.codec import from_item
from mmcore.store.identities import Identities
from mmcore.store.inbound import Replies
from mmcore.store.orphans import Orphan, Orphans
from mmcore.store.status_events import StatusEvent
from mmcore.store.suppressions import Suppression, Suppressions
from mmcore.webhooks import optouts
from mmcore.webhooks.batch import Batch, Inbound, TemplateChange, TemplateUpdate
from mmcore.webhooks.changes import Changes
from mmcore.webhooks.publishing import Publisher
from mmcore.webhooks.replies import Links, link_of, reply_fields


@dataclass
class Summary:
    """What a POST changed: counts by kind (the handler's metrics) and statuses by pricing path."""

    counts: Counter[str] = field(default_factory=Counter)
    paths: Counter[str] = field(default_factory=Counter)


STREAM_EVERY_SECONDS = 60
Found = dict[tuple[str, str], dict[str, Any]]  # (pk, sk) -> item (plain values), for those that exist
Messages = dict[str, tuple[str, dict[str, Any]]]  # wamid -> (message_id, its message item as read)


class Ingestor:
    """Stores what one POST carries. Build one per warm container: it keeps a thread pool for the
    independent DynamoDB calls (boto3 clients are thread-safe), sized to the client's connection pool."""

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        events: Callable[[], Any] | None = None,
        bus_name: str = "",
        clock: Callable[[], float] = time.time,
        workers: int | None = None,
    ) -> None:
        self.client = client
        self.table = table
        self.clock = clock
        self.changes = Changes(client, table)
        self.suppressions = Suppressions(client, table)
        self.identities = Identities(client, table)
        self.orphans = Orphans(client, table)
        self._streams_written: dict[str, int] = {}  # number -> the status timestamp this container wrote
        self.replies = Replies(client, table)
        self.publisher = Publisher(events, bus_name)
        if workers is None:  # more threads than pooled connections would only queue (and warn)
            config = getattr(getattr(client, "meta", None), "config", None)
            workers = getattr(config, "max_pool_connections", None) or 10
        self._pool = ThreadPoolExecutor(max_workers=max(workers, 1), thread_name_prefix="webhook")

    def ingest(self, batch: Batch) -> Summary:
        """Store everything; Unavailable when AWS failed (nothing is acknowledged that is not stored)."""
        try:
            return self._ingest(batch, int(self.clock()))
        except (BotoCoreError, ClientError) as exc:
            logger.exception("webhook not stored: Meta will retry")
            raise Unavailable("not stored, retry later") from exc

    def _ingest(self, batch: Batch, now: int) -> Summary:
        summary = Summary()
        counts = summary.counts
        events = list({e.key: e for e in batch.statuses}.values())
        inbound = list({m.wamid: m for m in batch.inbound}.values())
        # 1. One consistent read: what is stored already (an unranked event's own item is written last: skip
        # it), each wamid's STATE and LINK; then the messages whose state the webhook advances directly.
        found = self._read(events, inbound)
        events = [
            e
            for e in events
            if e.rank or keys.of(keys.status_event(e.wamid, e.timestamp, e.status)) not in found
        ]
        direct = self._direct(events, found)
        inbound = [m for m in inbound if keys.of(keys.inbound(m.wamid)) not in found]
        counts["duplicates"] += len(batch.statuses) + len(batch.inbound) - len(events) - len(inbound)
        counts["statuses"] += len(events)
        counts["unknown_statuses"] += sum(1 for e in events if e.rank == 0)
        summary.paths.update(e.path for e in events if e.path)
        # 2. State first (then links, read consistently: see statuses.reconcile), and the side effects.
        latest = self._apply(batch, events, found, direct, now, counts)
        # 3. Links: a link never changes, so those step 1 found hold; the others are read again now.
        links = self._links(found, [*latest, *(m.context_id for m in inbound if m.context_id)])
        # 4. Mirror onto the messages; hand replies to the bus.
        mirror = [
            (links[w]["message_id"], s) for w, s in latest.items() if links.get(w, {}).get("message_id")
        ]
        counts["awaiting_sender"] += len(latest) - len(mirror)
        # What the resolver of unknown messages needs: the wamids no message claims yet, the streams' progress.
        unlinked = _orphans(
            e for e in events if e.wamid in latest and not links.get(e.wamid, {}).get("message_id")
        )
        applied = self._run(
            [lambda m=m, s=s: statuses.apply_to_message(self.client, self.table, m, s) for m, s in mirror]
            + ([lambda: self.publisher.publish(inbound, links)] if inbound else [])
            + [
                lambda: self.orphans.record(unlinked, now),
                lambda: self.orphans.flowing(self._streams_due(events)),
            ]
        )
        counts["mirrored"] += sum(applied[: len(mirror)])
        counts["published"] += sum(applied[len(mirror) : len(mirror) + bool(inbound)])
        counts["orphans"] += applied[-2]
        # 5. An unranked event's own item, last: the "done" marker a retry checks (a ranked one is remembered
        # in its state's history, and keeps its raw item too when it carries fields the parser does not
        # know). Events in BatchWriteItems (an event's key decides its content), replies one conditional
        # put each.
        items = [e.event_item(now) for e in events if not e.rank or e.unknown_fields]
        written = self._run(
            [lambda: batch_write(self.client, self.table, items)]
            + [lambda m=m: self.replies.add(m.wamid, reply_fields(m, links), now) for m in inbound]
        )[1:]
        counts["stored"] += len(events)
        counts["inbound"] += sum(written)
        counts["duplicates"] += written.count(False)
        return summary

    def _apply(
        self,
        batch: Batch,
        events: list[StatusEvent],
        found: Found,
        direct: Messages,
        now: int,
        counts: Counter[str],
    ) -> dict[str, dict[str, Any]]:
        """Advance each wamid's state (on its message when ``direct`` has it, else its STATE item) and apply
        the other changes; the newest STATE snapshot per wamid advanced on its STATE item."""
        by_wamid: dict[str, list[StatusEvent]] = defaultdict(list)
        for e in events:
            if e.rank:
                by_wamid[e.wamid].append(e)
        by_template: dict[tuple[str | None, str, str | None], list[TemplateChange | TemplateUpdate]] = (
            defaultdict(list)
        )
        for t in batch.templates:
            by_template[(t.waba_id, t.name, t.language)].append(t)
        stops, kept = optouts.from_preferences(batch.preferences)
        outcomes = self._run(
            [
                lambda w=w, group=group: self._advance(w, group, found, direct, now)
                for w, group in by_wamid.items()
            ]
            + [lambda group=group: self.changes.templates(group, now) for group in by_template.values()]
            + [lambda a=a: self.changes.account(a, now) for a in batch.accounts]
            + [lambda a=a: self.changes.action(a, now) for a in batch.actions]
            + [lambda p=p: self.changes.preference(p, now) for p in kept]
            + [lambda o=o: self.changes.other(o, now) for o in batch.other]
        )
        latest: dict[str, dict[str, Any]] = {}
        for wamid, recorded in zip(by_wamid, outcomes[: len(by_wamid)], strict=True):
            if isinstance(recorded, bool):  # advanced on its message
                counts["transitions"] += recorded
                counts["mirrored"] += recorded
                continue
            counts["transitions"] += recorded.changed
            if recorded.state is not None:
                latest[wamid] = recorded.state
        for outcome in outcomes[len(by_wamid) :]:
            counts.update(outcome)
        # Who is who first (a stop under a BSUID also suppresses the phone number it is linked to), then the
        # opt-outs: transactions, and rare: one after another, once the other writes are done, so no
        # transaction races a write of the same POST.
        counts["identities"] += self.identities.learn(batch.links, now)
        found_stops = optouts.from_statuses(events, now) + stops
        linked = self.identities.linked(s.user for s in found_stops) if found_stops else {}
        for group in _by_user(optouts.for_every_identifier(found_stops, linked)):
            counts.update(optouts.apply(self.suppressions, group, now))
        counts["preferences_other"] += len(kept)
        counts["other"] += len(batch.other)
        counts["invalid"] += sum(1 for o in batch.other if o.kind == "invalid")
        return latest

    def _advance(
        self, wamid: str, events: list[StatusEvent], found: Found, direct: Messages, now: int
    ) -> statuses.Recorded | bool:
        """One wamid's events: joined onto its message (True/False: whether that wrote), or, when the
        message cannot take them (no record of this wamid yet, gone), advanced on its STATE item."""
        if wamid in direct:
            message_id, item = direct[wamid]
            written = deliveries.write(
                self.client, self.table, message_id, item, statuses.merge(None, events, now)
            )
            if written is not None:
                return written
        state = found.get(keys.of(keys.wamid_state(wamid)))
        return statuses.advance(self.client, self.table, events, state, now)

    def _direct(self, events: Sequence[StatusEvent], found: Found) -> Messages:
        """The wamids whose state is advanced on their message: linked, no STATE item (statuses that came
        before the sender's record live there until it is joined), and the message records this wamid."""
        linked = {}
        for w in dict.fromkeys(e.wamid for e in events if e.rank):
            link = found.get(keys.of(keys.wamid_link(w)))
            if link and link.get("message_id") and keys.of(keys.wamid_state(w)) not in found:
                linked[w] = str(link["message_id"])
        if not linked:
            return {}
        items = deliveries.read(self.client, self.table, linked.values())
        return {w: (m, items[m]) for w, m in linked.items() if m in items and items[m].get("wamid") == w}

    def _streams_due(self, events: Sequence[StatusEvent]) -> dict[str, int]:
        """The numbers whose stream this container moves now: when their statuses have moved
        ``STREAM_EVERY_SECONDS`` past what it last wrote (the resolver judges silence over many minutes; a
        write per POST would be a fifth of a small POST's calls)."""
        due = {}
        for number, at in _streams(events).items():
            if at >= self._streams_written.get(number, 0) + STREAM_EVERY_SECONDS:
                due[number] = self._streams_written[number] = at
        return due

    def _run(self, tasks: Sequence[Callable[[], Any]]) -> list[Any]:
        """Run independent calls on the pool; every one finishes before the first error is raised."""
        if len(tasks) <= 1:
            return [task() for task in tasks]
        futures = [self._pool.submit(task) for task in tasks]
        wait(futures)
        return [f.result() for f in futures]

    def _read(self, events: Sequence[StatusEvent], inbound: Sequence[Inbound]) -> Found:
        """Consistent reads (BatchGetItem, 100 keys a call, in parallel) of what a POST's events touch."""
        wamids = list(dict.fromkeys(e.wamid for e in events if e.rank))
        contexts = [m.context_id for m in inbound if m.context_id]
        wanted = (
            [keys.status_event(e.wamid, e.timestamp, e.status) for e in events if not e.rank]
            + [keys.inbound(m.wamid) for m in inbound]
            + [keys.wamid_state(w) for w in wamids]
            + [keys.wamid_link(w) for w in dict.fromkeys([*wamids, *contexts])]
        )
        return {keys.of(item): from_item(item) for item in batch_get(self.client, self.table, wanted)}

    def _links(self, found: Found, wamids: Iterable[str]) -> Links:
        """Which message each wamid belongs to: from the first read, else read again (consistently)."""
        links, missing = {}, []
        for w in dict.fromkeys(wamids):
            item = found.get(keys.of(keys.wamid_link(w)))
            if item is not None:
                links[w] = link_of(item)
            else:
                missing.append(keys.wamid_link(w))
        for item in batch_get(self.client, self.table, missing, ("message_id", "campaign_id")):
            links[keys.after(item["pk"]["S"], keys.WAMID_PREFIX)] = link_of(from_item(item))
        return links


def _by_user(suppressions: Iterable[Suppression]) -> Iterable[list[Suppression]]:
    groups: dict[str, list[Suppression]] = defaultdict(list)
    for s in suppressions:
        groups[s.user].append(s)
    return groups.values()


def _orphans(events: Iterable[StatusEvent]) -> list[Orphan]:
    """Status events whose wamid names no message of ours, as orphans (those that name a user and number)."""
    out = []
    for e in events:
        user = user_key(e.recipient_id) or user_key(e.recipient_user_id)
        if user and e.phone_number_id:
            out.append(Orphan(e.phone_number_id, user, e.wamid, e.timestamp, e.pricing_category))
    return out


def _streams(events: Iterable[StatusEvent]) -> dict[str, int]:
    """Each business number's newest status timestamp in this POST."""
    latest: dict[str, int] = {}
    for e in events:
        if e.phone_number_id:
            latest[e.phone_number_id] = max(latest.get(e.phone_number_id, 0), e.timestamp)
    return latest
