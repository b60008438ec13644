"""``mmapi campaign send FILE.csv``: a campaign's audience of any size, sent through the stack's API and imported
on AWS (the audience import state machine), not enqueued from this machine.

``POST /campaigns`` with ``audience: {"upload": true}`` answers a presigned PUT URL; the file goes there as it is
on disk (streamed, never read whole; ``.csv.gz`` stays compressed: the import inflates it); ``POST
/campaigns/{id}/import`` starts the import, and the report is polled until the import ended, with its progress
on stderr. The stack de-duplicates the rows and applies the preflight, region rules and suppression per row.
A single presigned PUT takes up to 5 GB (S3's limit for one PUT): gzip a larger file first."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Call = Callable[..., tuple[int, Any]]  # (args, method, path, query=None, body=None) -> (status, answer)
POLL_SECONDS = 1.0
IMPORTING = frozenset({"enqueuing"})  # the import's state machine is still running


def main(args: argparse.Namespace, call: Call, put: Callable[[str, Path], int]) -> int:
    """Create the campaign, upload the file with ``put(url, path)`` (its HTTP status), start the import and
    wait for it. Exit status 0: imported; 1: the import failed or did not end before ``--timeout``; 2: refused."""
    path = Path(args.csv)
    body = dict(args.campaign) | {"audience": {"upload": True, "gzip": path.name.endswith(".gz")}}
    if args.campaign_id:
        body["campaign_id"] = args.campaign_id
    status, created = call(args, "POST", "/campaigns", body=body)
    if status != 202:
        return refused("POST /campaigns", status, created)
    campaign_id = created["campaign_id"]
    uploaded = put(created["upload"]["url"], path)
    if uploaded != 200:
        return refused(f"the upload of {path.name}", uploaded, {"campaign_id": campaign_id})
    status, started = call(args, "POST", f"/campaigns/{campaign_id}/import")
    if status != 202:
        return refused(f"POST /campaigns/{campaign_id}/import", status, started)
    report = wait(lambda: call(args, "GET", f"/campaigns/{campaign_id}"), args.timeout, args.no_progress)
    keys = ("campaign_id", "name", "status", "import_rows", "imported", "rejected", "import_error")
    print(json.dumps({k: report[k] for k in keys if k in report}, indent=2))
    done = report.get("status") not in IMPORTING and not report.get("import_error")
    return 0 if done else 1


def wait(read: Callable[[], tuple[int, Any]], timeout: float, quiet: bool) -> dict[str, Any]:
    """The campaign's report once its import ended (or as it stands after ``timeout`` seconds); the rows
    imported so far on stderr as it goes."""
    deadline = time.monotonic() + timeout
    while True:
        status, report = read()
        if status == 200 and report.get("status") not in IMPORTING:
            break
        if time.monotonic() >= deadline:
            break
        if not quiet and status == 200:
            print(f"\rimporting: {report.get('import_rows', 0):,} rows read", end="", file=sys.stderr)
        time.sleep(POLL_SECONDS)
    if not quiet:
        print(file=sys.stderr)
    return report


def refused(what: str, status: int, answer: Any) -> int:
    print(f"{what}: {status}: {json.dumps(answer)}", file=sys.stderr)
    return 2


def put_file(url: str, path: Path) -> int:
    """PUT the file to a presigned URL, streamed from disk with its length (S3 refuses a chunked PUT)."""
    import httpx

    with path.open("rb") as stream:
        headers = {"content-length": str(path.stat().st_size)}
        return httpx.put(
            url, content=stream, headers=headers, timeout=httpx.Timeout(600, connect=10)
        ).status_code
