"""Helpers the benchmarks share: other processes' CPU time, botocore call tracking, importing test helpers
by path."""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of another process (Linux /proc), to show what moto and the simulator cost."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def load_module(relative: str, name: str) -> ModuleType:
    """tests/aws.py and tests/handlers.py, imported by path (tests/ is not a package on sys.path)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / relative)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class CallTracker:
    """botocore hooks on one client: API calls by operation (``before-call``) and the wall time during which
    at least one call is in flight (``before-call`` to ``after-call``, across the pool's threads)."""

    def __init__(self, client: Any, service: str) -> None:
        self.calls: Counter[str] = Counter()
        self.busy = 0.0
        self._inflight = 0
        self._since = 0.0
        self._lock = threading.Lock()
        events = client.meta.events
        events.register(f"before-call.{service}", self._before)
        events.register(f"after-call.{service}", self._after)
        events.register(f"after-call-error.{service}", self._after)

    def _before(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.calls[model.name] += 1
            if not self._inflight:
                self._since = time.perf_counter()
            self._inflight += 1

    def _after(self, **_: Any) -> None:
        with self._lock:
            self._inflight -= 1
            if not self._inflight:
                self.busy += time.perf_counter() - self._since

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.busy = 0.0


def table(rows: list[list[str]]) -> str:
    """Rows of cells as aligned text: the first column left-aligned, the others right, a rule under the head."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class BenchTimeout(Exception):
    pass


def time_budget(seconds: float) -> None:
    """SIGALRM raises BenchTimeout a minute past the run's soft deadline (a call that hangs stops anyway);
    SIGTERM (from ``python -m benchmarks``) becomes KeyboardInterrupt, so cleanup runs."""

    def on_signal(signum: int, frame: Any) -> None:
        if signum == signal.SIGALRM:
            raise BenchTimeout(f"whole run over its {seconds:g} s budget")
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    signal.alarm(int(seconds) + 60)
