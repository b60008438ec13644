"""Audiences of any size from S3: a campaign whose recipients are a CSV object, imported on Step Functions.

``POST /campaigns`` with ``audience`` creates the campaign (the template's preflight runs once, here) and
either starts the import of ``s3_uri`` or answers a presigned PUT URL; ``POST /campaigns/{id}/import`` starts
it after the upload. The state machine (``statemachines/audience_import.asl.json``) runs :meth:`prepare`
(the header checked, a gzip object inflated to a plain copy: :mod:`.objects`), then a Distributed Map over the
CSV whose batches of rows each run :meth:`chunk`, then :meth:`finish`.

A chunk plans its rows with the campaign's own planner (:mod:`.planner`: the same validation and region rules
as any campaign), drops users on the suppression list (``suppressed``), records each row once per campaign
and user (:mod:`mmcore.store.imports`: a repeated row is a ``duplicate``, a retried chunk writes nothing
twice) and puts the queued ones on the send queue through the campaign's :class:`~.enqueue.Run`. Its counts
go on the campaign item once (``imported``, ``rejected`` by reason, ``import_rows``), so the report shows
progress while the import runs. The execution is named after the campaign: it starts once.

A retried chunk re-queues only rows still ``queued`` that it had recorded without counting: those whose first
attempt died between its SendMessageBatch and its count. The sender claims a message once, so such a row is
still sent once.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from mmcore.campaigns import objects, rows
from mmcore.campaigns.enqueue import Run
from mmcore.campaigns.models import CampaignCreate, CampaignDefinition
from mmcore.campaigns.personalise import placeholders
from mmcore.campaigns.planner import Planned, Planner
from mmcore.campaigns.readiness import Readiness
from mmcore.campaigns.release import note_traffic, readiness_now
from mmcore.campaigns.reports import iso
from mmcore.campaigns.schedule import START
from mmcore.campaigns.service import Campaigns
from mmcore.campaigns.spend import AFTER_IMPORT
from mmcore.exceptions import Conflict, InvalidInput
from mmcore.observability import logger
from mmcore.store.campaigns import CampaignStatus
from mmcore.store.codec import from_item
from mmcore.store.imports import Imports, Row
from mmcore.store.messages import State

UPLOAD_SECONDS = 3600  # how long a presigned PUT URL works
# The audiences bucket deletes objects after 7 days (template.yaml ExpireAudiences): a scheduled import must
# read its object well before, so send_at is at most 6 days ahead.
AUDIENCE_KEPT_DAYS = 7
SEND_AT_MAX_SECONDS = (AUDIENCE_KEPT_DAYS - 1) * 86400
UPLOAD_PREFIX = "uploads/"


class Audiences:
    """Imports of audiences from the stack's audiences bucket. ``sfn`` starts the state machine."""

    def __init__(
        self, campaigns: Campaigns, s3: Any, sfn: Any, *, bucket: str, state_machine_arn: str
    ) -> None:
        self.campaigns = campaigns
        self.s3 = s3
        self.sfn = sfn
        self.bucket = bucket
        self.state_machine_arn = state_machine_arn
        self.imports = Imports(campaigns.ledger.client, campaigns.ledger.table)

    # -------------------------------------------------------------- the API

    def create(self, body: CampaignCreate) -> dict[str, Any]:
        """Create the campaign and start its import (``s3_uri``), schedule it (``s3_uri`` with ``send_at``), or
        answer where to upload (``upload``). InvalidInput naming ``audience.s3_uri`` for an object the stack
        cannot read or whose header lacks a column the template needs, ``send_at`` for a time past."""
        audience = body.audience
        assert audience is not None
        self.campaigns.check_timing(body)
        if (
            body.send_at is not None
            and body.send_at.timestamp() > self.campaigns.clock() + SEND_AT_MAX_SECONDS
        ):
            raise InvalidInput.fields(
                [
                    (
                        "send_at",
                        f"more than {SEND_AT_MAX_SECONDS // 86400} days ahead: the audiences bucket keeps a CSV"
                        f" {AUDIENCE_KEPT_DAYS} days, and the import reads it at send_at",
                    )
                ]
            )
        definition = body.definition()
        run = self.campaigns.start(definition, source="s3", dedupe=True)
        if audience.s3_uri is not None:
            bucket, key = objects.parse_uri(audience.s3_uri)
            if bucket != self.bucket:
                raise InvalidInput.fields(
                    [("audience.s3_uri", f"not readable: the stack imports from s3://{self.bucket}/ only")]
                )
            self._check_header(key, run.planner.names, "audience.s3_uri")
        else:
            key = f"{UPLOAD_PREFIX}{run.campaign_id}.csv" + (".gz" if audience.gzip else "")
        run.open(releases_traffic=body.send_at is None)
        self.imports.begin(run.campaign_id, _spec(definition, run, self.bucket, key, body.send_at))
        answer = {"campaign_id": run.campaign_id, "name": definition.name, "preflight": run.preflight.status}
        answer["audience"] = {"s3_uri": f"s3://{self.bucket}/{key}"}
        answer["cost_estimate"] = {"total": None, "note": AFTER_IMPORT}  # the countries are in the CSV
        if body.send_at is not None:
            answer["send_at"] = iso(body.send_at.timestamp())
        now = int(self.campaigns.clock())
        if audience.upload:
            self.imports.finish(run.campaign_id, CampaignStatus.AWAITING_UPLOAD, now)
            url = objects.upload_url(self.s3, self.bucket, key, UPLOAD_SECONDS)
            answer["status"] = str(CampaignStatus.AWAITING_UPLOAD)
            answer["upload"] = {"method": "PUT", "url": url, "expires_in": UPLOAD_SECONDS}
            return answer
        if body.send_at is not None:
            self.imports.finish(run.campaign_id, CampaignStatus.SCHEDULED, now)
            self._schedule(run.campaign_id, body.send_at, CampaignStatus.INCOMPLETE)
            return answer | {"status": str(CampaignStatus.SCHEDULED)}
        return answer | {"status": str(CampaignStatus.ENQUEUING)} | self._execute(run.campaign_id, key)

    def start(self, campaign_id: str) -> dict[str, Any]:
        """Start the import of an uploaded audience, or, when the campaign has a ``send_at`` still to come,
        schedule it then (``scheduled``; a ``send_at`` passed while it waited for the upload starts it now).
        Conflict when it started already; InvalidInput naming ``audience`` when nothing was uploaded."""
        campaign = self.campaigns.campaign(campaign_id)
        spec = campaign.get("import")
        if not spec:
            raise InvalidInput.fields([("campaign_id", "this campaign has no audience to import")])
        if campaign.get("status") != CampaignStatus.AWAITING_UPLOAD:
            raise _not_awaiting(campaign_id, campaign.get("status"))
        definition = CampaignDefinition.model_validate_json(spec["definition"])
        self._check_header(spec["key"], placeholders(definition.template.components), "audience")
        records, now = self.campaigns.records, int(self.campaigns.clock())
        send_at = datetime.fromisoformat(spec["send_at"]) if spec.get("send_at") else None
        later = send_at is not None and send_at.timestamp() > now
        after = CampaignStatus.SCHEDULED if later else CampaignStatus.ENQUEUING
        if records.transition(campaign_id, (CampaignStatus.AWAITING_UPLOAD,), after, now) is None:
            raise _not_awaiting(
                campaign_id, self.campaigns.campaign(campaign_id).get("status")
            )  # a cancel won
        answer = {"campaign_id": campaign_id, "status": str(after)}
        if later:
            assert send_at is not None
            self._schedule(campaign_id, send_at, CampaignStatus.AWAITING_UPLOAD)
            return answer | {"send_at": iso(send_at.timestamp())}
        if send_at is not None:  # its send_at passed while it waited for the upload: its traffic starts now
            spec = self._start_traffic(campaign_id, spec, now)
        return answer | self._execute(campaign_id, spec["key"])

    def run_schedule(self, event: dict[str, Any]) -> dict[str, Any]:
        """Run one of the campaigns' schedules (:mod:`.schedule`): the start of a campaign with an audience
        in S3 starts its import (``scheduled`` -> ``enqueuing``, once: a second delivery does nothing);
        any other run is the campaigns' own."""
        campaign_id, records = str(event.get("campaign_id")), self.campaigns.records
        # A window's opening is the campaigns' own: only a start needs the campaign item read here.
        if event.get("action") != START or not (spec := (records.get(campaign_id) or {}).get("import")):
            return self.campaigns.run_schedule(event)
        now = int(self.campaigns.clock())
        if not records.move(campaign_id, CampaignStatus.SCHEDULED, CampaignStatus.ENQUEUING, now):
            status = self.campaigns.campaign(campaign_id).get("status")
            logger.info("import not started", extra={"campaign_id": campaign_id, "status": status})
            return {"campaign_id": campaign_id, "status": status, "started": False}
        spec = self._start_traffic(campaign_id, spec, now)
        try:
            execution = self._execute(campaign_id, spec["key"])
        except Exception:  # back to scheduled: Scheduler's retry starts it again
            records.move(campaign_id, CampaignStatus.ENQUEUING, CampaignStatus.SCHEDULED, now)
            raise
        logger.info("import started", extra={"campaign_id": campaign_id})
        return {
            "campaign_id": campaign_id,
            "status": str(CampaignStatus.ENQUEUING),
            "started": True,
        } | execution

    def _schedule(self, campaign_id: str, send_at: datetime, undo: CampaignStatus) -> None:
        """The one-time schedule of a ``scheduled`` campaign's import; should it fail, the campaign goes back
        to ``undo`` (its upload awaited again, or ``incomplete``) and the error is raised."""
        scheduler = self.campaigns.scheduler
        assert scheduler is not None  # check_timing
        try:
            scheduler.start_at(campaign_id, send_at)
        except Exception:
            self.campaigns.records.move(
                campaign_id, CampaignStatus.SCHEDULED, undo, int(self.campaigns.clock())
            )
            raise

    def _start_traffic(self, campaign_id: str, spec: Mapping[str, Any], now: int) -> dict[str, Any]:
        """The spec of an import starting later than its creation, with its template's readiness as it is now
        (recorded for the chunks: a template fine at creation may be dormant days later, a warm-up first; a
        sync wait seen at creation is over), and the template's traffic noted as starting now."""
        definition = CampaignDefinition.model_validate_json(spec["definition"])
        template, created = definition.template, definition.template_created_at
        name, language = template.name, template.language.code
        c = self.campaigns
        ready = readiness_now(c, name, language, int(created.timestamp()) if created else None, now)
        self.imports.set_readiness(campaign_id, ready.stored())
        note_traffic(c, name, language, ready, now)
        return {**spec, "readiness": ready.stored()}

    def _check_header(self, key: str, names: frozenset[str], where: str) -> None:
        try:
            header, _ = objects.head(self.s3, self.bucket, key)
        except self.s3.exceptions.NoSuchKey:
            raise InvalidInput.fields([(where, f"no object s3://{self.bucket}/{key}")]) from None
        except self.s3.exceptions.ClientError as exc:  # e.g. an empty object answers InvalidRange
            raise InvalidInput.fields([(where, f"unreadable: {exc.response['Error']['Code']}")]) from None
        rows.columns(header, names, where=where)

    def _execute(self, campaign_id: str, key: str) -> dict[str, Any]:
        answer = self.sfn.start_execution(
            stateMachineArn=self.state_machine_arn,
            name=campaign_id.replace(":", "_").replace(".", "_")[:80],
            input=json.dumps({"campaign_id": campaign_id, "bucket": self.bucket, "key": key}),
        )
        return {"execution_arn": answer["executionArn"]}

    # -------------------------------------------------------------- the state machine's tasks

    def prepare(self, campaign_id: str, bucket: str, key: str) -> dict[str, Any]:
        """The object the Distributed Map reads: ``key`` itself, or its plain copy when it is gzip."""
        _, gzipped = objects.head(self.s3, bucket, key)
        if gzipped:
            key = objects.plain_copy(self.s3, bucket, key, campaign_id)
        return {"campaign_id": campaign_id, "bucket": bucket, "key": key}

    def chunk(self, campaign_id: str, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Import one batch of rows (``{"index": n, "row": {column: value}}`` each, as the state machine's
        ItemSelector gives them); its counts, added to the campaign once."""
        first = min(int(item["index"]) for item in items)
        if self.imports.applied(campaign_id, first):
            return {"first_row": first, "rows": len(items), "already_imported": True}
        run, names = self._run(campaign_id, first)
        recipients = [
            (int(item["index"]), r) for item in items if (r := rows.recipient(item["row"], names)) is not None
        ]
        planned = self._unsuppressed(run.plan(recipients, strict=False))
        ledger, _ = run.items(planned)  # with a send window: sorted by it now
        by_id = {item["message_id"]["S"]: item for item in ledger}
        recorded = self.imports.record(
            campaign_id,
            [
                Row(p.message_id, by_id[p.message_id], p.fields["to"] if p.state != State.INVALID else None)
                for p in planned
            ],
        )
        # Each row as recorded, by this attempt or an earlier one: an earlier one's decision stands (a row it
        # queued is queued again, one it held stays held: the window may have opened or closed since).
        kept = {
            p.message_id: (p, recorded.earlier.get(p.message_id) or from_item(by_id[p.message_id]))
            for p in planned
            if p.message_id not in recorded.duplicates
        }
        run.counts.duplicate += len(recorded.duplicates)
        rejected: Counter[str] = Counter(
            _rejected_as(row) for _, row in kept.values() if row["state"] != State.QUEUED
        )
        held = [int(row["held_until"]) for _, row in kept.values() if _held(row)]
        run.counts.queued = sum(row["state"] == State.QUEUED for _, row in kept.values())
        run.schedule_openings(held)  # again on a retry: its first attempt may have died before them
        run.send([p for p, row in kept.values() if row["state"] == State.QUEUED and not _held(row)])
        rejected.update(duplicate=run.counts.duplicate, enqueue_failed=run.counts.enqueue_failed)
        rejected = +rejected  # without zeros
        now = int(self.campaigns.clock())
        self.imports.count(campaign_id, first, len(items), run.counts.queued, rejected, now, len(held))
        return {
            "first_row": first,
            "rows": len(items),
            "imported": run.counts.queued,
            "rejected": dict(rejected),
        } | ({"waiting_for_window": len(held)} if held else {})

    def finish(self, campaign_id: str, error: str | None = None) -> dict[str, Any]:
        """The import ended: the campaign ``running``, or ``incomplete`` with why (``error``); one paused or
        cancelled during the import keeps that state."""
        status = CampaignStatus.INCOMPLETE if error else CampaignStatus.RUNNING
        now = self.imports.finish(campaign_id, status, int(self.campaigns.clock()), error)
        return {"campaign_id": campaign_id, "status": str(now)}

    def _run(self, campaign_id: str, first: int) -> tuple[Run, frozenset[str]]:
        """The campaign's run as its creation recorded it: one planner per chunk, the same for every retry."""
        c = self.campaigns
        spec = c.campaign(campaign_id)["import"]
        definition = CampaignDefinition.model_validate_json(spec["definition"])
        planner = Planner(
            definition,
            campaign_id,
            c.settings.business_country,
            date.fromisoformat(spec["today"]),
            phone_number_id=spec["phone_number_id"],
            default_product_policy=c.settings.default_product_policy,
            rules=c.rules,
        )
        run = Run(c, definition, planner, source="s3", dedupe=True, started=c.clock())
        run.resume(Readiness.from_stored(spec.get("readiness")), warmed=first != 0)
        return run, planner.names

    def _unsuppressed(self, planned: list[Planned]) -> list[Planned]:
        """Users on the suppression list (opted out, resting) recorded ``blocked`` (``suppressed``) instead
        of queued: the send path would drop them anyway, and the report shows them before any send."""
        queued = [p for p in planned if p.state == State.QUEUED]
        if not queued:
            return planned
        suppressed = self.campaigns.ledger.prefetch(
            [p.fields["to"] for p in queued], (), int(self.campaigns.clock())
        ).suppressed
        for p in queued:
            if p.fields["to"] in suppressed:
                p.state, p.request = State.BLOCKED, None
                p.fields.update(
                    reason="suppressed", details="on the suppression list (opted out, or resting)"
                )
        return planned


def _spec(
    definition: CampaignDefinition, run: Run, bucket: str, key: str, send_at: datetime | None
) -> dict[str, Any]:
    """What every chunk plans with, fixed at creation: so a retry plans a row exactly as the first try; and
    when the import is to start (``send_at``: an upload's import waits for it)."""
    return {
        "definition": definition.model_dump_json(exclude_none=True),
        "today": datetime.fromtimestamp(run.started, UTC).date().isoformat(),
        "phone_number_id": run.planner.phone_number_id,
        "readiness": (run.ready or Readiness()).stored(),
        "bucket": bucket,
        "key": key,
        "send_at": send_at.isoformat() if send_at else None,
    }


def _not_awaiting(campaign_id: str, status: str | None) -> Conflict:
    if status == CampaignStatus.CANCELLED:
        return Conflict(f"campaign {campaign_id} is cancelled: its audience is not imported")
    return Conflict(f"the import of campaign {campaign_id} started already")


def _held(row: Mapping[str, Any]) -> bool:
    """Whether a recorded row waits for its send window's opening (``held_until``: :mod:`.windows`)."""
    return row["state"] == State.QUEUED and row.get("held_until") is not None


def _rejected_as(row: Mapping[str, Any]) -> str:
    """What the report counts a row not imported as: its reason (blocked, invalid), else its state (a row
    ``expired`` because its deadline comes before its window opens)."""
    if row["state"] in (State.BLOCKED, State.INVALID):
        return str(row.get("reason") or row["state"])
    return str(row["state"])
