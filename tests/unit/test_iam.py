"""Least privilege, read from template.yaml: each function may do what its code calls and no more.

CALLS is what each function's code asks of DynamoDB, from grepping the layer's store calls reachable from its
handler (``grep -rn "client\\.\\(get_item\\|query\\|...\\)" layers/shared/mmcore``), the modules named below.
tests/integration/test_least_privilege.py checks the same grants against the calls recorded while the
integration tests run every handler, so a call added to the code without its grant fails there.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import awscalls
import pytest
from iam import ACCOUNT, REGION, SAM_TEMPLATES, Template, template

WRITES = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")
TABLE, INDEX = "table", "index"

# function -> DynamoDB actions its code calls, with the index when it queries one. TransactWriteItems is
# authorised member by member (a Put needs PutItem, a ConditionCheck ConditionCheckItem).
CALLS: dict[str, dict[str, set[str]]] = {
    # campaigns/service + store.campaigns (put_new, update counters, query by status on gsi1), store.messages
    # (BatchGetItem of existing messages, transact Put of new ones), store.calls batch writes, templates (gsi)
    "CampaignsFunction": {
        TABLE: {"GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem", "BatchWriteItem"},
        INDEX: {"Query"},
    },
    # webhooks/ingestion: statuses (BatchGetItem, PutItem, UpdateItem), messages, orphans, clicks (transact
    # Put + Update), suppressions (transact ConditionCheck + Put, DeleteItem on resume), halts (DeleteItem when a
    # template is approved again), accounts, inbound, identities; templates looked up by id on gsi1
    "WebhookFunction": {
        TABLE: {
            "GetItem",
            "BatchGetItem",
            "Query",
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "BatchWriteItem",
            "ConditionCheckItem",
        },
        INDEX: {"Query"},
    },
    # templates/sync + store.templates: get_item, put_new, update_item, query (by WABA on gsi1)
    "TemplatesFunction": {TABLE: {"GetItem", "Query", "PutItem", "UpdateItem"}, INDEX: {"Query"}},
    # sending/pipeline: store.messages (BatchGetItem, transact Put claims, GetItem), halts.put, statuses
    "SendFunction": {TABLE: {"GetItem", "BatchGetItem", "PutItem", "UpdateItem", "BatchWriteItem"}},
    # sending/resolve: unknown messages on gsi, orphans (query, forget = DeleteItem), messages, statuses
    "ResolverFunction": {
        TABLE: {"GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"},
        INDEX: {"Query"},
    },
    # campaigns/imports + store.imports: the campaign item (GetItem, UpdateItem), a chunk's marker (GetItem),
    # suppressions and identities (BatchGetItem), rows and markers (transact Put), enqueue failures (transact Put)
    "AudienceImportFunction": {TABLE: {"GetItem", "BatchGetItem", "PutItem", "UpdateItem"}},
    # campaigns/aggregator + store.counters: one transaction per run (a Put marker, Update ADDs); campaigns/budget:
    # a budgeted campaign's item (GetItem, the pause's conditional UpdateItem) and counter shards (BatchGetItem)
    "AggregatorFunction": {TABLE: {"PutItem", "UpdateItem", "GetItem", "BatchGetItem"}},
    # store.audit: put_item and query of AUDIT# partitions only
    "OptimizationsFunction": {TABLE: {"PutItem", "Query"}},
}
GRAPH_CALLERS = {"CampaignsFunction", "TemplatesFunction", "SendFunction", "OptimizationsFunction"}
EVERY_DYNAMODB_ACTION = {
    "GetItem", "BatchGetItem", "Query", "Scan", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem",
    "ConditionCheckItem", "TransactGetItems", "PartiQLSelect", "PartiQLInsert", "PartiQLUpdate", "PartiQLDelete",
    "DescribeTable", "DeleteTable", "UpdateTable", "CreateTable",
}  # fmt: skip


@pytest.fixture(scope="module")
def t() -> Template:
    return template()


def _resource(t: Template, kind: str) -> str:
    return t.arn("MainTable", "gsi1" if kind == INDEX else None)


def test_every_function_has_a_row(t):
    assert set(t.functions()) == set(CALLS), "a new function: add what its code calls to CALLS"


@pytest.mark.parametrize("function", sorted(CALLS))
def test_each_function_may_call_exactly_what_its_code_calls(t, function):
    for kind in (TABLE, INDEX):
        called = CALLS[function].get(kind, set())
        # an AUDIT# key for the audit writer (its grant is scoped to them), a message key for the others
        keys = ("AUDIT#",) if function == "OptimizationsFunction" else ("MSG#",)
        granted = {
            a for a in EVERY_DYNAMODB_ACTION if t.allows(function, f"dynamodb:{a}", _resource(t, kind), keys)
        }
        assert granted == called, (
            f"{function} on the {kind}: granted {sorted(granted)}, its code calls {sorted(called)}"
        )
    assert not t.allows(function, "dynamodb:Scan", _resource(t, TABLE), ("MSG#",))


@pytest.mark.parametrize("function", sorted(set(CALLS) - {"OptimizationsFunction"}))
def test_only_the_optimizations_function_writes_the_audit_trail(t, function):
    for action in WRITES:
        assert not t.allows(function, action, t.arn("MainTable"), ("AUDIT#",)), (
            f"{function} may {action} AUDIT#"
        )
        # a batch that slips one audit item among others is refused too
        assert not t.allows(function, action, t.arn("MainTable"), ("MSG#", "AUDIT#"))


def test_the_audit_writer_writes_nothing_else(t):
    table = t.arn("MainTable")
    assert t.allows("OptimizationsFunction", "dynamodb:PutItem", table, ("AUDIT#",))
    assert not t.allows("OptimizationsFunction", "dynamodb:PutItem", table, ("MSG#",))
    assert not t.allows("OptimizationsFunction", "dynamodb:PutItem", table, ("AUDIT#", "MSG#"))
    assert not t.allows("OptimizationsFunction", "dynamodb:DeleteItem", table, ("AUDIT#",))


def test_the_public_webhook_function_cannot_read_the_graph_token(t):
    read = "secretsmanager:GetSecretValue"
    assert not t.allows("WebhookFunction", read, t.arn("GraphSecret"))
    assert t.allows("WebhookFunction", read, t.arn("WebhookSecret"))
    for function in GRAPH_CALLERS:
        assert t.allows(function, read, t.arn("GraphSecret")), function
        assert not t.allows(function, read, t.arn("WebhookSecret")), function
    assert not t.allows("ResolverFunction", read, t.arn("GraphSecret"))


def test_the_secrets_hold_what_their_readers_need(t):
    resources = t.stack.template["Resources"]
    # GraphSecret keeps the definition earlier releases deployed (an upgrade must not regenerate the token);
    # only access_token is read from it, and the webhook function cannot read it (test above).
    graph = resources["GraphSecret"]["Properties"]["GenerateSecretString"]
    webhook = resources["WebhookSecret"]["Properties"]["GenerateSecretString"]
    assert "access_token" in json.loads(graph["SecretStringTemplate"])
    assert set(json.loads(webhook["SecretStringTemplate"])) | {webhook["GenerateStringKey"]} == {
        "app_secret",
        "verify_token",
    }


def test_queues_buses_and_parameters_are_scoped_to_their_users(t):
    queue, dlq = t.arn("SendQueue"), t.arn("SendDeadLetterQueue")
    senders = {f for f in CALLS if t.allows(f, "sqs:SendMessage", queue)}
    # send: deferred copies; the audience import enqueues its rows
    assert senders == {"AudienceImportFunction", "CampaignsFunction", "ResolverFunction", "SendFunction"}
    assert {f for f in CALLS if t.allows(f, "sqs:ReceiveMessage", queue)} == {"SendFunction"}
    assert t.allows("SendFunction", "sqs:ChangeMessageVisibilityBatch", queue)
    assert not any(t.allows(f, "sqs:SendMessage", dlq) for f in CALLS)
    assert {f for f in CALLS if t.allows(f, "events:PutEvents", t.arn("RepliesBus"))} == {"WebhookFunction"}
    parameter = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/mm/region-policy"
    readers = {f for f in CALLS if t.allows(f, "ssm:GetParameter", parameter)}
    assert readers == {"AudienceImportFunction", "CampaignsFunction", "SendFunction", "OptimizationsFunction"}
    rate_card = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/mm/rate-card"  # estimates, reports, budget checks
    assert {f for f in CALLS if t.allows(f, "ssm:GetParameter", rate_card)} == {
        "CampaignsFunction",
        "AggregatorFunction",
    }


def test_the_public_route_is_throttled_and_the_webhook_has_reserved_concurrency(t):
    api = t.stack.template["Resources"]["Api"]["Properties"]
    routes = {f"{m} {p}" for m, p, _ in t.stack.http_routes()}
    throttled = api["RouteSettings"]
    assert set(throttled) == {"POST /webhook"} and set(throttled) <= routes
    params = t.stack.template["Parameters"]
    rate = throttled["POST /webhook"]
    assert int(params[rate["ThrottlingRateLimit"]["Ref"]]["Default"]) >= 4 * 1000  # 1,000 msg/s x ~4 statuses
    assert int(params[rate["ThrottlingBurstLimit"]["Ref"]]["Default"]) >= int(
        params[rate["ThrottlingRateLimit"]["Ref"]]["Default"]
    )
    reserved = t.functions()["WebhookFunction"]["ReservedConcurrentExecutions"]["Fn::If"]
    assert reserved[1] == {"Ref": "WebhookReservedConcurrency"}
    assert int(params["WebhookReservedConcurrency"]["Default"]) > 0


def test_the_sam_policy_templates_expand_as_samtranslator_defines_them():
    found = sorted(
        Path(__file__).resolve().parents[2].glob(".venv-sam/lib/python*/site-packages/samtranslator")
    )
    if not found:
        pytest.skip("aws-sam-cli not installed in .venv-sam (make lint installs it)")
    data = json.loads((found[0] / "policy_templates_data" / "policy_templates.json").read_text())["Templates"]
    for name, expand in SAM_TEMPLATES.items():
        params = {p: "P" for p in data[name]["Parameters"]}
        ours = {a for s in expand(params) for a in s.actions}
        theirs = set()
        for statement in data[name]["Definition"]["Statement"]:
            actions = statement["Action"]
            theirs |= set(actions if isinstance(actions, list) else [actions])
        assert ours == theirs, name


def test_only_the_campaigns_functions_schedule_and_scheduler_may_only_start_campaigns(t):
    group = t.stack.physical["CampaignSchedules"]["Ref"]
    schedule = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/{group}/start-0123"
    role = t.arn("CampaignSchedulerRole")
    both = {"CampaignsFunction", "AudienceImportFunction"}  # the import schedules its rows' window openings
    for action, allowed in (
        ("scheduler:CreateSchedule", both),
        ("scheduler:DeleteSchedule", {"CampaignsFunction"}),
    ):
        assert {f for f in CALLS if t.allows(f, action, schedule)} == allowed, action
        other = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/start-0123"
        assert not any(t.allows(f, action, other) for f in both), "only the stack's own schedule group"
    assert {f for f in CALLS if t.allows(f, "iam:PassRole", role)} == both
    for function in both:
        assert not t.allows(function, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/other")
        env = t.functions()[function]["Environment"]["Variables"]
        assert t.stack.resolve(env["SCHEDULER_ROLE_ARN"]) == role
    target = t.functions()["AudienceImportFunction"]["Environment"]["Variables"]["SCHEDULE_TARGET_ARN"]
    assert t.stack.resolve(target) == t.arn("CampaignsFunction")
    # the role: assumed by Scheduler for this stack's schedules only, allowed to invoke the campaigns function
    props = t.stack.template["Resources"]["CampaignSchedulerRole"]["Properties"]
    (trust,) = props["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert t.stack.resolve(trust["Condition"]["ArnEquals"]["aws:SourceArn"]) == t.arn("CampaignSchedules")
    (policy,) = props["Policies"]
    (grant,) = policy["PolicyDocument"]["Statement"]
    assert grant["Action"] == "lambda:InvokeFunction"
    assert [t.stack.resolve(r) for r in grant["Resource"]] == [
        t.arn("CampaignsFunction"),
        t.arn("CampaignsFunction") + ":*",
    ]


# ---------------------------------------------------------------- recorded calls (tests/awscalls.py) -> grants


def test_a_handler_module_is_its_function_two_share_a_folder(t):
    assert t.function_of_module("campaigns/app") == "CampaignsFunction"
    assert t.function_of_module("campaigns/imports") == "AudienceImportFunction"
    assert t.function_of_module("webhook/app") == "WebhookFunction"
    with pytest.raises(KeyError):
        t.function_of_module("campaigns/helpers")  # no function's Handler: refused, not guessed


def test_s3_and_step_functions_calls_are_checked_on_their_objects_and_machines(t):
    bucket = "mmapi-local-audiencebucket"  # the local stack's name for AudienceBucket
    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:mmapi-local-audience-import"
    head = next(awscalls._iam_calls("s3", "HeadObject", {"Bucket": bucket, "Key": "uploads/a.csv"}))
    assert head == awscalls.Call("s3:GetObject", f"arn:aws:s3:::{bucket}/uploads/a.csv")
    assert t.resource(head) == "arn:aws:s3:::stack-audiencebucket/uploads/a.csv"
    part = next(awscalls._iam_calls("s3", "UploadPart", {"Bucket": bucket, "Key": "plain/c.csv"}))
    start = next(awscalls._iam_calls("states", "StartExecution", {"stateMachineArn": machine}))
    assert t.resource(start) == t.arn("AudienceImportStateMachine")
    assert t.arn("AudienceImportStateMachine").endswith(":stateMachine:stack-audience-import")
    run = awscalls.Call("states:DescribeExecution", machine.replace(":stateMachine:", ":execution:") + ":r1")
    assert (
        t.resource(run)
        == t.arn("AudienceImportStateMachine").replace(":stateMachine:", ":execution:") + ":r1"
    )
    upload = next(awscalls._iam_calls("s3", "PutObject", {"Bucket": bucket, "Key": "uploads/a.csv"}))

    assert t.refused({"campaigns/app": {head, start, upload}, "campaigns/imports": {head, part}}) == []
    # each function its own: the import writes plain copies, not uploads, and starts no import
    assert t.refused({"campaigns/imports": {upload, start}}) == [
        f"AudienceImportFunction: s3:PutObject on {t.resource(upload)} ()",
        f"AudienceImportFunction: states:StartExecution on {t.arn('AudienceImportStateMachine')} ()",
    ]
    assert t.refused({"campaigns/app": {part}}) == [
        f"CampaignsFunction: s3:PutObject on {t.resource(part)} ()"
    ]
    other = awscalls.Call("s3:GetObject", "arn:aws:s3:::someone-elses-bucket/x.csv")
    no_secret = awscalls.Call("secretsmanager:GetSecretValue", "")
    assert t.refused({"webhook/app": {other, no_secret}}) == [
        "WebhookFunction: s3:GetObject on 'arn:aws:s3:::someone-elses-bucket/x.csv' ()",
        "WebhookFunction: secretsmanager:GetSecretValue on '' ()",
    ]


def test_a_call_on_a_pool_thread_is_the_handler_module_that_submitted_it(monkeypatch):
    import boto3
    from botocore.stub import Stubber

    monkeypatch.setattr(awscalls, "calls", {})
    awscalls.install()  # done by tests/conftest.py: idempotent
    # a handler module's code, as functions/campaigns/imports.py: a pool task (the pool's thread started by it
    # too), and a thread of its own
    code = (
        "import threading\n"
        "def handler(pool, call, other):\n"
        "    pool.submit(call).result()\n"
        "    thread = threading.Thread(target=other)\n"
        "    thread.start()\n"
        "    thread.join()\n"
    )
    handler: dict[str, Any] = {}
    exec(compile(code, str(awscalls.FUNCTIONS / "campaigns" / "imports.py"), "exec"), handler)
    s3 = boto3.client("s3", region_name=REGION, aws_access_key_id="k", aws_secret_access_key="s")

    def head(key: str) -> Any:
        return lambda: s3.head_object(Bucket="b", Key=key)

    with Stubber(s3) as stub, ThreadPoolExecutor(1) as pool:
        for key in ("handler", "handler-thread", "test", "thread"):
            stub.add_response("head_object", {}, {"Bucket": "b", "Key": key})
        handler["handler"](pool, head("handler"), head("handler-thread"))
        pool.submit(head("test")).result()  # the test's own task, on the thread the handler started: nobody's
        thread = threading.Thread(target=head("thread"))  # a thread no handler started
        thread.start()
        thread.join()
    assert awscalls.calls == {
        "campaigns/imports": {
            awscalls.Call("s3:GetObject", "arn:aws:s3:::b/handler"),
            awscalls.Call("s3:GetObject", "arn:aws:s3:::b/handler-thread"),
        }
    }


def test_the_calls_a_parallel_test_process_saves_are_read_back_whole(tmp_path, monkeypatch):
    # Given two test processes' calls, saved where make test's later check reads them (AWSCALLS_DIR)
    put = awscalls.Call("dynamodb:PutItem", "stack-MainTable", None, ("MSG#1",))
    query = awscalls.Call("dynamodb:Query", "stack-MainTable", "gsi1")
    monkeypatch.setattr(awscalls, "calls", {"send/app": {put, query}})
    awscalls.save(tmp_path, "gw0")
    monkeypatch.setattr(awscalls, "calls", {"send/app": {put}, "webhook/app": {query}})
    awscalls.save(tmp_path, "gw1")
    # Then the check reads every call of both, by handler module
    assert awscalls.saved(tmp_path) == {"send/app": {put, query}, "webhook/app": {query}}
