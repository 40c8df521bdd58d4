"""Executing stored runs: the engine wired to the store (floor 5).

Modules: ``local`` (a run executed in this process: `StoreSink`, `RunExecution`,
`execute_run`). The CLI's local mode and the server's workers both use it; remote
runner agents and pools come later.
"""

from plue.runners.local import (
    CANCEL_POLL_SECONDS,
    Reused,
    RunExecution,
    StoreSink,
    execute_run,
    llm_calls,
    reusable_steps,
    reused_steps,
)

__all__ = [
    "CANCEL_POLL_SECONDS",
    "Reused",
    "RunExecution",
    "StoreSink",
    "execute_run",
    "llm_calls",
    "reusable_steps",
    "reused_steps",
]
