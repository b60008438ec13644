"""The number's throughput with several send workers (issue 15): the ``pace`` variant of send_throughput.

A separate simulator with its tier limit (``mps``, 130429 above it) and latency; ``--pace-workers`` worker
processes, each one ``Sender`` (one warm container) running its share of the batches over loopback HTTP, all
on one moto server. Compared in the same run:

- ``number-wide``  this code: leases from the number's pacing item, a sliding window of POSTs;
- ``per-container`` the design before it (commit ``BASELINE``, its layer extracted with ``git archive``): each
  container at ThroughputMps / SendMaxConcurrency, a chunk's POSTs waiting for its slowest answer;
- ``pacing only``  the pacing item alone (the workers lease and POST, no ledger);
- ``schedule``  the pacing item's POST times alone (the workers lease and wait, no POST): what the pacing
  gives the number across containers when neither moto's nor the client's CPU is the limit.

Records given back (130429's retries) are run again after their delay, until every message is final.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "b03690f"  # the last commit with the per-container share and chunk barriers


def old_layer() -> str | None:
    """The baseline's layer, extracted to a temporary folder (None: no git history here)."""
    target = tempfile.mkdtemp(prefix="bench-pace-old-")
    archive = subprocess.run(
        ["git", "archive", BASELINE, "layers/shared"], cwd=ROOT, capture_output=True, check=False
    )
    if archive.returncode:
        return None
    subprocess.run(["tar", "-x", "-C", target], input=archive.stdout, check=True)
    return f"{target}/layers/shared"


def run_workers(mode: str, layer: str, workers: int, env: dict[str, str], spec: dict[str, Any]) -> dict:
    """``workers`` processes of :func:`worker`; returns their wall (first start to last end) and counts."""
    path = os.pathsep.join([layer, str(ROOT / "local"), str(ROOT / "tests")])
    procs = []
    for k in range(workers):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({**spec, "worker": k}, f)
        argv = [sys.executable, "-m", "benchmarks._pace", mode, f.name]
        procs.append(
            subprocess.Popen(
                argv,
                cwd=ROOT,
                env={**os.environ, **env, "PYTHONPATH": path},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        )
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=spec["timeout"])
        if p.returncode:
            raise RuntimeError(f"pace worker exited {p.returncode}:\n{err.decode()[-3000:]}")
        outs.append(json.loads(out.decode().strip().splitlines()[-1]))
    start, end = min(o["start"] for o in outs), max(o["end"] for o in outs)
    accepted, cpu = sum(o["accepted"] for o in outs), sum(o["cpu"] for o in outs)
    due = sorted(t for o in outs for t in o["due"])
    return {"wall": end - start, "start": start, "end": end, "accepted": accepted, "cpu": cpu, "due": due}


def worker(mode: str, spec: dict[str, Any]) -> None:  # pragma: no cover - runs in the worker process
    """One container: its share of the messages (every ``workers``-th batch), then its retries."""
    from mmcore.graph import GraphClient
    from mmcore.settings import Settings

    settings = Settings()
    bodies = [b for i, b in enumerate(spec["bodies"]) if (i // 100) % spec["workers"] == spec["worker"]]
    graph = GraphClient(settings.graph_url, lambda: spec["token"], max_connections=settings.send_concurrency)
    start, cpu0 = time.time(), time.process_time()  # the imports' CPU (~1 s a process) is not the sends'
    due: list[float] = []
    if mode == "pace-only":
        accepted = asyncio.run(_pace_only(settings, graph, bodies, spec))
    elif mode == "schedule":
        accepted = asyncio.run(_schedule(settings, len(bodies), spec, due))
    else:
        accepted = _senders(settings, graph, bodies, spec)
    done = {
        "start": start,
        "end": time.time(),
        "accepted": accepted,
        "cpu": time.process_time() - cpu0,
        "due": due,
    }
    print(json.dumps(done), flush=True)


def _senders(settings: Any, graph: Any, bodies: list[dict[str, Any]], spec: dict[str, Any]) -> int:
    import boto3
    from rescheduling import Recorder

    from mmcore import clients
    from mmcore.sending import Outcome, Sender, SqsMessage
    from mmcore.store.messages import Ledger

    sender = Sender(settings, Ledger(boto3.client("dynamodb"), settings.table_name), graph)
    todo = [(0.0, b) for b in bodies]
    accepted, until = 0, time.monotonic() + spec["timeout"] - 10
    while todo and time.monotonic() < until:
        due = [b for at, b in todo if at <= time.monotonic()]
        todo = [(at, b) for at, b in todo if at > time.monotonic()]
        if not due:
            time.sleep(0.05)
            continue
        for start in range(0, len(due), 100):
            chunk, now = due[start : start + 100], datetime.now(UTC)
            batch = [SqsMessage(b["message_id"], "r", json.dumps(b), now) for b in chunk]
            recorder = Recorder()
            report = clients.run(sender.run(batch, recorder, lambda: 30.0))
            accepted += report.counts[Outcome.ACCEPTED]
            by_id = {b["message_id"]: b for b in chunk}
            todo += [(time.monotonic() + d, by_id[r]) for r, d in recorder.delays.items()]
    return accepted


async def _pace_only(settings: Any, graph: Any, bodies: list[dict[str, Any]], spec: dict[str, Any]) -> int:
    import boto3

    from mmcore.graph import NumberPacer
    from mmcore.meta.errors import GraphError
    from mmcore.meta.messages import parse_send_request, wire_bytes

    pacer = NumberPacer(boto3.client("dynamodb"), settings.table_name, settings.throughput_mps)
    wires, accepted, number = [wire_bytes(parse_send_request(b)) for b in bodies], 0, spec["number"]

    async def one(wire: bytes, at: float) -> bool:
        await pacer.wait(at)
        try:
            await graph.send(number, wire)
            return True
        except GraphError as exc:
            if exc.code == 130429:
                await pacer.throttled(number)
            return False

    tasks = []
    for start in range(0, len(wires), 100):
        chunk = wires[start : start + 100]
        lease = await pacer.lease(number, len(chunk))
        tasks += [asyncio.ensure_future(one(w, lease.due(i))) for i, w in enumerate(chunk)]
        await pacer.wait(lease.end)
    accepted = sum(await asyncio.gather(*tasks))
    return accepted


async def _schedule(settings: Any, n: int, spec: dict[str, Any], due: list[float]) -> int:
    import boto3

    from mmcore.graph import NumberPacer

    pacer = NumberPacer(boto3.client("dynamodb"), settings.table_name, settings.throughput_mps)
    for start in range(0, n, 100):
        lease = await pacer.lease(spec["number"], min(100, n - start))
        due.extend(lease.due(i) for i in range(lease.count))
        await pacer.wait(lease.end)
    return n


def scheduled(due: list[float]) -> dict[str, Any]:
    """The POST times the workers were given, read as the simulator would see them: their span, and the most
    of them in any one second (the tier's window)."""
    most, j = 0, 0
    for i, t in enumerate(due):
        while due[j] <= t - 1.0:
            j += 1
        most = max(most, i - j + 1)
    return {
        "accepted": len(due),
        "span": due[-1] - due[0] if len(due) > 1 else 0.0,
        "throttled": f"max {most}/s",
    }


def seen_by_meta(control: str) -> dict[str, Any]:
    """What the simulator saw: 130429 answers, and the span from its first to its last accepted POST (the
    number's throughput while it sent, whatever the workers' start-up took)."""
    import httpx

    log = httpx.get(f"{control}/requests", params={"path": "marketing_messages"}, timeout=60).json()["data"]
    accepted = sorted(r["time"] for r in log if r["status"] == 200)
    span = accepted[-1] - accepted[0] if len(accepted) > 1 else 0.0
    throttles = sum(1 for r in log if r.get("error_code") == 130429)
    return {"accepted": len(accepted), "span": span, "throttled": throttles}


HEADER = [
    "design",
    "tier",
    "accepted",
    "sending s",
    "msg/s",
    "msg/s / tier",
    "130429s",
    "duplicates",
    "CPU ms/msg",
    "workers",
    "moto",
    "simulator",
]


def summary(
    name: str, tier: int, run: dict, meta: dict[str, Any], dups: int, cpu: dict[str, float]
) -> list[str]:
    """One row: ``cpu`` is each process's CPU seconds in the run (``workers``, ``moto``, ``simulator``)."""
    rate = meta["accepted"] / meta["span"] if meta["span"] else 0.0
    per = {k: v * 1000 / max(1, run["accepted"]) for k, v in cpu.items()}
    return [
        name,
        f"{tier:,}",
        f"{run['accepted']:,}",
        f"{meta['span']:.2f}",
        f"{rate:,.0f}",
        f"{rate / tier:.2f}",
        str(meta["throttled"]),
        str(dups),
        f"{sum(per.values()):.1f}",
        *(f"{per[k]:.2f}" for k in ("workers", "moto", "simulator")),
    ]


if __name__ == "__main__":  # pragma: no cover - the worker process
    worker(sys.argv[1], json.loads(Path(sys.argv[2]).read_text()))
    sys.stdout.flush()
