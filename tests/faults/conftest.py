"""The fault suite's table: printed at the end of the run, and written to ``$FAULTS_TABLE`` when set
(``make faults``: build/faults.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from faults.rig import ROWS, Row

# The run, before the fixes: 6,200+ messages under the same fault kinds (issue 16).
BEFORE = "before (issue 16, >6,200 messages): 41 duplicate POSTs (+10 with reordered webhooks), 197 never sent left unknown, 535 Meta had left unknown"

COLUMNS = (
    "scenario",
    "messages",
    "POSTs",
    "dup",
    "lost",
    "unknown: Meta has it",
    "unknown: never sent",
    "stuck",
    "resolver",
    "resend",
    "s",
    "note",
)


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table, with a totals line and the figures from before."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        resolver = ", ".join(f"{k} {v}" for k, v in sorted(r.resolver.items())) or "-"
        cells = (
            r.scenario,
            r.messages,
            r.posts,
            r.duplicates,
            r.lost,
            r.unknown_taken,
            r.unknown_unsent,
            r.stuck,
            resolver,
            "on" if r.resend else "off",
            f"{r.seconds:.1f}",
            r.note,
        )
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    total = Row("**total**")
    for r in rows:
        for attr in (
            "messages",
            "posts",
            "duplicates",
            "lost",
            "unknown_taken",
            "unknown_unsent",
            "stuck",
            "seconds",
        ):
            setattr(total, attr, getattr(total, attr) + getattr(r, attr))
        total.resolver += r.resolver
    resolver = ", ".join(f"{k} {v}" for k, v in sorted(total.resolver.items())) or "-"
    cells = (
        total.scenario,
        total.messages,
        total.posts,
        total.duplicates,
        total.lost,
        total.unknown_taken,
        total.unknown_unsent,
        total.stuck,
        resolver,
        "",
        f"{total.seconds:.1f}",
        "",
    )
    lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join([*lines, "", BEFORE])


def pytest_collection_modifyitems(config, items):
    """The suite takes ~3 minutes: it runs when asked for (``-m faults``, ``make faults``), not in ``make test``."""
    asked = "faults" in (config.option.markexpr or "")
    for item in items:
        if item.path.parent == Path(__file__).parent:
            item.add_marker(pytest.mark.faults)
            if not asked:
                item.add_marker(pytest.mark.skip(reason="the fault suite (~3 min): make faults"))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not ROWS:
        return
    text = table(ROWS)
    terminalreporter.write_sep("=", "fault injection (issue 16): after")
    terminalreporter.write_line(text)
    if path := os.environ.get("FAULTS_TABLE"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text + "\n", encoding="utf-8")
