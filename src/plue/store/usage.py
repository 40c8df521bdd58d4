"""LLM usage rows: one per provider call of a step attempt (tokens, cost estimate, latency)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, select

from plue.store.models import llm_usage
from plue.store.records import LlmUsageRecord
from plue.store.values import clean_optional, clean_text

TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


def add_llm_usage(
    connection: Connection, run_id: int, step_id: str, attempt: int, calls: Sequence[Mapping[str, Any]], at: float
) -> None:
    """Store the calls as reported by the llm executor; missing or malformed numbers count as 0."""
    rows = [_row(run_id, step_id, attempt, call, at) for call in calls]
    if rows:
        connection.execute(llm_usage.insert(), rows)


def _row(run_id: int, step_id: str, attempt: int, call: Mapping[str, Any], at: float) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run_id": run_id,
        "step_id": step_id,
        "attempt": attempt,
        "model": clean_text(str(call.get("model") or "unknown")),
        "cost_usd": _number(call.get("cost_usd")),
        "at": _number(call.get("at")) or at,
        "turn": _whole(call.get("turn")),
        "latency_ms": _number(call.get("latency_ms")) if call.get("latency_ms") is not None else None,
        "stop_reason": clean_optional(_text(call.get("stop_reason"))),
        "request_id": clean_optional(_text(call.get("request_id"))),
    }
    for name in TOKEN_FIELDS:
        row[name] = _whole(call.get(name)) or 0
    return row


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0.0
    return float(value)


def _whole(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return max(0, min(value, 2**62))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def read_llm_usage(connection: Connection, run_id: int) -> list[LlmUsageRecord]:
    rows = connection.execute(select(llm_usage).where(llm_usage.c.run_id == run_id).order_by(llm_usage.c.id)).all()
    return [
        LlmUsageRecord(
            step_id=row.step_id,
            attempt=row.attempt,
            turn=row.turn,
            model=row.model,
            input_tokens=row.input_tokens,
            output_tokens=row.output_tokens,
            cache_read_tokens=row.cache_read_tokens,
            cache_write_tokens=row.cache_write_tokens,
            cost_usd=row.cost_usd,
            latency_ms=row.latency_ms,
            stop_reason=row.stop_reason,
            request_id=row.request_id,
            at=row.at,
        )
        for row in rows
    ]
