"""Checking and decoding a GitHub webhook delivery before anything else touches it.

The signature is checked over the raw body bytes first (HMAC-SHA256, constant-time
compare, any of the configured secrets so they can be rotated); a legacy SHA-1
signature alone is refused. Only then is the body decoded: JSON, or the
`application/x-www-form-urlencoded` form GitHub sends when a hook is configured so
(`payload=<json>`). Every refusal is a `DeliveryRefused` with the HTTP status to
answer and a one-line reason.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.parse
from collections.abc import Sequence
from typing import Any, Final

SIGNATURE_PREFIX: Final = "sha256="
MAX_BODY_BYTES: Final = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
FORM_CONTENT_TYPE: Final = "application/x-www-form-urlencoded"


class DeliveryRefused(Exception):
    """A delivery that cannot be accepted: `status` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def verify_signature(secrets: Sequence[bytes], body: bytes, signature_256: str | None) -> None:
    """Accept the body only if `X-Hub-Signature-256` is the HMAC-SHA256 of it under one of `secrets`."""
    if not secrets:
        raise DeliveryRefused(401, "no webhook secret is configured; set PLUE_WEBHOOK_SECRET")
    if not signature_256:
        raise DeliveryRefused(401, "missing X-Hub-Signature-256 (a SHA-1 signature alone is not accepted)")
    if not signature_256.startswith(SIGNATURE_PREFIX):
        raise DeliveryRefused(401, "malformed X-Hub-Signature-256: expected sha256=<hex digest>")
    given = signature_256[len(SIGNATURE_PREFIX) :].strip().lower().encode("ascii", "replace")
    matched = False
    for secret in secrets:
        expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode("ascii")
        # Every secret is compared, whatever the first result: timing says nothing about which matched.
        matched |= hmac.compare_digest(expected, given)
    if not matched:
        raise DeliveryRefused(401, "the X-Hub-Signature-256 signature does not match the body")


def decode_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The delivery's payload: a JSON object, from a JSON body or a `payload=` form field."""
    media_type = (content_type or "application/json").split(";", 1)[0].strip().lower()
    raw = body
    if media_type == FORM_CONTENT_TYPE:
        try:
            fields = urllib.parse.parse_qs(
                body.decode("ascii"), strict_parsing=True, max_num_fields=10, errors="surrogateescape"
            )
        except (UnicodeDecodeError, ValueError):
            raise DeliveryRefused(400, "malformed form body: expected payload=<url-encoded JSON>") from None
        values = fields.get("payload")
        if not values or len(values) != 1:
            raise DeliveryRefused(400, "the form body has no single payload field")
        raw = values[0].encode("utf-8", "surrogateescape")  # bytes that were not UTF-8 stay as they were
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DeliveryRefused(400, f"the payload is not valid UTF-8 (byte {exc.start})") from None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DeliveryRefused(400, f"the payload is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise DeliveryRefused(400, "the payload is nested too deeply") from None
    if not isinstance(payload, dict):
        raise DeliveryRefused(400, "the payload must be a JSON object")
    return payload
