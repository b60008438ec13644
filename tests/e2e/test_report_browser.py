"""The campaign report page in a real browser (Debian's headless Chromium): what a person sees on a phone and on
a desktop — the funnel in order, a chart drawn, failures in red, no console errors, nothing wider than a phone.

The page itself runs no script. To read the layout, the test opens a copy with a measuring script appended
(it writes what the browser laid out into the DOM, which ``--dump-dom`` prints); the screenshots are of the page
as served. Chromium is installed with apt when missing (as root); else the tests skip, saying why."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mmcore.campaigns import facts, page
from mmcore.campaigns.tally import report, total
from mmcore.store.codec import from_item
from mmcore.store.messages import message_item

# apt-get install of chromium, when it is missing, takes minutes: more than the suite's 120 s per test
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]
BUILD = Path(__file__).resolve().parents[2] / "build"
T0 = 1_800_000_000
MEASURE = """<script>
const box = e => { const r = e.getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)]; };
const out = {
  steps: [...document.querySelectorAll('#funnel .step')].map(e => ({
    label: e.children[0].innerText, count: e.children[2].innerText, bar: box(e.querySelector('.fill'))[0] })),
  chart: box(document.querySelector('#over-time svg') || document.body),
  lines: [...document.querySelectorAll('#over-time polyline')].map(e => {
    const b = e.getBBox(); return [Math.round(b.width), Math.round(b.height)]; }),
  failColour: getComputedStyle(document.querySelector('tr.fail td') || document.body).color,
  scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
  overflowing: [...document.querySelectorAll('section, .scroll')].filter(e => e.scrollWidth > e.clientWidth + 1)
    .map(e => e.id || e.className),
};
document.body.setAttribute('data-measured', JSON.stringify(out));
</script>"""


def chromium_binary() -> str:
    """Chromium's path, installed from Debian's packages when missing and possible; else the test skips."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip(
            "chromium is not installed and cannot be: needs root and apt-get (apt-get install chromium)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env, check=False)
        if done.returncode != 0:
            pytest.skip(f"chromium could not be installed ({' '.join(command)}): {done.stderr[-300:]}")
    return shutil.which("chromium") or pytest.skip("apt-get installed chromium but it is not on PATH")


@pytest.fixture(scope="module")
def chromium() -> Iterator[str]:
    yield chromium_binary()


def run(chromium: str, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """One headless Chromium run (no sandbox: tests run as root), its console written to stderr."""
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-extensions",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=3000",
        *args,
        url,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def console_errors(stderr: str) -> list[str]:
    """Console messages at error level, and uncaught exceptions, from Chromium's log."""
    return [
        line
        for line in stderr.splitlines()
        if ("CONSOLE" in line and (":ERROR:" in line or "Uncaught" in line)) or "Uncaught" in line
    ]


def measure(chromium: str, html: str, tmp_path: Path, width: int) -> dict[str, Any]:
    probe = tmp_path / f"probe-{width}.html"
    probe.write_text(html.replace("</body>", MEASURE + "</body>"))
    done = run(chromium, probe.as_uri(), f"--window-size={width},1400", "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    assert console_errors(done.stderr) == [], console_errors(done.stderr)
    found = re.search(r"data-measured=\"(.*?)\"", done.stdout)
    assert found, done.stdout[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def sample_report(spread: int = 1) -> dict[str, Any]:
    """A campaign of 1,000 messages in four countries, sent over ten minutes and read over two hours (``spread``
    1; 0: all within the first minute, as the demo's)."""
    items = []
    for i in range(1000):
        country = ("IN", "BR", "ID", "US")[i % 4]
        status = ("read",) * 5 + ("delivered",) * 3 + ("sent", "failed")
        s = status[i % 10] if country != "US" else "blocked"
        fields: dict[str, Any] = {"country": country, "queued_at": T0}
        if s in ("sent", "delivered", "read"):
            fields["wamid"] = f"wamid.{i}"
        if s in ("delivered", "read"):
            fields["status_at"] = T0 + (30 + i // 2) * spread
            fields["pricing_category"], fields["path"] = (
                ("marketing", "cloud_api_fallback") if i % 5 == 0 else ("marketing_lite", "mm_api")
            )
        if s == "read":
            fields["status_at"] = T0 + (60 + i * 7) * spread
        if s == "failed":
            fields["error"] = {"code": (131049, 131026, 999999)[i % 3]}
        if s == "blocked":
            fields["reason"] = ("us_recipient", "sanctioned_recipient")[i // 4 % 2]
        state = s if s in ("failed", "blocked") else "accepted"
        item = from_item(message_item(f"m-{i}", status=s, state=state, campaign_id="c-1", **fields))
        item["updated_at"] = T0 + (5 + i * 600 // 1000) * spread
        items.append(item)
    counts = total(items)
    summary = report(counts)
    return {
        "campaign_id": "20261123T121916-9f2c1ab4",
        "name": "Festival offer <b>50%</b>",
        "status": "completed",
        "template": {"name": "festival_offer", "language": {"code": "en_US"}},
        "created_at": "2026-11-23T12:19:16Z",
        "enqueued_at": "2026-11-23T12:19:18Z",
        "finished_at": "2026-11-23T12:31:02Z",
        **summary,
        **facts.describe(counts, summary),
    }


@pytest.mark.parametrize("spread", [1, 0], ids=["over-two-hours", "within-a-minute"])
def test_a_person_sees_the_funnel_in_order_a_chart_and_red_failures_on_phone_and_desktop(
    chromium, tmp_path, spread
):
    rep = sample_report(spread)
    html = page.render(rep)
    expected = [(s["label"], s["count"]) for s in rep["funnel"]]
    for width in (390, 1280):
        seen = measure(chromium, html, tmp_path, width)
        steps = [(s["label"], int(s["count"].replace(",", ""))) for s in seen["steps"]]
        assert steps == expected  # Messages, Accepted by Meta, Sent, Delivered, Read: top to bottom
        counts = [n for _, n in steps]
        assert counts == sorted(counts, reverse=True) and counts[-1] > 0
        bars = [s["bar"] for s in seen["steps"]]
        assert bars == sorted(bars, reverse=True) and bars[-1] > 0  # drawn, shrinking step by step
        assert seen["chart"][0] > 200 and seen["chart"][1] > 80  # the over-time chart has a size
        assert len(seen["lines"]) == 3  # accepted, delivered, read: each rising across most of the chart
        assert all(w > seen["chart"][0] / 2 and h > 0 for w, h in seen["lines"]), seen
        assert seen["failColour"] == "rgb(185, 28, 28)"  # failures in red
        assert seen["scrollWidth"] <= seen["innerWidth"]  # nothing wider than the screen
        assert seen["overflowing"] == []  # nor any table scrolling sideways within it
    if not spread:
        return
    BUILD.mkdir(exist_ok=True)
    served = BUILD / "report.html"
    served.write_text(html)
    for name, size in (("report-mobile.png", "390,1800"), ("report-desktop.png", "1280,1300")):
        done = run(chromium, served.as_uri(), f"--window-size={size}", f"--screenshot={BUILD / name}")
        assert done.returncode == 0 and console_errors(done.stderr) == [], done.stderr[-2000:]
        assert (BUILD / name).stat().st_size > 10_000  # a picture, not a blank page


def test_the_console_check_catches_an_error_a_page_would_log(chromium, tmp_path):
    # The check the test above relies on, on a page that does log an error
    bad = tmp_path / "bad.html"
    bad.write_text("<!doctype html><body><script>console.error('boom'); null.x;</script></body>")
    done = run(chromium, bad.as_uri(), "--dump-dom")
    assert len(console_errors(done.stderr)) >= 1, done.stderr[-2000:]
