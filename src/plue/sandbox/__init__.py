"""The sandboxed evaluator: untrusted ``*.plue.py`` source in, plain plan data out.

TEMPORARY in-process implementation with the final API; the real one runs each
evaluation in a forked, resource-limited process (being written now).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from plue.plan import Plan, Step, Trigger, canonical_json


@dataclass(frozen=True)
class Limits:
    """Resource limits of one evaluation."""

    wall_seconds: float = 5.0
    cpu_seconds: int = 5
    memory_bytes: int = 512 * 1024 * 1024
    max_source_bytes: int = 1024 * 1024
    max_ast_nodes: int = 200_000
    max_ast_depth: int = 100
    max_plan_bytes: int = 4 * 1024 * 1024
    max_steps: int = 1000


@dataclass(frozen=True)
class EvaluationError:
    """Why a file did not give a plan. ``str()`` is ``path:line:col: message``."""

    path: str
    message: str
    kind: str  # syntax | forbidden | runtime | plan | timeout | memory | cpu | crash | limit | input
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

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def plan_json(self) -> bytes:
        assert self.plan is not None
        return canonical_json(self.plan)


@dataclass(frozen=True)
class EvaluationRequest:
    source: bytes
    path: str
    ctx: Mapping[str, Any] | None = None
    limits: Limits = field(default_factory=Limits)


class Evaluator:
    """A pool of warm evaluator processes. Use as a context manager, or call `close()`."""

    def __init__(self, workers: int | None = None, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        pass

    def evaluate(self, source: bytes, path: str, ctx: Mapping[str, Any] | None = None) -> Evaluation:
        """Evaluate one workflow file's source; `path` is used in messages only."""
        namespace: dict[str, Any] = {"Plan": Plan, "Step": Step, "Trigger": Trigger}
        try:
            exec(compile(source, path, "exec"), namespace)
            plan = namespace["workflow"]()
            return Evaluation(path, plan=plan.to_data())
        except Exception as exc:  # temporary
            return Evaluation(path, error=EvaluationError(path, str(exc), "runtime"))

    def evaluate_many(self, requests: Iterable[EvaluationRequest]) -> list[Evaluation]:
        """Evaluate many files in parallel (one process each); results in request order."""
        return [self.evaluate(r.source, r.path, r.ctx) for r in requests]
