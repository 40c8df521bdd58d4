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


# Top-level keys added to format 1 after plans were first stored, with their "unset" value.
ADDED_KEYS: dict[str, Any] = {"concurrency": None, "runs_on": [], "max_attempts": 2}


def with_added_keys(data: Any) -> Any:
    """A format-1 plan stored before a key was added, with that key unset (so it still validates); the same
    object when nothing is missing or `data` is not a format-1 plan."""
    if type(data) is not dict or data.get("version") != PLAN_FORMAT_VERSION:
        return data
    missing = {key: value for key, value in ADDED_KEYS.items() if key not in data}
    return {**data, **missing} if missing else data
