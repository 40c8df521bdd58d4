"""Estimated prices of Claude models, in US dollars per million tokens.

An estimate for reports, not a bill: list prices as published for the models
below (standard tier, no batch discount). Prompt-cache writes cost 1.25x the
input price (5-minute cache) and cache reads 0.1x. A model not in the table
costs 0.0 (unknown), never a guess. Dated ids (``claude-sonnet-4-5-20250929``)
price as their alias.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

CACHE_WRITE_FACTOR: Final = 1.25
CACHE_READ_FACTOR: Final = 0.1
_DATE_SUFFIX: Final = re.compile(r"-(\d{8}|latest)\Z")


@dataclass(frozen=True)
class ModelPrice:
    input: float  # per million input tokens
    output: float  # per million output tokens


PRICES: Final[dict[str, ModelPrice]] = {
    "claude-opus-4-6": ModelPrice(5.0, 25.0),
    "claude-opus-4-5": ModelPrice(5.0, 25.0),
    "claude-opus-4-1": ModelPrice(15.0, 75.0),
    "claude-opus-4-0": ModelPrice(15.0, 75.0),
    "claude-opus-4": ModelPrice(15.0, 75.0),
    "claude-sonnet-4-6": ModelPrice(3.0, 15.0),
    "claude-sonnet-4-5": ModelPrice(3.0, 15.0),
    "claude-sonnet-4-0": ModelPrice(3.0, 15.0),
    "claude-sonnet-4": ModelPrice(3.0, 15.0),
    "claude-haiku-4-5": ModelPrice(1.0, 5.0),
}


def price_of(model: str) -> ModelPrice | None:
    return PRICES.get(_DATE_SUFFIX.sub("", model.strip().lower()))


def estimate_cost(
    model: str, *, input_tokens: int, output_tokens: int, cache_read_tokens: int = 0, cache_write_tokens: int = 0
) -> float:
    """The estimated cost of one call in US dollars; 0.0 for a model without a known price."""
    price = price_of(model)
    if price is None:
        return 0.0
    input_cost = price.input * (
        input_tokens + CACHE_WRITE_FACTOR * cache_write_tokens + CACHE_READ_FACTOR * cache_read_tokens
    )
    return (input_cost + price.output * output_tokens) / 1_000_000
