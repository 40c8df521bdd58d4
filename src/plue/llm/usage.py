"""Token usage: one record per API call (`CallUsage`) and their sum (`UsageTotals`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class CallUsage:
    """One call to the Messages API (one turn; a mid-reply retry is a call of the same turn)."""

    turn: int
    model: str  # as the API reported it
    input_tokens: int  # not counting cache reads and writes
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    latency_ms: int  # from sending the request to the end of the reply
    stop_reason: str | None
    request_id: str | None
    at: float  # UNIX time the reply ended
    cost_usd: float  # an estimate (`plue.llm.pricing`)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class UsageTotals:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0

    @classmethod
    def of(cls, calls: Iterable[CallUsage]) -> UsageTotals:
        calls = list(calls)
        return cls(
            input_tokens=sum(call.input_tokens for call in calls),
            output_tokens=sum(call.output_tokens for call in calls),
            cache_read_tokens=sum(call.cache_read_tokens for call in calls),
            cache_write_tokens=sum(call.cache_write_tokens for call in calls),
            cost_usd=round(sum(call.cost_usd for call in calls), 6),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
