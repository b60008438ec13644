"""``make demo`` (``mmapi demo``), as the README gives it, on a smaller audience: a whole campaign on the local
stack, its preflight refusal and test send, a report whose counters equal a recount of the items."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_the_demo_runs_a_whole_campaign_and_its_report_adds_up(tmp_path):
    html = tmp_path / "demo.html"
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "mmapi", "demo", "--recipients", "150", "--html", str(html)],
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
    page = html.read_text()
    assert "Festival offer (demo)" in page and "marketing_lite" in page
