"""Make text storable on both databases, identically.

PostgreSQL refuses NUL in text and in JSONB, and neither driver can encode lone
surrogates (what `errors="surrogateescape"` decoding leaves for undecodable bytes).
A step's output may contain either, and one such line must not fail the batch of
lines around it, so both become U+FFFD on every database: what is read back does
not depend on where it was stored.
"""

from __future__ import annotations

import json
from typing import Any

REPLACEMENT = "\ufffd"
# In `json.dumps(..., ensure_ascii=False)` output NUL is always escaped like this, and a lone surrogate stays
# itself (so the text does not encode as UTF-8); a literal backslash-u0000 only sends a value the slow way.
_NUL_ESCAPE = "\\u0000"


def clean_text(text: str) -> str:
    if text.isascii():  # the common case, one C call
        return text.replace("\0", REPLACEMENT) if "\0" in text else text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = "".join(REPLACEMENT if "\ud800" <= char <= "\udfff" else char for char in text)
    return text.replace("\0", REPLACEMENT) if "\0" in text else text


def clean_optional(text: str | None) -> str | None:
    return None if text is None else clean_text(text)


def clean_json(value: Any) -> Any:
    """`value` with every string (keys too) cleaned; other values as they are."""
    if isinstance(value, dict | list) and value:
        # A webhook payload is thousands of strings: one C-speed dump and a search usually shows them all
        # clean, where cleaning string by string in Python costs milliseconds.
        try:
            dumped = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):
            dumped = None
        if dumped is not None and _NUL_ESCAPE not in dumped and _encodes(dumped):
            return value
    return _clean_json(value)


def _encodes(text: str) -> bool:
    if text.isascii():  # the common case, one C call
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _clean_json(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(key) if isinstance(key, str) else key: _clean_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_json(item) for item in value]
    return value
