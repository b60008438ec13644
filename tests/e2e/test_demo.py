"""``make demo`` (``mmapi demo``), as the README gives it, on a smaller audience: a whole campaign on the local
stack, its preflight refusal and test send, a report whose counters equal a recount of the items."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_the_demo_runs_a_whole_campaign_and_its_report_adds_up(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "mmapi", "demo", "--recipients", "150", "--reports", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr[-3000:]
    assert "Preflight: template 'festval_offer' -> 422" in out and "POSTs to Meta: 0" in out
    assert "Release before a test: 409" in out and "PASSED" in out and "MM API (marketing_lite)" in out
    assert "duplicate POSTs seen by the simulator: 0" in out
    assert "drift none" in out
    assert '"level":' not in out, "the functions' logs stay off the demo's output (WARNING and above only)"
    [html] = tmp_path.glob("festival-offer-demo-*.html")  # one page, named after the campaign
    assert f"HTML report: {html}" in out
    page = html.read_text()
    assert "Festival offer (demo)" in page and "MM API (marketing_lite)" in page
    funnel = [int(n) for n in re.findall(r'data-step="\w+" data-count="(\d+)"', page)]
    assert len(funnel) == 5 and funnel == sorted(funnel, reverse=True) and funnel[-1] > 0  # read > 0
    assert 'data-status="completed"' in page and "<polyline" in page
