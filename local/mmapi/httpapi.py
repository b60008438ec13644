"""The local stack's HttpApi gateway, as API Gateway frames it: a request as a payload v2.0 event (IAM-authorized
like the deployed API), a route's path as a pattern, a function's answer as the HTTP response."""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web


def http_event(
    method: str,
    route: str,
    path: str,
    params: dict[str, str],
    query: str,
    headers: dict[str, str],
    body: bytes,
) -> dict[str, Any]:
    """An API Gateway HttpApi payload v2.0 event, IAM-authorized like the deployed API."""
    text = body.decode("utf-8", "surrogateescape")
    binary = not is_text(headers.get("content-type", ""))
    now = datetime.now(UTC)
    return {
        "version": "2.0",
        "routeKey": f"{method} {route}",
        "rawPath": path,
        "rawQueryString": query,
        "cookies": [],
        "headers": {k.lower(): v for k, v in headers.items()},
        "queryStringParameters": dict(parse_qsl(query)) or None,
        "pathParameters": params or None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "authorizer": {
                "iam": {
                    "accountId": "123456789012",
                    "callerId": "LOCAL",
                    "userArn": "arn:aws:iam::123456789012:user/local",
                    "userId": "LOCAL",
                }
            },
            "domainName": "127.0.0.1",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {route}",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": base64.b64encode(body).decode() if binary and body else text,
        "isBase64Encoded": bool(binary and body),
    }


def is_text(content_type: str) -> bool:
    return not content_type or content_type.startswith(("text/", "application/json", "application/x-www"))


def route_pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path)) + "$")


def to_response(result: Any) -> web.Response:
    if not isinstance(result, dict) or "statusCode" not in result:
        return web.Response(text=json.dumps(result), content_type="application/json")
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[name] = ", ".join(values)
    return web.Response(status=int(result["statusCode"]), body=data, headers=headers)
