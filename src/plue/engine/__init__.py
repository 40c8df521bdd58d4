"""The executor: walks a plan's DAG, runs steps through `StepExecutor`s, reports to a `Sink`.

Public API (being built): `Engine`, and the event and executor types re-exported here.
"""

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
