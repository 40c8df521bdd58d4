"""Webhook deliveries: the signature over the raw bytes first, then the body (JSON or payload= form)."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.parse

import pytest
from workflow_repos import EVENT_FIXTURES

from plue.server.deliveries import DeliveryRefused, decode_body, verify_signature

SECRET = b"It's a Secret to Everybody"
PUSH = (EVENT_FIXTURES / "push.json").read_bytes()


def sign(body: bytes, secret: bytes = SECRET) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def refused(call: object, *args: object) -> DeliveryRefused:
    with pytest.raises(DeliveryRefused) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value


def test_githubs_documented_example_signature() -> None:
    # From GitHub's "Validating webhook deliveries": secret and body as documented, digest as published.
    digest = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    verify_signature([SECRET], b"Hello, World!", f"sha256={digest}")
    verify_signature([SECRET], b"Hello, World!", f"sha256={digest.upper()}")


def test_a_real_push_signed_with_any_configured_secret_is_accepted() -> None:
    verify_signature([SECRET], PUSH, sign(PUSH))
    verify_signature([b"old secret", SECRET], PUSH, sign(PUSH))  # rotation: both secrets configured


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing X-Hub-Signature-256"),
        ("", "missing X-Hub-Signature-256"),
        ("sha1=" + hmac.new(SECRET, PUSH, hashlib.sha1).hexdigest(), "malformed X-Hub-Signature-256"),
        ("sha256=", "does not match"),
        ("sha256=zz" + "0" * 62, "does not match"),
        ("sha256=é", "does not match"),
        (sign(PUSH, b"another secret"), "does not match"),
        (sign(PUSH + b" "), "does not match"),
    ],
)
def test_missing_malformed_or_wrong_signatures_are_401(header: str | None, reason: str) -> None:
    error = refused(verify_signature, [SECRET], PUSH, header)
    assert error.status == 401 and reason in error.reason


def test_no_configured_secret_refuses_everything() -> None:
    error = refused(verify_signature, [], PUSH, sign(PUSH))
    assert error.status == 401 and "PLUE_WEBHOOK_SECRET" in error.reason


def test_json_and_form_bodies_decode_to_the_same_payload() -> None:
    expected = json.loads(PUSH)
    assert decode_body(PUSH, "application/json") == expected
    assert decode_body(PUSH, None) == expected
    form = urllib.parse.urlencode({"payload": PUSH.decode()}).encode()
    assert decode_body(form, "application/x-www-form-urlencoded; charset=utf-8") == expected


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"{not json", "application/json", "not valid JSON"),
        (b'{"a": "\xff"}', "application/json", "not valid UTF-8"),
        (b"[1, 2]", "application/json", "must be a JSON object"),
        (b"null", "application/json", "must be a JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", "nested too deeply"),
        (b"payload=%FF%FE", "application/x-www-form-urlencoded", "not valid UTF-8"),
        (b"other=1", "application/x-www-form-urlencoded", "no single payload field"),
        (b"payload=1&payload=2", "application/x-www-form-urlencoded", "no single payload field"),
        (b"payload", "application/x-www-form-urlencoded", "malformed form body"),
        ("payload=é".encode(), "application/x-www-form-urlencoded", "malformed form body"),
    ],
)
def test_bad_bodies_are_400_with_a_reason(body: bytes, content_type: str, reason: str) -> None:
    error = refused(decode_body, body, content_type)
    assert error.status == 400 and reason in error.reason, error.reason
