"""Send a campaign from a CSV of any size: streamed into the send queue in chunks, with a progress bar.

Same enqueue path as ``POST /campaigns`` (``mmcore.campaigns``): each row is validated as a send request, run
through the region rules, recorded in the ledger (queued, blocked or invalid) and the queued ones go to SQS
with ``SendMessageBatch``. Memory stays constant: one chunk of rows at a time.

The CSV: a header row with a ``to`` column (the recipient's number, or a ``user.<id>``) and one column per
template placeholder (``{{first_name}}`` -> column ``first_name``); other columns are ignored. UTF-8 (a BOM
is fine). Row ``n`` (0-based, header excluded) becomes message ``<campaign_id>-<n>``.

Unlike the API, a bad row does not reject the file (the rows before it may already be queued): it is
recorded as ``invalid`` (``invalid_number`` or ``invalid_variables``, with the reason) and the run goes on.
Problems every row would share (the template, a missing column) stop the run before anything is written.
Rows are not deduplicated (that would need memory proportional to the file): deduplicate the file first.
"""

from __future__ import annotations

import csv
import io
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from mmcore.campaigns import CampaignDefinition, Campaigns, SendQueue, rows
from mmcore.exceptions import InvalidInput
from mmcore.settings import Settings, get_settings
from mmcore.store.campaigns import CampaignStatus

__all__ = ["ProgressBar", "send_csv"]

CHUNK_ROWS = 1_000


def send_csv(
    path: str | Path,
    queue_url: str,
    campaign: CampaignDefinition | Mapping[str, Any],
    *,
    sqs: Any,
    dynamodb: Any,
    table_name: str | None = None,
    settings: Settings | None = None,
    progress: bool = True,
    chunk_rows: int = CHUNK_ROWS,
    stream: IO[str] | None = None,
    sync: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """Enqueue every row of the CSV at ``path`` as one campaign; returns what ``POST /campaigns`` answers
    (campaign id, counts, template readiness).

    ``campaign`` is the ``POST /campaigns`` body without ``recipients`` (name, template, optional
    campaign_id, phone_number_id, product_policy, ...). ``sqs`` and ``dynamodb`` are boto3 clients;
    ``table_name`` defaults to the settings' ``TABLE_NAME``, the business country and default phone number
    id come from the settings (environment) too. Raises :class:`~mmcore.exceptions.InvalidInput` (nothing
    written) for a bad campaign or header, :class:`~mmcore.exceptions.Conflict` for a used campaign id.
    A run interrupted halfway (Ctrl-C, network) leaves the campaign ``incomplete`` with the counts so far.
    The template is checked against the registry first (preflight, as the API does); ``sync`` syncs the
    registry when it does not know the template (the CLI asks the stack's ``POST /templates/sync``).
    """
    settings = settings or get_settings()
    definition = _definition(campaign)
    campaigns = Campaigns(settings, dynamodb, SendQueue(sqs, queue_url), table=table_name, sync=sync)
    run = campaigns.start(definition, source="csv")
    total = Path(path).stat().st_size
    bar = ProgressBar(total, stream or sys.stderr, enabled=progress)
    with open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        columns = rows.columns(next(reader, None), run.planner.names)
        try:
            for chunk in rows.chunks(reader, columns, chunk_rows):
                run.enqueue(run.plan(chunk, strict=False))
                bar.update(raw.tell(), run.counts.as_dict())
        except BaseException:
            bar.close()
            if run.opened:
                run.finish(CampaignStatus.INCOMPLETE)
            raise
        if run.counts.recipients == 0:
            bar.close()
            raise InvalidInput.fields([("csv", "no data rows after the header")])
    bar.update(total, run.counts.as_dict(), force=True)
    bar.close()
    return run.finish()


def _definition(campaign: CampaignDefinition | Mapping[str, Any]) -> CampaignDefinition:
    if isinstance(campaign, CampaignDefinition):
        return campaign
    try:
        return CampaignDefinition.model_validate(campaign)
    except ValidationError as exc:
        raise InvalidInput.fields(
            [(".".join(str(p) for p in e["loc"]) or "campaign", e["msg"]) for e in exc.errors()]
        ) from None


class ProgressBar:
    """A one-line progress bar on a stream (stderr): bytes read of the file, rows and outcomes so far.

    On a terminal the line is redrawn at most 10 times a second; elsewhere (CI logs, a pipe) a plain line is
    printed every 10 seconds, so logs stay short.
    """

    WIDTH = 28

    def __init__(self, total: int, stream: IO[str], *, enabled: bool = True) -> None:
        self.total = max(total, 1)
        self.stream = stream
        self.enabled = enabled
        self.tty = enabled and hasattr(stream, "isatty") and stream.isatty()
        self.interval = 0.1 if self.tty else 10.0
        self.started = time.monotonic()
        self._last = 0.0
        self._state: tuple[int, int] | None = None  # what the last line showed
        self._drawn = False

    def update(self, done: int, counts: Mapping[str, Any], *, force: bool = False) -> None:
        now = time.monotonic()
        state = (done, int(counts.get("recipients", 0)))
        if not self.enabled or state == self._state or (not force and now - self._last < self.interval):
            return
        self._last, self._state = now, state
        line = self.render(done, counts, now - self.started)
        self.stream.write(f"\r{line}\033[K" if self.tty else line + "\n")
        self.stream.flush()
        self._drawn = True

    def render(self, done: int, counts: Mapping[str, Any], elapsed: float) -> str:
        share = min(max(done / self.total, 0.0), 1.0)
        filled = int(share * self.WIDTH)
        rows = int(counts.get("recipients", 0))
        rate = rows / elapsed if elapsed > 0 else 0.0
        return (
            f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {share:4.0%} {rows:,} rows"
            f" | queued {counts.get('queued', 0):,} blocked {counts.get('blocked', 0):,}"
            f" invalid {counts.get('invalid', 0):,} | {rate:,.0f} rows/s"
        )

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
