"""Step executors: what runs one attempt of a `bash`, `python` or `llm` step.

Each implements `plue.engine.StepExecutor`. Modules: ``process`` (running a
process: lines, deadline, cancel, process-group kill), ``lines`` (bytes to
lines), ``bash``, ``python``, ``llm`` (a placeholder until the llm executor).
"""

from __future__ import annotations

from plue.engine.executor import StepExecutor
from plue.steps.bash import BashExecutor
from plue.steps.llm import LLM_UNAVAILABLE, UnavailableLlmExecutor
from plue.steps.process import KILL_GRACE_SECONDS, run_process
from plue.steps.python import PythonExecutor

__all__ = [
    "KILL_GRACE_SECONDS",
    "LLM_UNAVAILABLE",
    "BashExecutor",
    "PythonExecutor",
    "UnavailableLlmExecutor",
    "default_executors",
    "run_process",
]


def default_executors(*, kill_grace: float = KILL_GRACE_SECONDS) -> dict[str, StepExecutor]:
    """The executors of a local run: `bash`, `python`, and the `llm` placeholder."""
    return {
        "bash": BashExecutor(kill_grace=kill_grace),
        "python": PythonExecutor(kill_grace=kill_grace),
        "llm": UnavailableLlmExecutor(),
    }
