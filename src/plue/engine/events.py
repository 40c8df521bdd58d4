"""What the engine reports: run and step transitions and log lines, to a `Sink`.

The engine knows nothing of storage, terminals or HTTP. Whoever runs it (the
CLI's local mode, a runner agent, a test) gives it a sink. A sink must make a
transition durable before `emit` returns: the engine announces nothing else
until it has (every state transition is stored before it is shown).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # set by the store for a run whose process died

    @property
    def finished(self) -> bool:
        return self not in (RunStatus.QUEUED, RunStatus.RUNNING)


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def finished(self) -> bool:
        return self not in (StepStatus.PENDING, StepStatus.RUNNING)


class Stream(StrEnum):
    STDOUT = "stdout"
    STDERR = "stderr"
    SYSTEM = "system"
    LLM_TOKEN = "llm.token"
    LLM_TOOL_CALL = "llm.tool_call"
    LLM_TOOL_RESULT = "llm.tool_result"


@dataclass(frozen=True)
class LogLine:
    """One line of a step attempt's output (already masked). `seq` counts from 1 per step attempt."""

    step_id: str
    attempt: int
    seq: int
    stream: Stream
    at: float  # UNIX time
    text: str


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    at: float


@dataclass(frozen=True)
class StepStarted:
    step_id: str
    attempt: int
    at: float


@dataclass(frozen=True)
class StepLogs:
    """A batch of log lines, in order (several steps may interleave across batches)."""

    lines: tuple[LogLine, ...]


@dataclass(frozen=True)
class StepFinished:
    step_id: str
    attempt: int
    status: StepStatus  # success | failed | timed_out | cancelled
    started_at: float
    finished_at: float
    exit_code: int | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # masked, bounded
    will_retry: bool = False  # another attempt follows (after a backoff)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. llm text/output/usage


@dataclass(frozen=True)
class StepSkipped:
    """A step that will not run (again): its final status without an attempt of its own.

    `status` is SKIPPED when a dependency's result or `when` ruled it out, or
    CANCELLED when the run was cancelled (or timed out) before the step started,
    or while it waited to retry.
    """

    step_id: str
    reason: str  # e.g. "dependency 'test' failed", "the run was cancelled"
    at: float
    status: StepStatus = StepStatus.SKIPPED  # skipped | cancelled


@dataclass(frozen=True)
class StepReused:
    """On a rerun: a step that succeeded before is not run again; its outputs are reused."""

    step_id: str
    outputs: dict[str, str]
    exit_code: int | None
    at: float


@dataclass(frozen=True)
class RunFinished:
    status: RunStatus  # success | failed | cancelled
    at: float
    error: str | None = None


EngineEvent = RunStarted | StepStarted | StepLogs | StepFinished | StepSkipped | StepReused | RunFinished


class Sink(Protocol):
    """Receives the engine's events. Called from engine threads; must be thread-safe."""

    def emit(self, event: EngineEvent) -> None: ...
