"""Meta's GET handshake, the raw body and its ``X-Hub-Signature-256`` [WH-EP][WH-OVR].

The body is at most 3 MB and signed: ``sha256=<hex HMAC-SHA256 of the raw body bytes with the app secret>``,
checked in constant time on the exact bytes Meta sent (never a re-serialization). Missing: NotAuthenticated;
wrong: Forbidden; too large: TooLarge; not base64: Malformed. Nothing is written before these pass.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

from mmcore.exceptions import Forbidden, Malformed, NotAuthenticated, TooLarge
from mmcore.observability import logger

MAX_BODY_BYTES = 3 * 1024 * 1024  # [WH-OVR] maximum payload size
SIGNATURE_HEADER = "X-Hub-Signature-256"
UNCONFIGURED_SECRETS = frozenset({"", "REPLACE_ME"})  # template.yaml's placeholder must never verify a POST
_CHALLENGE_MAX = 1024


def verify_subscription(params: Mapping[str, str] | None, verify_token: str) -> str:
    """Meta's GET handshake [WH-EP]: the ``hub.challenge`` to echo, or Forbidden."""
    params = params or {}
    token = params.get("hub.verify_token") or ""
    challenge = params.get("hub.challenge") or ""
    if (
        params.get("hub.mode") != "subscribe"
        or not verify_token
        or not challenge
        or len(challenge) > _CHALLENGE_MAX
    ):
        raise Forbidden("verification failed")
    if not hmac.compare_digest(token.encode(), verify_token.encode()):
        raise Forbidden("verification failed")
    return challenge


def raw_body(body: str | None, is_base64_encoded: bool) -> bytes:
    """The exact bytes Meta sent: API Gateway base64-encodes bodies it does not treat as text."""
    if body is None:
        return b""
    if len(body) > MAX_BODY_BYTES * 4 // 3 + 4:  # refuse before decoding a huge body
        raise TooLarge(f"body larger than {MAX_BODY_BYTES} bytes")
    if is_base64_encoded:
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise Malformed("body is not valid base64", [("body", "not valid base64")]) from None
    else:
        raw = body.encode("utf-8", errors="surrogateescape")
    if len(raw) > MAX_BODY_BYTES:
        raise TooLarge(f"body larger than {MAX_BODY_BYTES} bytes")
    return raw


def sign(app_secret: str, raw: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends for ``raw``."""
    return "sha256=" + hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()


def check_signature(raw: bytes, header: str | None, app_secret: str) -> None:
    """HMAC-SHA256 over the raw bytes, constant-time [WH-EP]. Missing: NotAuthenticated; else Forbidden."""
    if app_secret in UNCONFIGURED_SECRETS:
        logger.error("webhook app secret is not configured: every POST is refused")
        raise Forbidden("signature cannot be verified")
    if not header:
        raise NotAuthenticated(f"missing {SIGNATURE_HEADER}")
    expected = sign(app_secret, raw).encode()
    if not hmac.compare_digest(header.strip().encode("utf-8", errors="replace"), expected):
        raise Forbidden("invalid signature")
