"""What an evaluation takes and gives back: limits, requests, results, errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from plue.plan import canonical_json
from plue.sandbox.context import Observation

# A message is shown to users and stored: keep it short, never a whole source line.
MAX_MESSAGE_CHARS = 300


def bounded(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Cut `text` to `limit` characters (one line) so no message can flood a terminal or a log."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Limits:
    """Resource limits of one evaluation (each breach ends it with a clear error)."""

    wall_seconds: float = 5.0
    cpu_seconds: int = 5
    memory_bytes: int = 512 * 1024 * 1024
    max_source_bytes: int = 1024 * 1024
    max_ast_nodes: int = 200_000
    max_ast_depth: int = 100
    max_plan_bytes: int = 4 * 1024 * 1024
    max_plan_nodes: int = 200_000
    max_steps: int = 1000

    def to_data(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Limits:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


@dataclass(frozen=True)
class EvaluationError:
    """Why a file did not give a plan. ``str()`` is ``path:line:col: message``."""

    path: str
    message: str
    # syntax | forbidden | runtime | plan | timeout | memory | cpu | crash | limit | input
    kind: str
    line: int | None = None
    col: int | None = None

    def __str__(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Evaluation:
    """The outcome of evaluating one file: plan data (not yet validated) or an error."""

    path: str
    plan: dict[str, Any] | None = None
    error: EvaluationError | None = None
    printed: str = ""  # what the workflow printed (bounded), for debugging
    # What the evaluation observed of ctx (`plue.sandbox.context`); None when not reported.
    reads: tuple[Observation, ...] | None = field(default=None, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def plan_json(self) -> bytes:
        """The canonical plan bytes (only for a successful evaluation)."""
        if self.plan is None:
            raise ValueError(f"{self.path}: evaluation failed, there is no plan")
        return canonical_json(self.plan)


@dataclass(frozen=True)
class EvaluationRequest:
    """One file to evaluate: its bytes, the path used in messages, and the ctx data."""

    source: bytes
    path: str
    ctx: Mapping[str, Any] | None = None
    limits: Limits | None = None
    extra: Any = field(default=None, compare=False)  # caller's bookkeeping, not sent
