"""The one interface the engine calls to run a step: `StepExecutor`.

Executors for `bash` and `python` (``plue.steps``), `llm` (a later issue) and
remote runners plug in here without changing the engine. An executor runs one
attempt of one step and returns a `StepResult`; it reports output through
`StepContext.log`, honours `StepContext.cancelled`, and kills everything it
started (the whole process group) when cancelled or past its deadline.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from plue.engine.events import StepStatus, Stream


@dataclass(frozen=True)
class StepContext:
    """Everything an executor needs for one attempt. `step` is rendered: templates filled in."""

    run_id: str
    step: Mapping[str, Any]  # the plan's step data with {{ steps... }} already rendered
    attempt: int
    workspace: Path  # the run's working directory
    env: Mapping[str, str]  # the complete environment for the process (plan env, step env, secrets, PLUE_*)
    output_file: Path  # $PLUE_OUTPUT: key=value lines or a JSON object
    log: Callable[[Stream, str], None]  # one line of output (no trailing newline); masked by the engine
    cancelled: threading.Event  # set on cancel or when the deadline passes
    deadline: float | None  # time.monotonic() value after which the attempt is timed out
    mask: Callable[[str], str] = field(default=lambda text: text)  # secret masking for texts the executor makes


@dataclass(frozen=True)
class StepResult:
    status: StepStatus  # success | failed | timed_out | cancelled
    exit_code: int | None = None
    error: str | None = None  # why it failed, for humans
    extra: dict[str, Any] = field(default_factory=dict)  # llm: text, output, usage


class StepExecutor(Protocol):
    def run(self, context: StepContext) -> StepResult: ...
