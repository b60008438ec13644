"""A campaign's report as one HTML page: the JSON report in, a self-contained page out (inline CSS and SVG,
no script, no fetch), laid out for a phone first. Served by ``GET /campaigns/{id}/report.html`` and written by
the demo; the facts are those of :mod:`mmcore.campaigns.facts`. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from mmcore.campaigns import facts

RED, GREEN, BLUE, GREY = "#c62828", "#1b873f", "#1565c0", "#6b7280"
SERIES = (
    ("total_taken", "Accepted", GREY),
    ("total_delivered", "Delivered", BLUE),
    ("total_read", "Read", GREEN),
)
_CSS = """
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1f2937;background:#f3f4f6}main{max-width:960px;margin:0 auto;padding:12px}
header,section{background:#fff;border-radius:10px;padding:14px 16px;margin:0 0 12px;box-shadow:0 1px 2px #0001}
h1{font-size:1.35rem;margin:0 0 4px;overflow-wrap:anywhere}h2{font-size:1.05rem;margin:0 0 10px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:8px 0 0}dt{color:#6b7280}dd{margin:0}
.state{display:inline-block;padding:1px 10px;border-radius:999px;background:#e5e7eb;font-weight:600}
.state.completed{background:#dcfce7;color:#166534}.state.incomplete{background:#fee2e2;color:#991b1b}
.grid{display:grid;gap:12px}@media(min-width:720px){.grid{grid-template-columns:1fr 1fr}}
.step{display:grid;grid-template-columns:9.5em 1fr 4.5em;align-items:center;gap:8px;margin:6px 0}
.track{background:#eef2f7;border-radius:4px;height:18px}.fill{background:#1b873f;height:18px;border-radius:4px}
.rate{color:#6b7280;font-size:.85rem;margin:-2px 0 4px 9.5em;padding-left:8px}
.n{text-align:right;font-variant-numeric:tabular-nums}table{width:100%;border-collapse:collapse}
th,td{padding:4px 6px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
th{font-weight:600;color:#6b7280;font-size:.85rem}.scroll{overflow-x:auto}
.fail td{color:#b91c1c;overflow-wrap:anywhere}.fail .code{font-weight:700;white-space:nowrap}.fail .todo{color:#374151}
.budget.paused,.budget.reached{color:#b91c1c;font-weight:700}
.legend span{margin-right:12px;white-space:nowrap}.legend i{display:inline-block;width:10px;height:10px;
margin-right:4px;border-radius:2px}svg{display:block;width:100%;max-width:720px;height:auto}.muted{color:#6b7280}
"""


def render(report: Mapping[str, Any]) -> str:
    """The report (``GET /campaigns/{id}``'s JSON) as a page. Missing parts render as "none yet"."""
    name = str(report.get("name") or report.get("campaign_id") or "Campaign")
    parts = [
        _header(report, name),
        _funnel(report.get("funnel") or []),
        _over_time(report.get("over_time") or []),
        '<div class="grid">',
        _countries(report.get("by_country_rates") or {}),
        _paths(report.get("delivery_paths") or []),
        "</div>",
        _failures(report.get("failures") or [], report.get("not_sent") or []),
        _cost(report.get("cost") or facts.cost(report)),
    ]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(name)}: campaign report</title><style>{_CSS}</style></head>"
        f"<body><main>{''.join(parts)}</main></body></html>"
    )


def filename(report: Mapping[str, Any]) -> str:
    """The page's file name, after the campaign: ``festival-offer-demo-<campaign id>.html``."""
    slug = re.sub(r"[^a-z0-9]+", "-", str(report.get("name") or "").lower()).strip("-")[:60].strip("-")
    campaign_id = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(report.get("campaign_id") or "campaign"))
    return f"{slug}-{campaign_id}.html" if slug else f"{campaign_id}.html"


def _header(report: Mapping[str, Any], name: str) -> str:
    template = report.get("template") or {}
    language = (template.get("language") or {}).get("code") if isinstance(template, Mapping) else None
    label = (
        " ".join(str(x) for x in (template.get("name"), language) if x)
        if isinstance(template, Mapping)
        else ""
    )
    status = str(report.get("status") or "unknown")
    rows = [
        ("Campaign", report.get("campaign_id")),
        ("Template", label or None),
        ("Created", report.get("created_at")),
        ("Queued", report.get("enqueued_at")),
        ("Finished", report.get("finished_at")),
    ]
    dl = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in rows if v)
    return (
        f"<header><h1>{escape(name)}</h1>"
        f'<span class="state {escape(status)}" data-status="{escape(status)}">{escape(status)}</span>'
        f"<dl>{dl}</dl></header>"
    )


def _funnel(steps: Sequence[Mapping[str, Any]]) -> str:
    if not steps:
        return "<section><h2>Funnel</h2><p class=muted>No messages yet.</p></section>"
    top = max(int(s.get("count") or 0) for s in steps) or 1
    rows = []
    for step in steps:
        count = int(step.get("count") or 0)
        rate = step.get("rate_from_previous")
        if rate is not None:
            rows.append(f'<div class="rate">&darr; {_pct(rate)} of the step above</div>')
        rows.append(
            f'<div class="step" data-step="{escape(str(step.get("step")))}" data-count="{count}">'
            f"<span>{escape(str(step.get('label') or step.get('step')))}</span>"
            f'<div class="track"><div class="fill" style="width:{100 * count / top:.1f}%"></div></div>'
            f'<span class="n">{count:,}</span></div>'
        )
    return f'<section id="funnel"><h2>Funnel</h2>{"".join(rows)}</section>'


def _over_time(rows: Sequence[Mapping[str, Any]]) -> str:
    title = "<h2>Over time <span class=muted>(running totals since the messages were queued)</span></h2>"
    if not rows:
        return f"<section id='over-time'>{title}<p class=muted>Nothing sent yet.</p></section>"
    width, height, pad_l, pad_r, pad_b, pad_t = 480, 220, 44, 14, 26, 12
    plot_w, plot_h = width - pad_l - pad_r, height - pad_b - pad_t
    top = max(max(int(r.get(key) or 0) for r in rows) for key, _, _ in SERIES) or 1
    # One point per bucket's end, after the origin (nothing yet): a campaign within one bucket is still a line.
    n = len(rows)
    ends = [int(rows[0].get("from_seconds") or 0)] + [
        int(r.get("from_seconds") or 0) + int(r.get("seconds") or 0) for r in rows
    ]

    def x(i: int) -> float:
        return pad_l + plot_w * i / n

    def y(v: int) -> float:
        return pad_t + plot_h * (1 - v / top)

    text = 'font-size="13" fill="#6b7280"'
    svg = [
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="Accepted, delivered and read over time">',
        f'<line x1="{pad_l}" y1="{y(0):.1f}" x2="{width - pad_r}" y2="{y(0):.1f}" stroke="#9ca3af"/>',
        f'<text x="{pad_l - 6}" y="{y(top) + 4:.1f}" text-anchor="end" {text}>{top:,}</text>',
        f'<text x="{pad_l - 6}" y="{y(0):.1f}" text-anchor="end" {text}>0</text>',
    ]
    for i, anchor in ((0, "start"), (n, "end")):
        svg.append(
            f'<text x="{x(i):.1f}" y="{height - 6}" text-anchor="{anchor}" {text}>{_offset(ends[i])}</text>'
        )
    for key, label, colour in SERIES:
        values = [0] + [int(r.get(key) or 0) for r in rows]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        svg.append(
            f'<polyline data-series="{label.lower()}" points="{points}" fill="none" stroke="{colour}" '
            f'stroke-width="2.5" stroke-linejoin="round"/>'
        )
    svg.append("</svg>")
    legend = "".join(f'<span><i style="background:{c}"></i>{escape(lab)}</span>' for _, lab, c in SERIES)
    return f'<section id="over-time">{title}{"".join(svg)}<p class="legend">{legend}</p></section>'


def _countries(rates: Mapping[str, Mapping[str, Any]]) -> str:
    if not rates:
        return "<section><h2>By country</h2><p class=muted>No messages yet.</p></section>"
    body = "".join(
        f"<tr><td>{escape(str(cc))}</td><td class=n>{int(r.get('messages') or 0):,}</td>"
        f"<td class=n>{_pct(r.get('delivery_rate'))}</td><td class=n>{_pct(r.get('read_rate'))}</td></tr>"
        for cc, r in sorted(rates.items(), key=lambda kv: -int(kv[1].get("messages") or 0))
    )
    return (
        '<section id="countries"><h2>By country</h2><div class="scroll"><table><tr><th>Country</th>'
        "<th class=n>Messages</th><th class=n>Delivered</th><th class=n>Read</th></tr>"
        f"{body}</table></div><p class=muted>Delivered: of those Meta accepted; read: of those delivered.</p>"
        "</section>"
    )


def _paths(paths: Sequence[Mapping[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{escape(str(p.get('label') or p.get('path')))}</td><td class=n>{int(p.get('count') or 0):,}</td></tr>"
        for p in paths
    )
    return (
        '<section id="paths"><h2>MM API vs Cloud API</h2>'
        f"<table>{rows or '<tr><td class=muted>No priced messages yet.</td></tr>'}</table>"
        "<p class=muted>As Meta's pricing of each delivered message said.</p></section>"
    )


def _failures(failures: Sequence[Mapping[str, Any]], not_sent: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for f in failures:
        title = f.get("title") or "No title in Meta's error table"
        rows.append(
            f'<tr class="fail"><td class="code">{escape(str(f.get("code")))}</td>'
            f"<td>{escape(str(title))}<div class=todo>{escape(str(f.get('what_to_do') or ''))}</div></td>"
            f"<td class=n>{int(f.get('count') or 0):,}</td></tr>"
        )
    for s in not_sent:
        rows.append(  # the reason, if any, is in the meaning: a slug too long for a phone's first column
            f'<tr class="fail"><td class="code">{escape(str(s.get("outcome")))}</td>'
            f"<td><div class=todo>{escape(str(s.get('meaning') or ''))}</div></td>"
            f"<td class=n>{int(s.get('count') or 0):,}</td></tr>"
        )
    if not rows:
        return '<section id="failures"><h2>Failures</h2><p class=muted>None.</p></section>'
    return (
        '<section id="failures"><h2>Failures and messages not sent</h2><div class="scroll"><table>'
        "<tr><th>Code</th><th>What happened and what to do</th><th class=n>Messages</th></tr>"
        f"{''.join(rows)}</table></div></section>"
    )


def _cost(cost: Mapping[str, Any]) -> str:
    currency = escape(str(cost.get("currency") or ""))
    rows = []
    for c in cost.get("by_country") or ():
        how = "Meta" if c.get("meta_priced") and not c.get("billable_estimated") else "estimated"
        if c.get("rate") is None and c.get("billable_estimated"):
            how = "no rate"
        rows.append(
            f'<tr data-country="{escape(str(c.get("country")))}" data-cost="{float(c.get("cost") or 0):.6f}">'
            f"<td>{escape(str(c.get('country')))}</td><td class=n>{int(c.get('delivered') or 0):,}</td>"
            f"<td class=n>{_money(c.get('cost'))}</td><td>{escape(how)}</td>"
            f"<td class=n>{_money(c.get('rate'))}</td></tr>"
        )
    if rows:
        body = (
            '<div class="scroll"><table><tr><th>Country</th><th class=n>Delivered</th>'
            f"<th class=n>Spend ({currency})</th><th>Priced by</th><th class=n>Rate</th></tr>{''.join(rows)}"
            f'<tr><th>Total</th><th></th><th class=n data-total="{float(cost.get("total") or 0):.6f}">'
            f"{_money(cost.get('total'))}</th><th></th><th></th></tr></table></div>"
        )
    else:
        body = "<p>No spend yet.</p>"
    notes = [
        cost.get("source"),
        cost.get("note"),
        f"Rates: {cost.get('rate_card')}" if cost.get("rate_card") else None,
    ]
    other = {k: v for k, v in (cost.get("spend_by_currency") or {}).items() if k != cost.get("currency")}
    if other:
        notes.append(
            "Meta's estimate in other currencies: " + ", ".join(f"{v:,.4f} {k}" for k, v in other.items())
        )
    budget = cost.get("budget")
    line = "No budget set." if not budget else str(budget.get("status"))
    state = (
        "none"
        if not budget
        else "paused"
        if budget.get("paused")
        else "reached"
        if budget.get("reached")
        else "within"
    )
    muted = "".join(f"<p class=muted>{escape(str(n))}.</p>" for n in notes if n)
    return (
        f'<section id="cost"><h2>Cost and budget</h2><p class="budget {state}" data-budget="{state}">'
        f"{escape(line)}</p>{body}{muted}</section>"
    )


def _money(value: Any) -> str:
    return "&ndash;" if value is None else f"{float(value):,.4f}"


def _pct(rate: Any) -> str:
    return "&ndash;" if rate is None else f"{100 * float(rate):.1f}%"


def _offset(seconds: int) -> str:
    if seconds < 2 * 3600:  # the per-minute part of the ladder
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"
