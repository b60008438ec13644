"""The webhook kinds Meta added or changed since December 2025, and every real payload of the conformance
corpus (Meta's docs, pywa's and whatsapp-api-js's fixtures), posted signed through the handler: each answers
200 and is stored as Meta's docs say it means, and counted in the handler's metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import conformance
import pytest
from aws import create_stack
from integration.test_webhook import VERIFY_TOKEN, WABA, WebhookEnv, envelope, wire

from mmcore import clients
from mmcore.meta.errors import Scope
from mmcore.store.accounts import Accounts
from mmcore.store.clicks import Clicks
from mmcore.store.halts import template_halt_key
from mmcore.store.inbound import Replies, Unhandled
from mmcore.store.status_events import RANK
from mmcore.store.templates import Templates

PHONE_ID = "106540352242922"


@pytest.fixture
def env(aws, sim, monkeypatch) -> Iterator[WebhookEnv]:
    """The webhook handler over moto, as test_webhook.py wires it."""
    stack = create_stack(
        aws, "k", access_token=sim.access_token, app_secret=sim.app_secret, verify_token=VERIFY_TOKEN
    )
    yield wire(aws, stack, monkeypatch, sim.app_secret)
    clients.reset()


def post(env: WebhookEnv, monkeypatch, payload: Any) -> dict[str, int]:
    """POST ``payload`` signed; the metrics the handler published (name -> value). Asserts a 200."""
    published: dict[str, int] = {}
    real = env.handler.metrics.add_metric

    def add_metric(name: str, unit: Any, value: float) -> None:
        published[name] = published.get(name, 0) + int(value)
        real(name=name, unit=unit, value=value)

    monkeypatch.setattr(env.handler.metrics, "add_metric", add_metric)
    response = env.post(payload)
    assert response["statusCode"] == 200, response
    return published


def template(env: WebhookEnv, name: str, language: str, waba: str = WABA) -> dict[str, Any]:
    return Templates(env.ddb, env.table, waba).get(name, language)


def changes(value: dict[str, Any], field: str) -> dict[str, Any]:
    return {"field": field, "value": value}


def tpl_status(event: str, name: str = "summer_sale", **extra: Any) -> dict[str, Any]:
    value = {
        "event": event,
        "message_template_id": 123,
        "message_template_name": name,
        "message_template_language": "en_US",
        "reason": extra.pop("reason", None),
        **extra,
    }
    return changes(value, "message_template_status_update")


def user_actions(*actions: dict[str, Any]) -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_ID},
        "user_actions": list(actions),
    }
    return changes(value, "messages")


def click(at: int, action: str = "marketing_messages_link_click", **data: Any) -> dict[str, Any]:
    """A ``user_actions`` item in the shape of [CLICK] (section 7 of meta-2026-updates.md)."""
    return {"action_type": action, "timestamp": str(at), "marketing_messages_link_click_data": data}


# ---------------------------------------------------------------- every real payload


def _expectations(payload: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(field, entry id, change value) of every change the file carries."""
    return [(c["field"], entry.get("id"), c["value"]) for entry in payload["entry"] for c in entry["changes"]]


def _category(status: dict[str, Any]) -> str | None:
    """A status item's pricing category (``conversation.origin.type`` before v24)."""
    return (status.get("pricing") or {}).get("category") or (
        (status.get("conversation") or {}).get("origin") or {}
    ).get("type")


@pytest.mark.parametrize("name", conformance.names("webhooks"))
def test_every_conformance_webhook_answers_200_and_is_stored_as_meta_means_it(env, monkeypatch, name):
    # Given a webhook body as Meta's docs or another SDK's fixtures show it
    payload = conformance.load("webhooks", name)
    before = env.items()
    # When it is posted signed
    metrics = post(env, monkeypatch, payload)
    # Then something new is stored, and what it means is where a user looks for it
    assert len(env.items()) > len(before)
    kept = Unhandled(env.ddb, env.table)
    for field, waba, value in _expectations(payload):
        for s in value.get("statuses", []):
            event = next(e for e in env.events(s["id"]) if e["status"] == s["status"])
            category = _category(s)
            if s["status"] in RANK:  # kept on its delivery state (its pricing: the highest priced status's)
                priced = max(
                    (
                        o
                        for o in value["statuses"]
                        if o["id"] == s["id"] and o["status"] in RANK and _category(o)
                    ),
                    key=lambda o: (RANK[o["status"]], int(o["timestamp"])),
                    default={},
                )
                pricing = env.delivery(s["id"]).get("pricing") or {}
                assert (pricing.get("category") or pricing.get("origin_type")) == _category(priced)
            else:  # kept as its own event item
                assert event.get("pricing_category") == category
            if category in ("marketing", "marketing_lite") and s["status"] != "played":
                assert env.state(s["id"])["path"] in ("mm_api", "cloud_api_fallback")
        for m in value.get("messages", []) if field == "messages" else []:
            assert Replies(env.ddb, env.table).get(m["id"]) is not None
        for e in value.get("errors", []) if field == "messages" else []:
            assert any(json.loads(k["raw"])["code"] == e["code"] for k in kept.of_kind("errors"))
        for p in value.get("user_preferences", []):
            if p["value"] in ("stop", "resume"):
                assert env.suppression(p["wa_id"]) is not None or p["value"] == "resume"
            else:
                [pref] = kept.of_kind(f"user_preferences.{p['value']}")
                assert (pref["user"], pref["value"]) == (p["wa_id"], p["value"])
                assert metrics["UserPreferencesKept"] == 1
        if field == "message_template_status_update" and "event" in value:
            item = template(env, value["message_template_name"], value["message_template_language"], waba)
            assert item["status"] == value["event"] and item["template_id"] == str(
                value["message_template_id"]
            )
        elif "new_quality_score" in value:
            item = template(env, value["message_template_name"], value["message_template_language"], waba)
            assert item["quality_score"] == value["new_quality_score"]
            assert metrics["TemplateQualityChanges"] == 1
        elif field == "template_category_update":
            item = template(env, value["message_template_name"], value["message_template_language"], waba)
            assert item["category"] == value["new_category"]
            assert item.get("pending_category") == value.get("correct_category")
        elif field == "account_update" and value["event"] == "MM_LITE_TERMS_SIGNED":
            assert Accounts(env.ddb, env.table).onboarding(value["waba_info"]["waba_id"])["status"]
            assert metrics["MmApiTermsSigned"] == 1
        elif field == "account_update":
            assert kept.of_kind(f"account_update.{value['event']}")
        elif field not in ("messages", "user_preferences", "message_template_status_update"):
            assert kept.of_kind(field)  # history, security, phone number and capability updates...
            assert metrics["WebhookItemsKeptRaw"] >= 1
    assert "WebhookInvalidItems" not in metrics  # Meta's own payloads all parse


# ---------------------------------------------------------------- template_category_update [TCU]


def test_category_change_announced_then_done_is_on_the_template_item(env, monkeypatch):
    # Given Meta's impending change (UTILITY now, MARKETING within 24 h), then the completed one
    future = conformance.load("webhooks", "meta_template_category_update_future.json")
    done = conformance.load("webhooks", "meta_template_category_update_done.json")
    metrics = post(env, monkeypatch, future)
    item = template(env, "welcome_template", "en-US")
    assert (item["category"], item["pending_category"], item["pending_category_at"]) == (
        "UTILITY",
        "MARKETING",
        1746169200,
    )
    assert metrics["TemplateCategoryChangesImpending"] == 1
    metrics = post(env, monkeypatch, done)
    # Then the template is MARKETING, with where it came from, and nothing pending
    item = template(env, "welcome_template", "en-US")
    assert (item["category"], item["previous_category"]) == ("MARKETING", "UTILITY")
    assert "pending_category" not in item and "pending_category_at" not in item
    assert metrics["TemplateCategoryChanges"] == 1
    # And both events are kept
    events = {e["event"] for e in env.template_events("welcome_template", "en-US")}
    assert events == {"CATEGORY_IMPENDING", "CATEGORY_UPDATE"}


def test_a_late_announcement_does_not_undo_the_completed_category(env, monkeypatch):
    done = conformance.load("webhooks", "meta_template_category_update_done.json")
    future = conformance.load("webhooks", "meta_template_category_update_future.json")
    post(env, monkeypatch, done)
    metrics = post(env, monkeypatch, future)  # older entry.time, delivered late
    item = template(env, "welcome_template", "en-US")
    assert item["category"] == "MARKETING" and "pending_category" not in item
    assert "TemplateCategoryChangesImpending" not in metrics
    assert len(env.template_events("welcome_template", "en-US")) == 2  # kept all the same


def test_category_and_status_move_on_their_own_clocks(env, monkeypatch):
    # A status event newer than the category change does not stop the category from being recorded
    post(
        env,
        monkeypatch,
        envelope(
            tpl_status("APPROVED", "welcome_template", message_template_language="en-US"), at=1746200000
        ),
    )
    post(env, monkeypatch, conformance.load("webhooks", "meta_template_category_update_done.json"))
    item = template(env, "welcome_template", "en-US")
    assert (item["status"], item["category"]) == ("APPROVED", "MARKETING")


# ---------------------------------------------------------------- archived / unarchived [MTSU]


def test_archived_template_is_halted_and_unarchived_releases_it(env, monkeypatch):
    key = template_halt_key(WABA, "summer_sale", "en_US")
    metrics = post(env, monkeypatch, envelope(tpl_status("ARCHIVED"), at=1750000000))
    halt = env.halt(Scope.TEMPLATE, key)
    assert halt is not None and halt.reason.startswith("template ARCHIVED")
    assert template(env, "summer_sale", "en_US")["status"] == "ARCHIVED"
    assert metrics["TemplateHalts"] == 1 and metrics["TemplateStatusChanges"] == 1
    metrics = post(env, monkeypatch, envelope(tpl_status("UNARCHIVED"), at=1750000100))
    assert env.halt(Scope.TEMPLATE, key) is None
    assert template(env, "summer_sale", "en_US")["status"] == "UNARCHIVED"
    assert metrics["TemplateReleases"] == 1


def test_a_late_archived_does_not_halt_a_template_unarchived_since(env, monkeypatch):
    key = template_halt_key(WABA, "summer_sale", "en_US")
    post(env, monkeypatch, envelope(tpl_status("UNARCHIVED"), at=1750000100))
    post(env, monkeypatch, envelope(tpl_status("ARCHIVED"), at=1750000000))
    assert env.halt(Scope.TEMPLATE, key) is None
    assert template(env, "summer_sale", "en_US")["status"] == "UNARCHIVED"


# ---------------------------------------------------------------- message_template_quality_update [MTQU]


@pytest.mark.parametrize("field", ["message_template_quality_update", "message_template_status_update"])
def test_quality_lands_on_the_template_whichever_field_meta_posts_it_under(env, monkeypatch, field):
    # Meta's own example of a quality update is posted under message_template_status_update, with no event
    value = {
        "previous_quality_score": "YELLOW",
        "new_quality_score": "RED",
        "message_template_id": 806312974732579,
        "message_template_name": "summer_sale",
        "message_template_language": "en_US",
    }
    post(env, monkeypatch, envelope(tpl_status("APPROVED"), at=1750000000))
    metrics = post(env, monkeypatch, envelope(changes(value, field), at=1750000500))
    item = template(env, "summer_sale", "en_US")
    assert (item["quality_score"], item["previous_quality_score"], item["status"]) == (
        "RED",
        "YELLOW",
        "APPROVED",
    )
    assert metrics["TemplateQualityChanges"] == 1


# ---------------------------------------------------------------- clicks and landing page views [CLICK][LPV]


def test_clicks_and_views_are_counted_per_day_and_found_by_token_or_click_id(env, monkeypatch):
    day1, day2 = 1750000000, 1750000000 + 86400  # 2025-06-15 and 2025-06-16 (UTC)
    # Given a view that arrives before its click (Meta does not guarantee the order), then the click
    view = click(day1 + 5, "landing_page_view", click_id="c1", tracking_token="t1")
    metrics = post(env, monkeypatch, envelope(user_actions(view)))
    assert metrics == {**metrics, "LandingPageViews": 1}
    metrics = post(
        env,
        monkeypatch,
        envelope(
            user_actions(
                click(day1, click_component="cta", product_id="sku_1", click_id="c1", tracking_token="t1"),
                click(day1 + 9, click_component="body", click_id="c2"),
                click(day2, click_component="cta"),  # neither id: counted, found by day only
            )
        ),
    )
    assert metrics["LinkClicks"] == 3
    clicks = Clicks(env.ddb, env.table, WABA)
    # Then the counts are per day and business number
    assert clicks.counts("2025-06-15") == {
        PHONE_ID: {"marketing_messages_link_click": 2, "landing_page_view": 1}
    }
    assert clicks.counts("2025-06-16") == {PHONE_ID: {"marketing_messages_link_click": 1}}
    # And the click and its view are one journey, by token or by click id
    journey = clicks.journey(tracking_token="t1")
    assert [e["action_type"] for e in journey] == ["marketing_messages_link_click", "landing_page_view"]
    assert journey[0]["product_id"] == "sku_1" and journey[0]["click_component"] == "cta"
    assert clicks.journey(click_id="c1") == journey
    assert [e["click_component"] for e in clicks.journey(tracking_token="unknown", click_id="c2")] == ["body"]
    assert len(clicks.events("2025-06-16")) == 1


def test_a_click_posted_twice_is_counted_once(env, monkeypatch):
    payload = envelope(user_actions(click(1750000000, click_component="cta", click_id="c1")))
    post(env, monkeypatch, payload)
    metrics = post(env, monkeypatch, payload)  # Meta's retry
    assert "LinkClicks" not in metrics and metrics["WebhookDuplicates"] == 1
    assert Clicks(env.ddb, env.table, WABA).counts("2025-06-15") == {
        PHONE_ID: {"marketing_messages_link_click": 1}
    }


def test_an_unknown_action_type_is_stored_and_counted_apart(env, monkeypatch):
    metrics = post(env, monkeypatch, envelope(user_actions(click(1750000000, "add_to_cart", click_id="c9"))))
    assert metrics["UserActionsOther"] == 1
    [event] = Clicks(env.ddb, env.table, WABA).journey(click_id="c9")
    assert event["action_type"] == "add_to_cart"


def test_an_action_without_a_time_is_kept_raw_as_invalid_and_the_rest_is_stored(env, monkeypatch):
    metrics = post(
        env,
        monkeypatch,
        envelope(
            user_actions({"action_type": "landing_page_view"}, click(1750000000, click_id="c1")),
            at=1750000000,
        ),
    )
    assert metrics["WebhookInvalidItems"] == 1 and metrics["LinkClicks"] == 1
    [invalid] = Unhandled(env.ddb, env.table).of_kind("invalid")
    assert invalid["reason"].startswith("user_actions: timestamp")


# ---------------------------------------------------------------- user_preferences beyond stop/resume


def test_a_signup_preference_is_kept_and_counted_not_applied(env, monkeypatch):
    # Given a user suppressed by a stop, then a signup preference (pywa's fixture) for the same user
    stop = conformance.load("webhooks", "pywa_user_marketing_preferences_signup.json")
    pref = stop["entry"][0]["changes"][0]["value"]["user_preferences"][0]
    stopped = json.loads(json.dumps(stop))
    stopped["entry"][0]["changes"][0]["value"]["user_preferences"][0].update(
        value="stop", timestamp=1731705000
    )
    post(env, monkeypatch, stopped)
    metrics = post(env, monkeypatch, stop)
    # Then the signup is kept with its user and counted, and the stop still holds
    [kept] = Unhandled(env.ddb, env.table).of_kind("user_preferences.signup")
    assert (kept["user"], kept["detail"]) == (pref["wa_id"], "User signed up via signup link")
    assert json.loads(kept["raw"])["signup_id"] == "13176843987434774"
    assert metrics["UserPreferencesKept"] == 1 and "OptOutsResumed" not in metrics
    assert pref["wa_id"] in env.prefetch(pref["wa_id"]).suppressed
