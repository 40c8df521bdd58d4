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

import orjson

REPLACEMENT = "\ufffd"
# In orjson's output NUL is always escaped like this (a lone surrogate makes it refuse the value); a literal
# backslash-u0000 in a string only sends that value the slow way.
_NUL_ESCAPE = b"\\u0000"
# Keys that are not strings become strings, as `json.dumps` makes them.
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS


def dump_json(value: Any) -> str:
    """`value` as JSON text: the engine's serialiser for JSON columns.

    orjson (C, ~10x faster than `json` on webhook payloads, which every delivery stores); what it
    cannot write (integers beyond 64 bits, lone surrogates) is written by `json` as before. NaN and
    infinities become null, which both databases accept (PostgreSQL refuses `NaN` in JSON). Reading
    stays with `json`, which keeps integers of any size exact (orjson would make them floats).
    """
    try:
        return orjson.dumps(value, option=_ORJSON_OPTIONS).decode("utf-8")
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value)


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
        # clean, where cleaning string by string in Python costs milliseconds. orjson refuses lone
        # surrogates (and what it cannot write at all): those values are cleaned the slow way.
        try:
            dumped = orjson.dumps(value, option=_ORJSON_OPTIONS)
        except (orjson.JSONEncodeError, TypeError):
            dumped = None
        if dumped is not None and _NUL_ESCAPE not in dumped:
            return value
    return _clean_json(value)


def _clean_json(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(key) if isinstance(key, str) else key: _clean_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_json(item) for item in value]
    return value
