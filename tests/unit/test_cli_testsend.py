"""``mmapi campaign test``: what it posts, how it waits for the verdict and what a marketer reads."""

from __future__ import annotations

from typing import Any

import pytest

from mmapi import testsend
from mmapi.cli import build_parser

PASSED = {
    "campaign_id": "fest",
    "test_id": "t0a1b2c3d",
    "verdict": "passed",
    "messages": [{"to": "919876500001", "status": "delivered", "via": "MM API (marketing_lite)"}],
    "preview": {"text": "Festival offer: 10% OFF.\n\nReply STOP to opt out", "unfilled": []},
    "warnings": [],
}


class FakeApi:
    def __init__(self, answers: list[dict[str, Any]]) -> None:
        self.answers, self.calls = answers, []

    def __call__(self, args, method, path, query=None, body=None):
        self.calls.append((method, path, body))
        if method == "POST":
            return 202, {**PASSED, "verdict": "pending"}
        return 200, self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def test_posts_the_numbers_polls_until_the_verdict_and_prints_path_state_and_preview(capsys, monkeypatch):
    monkeypatch.setattr(testsend, "POLL_SECONDS", 0)
    api = FakeApi([{**PASSED, "verdict": "pending"}, PASSED])
    args = build_parser().parse_args(["campaign", "test", "fest", "--to", "+919876500001"])
    assert testsend.main(args, api) == 0
    assert api.calls[0] == ("POST", "/campaigns/fest/test", {"recipients": ["+919876500001"]})
    assert api.calls[1:] == [("GET", "/campaigns/fest/tests/t0a1b2c3d", None)] * 2
    out = capsys.readouterr().out
    assert "Test t0a1b2c3d of campaign fest: PASSED" in out
    assert "919876500001  delivered  MM API (marketing_lite)" in out
    assert "    | Festival offer: 10% OFF." in out and "    | Reply STOP to opt out" in out


@pytest.mark.parametrize(("verdict", "code"), [("failed", 1), ("pending", 3)])
def test_the_exit_status_says_the_verdict(capsys, monkeypatch, verdict, code):
    monkeypatch.setattr(testsend, "POLL_SECONDS", 0)
    failed = {
        **PASSED,
        "verdict": verdict,
        "messages": [
            {
                "to": "919876500001",
                "status": "failed",
                "error": {"code": 131026, "title": "Message undeliverable"},
            }
        ],
    }
    args = build_parser().parse_args(["campaign", "test", "fest", "--timeout", "1"])
    assert testsend.main(args, FakeApi([failed])) == code
    assert "failed     131026 Message undeliverable" in capsys.readouterr().out


def test_a_refused_test_is_printed_with_its_status():
    def refused(args, method, path, query=None, body=None):
        return 422, {"message": "1 invalid field: recipients", "errors": [{"field": "recipients"}]}

    args = build_parser().parse_args(["campaign", "test", "fest"])
    assert testsend.main(args, refused) == 1
