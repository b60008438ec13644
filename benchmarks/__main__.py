"""``python -m benchmarks`` (``make bench``): every benchmark module in this folder, one after another.

Each runs as its own ``python -m benchmarks.<name>`` subprocess with its default options, bounded by
``--timeout`` seconds (SIGTERM so it can stop its own servers, SIGKILL 20 s later). The exit code is the
first failure's, else 0. ``--only NAME`` (repeatable) picks modules; ``--list`` shows them.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GRACE_SECONDS = 20


def modules() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_"))


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the benchmark (it cleans up its servers), then SIGKILL its process group if it lingers."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # its own group: start_new_session below
        proc.wait(timeout=10)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(name: str, timeout: float) -> int:
    print(f"\n=== benchmarks.{name} (timeout {timeout:g} s) ===", flush=True)
    started = time.monotonic()
    # Its own session: a Ctrl-C here reaches only this runner, which then stops the benchmark cleanly.
    proc = subprocess.Popen([sys.executable, "-m", f"benchmarks.{name}"], cwd=ROOT, start_new_session=True)
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"benchmarks.{name}: over its {timeout:g} s budget, stopped", file=sys.stderr, flush=True)
        _stop(proc)
        code = 124
    finally:
        _stop(proc)
    print(f"=== benchmarks.{name}: exit {code} after {time.monotonic() - started:.0f} s ===", flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this module (repeatable)")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds per benchmark (default: 1200)")
    parser.add_argument("--list", action="store_true", help="list the benchmark modules and exit")
    args = parser.parse_args(argv)
    names = modules()
    if args.list:
        print("\n".join(names))
        return 0
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            parser.error(f"no such benchmark: {', '.join(unknown)} (have: {', '.join(names)})")
        names = [n for n in names if n in args.only]
    signal.signal(signal.SIGTERM, _interrupt)
    codes: dict[str, int] = {}
    try:
        for name in names:
            codes[name] = run(name, args.timeout)
    except KeyboardInterrupt:
        print("benchmarks: interrupted", file=sys.stderr)
        return 130
    print("\nsummary: " + ", ".join(f"{n} {'ok' if c == 0 else f'exit {c}'}" for n, c in codes.items()))
    return next((c for c in codes.values() if c), 0)


if __name__ == "__main__":
    raise SystemExit(main())
