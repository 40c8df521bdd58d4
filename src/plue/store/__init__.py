"""Run storage: workflows, runs, step attempts, log lines — SQLite by default, PostgreSQL by URL.

`Store.open()` resolves the database (a `url`, else $PLUE_DATABASE_URL, else
`<repo>/.plue/plue.db`), migrates it with the Alembic revisions shipped in
`migrations/`, and marks runs whose process died `interrupted`. `LogWriter` streams
a run's log lines to it in batches with bounded memory.

Statuses are the engine's strings (`plue.engine.events`); times are float UNIX
epoch seconds. Modules: `database` (URLs, engines, pragmas), `models` (tables),
`migrate`, `runs`, `logs` and `usage` (queries), `writer` (LogWriter), `recovery`
(process ownership), `records`, `values` (text the databases accept), `store`;
for the server: `queue` (enqueue, claim), `deliveries` (webhook dedupe), `schedules`
(each cron tick once), `tokens` (API tokens) and `notify` (run change notifications:
PostgreSQL LISTEN/NOTIFY, in-process on SQLite); for runner agents: `runners`
(registration, heartbeats, the reaper) and `attempts` (claims, fenced event batches);
`leader` (one process at a time for a job, such as the pool controller) and `bulk`
(many rows in one statement).
"""

from plue.store.attempts import BatchRefused, RunnerDraining, RunnerGone
from plue.store.database import URL_ENV
from plue.store.errors import StoreError, StoreUnavailable
from plue.store.leader import Leadership
from plue.store.logs import LogLineTuple
from plue.store.models import (
    ATTEMPT_STATUSES,
    DELIVERY_OUTCOMES,
    RUN_STATUSES,
    RUNNER_STATUSES,
    STEP_STATUSES,
    TOKEN_SCOPES,
)
from plue.store.records import (
    AttemptRecord,
    BatchAnswer,
    Claim,
    DeliveryRecord,
    HeartbeatAnswer,
    LlmUsageRecord,
    LogRecord,
    LostAttempt,
    NewDelivery,
    NewRun,
    ReusedStep,
    RunnerRecord,
    RunRecord,
    StepRecord,
    TokenRecord,
)
from plue.store.recovery import INTERRUPTED_ERROR, RUNNER_OWNER_PREFIX, process_owner, runner_owner
from plue.store.store import Store
from plue.store.writer import LogWriter

__all__ = [
    "ATTEMPT_STATUSES",
    "DELIVERY_OUTCOMES",
    "INTERRUPTED_ERROR",
    "RUNNER_OWNER_PREFIX",
    "RUNNER_STATUSES",
    "RUN_STATUSES",
    "STEP_STATUSES",
    "TOKEN_SCOPES",
    "URL_ENV",
    "AttemptRecord",
    "BatchAnswer",
    "BatchRefused",
    "Claim",
    "DeliveryRecord",
    "HeartbeatAnswer",
    "Leadership",
    "LlmUsageRecord",
    "LogLineTuple",
    "LogRecord",
    "LogWriter",
    "LostAttempt",
    "NewDelivery",
    "NewRun",
    "ReusedStep",
    "RunRecord",
    "RunnerDraining",
    "RunnerGone",
    "RunnerRecord",
    "StepRecord",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "TokenRecord",
    "process_owner",
    "runner_owner",
]
