"""End to end: the local stack driven over HTTP only, as a user would, checked against the simulator's record."""

from __future__ import annotations

import functools
import gzip
import json
import re
import shlex
import time
from pathlib import Path

import boto3
import httpx
import jsonschema
import pytest

from mmapi import openapi, testsend
from mmapi.demo import audience
from mmapi.invoke import invoke_in_process
from mmapi.runtime import Runtime
from mmapi.simulator.state import stable_unit
from mmcore.store import messages as ledger

pytestmark = pytest.mark.e2e
EVENTS = Path(__file__).resolve().parents[2] / "events"
FINAL = ledger.FINAL | {"sent", "delivered", "read"}  # the sender's final states, then the webhook's


@pytest.fixture(scope="module")
def stack():
    options = {
        "mps": 200,
        "fallback_ratio": 0.25,
        "failure_ratios": {131026: 0.05},
        "webhook_batch_size": 20,
        "pair_interval_seconds": None,
        "read_ratio": 0.5,
    }
    params = {"ThroughputMps": "1000", "SendMaxConcurrency": "2"}
    with Runtime(port=0, seed=3, simulator_options=options, parameters=params) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def api(stack):
    with httpx.Client(base_url=stack.api_url, timeout=60) as client:
        yield client


def wait_until_done(api: httpx.Client, stack: Runtime, campaign_id: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = api.get(f"/campaigns/{campaign_id}").json()
        if report["messages"] and not report["by_status"].get("queued") and stack.queue_depth() == 0:
            stack.webhooks_handled(90)  # an upper bound: a loaded 2-core machine is slow
            stack.counted()  # the counters follow the table's stream
            return api.get(f"/campaigns/{campaign_id}").json()
        time.sleep(0.3)
    raise AssertionError(f"campaign not done: {report}")


def wait_until_imported(stack: Runtime, campaign_id: str, timeout: float = 60) -> dict:
    """The report once the local stack's run of the audience import state machine ended the enqueue."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=stack.api_url, timeout=60) as client:
        while time.monotonic() < deadline:
            report = client.get(f"/campaigns/{campaign_id}").json()
            if report["status"] not in ("awaiting_upload", "enqueuing"):
                return report
            time.sleep(0.3)
    raise AssertionError(f"import not done: {report}")


def test_campaign_from_post_to_final_report_matches_what_meta_saw(api, stack):
    # Given an audience across countries, with invalid numbers, and two users who opted out earlier
    recipients, opted_out = audience(300, seed=11)
    for wa_id in opted_out[:2]:
        stack.sim.user_preference(wa_id, "stop")
    stack.webhooks_handled(10)
    body = {
        "name": "e2e",
        "template": {
            "name": "festival_offer",
            "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "{{offer}}"}]}],
        },
        "recipients": recipients,
    }
    # When the campaign is posted and the stack runs it
    created = api.post("/campaigns", json=body)
    assert created.status_code == 202, created.text
    campaign_id = created.json()["campaign_id"]
    report = wait_until_done(api, stack, campaign_id)

    # Then every recipient has a final state and the numbers match the simulator's own record
    by_status = report["by_status"]
    assert sum(by_status.values()) == len(recipients)
    assert {s for s, n in by_status.items() if n} <= FINAL, by_status
    assert stack.sim.duplicates() == {}
    accepted_by_meta = sum(stack.sim.sends_by_recipient(accepted_only=True).values())
    sent_ok = sum(by_status.get(s, 0) for s in ("accepted", "sent", "delivered", "read"))
    failed_async = sum(
        n for code, n in report["failures_by_code"].items() if str(code) in {"131026", "131049", "131050"}
    )
    assert accepted_by_meta == sent_ok + failed_async
    assert by_status.get("blocked", 0) >= 1 and by_status.get("invalid", 0) >= 1
    # MM API vs Cloud API fallback, as Meta's webhooks said
    sims = {m.wa_id: m.pricing_category for m in stack.sim.messages()}
    assert report["by_pricing_category"].get("marketing", 0) == pytest.approx(
        sum(1 for c in sims.values() if c == "marketing"), abs=len(sims) * 0.1
    )
    assert report["by_pricing_category"].get("marketing_lite", 0) > 0
    # And the report reads the right way, as JSON and as the page a marketer opens
    assert report["status"] == "completed"
    funnel = [step["count"] for step in report["funnel"]]
    assert funnel == sorted(funnel, reverse=True) and funnel[1] == sent_ok + failed_async
    assert report["over_time"][-1]["total_taken"] == funnel[1]
    page = api.get(f"/campaigns/{campaign_id}/report.html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f'data-step="read" data-count="{funnel[-1]}"' in page.text and "<polyline" in page.text


def test_optimization_change_round_trip(api, stack):
    template_id = json.loads((EVENTS / "optimizations_template_put.json").read_text())["pathParameters"][
        "template_id"
    ]
    answer = api.put(
        f"/templates/{template_id}/optimizations",
        json={"features": {"auto_promotion_tag": "OPT_IN", "product_extensions": "OPT_OUT"}},
    )
    assert answer.status_code == 200, answer.text
    history = api.get(f"/templates/{template_id}/optimizations/history").json()
    assert history["items"] or history.get("records")


def test_webhook_handshake(api):
    ok = api.get(
        "/webhook",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": "local-verify-token",
            "hub.challenge": "1158201444",
        },
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    assert (
        api.get(
            "/webhook", params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"}
        ).status_code
        == 403
    )


def test_a_misspelt_template_is_refused_before_anyone_is_messaged(api, stack):
    # Given the stack and Meta's (the simulator's) templates
    before = len(stack.sim.requests("/marketing_messages"))
    body = {"name": "typo", "template": {"name": "festval_offer", "language": {"code": "en_US"}}}
    # When a campaign names a template Meta does not have
    answer = api.post("/campaigns", json={**body, "recipients": ["919876543210"]})
    # Then it is a 422 naming the template, and Meta saw no send
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "template.name"
    assert "festval_offer" in answer.json()["errors"][0]["reason"]
    assert len(stack.sim.requests("/marketing_messages")) == before


def test_a_held_campaign_is_test_sent_through_the_mm_api_then_released(api, stack):
    # Given the business's own number, one the simulator routes through the MM API and does not fail
    seed = stack.sim.config.seed
    own = next(
        n
        for n in (f"9198765{i:05d}" for i in range(100))
        if stable_unit(seed, "fallback", n) >= stack.sim.config.fallback_ratio
        and stable_unit(seed, "failure", n) >= sum(stack.sim.config.failure_ratios.values())
    )
    recipients, _ = audience(20, seed=5)
    template = {
        "name": "festival_offer",
        "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "{{offer}}"}]}],
    }
    body = {
        "name": "held",
        "template": template,
        "recipients": recipients,
        "hold": True,
        "test_recipients": [own],
    }
    # When the campaign is created held: nothing is sent, and its release is refused until a test passed
    created = api.post("/campaigns", json=body)
    assert created.status_code == 202 and created.json()["status"] == "held", created.text
    campaign_id = created.json()["campaign_id"]
    posts = len(stack.sim.requests("/marketing_messages"))
    assert api.patch(f"/campaigns/{campaign_id}", json={"status": "running"}).status_code == 409
    # And its test send is posted and followed until Meta's webhooks give the verdict
    started = api.post(f"/campaigns/{campaign_id}/test")
    assert started.status_code == 202, started.text
    path = f"/campaigns/{campaign_id}/tests/{started.json()['test_id']}"
    test = testsend.wait(lambda: (lambda r: (r.status_code, r.json()))(api.get(path)), timeout=60)
    # Then the test went through the MM API and was delivered, with the template's text filled in
    assert test["verdict"] == "passed", test
    [message] = test["messages"]
    assert message["to"] == own and message["pricing_category"] == "marketing_lite"
    assert (
        test["preview"]["body"]
        == f"Festival offer: {recipients[0]['variables']['offer']}. Tap to see the deals."
    )
    assert len(stack.sim.requests("/marketing_messages")) == posts + 1
    # And the release queues the campaign, whose report does not count the test message
    released = api.patch(f"/campaigns/{campaign_id}", json={"status": "running"})
    assert released.status_code == 200, released.text
    report = wait_until_done(api, stack, campaign_id)
    assert report["messages"] == len(recipients) and report["status"] == "completed"
    assert report["finished_at"] >= report["enqueued_at"]


def test_mmapi_templates_sync_list_and_show_against_the_stack(stack, capsys):
    from mmapi.cli import main

    assert main(["templates", "sync", "--api-url", stack.api_url]) == 0
    assert json.loads(capsys.readouterr().out)["templates"] >= 4
    assert main(["templates", "list", "--status", "APPROVED", "--api-url", stack.api_url]) == 0
    listed = json.loads(capsys.readouterr().out)["templates"]
    assert {"festival_offer", "summer_sale", "spring_coupons"} <= {t["name"] for t in listed}
    one = next(t for t in listed if t["name"] == "festival_offer")
    assert main(["templates", "show", one["template_id"], "--api-url", stack.api_url]) == 0
    assert json.loads(capsys.readouterr().out)["shape"]["placeholders"]["body"] == ["1"]
    assert main(["templates", "show", "12345", "--api-url", stack.api_url]) == 1


def test_mmapi_campaign_send_uploads_the_csv_for_the_stack_to_import(stack, api, tmp_path, capsys):
    from mmapi.cli import main

    rows = ["to,offer", *(f"+91 98765 {n:05d},{n}% OFF" for n in range(300)), "+91 98765 00007,again"]
    rows += ["not a number,x"]
    csv = tmp_path / "audience.csv.gz"
    csv.write_bytes(gzip.compress("\n".join(rows).encode()))
    campaign = {
        "name": "Uploaded",
        "template": {
            "name": "festival_offer",
            "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "{{offer}}"}]}],
        },
    }
    argv = ["campaign", "send", str(csv), "--campaign", json.dumps(campaign), "--api-url", stack.api_url]
    assert main([*argv, "--no-progress"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert (done["import_rows"], done["imported"]) == (302, 300), done
    assert done["rejected"] == {"duplicate": 1, "invalid_number": 1}, done
    report = wait_until_done(api, stack, done["campaign_id"])
    assert report["by_status"]["queued"] == 0 and report["messages"] == 301  # the repeated row is no message
    assert sum(report["by_status"].values()) == 301 and report["by_status"]["invalid"] == 1
    assert main([*argv, "--campaign-id", done["campaign_id"]]) == 2  # a campaign id used twice: refused


def _function_for(stack: Runtime, event: dict) -> str | None:
    if "Records" in event:
        return next(fn for _, fn, _ in stack.stack.sqs_sources())
    method, _, path = event.get("routeKey", " ").partition(" ")
    return next((fn for m, p, fn in stack.stack.http_routes() if m == method and p == path), None)


@pytest.mark.parametrize("name", sorted(p.name for p in EVENTS.glob("*.json")))
def test_invoke_matches_the_in_process_handler(stack, name):
    event = json.loads((EVENTS / name).read_text())
    logical = _function_for(stack, event)
    assert logical, f"{name}: no function in template.yaml takes this event"
    if "Records" in event:
        pytest.skip("SQS events send messages: compared by the integration tests")
    fresh = invoke_in_process(stack, logical, event)
    in_process = stack.functions[logical].invoke(json.loads((EVENTS / name).read_text()))
    assert fresh["statusCode"] < 500 and in_process["statusCode"] < 500, (fresh, in_process)
    # a read answers the same in a fresh process and in-process; a write is applied once (a repeat may 409)
    if event["requestContext"]["http"]["method"] == "GET":
        assert fresh["statusCode"] == in_process["statusCode"]
        if "history" not in name:
            assert json.loads(fresh["body"] or "null") == json.loads(in_process["body"] or "null")


# ---------------------------------------------------------------- the README's API examples, as written
# Each ``curl`` command of the README's API block is parsed (method, headers, body, URL) and sent with httpx on
# this module's stack (a second stack in one process would meet the handlers' warm caches of the first);
# ``$API`` is the local gateway and the placeholders are filled from what the examples themselves created:
# ``<id>`` the campaign the first example posts, ``<message_id>`` its first message, ``<template_id>`` the
# simulator's template the optimization events name. A documented answer (``# -> 202 {...}``) is checked.

README = Path(__file__).resolve().parents[2] / "README.md"


def api_examples() -> list[tuple[list[str], int | None]]:
    """(curl arguments, documented status or None) for every command of the README's API block."""
    text = README.read_text()
    section = text[text.index("## API") :]
    section = section[: section.index("\n## ", 1)]
    block = "\n".join(re.findall(r"```bash\n(.*?)```", section, re.S))
    commands: list[tuple[list[str], int | None]] = []
    pending = ""
    for line in block.splitlines():
        documented = re.match(r"\s*# -> (\d{3})\b", line)
        if documented and commands:
            commands[-1] = (commands[-1][0], int(documented.group(1)))
            continue
        pending = f"{pending}\n{line}" if pending else line
        if open_quote(pending):  # a quoted body continues on the next line
            continue
        lexer = shlex.shlex(pending, posix=True, punctuation_chars=";")
        lexer.commenters = "#"
        lexer.whitespace_split = True
        words, pending = list(lexer), ""
        command: list[str] = []
        for word in [*words, ";"]:
            if word == ";":
                if command:
                    assert command[0] == "curl", f"not a curl command in the README: {command}"
                    commands.append((command[1:], None))
                command = []
            else:
                command.append(word)
    return commands


def open_quote(text: str) -> bool:
    """Whether ``text`` ends inside a single-quoted string (a ``#`` comment outside quotes ends the code)."""
    quoted = False
    for i, char in enumerate(text):
        if char == "'":
            quoted = not quoted
        elif char == "#" and not quoted and (i == 0 or text[i - 1].isspace()):
            end = text.find("\n", i)  # the comment runs to the end of its line
            return False if end < 0 else open_quote(text[end + 1 :])
    return quoted


def request(
    args: list[str], values: dict[str, str], files: Path
) -> tuple[str, str, dict[str, str], str | bytes | None]:
    """curl's arguments (-X, -H, -d, -T, the URL) as (method, url, headers, body), placeholders filled;
    ``-T FILE`` PUTs ``files/FILE``."""
    method, headers, body, url = None, {}, None, None
    words = iter(args)
    for word in words:
        if word == "-X":
            method = next(words)
        elif word == "-H":
            name, _, value = next(words).partition(":")
            headers[name.strip()] = value.strip()
        elif word == "-d":
            body = next(words)
            for name, value in values.items():
                body = body.replace(name, value)
        elif word == "-T":
            method, body = "PUT", (files / next(words)).read_bytes()
        else:
            url = word
    assert url is not None, f"no URL in {args}"
    for name, value in values.items():
        url = url.replace(name, value)
    assert "<" not in url, f"a placeholder the test cannot fill: {url}"
    return method or ("POST" if body is not None else "GET"), url, headers, body


@functools.cache
def openapi_document() -> dict:
    return json.loads(openapi.DOCUMENT.read_text())


def conforms(method: str, url: str, answer: httpx.Response) -> None:
    """A success answer is what the OpenAPI document says: its status is documented for the route and its JSON
    body validates against the documented schema (tests/unit/test_openapi.py checks the document itself)."""
    if answer.status_code >= 400 or url.endswith("/openapi.json"):
        return
    document = openapi_document()
    path = httpx.URL(url).path
    for template, ops in document["paths"].items():
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path) and method.lower() in ops:
            responses = ops[method.lower()]["responses"]
            break
    else:
        raise AssertionError(f"{method} {path} is not in the OpenAPI document")
    assert str(answer.status_code) in responses, f"{method} {path}: {answer.status_code} not documented"
    (media, content), *_ = responses[str(answer.status_code)]["content"].items()
    assert answer.headers["content-type"].startswith(media.split(";")[0]), (method, path, media)
    if media == "application/json":
        schema = {**content["schema"], "components": document["components"]}
        jsonschema.validate(answer.json(), schema, cls=jsonschema.Draft202012Validator)


def audience_files(stack: Runtime, where: Path) -> dict[str, str]:
    """The README's ``big.csv`` (three recipients) in ``where``, and its gzip copy in the stack's audiences
    bucket as ``big.csv.gz``; the bucket's name as the README's placeholder."""
    rows = "to,offer\n+91 98765 43210,20% OFF\n+55 11 98765 4321,15% OFF\n+91 98765 43210,20% OFF\n"
    (where / "big.csv").write_text(rows)
    bucket = stack.stack.physical["AudienceBucket"]["Ref"]
    s3 = boto3.client("s3", endpoint_url=stack.aws_endpoint, region_name="us-east-1")
    s3.put_object(Bucket=bucket, Key="big.csv.gz", Body=gzip.compress(rows.encode()))
    return {"<AudienceBucketName>": bucket}


def test_every_api_example_of_the_readme_works_as_written(stack, tmp_path):
    examples = api_examples()
    assert len(examples) >= 25, "the README's API blocks were not found or not parsed"
    event = json.loads((EVENTS / "optimizations_template_put.json").read_text())
    values = {"$API": stack.api_url.rstrip("/"), "<template_id>": event["pathParameters"]["template_id"]}
    values |= audience_files(stack, tmp_path)
    imports = []
    with httpx.Client(timeout=60) as client:
        for args, documented in examples:
            method, url, headers, body = request(args, values, tmp_path)
            answer = client.request(method, url, headers=headers, content=body)
            wanted = documented or "< 400"
            assert answer.status_code == documented if documented else answer.status_code < 400, (
                f"{method} {url}: {answer.status_code} (wanted {wanted}): {answer.text[:500]}"
            )
            if url.startswith(values["$API"]):  # not the presigned S3 upload
                conforms(method, url, answer)
            if method == "POST" and url.endswith("/campaigns"):
                created = answer.json()
                if "<id>" not in values:  # the first: two recipients inline
                    assert created["counts"]["queued"] == 1 and created["counts"]["blocked_by_reason"] == {
                        "us_recipient": 1
                    }
                    values["<message_id>"] = f"{created['campaign_id']}-0"
                values["<id>"] = created["campaign_id"]
                if "upload" in created:
                    values["<url>"] = created["upload"]["url"]
                if "execution_arn" in created:
                    imports.append(created["campaign_id"])
            if url.endswith("/import"):
                imports.append(values["<id>"])
    assert len(imports) == 2, "the README shows an uploaded audience and one already in S3"
    for campaign_id in imports:  # each imported: 3 rows, 1 repeated user, 2 queued
        report = wait_until_imported(stack, campaign_id)
        assert (report["imported"], report["import_rows"]) == (2, 3), report
