"""An audience CSV imported through the S3 path vs a naive SendMessageBatch loop, in one run (issue 15).

Against the local stack's moto server (``mmapi.motoserver``, its own process, a fresh one per size) built from
template.yaml (``tests/aws.py``'s stack): the CSV is put in the audiences bucket, ``POST /campaigns``'s domain
(``mmcore.campaigns.imports``) creates the campaign, and the template's own state machine definition runs it
through the local stack's interpreter (``mmapi.statemachine``: Distributed Map over the object, 10 batches of
MaxItemsPerBatch rows at once, the import task called in this process). Printed per size: rows/s of the import
(end to end: header, planning, region rules, suppression, the conditional records, SendMessageBatch, counts),
rows/s of a naive loop that only reads the CSV and SendMessageBatch-es its rows (10 a call, one thread),
duplicate send requests on the queue (1% of the rows repeat an earlier user: must be 0), the import process's
peak RSS (flat across sizes: it streams) and moto's (which holds every item in memory).

The rows queued are counted as SendMessageBatch takes them (by message id), and a thread purges the queue
every 0.2 s as the send function's pollers would drain it: moto's SendMessage walks the whole queue. The moto
server is the local stack's, with its fixes (``local/mmapi/motoserver.py``): without them moto deep-copies
the whole table for each item of a TransactWriteItems (each chunk's count), and its copy races the other
chunks' writes ("dictionary changed size during iteration"), so chunks fail, retry and queue their rows twice.
The default sizes (1,000 and 10,000 rows) take ~2 min; the issue's 100,000 (``--sizes 100000``) ~15 min.

    python -m benchmarks.s3_import [--sizes 1000 10000]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CAMPAIGN = {
    "name": "bench",
    "skip_preflight": True,
    "template": {
        "name": "spring",
        "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Hi {{first_name}}!"}]}],
    },
}


def _csv(rows: int) -> bytes:
    """``rows`` rows, the last 1% repeating earlier users (so ~1% duplicates must be dropped)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["to", "first_name"])
    distinct = rows - rows // 100
    for n in range(rows):
        writer.writerow([f"91987{(n % distinct):07d}", f"name{n}"])
    return out.getvalue().encode()


class Counted:
    """The import's SQS client, counting each row queued (an entry SendMessageBatch took) by its message id."""

    def __init__(self, sqs) -> None:
        self.sqs, self.queued, self.lock = sqs, Counter(), threading.Lock()

    def send_message_batch(self, **request):
        answer = self.sqs.send_message_batch(**request)
        took = {entry["Id"] for entry in answer.get("Successful", [])}
        ids = [json.loads(e["MessageBody"])["message_id"] for e in request["Entries"] if e["Id"] in took]
        with self.lock:
            self.queued.update(ids)
        return answer

    def __getattr__(self, name: str):
        return getattr(self.sqs, name)


class Purger(threading.Thread):
    """Empties the queue every 0.2 s while a run fills it, as the send function's pollers would: moto's
    SendMessage walks every message of the queue, so a queue left to grow makes the run quadratic (a drain
    receiving 10 at a time fell 25,000 messages behind at 100,000 rows)."""

    def __init__(self, sqs, url: str) -> None:
        super().__init__(daemon=True)
        self.sqs, self.url, self.done = sqs, url, threading.Event()
        self.start()

    def run(self) -> None:
        while not self.done.wait(0.2):
            self.sqs.purge_queue(QueueUrl=self.url)

    def finish(self) -> None:
        self.done.set()
        self.join()


def one(rows: int) -> dict[str, float]:
    """One size, in this process: the import, then the naive loop, against a fresh moto server of its own."""
    import boto3

    os.environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x")
    sys.path.insert(0, str(ROOT / "tests"))
    from aws import create_stack

    from mmapi import motoserver
    from mmapi.lifecycle import reap
    from mmapi.statemachine import Interpreter
    from mmcore.campaigns import CampaignCreate, Campaigns, SendQueue
    from mmcore.campaigns.imports import Audiences
    from mmcore.settings import Settings

    os.environ["MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR"] = "false"  # the Purger's, every 0.2 s
    server, os.environ["AWS_ENDPOINT_URL"] = motoserver.start()
    try:
        session = boto3.Session(region_name="us-east-1")
        stack = create_stack(session, "bench", access_token="t", app_secret="s")
        s3, sqs, dynamodb = (session.client(n) for n in ("s3", "sqs", "dynamodb"))
        bucket = stack.local.physical["AudienceBucket"]["Ref"]
        body = _csv(rows)
        s3.put_object(Bucket=bucket, Key="audience.csv", Body=body)
        del body
        settings = Settings(phone_number_id="1065", business_country="IN", table_name=stack.table)
        counted = Counted(sqs)
        campaigns = Campaigns(settings, dynamodb, SendQueue(counted, stack.queue_url), preflight=False)
        audiences = Audiences(campaigns, s3, session.client("stepfunctions"), bucket=bucket,
                              state_machine_arn=stack.local.physical["AudienceImportStateMachine"]["Arn"])  # fmt: skip

        def task(arn, payload):
            if payload.get("action") == "prepare":
                return audiences.prepare(payload["campaign_id"], payload["bucket"], payload["key"])
            if payload.get("action") == "finish":
                return audiences.finish(payload["campaign_id"])
            return audiences.chunk(payload["BatchInput"]["campaign_id"], payload["Items"])

        machine = Interpreter(stack.local.definition("AudienceImportStateMachine"), task, s3)
        purger = Purger(session.client("sqs"), stack.queue_url)
        started = time.perf_counter()
        created = audiences.create(
            CampaignCreate.model_validate({**CAMPAIGN, "audience": {"s3_uri": f"s3://{bucket}/audience.csv"}})
        )
        machine.run({"campaign_id": created["campaign_id"], "bucket": bucket, "key": "audience.csv"})
        imported_s = time.perf_counter() - started
        purger.finish()
        queued = counted.queued
        campaign = campaigns.campaign(created["campaign_id"])
        import_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        purger = Purger(session.client("sqs"), stack.queue_url)
        started = time.perf_counter()  # the naive loop: read the CSV, SendMessageBatch 10 rows a call
        reader = csv.reader(
            io.StringIO(s3.get_object(Bucket=bucket, Key="audience.csv")["Body"].read().decode())
        )
        next(reader)
        batch: list[dict[str, str]] = []
        for n, row in enumerate(reader):
            batch.append({"Id": str(n % 10), "MessageBody": json.dumps({"to": row[0], "first_name": row[1]})})
            if len(batch) == 10:
                sqs.send_message_batch(QueueUrl=stack.queue_url, Entries=batch)
                batch = []
        if batch:
            sqs.send_message_batch(QueueUrl=stack.queue_url, Entries=batch)
        naive_s = time.perf_counter() - started
        purger.finish()
        moto_rss = _peak_rss_mb(server.pid)
    finally:
        reap(server)
    return {
        "rows": rows,
        "import_rows_per_s": rows / imported_s,
        "naive_rows_per_s": rows / naive_s,
        "queued": sum(queued.values()),
        "duplicates_queued": sum(n - 1 for n in queued.values() if n > 1),
        "imported": int(campaign["imported"]),
        "rejected": {k: int(v) for k, v in campaign["rejected"].items()},
        "peak_rss_mb": import_rss,
        "moto_peak_rss_mb": moto_rss,
    }


def _peak_rss_mb(pid: int) -> float:
    """Another process's peak RSS (Linux /proc): moto's, which holds every item and message in memory."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one)))
        return 0
    results = []
    for rows in args.sizes:
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.s3_import", "--one", str(rows)],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        results.append(json.loads(out.strip().splitlines()[-1]))
    print(
        f"{'rows':>8} {'import rows/s':>14} {'naive rows/s':>13} {'ratio':>6} {'queued':>8} {'dups':>5} {'peak RSS MB':>12} {'moto RSS MB':>12}  rejected"
    )
    for r in results:
        ratio = r["import_rows_per_s"] / r["naive_rows_per_s"]
        print(f"{r['rows']:>8,} {r['import_rows_per_s']:>14,.0f} {r['naive_rows_per_s']:>13,.0f} {ratio:>6.2f}"
              f" {r['queued']:>8,} {r['duplicates_queued']:>5} {r['peak_rss_mb']:>12,.0f} {r['moto_peak_rss_mb']:>12,.0f}  {r['rejected']}")  # fmt: skip
    if len(results) > 1:
        print(f"peak RSS {results[-1]['rows']:,} / {results[0]['rows']:,} rows: "
              f"{results[-1]['peak_rss_mb'] / results[0]['peak_rss_mb']:.2f}x")  # fmt: skip
    return 1 if any(r["duplicates_queued"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
