"""The simulator's opt-outs by business-scoped user ID: a stop under one identifier refuses marketing sends
under the other when the simulator knows both (131050, as Meta does); a BSUID it never linked stays apart."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from mmapi.simulator import Simulator

INDIA = "919876543210"
OTHER = "919876543299"
UNLINKED = "US.13491208655302741918"  # a BSUID the simulator never issued: no phone number behind it


@pytest.fixture
def sim(webhook_receiver) -> Iterator[Simulator]:
    with Simulator(webhook_url=webhook_receiver.url, pair_interval_seconds=None) as simulator:
        yield simulator


def post(sim: Simulator, **recipient: str) -> httpx.Response:
    """A marketing send naming the user by ``to`` (phone) or ``recipient`` (BSUID)."""
    body = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        **recipient,
        "type": "template",
        "template": {"name": "summer_sale", "language": {"code": "en_US"}},
    }
    return httpx.post(
        f"{sim.base_url}/{sim.phone_number_id}/marketing_messages", json=body, headers=sim.auth_headers
    )


def failed_codes(sim: Simulator) -> dict[str, int]:
    """wamid -> the error code of its ``failed`` status."""
    sim.wait_for_webhooks_idle(5)
    return {
        status["id"]: status["errors"][0]["code"]
        for delivery in sim.webhook_deliveries()
        for entry in delivery.payload["entry"]
        for change in entry["changes"]
        for status in change["value"].get("statuses", [])
        if status["status"] == "failed"
    }


def wamid(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return response.json()["messages"][0]["id"]


def test_a_bsuid_only_stop_is_a_webhook_with_user_id_and_no_wa_id(sim, webhook_receiver):
    user_id = sim.user_id(INDIA)
    sim.user_preference(user_id, "stop")
    [hook] = webhook_receiver.wait_for(1)
    [change] = json.loads(hook.body)["entry"][0]["changes"]
    assert change["field"] == "user_preferences"
    [preference], [contact] = change["value"]["user_preferences"], change["value"]["contacts"]
    assert preference["user_id"] == user_id and preference["value"] == "stop"
    assert "wa_id" not in preference and "wa_id" not in contact and contact["user_id"] == user_id
    # Control API, same thing by JSON
    response = httpx.post(
        f"{sim.root_url}/_sim/user_preferences", json={"user_id": UNLINKED, "value": "stop"}
    )
    assert response.status_code == 200


def test_stop_by_bsuid_refuses_sends_under_both_identifiers(sim):
    # Given a user whose phone number and BSUID the simulator knows, who sent STOP by BSUID only
    user_id = sim.user_id(INDIA)
    sim.user_preference(user_id, "stop")
    # When the business sends by phone number and by BSUID, and to another user
    by_phone, by_bsuid = wamid(post(sim, to=INDIA)), wamid(post(sim, recipient=user_id))
    other = wamid(post(sim, to=OTHER))
    # Then both to the user fail with 131050, the other user's does not
    codes = failed_codes(sim)
    assert codes[by_phone] == codes[by_bsuid] == 131050
    assert other not in codes


def test_stop_by_phone_refuses_a_send_by_bsuid_synchronously_when_configured(sim):
    sim.config.opt_out_sync = True  # Meta's answer on the request instead of a failed status
    sim.user_preference(INDIA, "stop")
    for recipient in ({"to": INDIA}, {"recipient": sim.user_id(INDIA)}):
        response = post(sim, **recipient)
        assert response.status_code == 400 and response.json()["error"]["code"] == 131050, recipient


def test_resume_under_either_identifier_lifts_the_stop(sim):
    user_id = sim.user_id(INDIA)
    sim.user_preference(user_id, "stop")
    sim.user_preference(INDIA, "resume")
    sent = [wamid(post(sim, to=INDIA)), wamid(post(sim, recipient=user_id))]
    assert not set(sent) & set(failed_codes(sim))


def test_a_stop_by_a_bsuid_it_never_linked_touches_no_phone_number(sim):
    # The simulator cannot know the phone behind a BSUID it did not issue: only that BSUID is suppressed
    sim.user_preference(UNLINKED, "stop")
    by_phone, by_bsuid = wamid(post(sim, to=INDIA)), wamid(post(sim, recipient=UNLINKED))
    codes = failed_codes(sim)
    assert codes == {by_bsuid: 131050}
    assert by_phone not in codes
