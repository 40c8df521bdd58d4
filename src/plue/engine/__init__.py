"""The executor: walks a plan's DAG, runs steps through `StepExecutor`s, reports to a `Sink`.

Public API: `Engine`, and the event and executor types re-exported here.

Modules, one concept each: ``events`` (statuses, log lines, events, `Sink`),
``executor`` (`StepContext`, `StepResult`, `StepExecutor`), ``engine`` (the run
loop: scheduling, retries, timeouts, cancellation), ``dag`` (nodes and the
``when`` gate), ``emitter`` (ordered, batched emission to the sink),
``templating`` (output references), ``outputs`` (``$PLUE_OUTPUT`` files),
``masking`` (secrets), ``retry`` (backoff), ``environment`` (a step's env).
"""

from plue.engine.engine import Engine
from plue.engine.events import (
    EngineEvent,
    LogLine,
    RunFinished,
    RunStarted,
    RunStatus,
    Sink,
    StepFinished,
    StepLogs,
    StepReused,
    StepSkipped,
    StepStarted,
    StepStatus,
    Stream,
)
from plue.engine.executor import StepContext, StepExecutor, StepResult

__all__ = [
    "Engine",
    "EngineEvent",
    "LogLine",
    "RunFinished",
    "RunStarted",
    "RunStatus",
    "Sink",
    "StepContext",
    "StepExecutor",
    "StepFinished",
    "StepLogs",
    "StepResult",
    "StepReused",
    "StepSkipped",
    "StepStarted",
    "StepStatus",
    "Stream",
]
