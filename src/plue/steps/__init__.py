"""Step executors: what runs one attempt of a `bash`, `python` or `llm` step.

Each implements `plue.engine.StepExecutor`. Modules: ``process`` (running a
process: lines, deadline, cancel, process-group kill), ``lines`` (bytes to
lines), ``bash``, ``python``, ``llm`` (an agent loop, `plue.llm`).
"""

from __future__ import annotations

from plue.engine.executor import StepExecutor
from plue.steps.bash import BashExecutor
from plue.steps.llm import LlmExecutor, LlmOptions
from plue.steps.process import KILL_GRACE_SECONDS, run_process
from plue.steps.python import PythonExecutor

__all__ = [
    "KILL_GRACE_SECONDS",
    "BashExecutor",
    "LlmExecutor",
    "LlmOptions",
    "PythonExecutor",
    "default_executors",
    "run_process",
]


def default_executors(
    *, kill_grace: float = KILL_GRACE_SECONDS, llm: LlmOptions | None = None
) -> dict[str, StepExecutor]:
    """The executors of a local run: `bash`, `python` and `llm` (`llm`: record/replay, default model)."""
    return {
        "bash": BashExecutor(kill_grace=kill_grace),
        "python": PythonExecutor(kill_grace=kill_grace),
        "llm": LlmExecutor(llm),
    }
