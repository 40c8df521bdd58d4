"""Executing stored runs: the engine wired to the store (floor 5).

Modules: ``local`` (a run executed in this process: `StoreSink`, `RunExecution`,
`execute_run`; the CLI's local mode and the server's workers), ``wire`` (engine events
as JSON), ``client`` (the runner agent's HTTP client), ``remote_sink`` (events to the
server in numbered batches), ``workspace`` (a fresh workspace per attempt), ``agent``
(`plue runner`), ``backends`` / ``pool`` / ``kubernetes`` (the warm pool: local
processes or Kubernetes pods).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    # `runners.local` brings the store (SQLAlchemy) along: a `plue runner` agent, which never opens a
    # database, must not pay for it at start-up.
    if name in __all__:
        from plue.runners import local

        return getattr(local, name)
    raise AttributeError(f"module 'plue.runners' has no attribute {name!r}")
