"""Requests per second the Graph API simulator sustains on loopback with no injected latency.

The simulator runs in this process (its own event-loop thread); the load generator runs in a second process
so the two do not share a GIL: ``--concurrency`` keep-alive connections (aiohttp client) send a bounded number
of valid /marketing_messages requests to distinct recipients, then stop. Run from the repo root:

    python -m benchmarks.simulator_throughput [--requests 20000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time
from typing import Any

TARGET_RPS = 2000


BODY = (
    '{"messaging_product":"whatsapp","recipient_type":"individual","to":"TO","type":"template",'
    '"template":{"name":"festival_offer","language":{"code":"en_US"},"components":[{"type":"body",'
    '"parameters":[{"type":"text","text":"Get 20% OFF today only"}]}]}}'
)


def _body(index: int) -> bytes:
    # Distinct Indian mobile numbers: no pair limit and no cache hits in the simulator's number lookup.
    return BODY.replace('"TO"', f'"9198{index % 10**8:08d}"').encode()


async def _load(url: str, token: str, total: int, concurrency: int, offset: int) -> dict[str, Any]:
    import aiohttp

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(total))

    async def worker(session: aiohttp.ClientSession) -> None:
        for index in counter:
            payload = _body(offset + index)
            started = time.perf_counter()
            async with session.post(url, data=payload, headers=headers) as response:
                await response.read()
            latencies.append(time.perf_counter() - started)
            statuses[response.status] = statuses.get(response.status, 0) + 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"elapsed": elapsed, "latencies": latencies, "statuses": statuses}


def _load_process(url: str, token: str, total: int, concurrency: int, offset: int, results: Any) -> None:
    results.put(asyncio.run(_load(url, token, total, concurrency, offset)))


def run(total: int, concurrency: int, warmup: int) -> dict[str, Any]:
    from mmapi.simulator import Simulator

    # No throughput or pair limit, no webhooks: the cost of the request path itself.
    with Simulator(seed=0, mps=None, pair_interval_seconds=None) as sim:
        url = f"{sim.base_url}/{sim.phone_number_id}/marketing_messages"
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        for count, offset in ((warmup, 10**7), (total, 0)):
            process = context.Process(
                target=_load_process, args=(url, sim.access_token, count, concurrency, offset, results)
            )
            cpu_before = time.process_time()  # this process is the simulator: its main thread only waits
            process.start()
            outcome = results.get(timeout=600)
            cpu = time.process_time() - cpu_before
            process.join()
        accepted = len(sim.messages())
    latencies = sorted(outcome["latencies"])
    return {
        "requests": total,
        "concurrency": concurrency,
        "rps": total / outcome["elapsed"],
        "cpu_us": cpu / total * 1e6,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "statuses": outcome["statuses"],
        "accepted": accepted,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=1_000)
    args = parser.parse_args(argv)
    result = run(args.requests, args.concurrency, args.warmup)
    rows = [
        ("scenario", "requests", "conns", "req/s", "p50 ms", "p99 ms", "server CPU/req", "statuses"),
        (
            "POST /marketing_messages, 0 latency",
            str(result["requests"]),
            str(result["concurrency"]),
            f"{result['rps']:,.0f}",
            f"{result['p50_ms']:.2f}",
            f"{result['p99_ms']:.2f}",
            f"{result['cpu_us']:.0f} us (1 core: {1e6 / result['cpu_us']:,.0f} req/s)",
            " ".join(f"{code}:{n}" for code, n in sorted(result["statuses"].items())),
        ),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    verdict = "meets" if result["rps"] >= TARGET_RPS else "BELOW"
    print(f"\n{verdict} the {TARGET_RPS:,} req/s target ({result['accepted']:,} messages accepted in total)")
    return 0 if result["rps"] >= TARGET_RPS else 1


if __name__ == "__main__":
    raise SystemExit(main())
