"""The stack's one OpenAPI document (``layers/shared/mmcore/openapi.json``, built by ``python -m mmapi.openapi``):
current with the code, valid OpenAPI 3.1, and covering every HTTP route template.yaml deploys with what it
answers. That the real answers match it is checked on the local stack (tests/e2e/test_local_stack.py)."""

from __future__ import annotations

import json

import pytest
from iam import template
from openapi_spec_validator import validate

from mmapi import openapi

DOCS = {("get", "/openapi"), ("get", "/openapi.json")}  # the document itself and its Swagger UI


@pytest.fixture(scope="module")
def document():
    return json.loads(openapi.DOCUMENT.read_text())


def deployed_routes() -> set[tuple[str, str]]:
    """(method, path) of every HttpApi event of template.yaml's functions."""
    return {
        (event["Properties"]["Method"].lower(), event["Properties"]["Path"])
        for props in template().functions().values()
        for event in props.get("Events", {}).values()
        if event["Type"] == "HttpApi"
    }


def test_the_written_document_is_what_the_code_says():
    assert openapi.main(["--check"]) == 0, "the routes changed: run `make openapi` and commit the document"


def test_it_is_valid_openapi(document):
    validate(document)
    assert document["openapi"].startswith("3.1")


def test_every_deployed_route_is_documented_and_nothing_else(document):
    documented = {(method, path) for path, ops in document["paths"].items() for method in ops}
    routes = deployed_routes()
    assert len(routes) >= 25
    assert documented == routes - DOCS


def test_every_operation_says_what_it_answers(document):
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            assert op.get("summary"), f"{where}: no summary"
            ok = [s for s in op["responses"] if s.startswith("2")]
            assert len(ok) >= 1, f"{where}: no success answer"
            for status in ok:
                (content,) = op["responses"][status]["content"].values()
                schema = content["schema"]
                assert (
                    schema.get("$ref") or schema.get("type") == "string" or schema.get("additionalProperties")
                )
                if "$ref" not in schema and schema.get("type") == "object":
                    assert path == "/webhook", f"{where}: a bare object, not a model"
            for status, answer in op["responses"].items():
                if status.startswith(("4", "5")):
                    (content,) = answer["content"].values()
                    assert content["schema"] == {"$ref": "#/components/schemas/ErrorBody"}, (where, status)


def test_iam_guards_every_route_but_the_webhook_meta_signs(document):
    assert document["security"] == [{"sigv4": []}]
    for path, ops in document["paths"].items():
        for op in ops.values():
            assert ("security" in op and op["security"] == []) == (path == "/webhook"), path
