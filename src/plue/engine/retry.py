"""Retry backoff: exponential, with full jitter, reproducible per run.

The n-th retry (n = 1, 2, …) waits ``retry_backoff * 2**(n-1)`` seconds, capped
at `MAX_BACKOFF_SECONDS` (or at the step's own backoff when that is larger),
times a uniform jitter factor in [0.5, 1.5) so that many steps failing together
do not retry in lockstep. The jitter comes from a `random.Random` seeded with
the run id, step id and attempt: the same run waits the same delays, whatever
order its steps happened to finish in.
"""

from __future__ import annotations

import random
from typing import Final

MAX_BACKOFF_SECONDS: Final = 3600.0
JITTER: Final = 0.5


def backoff_delay(run_id: str, step_id: str, retry: int, base_seconds: float) -> float:
    """Seconds to wait before retry number `retry` (1 for the first) of a step."""
    cap = max(base_seconds, MAX_BACKOFF_SECONDS)
    delay = min(base_seconds * 2.0 ** min(retry - 1, 64), cap)
    rng = random.Random(f"{run_id}\0{step_id}\0{retry}")
    return delay * rng.uniform(1.0 - JITTER, 1.0 + JITTER)
