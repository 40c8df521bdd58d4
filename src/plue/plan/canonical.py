"""The plan's JSON form: canonical bytes and content hash."""

from __future__ import annotations

import hashlib
import json
from typing import Any

PLAN_FORMAT_VERSION = 1


def canonical_json(data: Any) -> bytes:
    """The canonical bytes of plan data: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def content_hash(data: Any) -> str:
    """The sha256 hex digest of the canonical bytes: a plan's identity."""
    return hashlib.sha256(canonical_json(data)).hexdigest()
