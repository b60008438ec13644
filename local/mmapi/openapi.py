"""The API's one OpenAPI document: every HTTP route of the stack's functions (campaigns, messages, templates,
optimizations, policy, the webhook), merged from each function's Powertools resolver by Powertools'
``OpenAPIMerge``, and written to ``layers/shared/mmcore/openapi.json``, where the optimizations function serves it
(``GET /openapi.json``, Swagger UI at ``GET /openapi``). Each function is deployed with its own code only, so the
document is built here, from the source tree, not by a function at run time.

``python -m mmapi.openapi`` writes it; ``--check`` exits 1 when the file is not what the code says (a test runs
it, so a route added without regenerating fails the suite)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"
DOCUMENT = ROOT / "layers" / "shared" / "mmcore" / "openapi.json"

TITLE = "WhatsApp MM campaigns"
DESCRIPTION = (
    "Campaigns through Meta's Marketing Messages API (and Cloud API for utility and authentication templates):"
    " create, test, release, report; their messages; the template registry; creative optimizations, TTL and"
    " max price; the region policy. Every route needs AWS IAM (SigV4) except the webhook, which Meta signs"
    " (X-Hub-Signature-256)."
)
UNSIGNED = ("/webhook",)  # Meta calls it: its own signature, not IAM


def resolvers() -> dict[str, Any]:
    """Each function's Powertools resolver (``app``), by function folder, imported by file path as Lambda does."""
    found = {}
    for path in sorted(FUNCTIONS.glob("*/app.py")):
        name = f"_openapi_{path.parent.name}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader, path
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        app = getattr(module, "app", None)
        if app is not None and hasattr(app, "get_openapi_schema"):
            found[path.parent.name] = app
    return found


def document() -> dict[str, Any]:
    """The merged document. Two functions documenting one component differently is an error, not a silent
    overwrite (Powertools' merge keeps the last)."""
    from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

    merge = OpenAPIMerge(
        title=TITLE,
        version="1.0.0",
        description=DESCRIPTION,
        security_schemes={
            "sigv4": APIKey(name="Authorization", in_=APIKeyIn.header, description="AWS SigV4 (IAM)")
        },
        security=[{"sigv4": []}],
        on_conflict="error",
    )
    components: dict[str, tuple[str, Any]] = {}
    for function, app in resolvers().items():
        schema = app.get_openapi_schema().model_dump(by_alias=True, exclude_none=True, mode="json")
        for name, value in schema.get("components", {}).get("schemas", {}).items():
            first = components.setdefault(name, (function, value))
            if first[1] != value:
                raise ValueError(f"component {name} differs between functions {first[0]} and {function}")
        merge.add_schema(schema)
    merged = json.loads(merge.get_openapi_json_schema())
    for path in UNSIGNED:
        for operation in merged.get("paths", {}).get(path, {}).values():
            operation["security"] = []
    return merged


def text() -> str:
    return json.dumps(document(), indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mmapi.openapi", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the written document is stale")
    args = parser.parse_args(argv)
    wanted = text()
    if args.check:
        current = DOCUMENT.read_text() if DOCUMENT.exists() else ""
        if current != wanted:
            print(f"{DOCUMENT} is stale: run `make openapi`", file=sys.stderr)
            return 1
        return 0
    DOCUMENT.write_text(wanted)
    print(f"wrote {DOCUMENT.relative_to(ROOT)}: {len(json.loads(wanted)['paths'])} paths")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
