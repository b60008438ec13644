"""``mmapi demo``: a whole campaign on the local stack, with its report (terminal, and the HTML page the API
serves, written to ``reports/<campaign name>-<id>.html``).

Synthetic recipients (2,000 by default) across countries (India, Brazil, Indonesia; the US, blocked; the EEA and UK,
limited; Russia; sanctioned Iran and Cuba; invalid numbers; users who opted out), sent through the real
functions, with the simulator throttling part of the traffic, routing some of it through the Cloud API
fallback and failing a few recipients the way Meta does. Before it: a campaign with a misspelt template refused
by the preflight (nothing POSTed), and the campaign created held, test-sent to the business's own number and
released once that test was delivered.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import phonenumbers
from phonenumbers import PhoneNumberType

from mmapi import testsend
from mmapi.cli import campaign_audit
from mmapi.runtime import Runtime
from mmcore.campaigns import page

# country -> share of the audience
AUDIENCE = {
    "IN": 0.55,
    "BR": 0.1,
    "ID": 0.08,
    "US": 0.06,
    "DE": 0.05,
    "FR": 0.03,
    "GB": 0.04,
    "RU": 0.03,
    "IR": 0.01,
    "CU": 0.01,
}
INVALID_SHARE, OPT_OUT_SHARE = 0.02, 0.01
TEST_NUMBER = "+919876500001"  # the business's own phone, where the campaign is test-sent first


def audience(size: int, seed: int) -> tuple[list[dict[str, Any]], list[str]]:
    """Recipients (valid numbers by country share, plus a few invalid ones) and the ones who opted out."""
    rng = random.Random(seed)
    recipients, opted_out, seen = [], [], set()
    for country, share in AUDIENCE.items():
        example = phonenumbers.example_number_for_type(country, PhoneNumberType.MOBILE)
        base = str(example.national_number)
        wanted = round(size * share)
        while wanted:
            national = base[:-4] + f"{rng.randrange(10_000):04d}"
            number = phonenumbers.parse(f"+{example.country_code}{national}")
            digits = f"{example.country_code}{national}"
            if digits in seen or not phonenumbers.is_valid_number(number):
                continue
            seen.add(digits)
            wanted -= 1
            recipients.append(
                {"to": "+" + digits, "variables": {"offer": f"{rng.choice([10, 15, 20, 25])}% OFF"}}
            )
    for i in range(round(size * INVALID_SHARE)):
        recipients.append({"to": f"+91{i:05d}", "variables": {"offer": "20% OFF"}})
    rng.shuffle(recipients)
    indian = [r["to"].lstrip("+") for r in recipients if r["to"].startswith("+91") and len(r["to"]) == 13]
    opted_out = indian[: round(size * OPT_OUT_SHARE)]
    return recipients, opted_out


def bar(done: int, total: int, width: int = 30) -> str:
    filled = int(width * done / total) if total else width
    return "█" * filled + "░" * (width - filled)


def run(size: int = 2000, seed: int = 7, port: int = 0, reports_dir: str | None = "reports") -> int:
    started = time.monotonic()
    simulator = {
        "mps": 400,  # below the sender's local rate: part of the traffic meets 130429 and is retried
        "fallback_ratio": 0.2,  # a share routed through Cloud API (pricing category `marketing`)
        "failure_ratios": {131026: 0.02, 131049: 0.02},
        "delivered_ratio": 0.95,
        "read_ratio": 0.6,
        "pair_interval_seconds": None,
        "sent_delay": 1.0,  # Meta's `sent` comes after the send's answer (then delivered and read, at once here)
        # Statuses as Meta posts them under load: what piled up, in one POST (up to 1,000 updates); few POSTs
        # at a time, with API Gateway's 30 s to answer (mmapi.runtime.WEBHOOKS).
        "webhook_batch_size": 500,
    }
    params = {"ThroughputMps": "1000", "SendMaxConcurrency": "2", "BusinessCountry": "IN"}
    print("Starting the local stack (moto server, Graph simulator, HttpApi gateway, SQS poller)...")
    with (
        Runtime(port=port, seed=seed, simulator_options=simulator, parameters=params) as rt,
        httpx.Client(base_url=rt.api_url, timeout=60) as api,
    ):
        recipients, opted_out = audience(size, seed)
        for wa_id in opted_out:  # users who replied STOP earlier: their webhooks fill the suppression list
            rt.sim.user_preference(wa_id, "stop")
        rt.webhooks_handled(30)
        print(f"  api {rt.api_url}   graph {rt.sim.base_url}   aws {rt.aws_endpoint}")
        body = {
            "name": "Festival offer (demo)",
            "template": {
                "name": "festival_offer",
                "language": {"code": "en_US"},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": "{{offer}}"}]}],
            },
            "recipients": recipients,
            "product_policy": "CLOUD_API_FALLBACK",
            "time_to_live": 86400,
        }
        if not _preflight_refusal(rt, api, body):
            return 1
        # Held until a test send to the business's own number passes, then released.
        created = api.post("/campaigns", json={**body, "hold": True, "test_recipients": [TEST_NUMBER]})
        if created.status_code != 202:
            print(f"POST /campaigns answered {created.status_code}: {created.text}", file=sys.stderr)
            return 1
        campaign = created.json()
        campaign_id = campaign["campaign_id"]
        print(f"Campaign {campaign_id} ({campaign['status']}): {json.dumps(campaign.get('counts', {}))}")
        if not _test_then_release(api, campaign_id):
            return 1

        _wait(rt, campaign.get("counts", {}).get("queued", 0), deadline=time.monotonic() + 300)
        rt.webhooks_handled(60)
        rt.counted()  # the report's counters follow the table's stream
        report = api.get(f"/campaigns/{campaign_id}").json()
        elapsed = time.monotonic() - started
        dupes = rt.sim.duplicates()
        print(render_text(report, elapsed, dupes))
        drift = campaign_audit(campaign_id, rt.stack.physical["MainTable"]["Ref"], rt.session)["drift"]
        print(
            f"  audit (the report's counters vs a recount of every message item): drift {drift or 'none'}\n"
        )
        if reports_dir:  # the page GET /campaigns/{id}/report.html serves, one file per campaign
            path = Path(reports_dir) / page.filename(report)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(page.render(report))
            print(f"HTML report: {path.resolve()}")
        return 0 if not dupes and not drift else 1


def _preflight_refusal(rt: Runtime, api: httpx.Client, body: dict[str, Any]) -> bool:
    """A campaign naming a template the WABA does not have: refused before anything is sent."""
    posts = len(rt.sim.requests("/marketing_messages"))
    misspelt = {**body, "template": {**body["template"], "name": "festval_offer"}}
    refused = api.post("/campaigns", json=misspelt)
    errors = refused.json().get("errors") or [{}]
    sent = len(rt.sim.requests("/marketing_messages")) - posts
    print(f"Preflight: template 'festval_offer' -> {refused.status_code} {errors[0].get('field')}: ", end="")
    print(f"{errors[0].get('reason')}; POSTs to Meta: {sent}")
    return refused.status_code == 422 and sent == 0


def _test_then_release(api: httpx.Client, campaign_id: str) -> bool:
    """Release refused (409) before a test passed; the test send and its verdict; then the release."""
    early = api.patch(f"/campaigns/{campaign_id}", json={"status": "running"})
    print(f"Release before a test: {early.status_code} {early.json().get('message')}")
    started = api.post(f"/campaigns/{campaign_id}/test")
    if started.status_code != 202:
        print(f"POST /campaigns/{campaign_id}/test answered {started.status_code}: {started.text}")
        return False
    path = f"/campaigns/{campaign_id}/tests/{started.json()['test_id']}"
    test = testsend.wait(lambda: (lambda r: (r.status_code, r.json()))(api.get(path)), timeout=60)
    print(testsend.render(test))
    released = api.patch(f"/campaigns/{campaign_id}", json={"status": "running"})
    print(f"Release: {released.status_code} {json.dumps(released.json().get('counts', released.json()))}")
    return released.status_code == 200


def _wait(rt: Runtime, queued: int, deadline: float) -> None:
    """Until the send queue is drained (every message sent, failed or given up) and the simulator has posted
    every webhook. Progress comes from the local poller and the simulator, in-process: the report is a query
    over all of the campaign's messages (seconds of moto's CPU at a few thousand), so it is read once, at the
    end, and the queue is only asked once the poller finds it empty."""
    while True:
        drained, hooks = rt.drained(), rt.sim.webhooks_pending
        done = min(rt.settled(), queued)
        sys.stderr.write(f"\r  sending {bar(done, queued)} {done}/{queued}   webhooks pending {hooks:<6}")
        sys.stderr.flush()
        if (drained and hooks == 0) or time.monotonic() > deadline:
            sys.stderr.write("\n")
            return
        time.sleep(0.5)


def _funnel(report: dict[str, Any]) -> list[tuple[str, int]]:
    """Where each message ended, in the report's order (``by_status`` lists them so), none shown at 0."""
    return [(status, n) for status, n in report.get("by_status", {}).items() if n]


def render_text(
    report: dict[str, Any], elapsed: float | None = None, duplicates: dict[str, int] | None = None
) -> str:
    lines = [
        "",
        f"Campaign {report.get('campaign_id', '')}: {report.get('name', '')} ({report.get('status', '')})",
        "",
    ]
    steps = report.get("funnel") or []
    top = max((int(s["count"]) for s in steps), default=0) or 1
    for step in steps:  # cumulative: each step within the one before
        rate = step.get("rate_from_previous")
        lines.append(
            f"  {step['label']:<18}{step['count']:>7}  {'█' * max(1, round(30 * step['count'] / top)):<31}"
            + (f"{rate:.1%} of the step above" if rate is not None else "")
        )
    lines += ["", "  where each message ended:"]
    funnel = _funnel(report)
    top = max((n for _, n in funnel), default=1)
    lines.append(f"  {'status':<12}{'messages':>9}")
    for status, count in funnel:
        lines.append(f"  {status:<12}{count:>9}  {'█' * max(1, round(40 * count / top))}")
    sections = [
        ("failed by code", report.get("failures_by_code", {})),
        ("blocked by reason", report.get("blocked_by_reason", {})),
        (
            "pricing category (marketing_lite = MM API, marketing = Cloud API fallback)",
            report.get("by_pricing_category", {}),
        ),
        ("by country", report.get("by_country", {})),
    ]
    for title, counts in sections:
        if counts:
            lines += ["", f"  {title}:", "    " + ", ".join(f"{k}: {v}" for k, v in counts.items())]
    if rates := _rates(report):
        lines += [
            "",
            "  rates: "
            + ", ".join(f"{k} {v:.1%}" if isinstance(v, float) else f"{k} {v}" for k, v in rates.items()),
        ]
    if duplicates is not None:
        lines += ["", f"  duplicate POSTs seen by the simulator: {len(duplicates)}"]
    if elapsed is not None:
        lines += [f"  elapsed: {elapsed:.1f} s"]
    lines.append("")
    return "\n".join(lines)


def _rates(report: dict[str, Any]) -> dict[str, Any]:
    return {k: report[k] for k in ("delivery_rate", "read_rate") if report.get(k) is not None}
