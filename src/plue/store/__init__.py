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
PostgreSQL LISTEN/NOTIFY, in-process on SQLite).
"""

from plue.store.database import URL_ENV
from plue.store.errors import StoreError, StoreUnavailable
from plue.store.logs import LogLineTuple
from plue.store.models import DELIVERY_OUTCOMES, RUN_STATUSES, STEP_STATUSES, TOKEN_SCOPES
from plue.store.records import (
    DeliveryRecord,
    LlmUsageRecord,
    LogRecord,
    NewRun,
    RunRecord,
    StepRecord,
    TokenRecord,
)
from plue.store.recovery import INTERRUPTED_ERROR, process_owner
from plue.store.store import Store
from plue.store.writer import LogWriter

__all__ = [
    "DELIVERY_OUTCOMES",
    "INTERRUPTED_ERROR",
    "RUN_STATUSES",
    "STEP_STATUSES",
    "TOKEN_SCOPES",
    "URL_ENV",
    "DeliveryRecord",
    "LlmUsageRecord",
    "LogLineTuple",
    "LogRecord",
    "LogWriter",
    "NewRun",
    "RunRecord",
    "StepRecord",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "TokenRecord",
    "process_owner",
]
