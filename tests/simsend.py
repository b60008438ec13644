"""One template send straight to the Graph simulator (as Meta's API would get it), for webhook tests."""

from __future__ import annotations

from typing import Any

import httpx

from mmapi.simulator import Simulator

HTTP = httpx.Client(timeout=5)  # one client: building one per request costs ~20 ms (TLS context)


def template_body(to: str, name: str, **extra: Any) -> dict[str, Any]:
    """A template send's body as Meta's API takes it (en_US; ``extra`` added at the top level)."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": {"name": name, "language": {"code": "en_US"}},
        **extra,
    }


def sim_send(sim: Simulator, to: str = "919876543210", name: str = "summer_sale", **extra: Any) -> str:
    """POST /marketing_messages; returns the wamid."""
    body = template_body(to, name, **extra)
    response = HTTP.post(
        f"{sim.base_url}/{sim.phone_number_id}/marketing_messages", json=body, headers=sim.auth_headers
    )
    assert response.status_code == 200, response.text
    return response.json()["messages"][0]["id"]
