"""`Store`: the synchronous, thread-safe facade over run storage.

Each method is one short transaction, committed before it returns: the engine
announces a transition only after the store call returns. Threads share the
engine's connection pool; nothing else in a `Store` changes after `open`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from plue.store import (
    attempts,
    deliveries,
    logs,
    migrate,
    notify,
    queue,
    recovery,
    runners,
    runs,
    schedules,
    tokens,
    usage,
)
from plue.store.database import WRITE_OPTION, make_engine, resolve_url, write_lock
from plue.store.errors import StoreError, StoreUnavailable
from plue.store.leader import Leadership
from plue.store.logs import LogLineTuple
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
    RunnerRecord,
    RunRecord,
    TokenRecord,
)
from plue.store.values import clean_json, clean_optional


class Store:
    """Runs, steps and logs in SQLite (default) or PostgreSQL. Make one with `Store.open`."""

    def __init__(self, engine: Engine, url: str, write_lock: AbstractContextManager[Any] | None = None) -> None:
        self.url = url  # for messages: the password is hidden
        self._engine = engine
        # Write transactions take SQLite's write lock up front (see `database`)...
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        # ...after this process's other writers of the same file (see `database.write_lock`).
        self._write_lock = nullcontext() if write_lock is None else write_lock
        self._log_inserter = logs.LogInserter(engine.dialect.name)
        self._changes = notify.ChangeFeed(engine)
        # Committed workflow versions ((path, content hash) -> id): rows never deleted, so a batch of
        # deliveries need not upsert a version it already stored.
        self._workflow_ids: dict[tuple[str, str], int] = {}

    @classmethod
    def open(cls, repo: Path | None = None, url: str | None = None) -> Store:
        """Open (creating and migrating) the database, then mark runs whose process died `interrupted`.

        `url` wins over $PLUE_DATABASE_URL, which wins over SQLite in `<repo>/.plue/plue.db`
        (`repo` defaults to the working directory).
        """
        resolved = resolve_url(repo, url)
        store = cls(make_engine(resolved), resolved.render_as_string(hide_password=True), write_lock(resolved))
        try:
            with store._errors():
                migrate.upgrade(store._writer)
            store.recover_interrupted()
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        self._changes.close()
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    # --- transactions --------------------------------------------------------------

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Driver errors as `StoreError`s: callers need not know SQLAlchemy."""
        try:
            yield
        except OperationalError as exc:
            raise StoreUnavailable(f"database {self.url}: {_first_line(exc.orig)}") from exc
        except DBAPIError as exc:
            raise StoreError(f"database {self.url}: {_first_line(exc.orig)}") from exc

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._errors(), self._write_lock, self._writer.begin() as connection:
            yield connection
            changed = notify.changed_runs(connection)
        self._changes.committed(changed)  # followers read what was just committed

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._errors(), self._engine.begin() as connection:
            yield connection

    # --- workflows and runs ------------------------------------------------------

    def upsert_workflow(self, path: str, name: str, content_hash: str, plan: dict[str, Any]) -> int:
        """The id of this version of a workflow file, stored on first sight."""
        with self._write() as connection:
            return runs.upsert_workflow(connection, path, name, content_hash, plan)

    def create_run(
        self,
        *,
        workflow_id: int,
        plan: dict[str, Any],
        event_name: str | None,
        event: dict[str, Any] | None,
        inputs: dict[str, Any],
        parent_run_id: int | None = None,
        repository: str | None = None,
        sha: str | None = None,
        ref: str | None = None,
        branch: str | None = None,
    ) -> int:
        """A new `queued` run with every plan step `pending` (attempt 1). A rerun has its parent's attempt + 1.

        `repository` ("owner/name"), `sha`, `ref` and `branch` say where a server run's files come from.
        """
        with self._write() as connection:
            return runs.create_run(
                connection,
                workflow_id=workflow_id,
                plan=plan,
                event_name=event_name,
                event=event,
                inputs=inputs,
                parent_run_id=parent_run_id,
                repository=repository,
                sha=sha,
                ref=ref,
                branch=branch,
            )

    def start_run(self, run_id: int, owner: str | None = None, *, at: float | None = None) -> None:
        """queued → running, owned by `owner` (default: this process, see `recovery.process_owner`)."""
        owner = recovery.process_owner() if owner is None else owner
        with self._write() as connection:
            runs.start_run(connection, run_id, owner, time.time() if at is None else at)

    def finish_run(self, run_id: int, status: str, error: str | None, at: float) -> None:
        """queued/running → success | failed | cancelled (| interrupted)."""
        with self._write() as connection:
            runs.finish_run(connection, run_id, status, error, at)

    def request_cancel(self, run_id: int) -> bool:
        """Ask the run's executor to cancel it; False if the run is not queued or running."""
        with self._write() as connection:
            return runs.request_cancel(connection, run_id)

    def cancel_requested(self, run_id: int) -> bool:
        with self._read() as connection:
            return runs.cancel_requested(connection, run_id)

    # --- steps -----------------------------------------------------------------------

    def step_started(self, run_id: int, step_id: str, attempt: int, at: float) -> None:
        with self._write() as connection:
            runs.update_step(
                connection, run_id, step_id, attempt, {"status": "running", "started_at": at, "finished_at": None}
            )

    def step_finished(
        self,
        run_id: int,
        step_id: str,
        attempt: int,
        *,
        status: str,
        exit_code: int | None,
        outputs: dict[str, str],
        error: str | None,
        started_at: float,
        finished_at: float,
        extra: dict[str, Any] | None = None,
        llm_calls: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """The attempt's end, with the LLM provider calls it made (if any), in one transaction."""
        runs.check_step_status(status)
        values = {
            "status": status,
            "exit_code": exit_code,
            "outputs": clean_json(outputs),
            "error": clean_optional(error),
            "started_at": started_at,
            "finished_at": finished_at,
            "extra": clean_json(extra),
        }
        with self._write() as connection:
            runs.update_step(connection, run_id, step_id, attempt, values)
            usage.add_llm_usage(connection, run_id, step_id, attempt, llm_calls, finished_at)

    def step_skipped(self, run_id: int, step_id: str, reason: str, at: float, status: str = "skipped") -> None:
        """A step that never started: `skipped` (its dependencies decided), or `cancelled` (the run was)."""
        if status not in ("skipped", "cancelled"):
            raise ValueError(f"a step that never started is skipped or cancelled, not {status!r}")
        values = {"status": status, "reason": clean_optional(reason), "finished_at": at}
        with self._write() as connection:
            runs.update_latest_step(connection, run_id, step_id, values)

    def step_reused(self, run_id: int, step_id: str, outputs: dict[str, str], exit_code: int | None, at: float) -> None:
        """On a rerun: the step's earlier success is carried over, not run again."""
        values = {
            "status": "success",
            "reused": True,
            "outputs": clean_json(outputs),
            "exit_code": exit_code,
            "finished_at": at,
        }
        with self._write() as connection:
            runs.update_latest_step(connection, run_id, step_id, values)

    # --- logs --------------------------------------------------------------------------

    def append_logs(self, run_id: int, lines: Sequence[LogLineTuple]) -> None:
        """Store `(step_id, attempt, seq, stream, at, text)` lines in one transaction; lines already stored are
        ignored. For a stream of lines use a `LogWriter`."""
        if not lines:
            return
        with self._write() as connection:
            self._log_inserter.insert(connection, run_id, lines)

    def read_logs(
        self,
        run_id: int,
        *,
        step_id: str | None = None,
        attempt: int | None = None,
        after: int = 0,
        limit: int = 10_000,
    ) -> list[LogRecord]:
        """Lines whose id is above `after`, in commit order: poll with the last `LogRecord.id` seen.

        Commit order is (attempt, seq) order within a step attempt, as long as one writer per run
        stores its lines in order (the `LogWriter`); on PostgreSQL, concurrent writers of one run
        could commit a lower id after a follower read past it.
        """
        _check_limit(limit)
        with self._read() as connection:
            return logs.read_logs(connection, run_id, step_id=step_id, attempt=attempt, after=after, limit=limit)

    # --- reading runs --------------------------------------------------------------------

    def get_run(self, run_id: int) -> RunRecord | None:
        with self._read() as connection:
            return runs.get_run(connection, run_id)

    def leadership(self, name: str) -> Leadership:
        """The role `name` (letters and dashes) that one process at a time holds among those sharing this
        database (see `plue.store.leader`)."""
        if not name or not all(char.isascii() and (char.isalpha() or char == "-") for char in name):
            raise ValueError(f"a leadership name is letters and dashes, not {name!r}")
        return Leadership(self._engine, name)

    def get_run_with_usage(self, run_id: int) -> tuple[RunRecord, list[LlmUsageRecord]] | None:
        """The run and every LLM call of it, read in one transaction (the API's run detail)."""
        with self._read() as connection:
            run = runs.get_run(connection, run_id)
            return None if run is None else (run, usage.read_llm_usage(connection, run_id))

    def llm_usage(self, run_id: int) -> list[LlmUsageRecord]:
        """Every LLM call of the run, in the order they were stored."""
        with self._read() as connection:
            return usage.read_llm_usage(connection, run_id)

    def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: str | None = None,
        event: str | None = None,
        branch: str | None = None,
        repository: str | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> list[RunRecord]:
        """Newest first; `workflow` matches a workflow's path or its name, `event` the event name.

        Page with `before`: the id of the last run of the previous page.
        """
        _check_limit(limit)
        with self._read() as connection:
            return runs.list_runs(
                connection,
                workflow=workflow,
                status=status,
                event=event,
                branch=branch,
                repository=repository,
                before=before,
                limit=limit,
            )

    # --- the queue ---------------------------------------------------------------------

    def enqueue(
        self,
        run: NewRun,
        *,
        parent_run_id: int | None = None,
        reuse: Mapping[str, tuple[dict[str, str], int | None]] | None = None,
    ) -> int:
        """Queue one run (a dispatch, a schedule tick, a rerun) with its workflow version; the run's id.

        `reuse` (step id -> outputs, exit code): steps a rerun takes over instead of running, marked
        `reused` in the same transaction, so a worker never claims the run without them.
        A run of a concurrency group cancels the group's older queued runs ("superseded by run N") and,
        with `cancel_in_progress`, requests the cancel of its running run.
        """
        at = time.time()
        with self._write() as connection:
            run_id = queue.enqueue(connection, run, parent_run_id=parent_run_id)
            for step_id, (outputs, exit_code) in (reuse or {}).items():
                values = {"status": "success", "reused": True, "outputs": clean_json(outputs)}
                runs.update_latest_step(
                    connection, run_id, step_id, {**values, "exit_code": exit_code, "finished_at": at}
                )
            return run_id

    def claim_run(self, owner: str) -> RunRecord | None:
        """Take the oldest queued run: it is `running`, owned by `owner`, and nobody else ever gets it.

        `owner` is `process_owner(worker=...)`, so that a dead server's runs are recovered as
        `interrupted`. Queued runs whose cancel was requested are finished `cancelled` on the way; runs
        whose concurrency group has a running run wait. None when no run can be claimed.
        """
        with self._read() as connection:
            if not queue.any_queued(connection):
                return None
        with self._write() as connection:
            return queue.claim(connection, owner, time.time())

    # --- webhook deliveries --------------------------------------------------------------

    def record_delivery(self, item: NewDelivery) -> tuple[DeliveryRecord, bool]:
        """Record a delivery and queue its runs in one transaction: `(delivery, True)`.

        A delivery id seen before (also one being recorded right now by another process)
        queues nothing and gives `(the first delivery, False)`.
        """
        with self._write() as connection:
            return deliveries.record_delivery(connection, item)

    def record_deliveries(self, items: Sequence[NewDelivery]) -> list[tuple[DeliveryRecord, bool]]:
        """`record_delivery` for several deliveries in one transaction (a group commit), in a few
        statements whatever their number: per item, (its record, True) if recorded now, else
        (the earlier record, False). If anything fails, nothing of the batch is stored."""
        with self._write() as connection:
            results, learnt = deliveries.record_deliveries(connection, items, self._workflow_ids)
        self._workflow_ids.update(learnt)  # committed now: safe to skip their upsert from here on
        return results

    def get_delivery(self, delivery_id: str) -> DeliveryRecord | None:
        with self._read() as connection:
            return deliveries.get_delivery(connection, delivery_id)

    def list_deliveries(self, limit: int = 50, before: int | None = None) -> list[DeliveryRecord]:
        """Newest first; page with `before`: the `id` of the last delivery of the previous page."""
        _check_limit(limit)
        with self._read() as connection:
            return deliveries.list_deliveries(connection, limit=limit, before=before)

    # --- schedules -------------------------------------------------------------------------

    def fire_schedule(self, key: str, scheduled_at: float) -> bool:
        """True for exactly one caller per (schedule key, tick), across processes and restarts."""
        with self._write() as connection:
            return schedules.fire(connection, key, scheduled_at, time.time())

    def fire_schedule_run(self, key: str, scheduled_at: float, run: NewRun) -> int | None:
        """Fire the tick and queue its run in ONE transaction: the run's id for the one caller that fires it,
        None for every other (nothing queued). A crash between the two cannot lose the tick's run."""
        with self._write() as connection:
            if not schedules.fire(connection, key, scheduled_at, time.time()):
                return None
            run_id = queue.enqueue(connection, run)
            schedules.set_run(connection, key, scheduled_at, run_id)
            return run_id

    def last_schedule_tick(self, key: str) -> float | None:
        """The latest tick of the schedule that fired; None if none did."""
        with self._read() as connection:
            return schedules.last_tick(connection, key)

    # --- API tokens --------------------------------------------------------------------------

    def create_token(self, name: str, scope: str) -> str:
        """A new token (`plue_…`), returned once: only its hash is stored."""
        with self._write() as connection:
            return tokens.create_token(connection, name, scope, time.time())

    def verify_token(self, token: str) -> TokenRecord | None:
        """The live token with this value (its use noted, to the minute), or None."""
        with self._read() as connection:
            record = tokens.find_token(connection, token)
        now = time.time()
        if record is not None and tokens.needs_touch(record, now):
            with self._write() as connection:
                tokens.touch(connection, record.id, now)
        return record

    def list_tokens(self) -> list[TokenRecord]:
        """Every token, revoked ones too, by name."""
        with self._read() as connection:
            return tokens.list_tokens(connection)

    def revoke_token(self, name: str) -> bool:
        """Revoke the live token named `name`; False if there is none."""
        with self._write() as connection:
            return tokens.revoke_token(connection, name)

    # --- runner agents ------------------------------------------------------------------------

    def register_runner(
        self,
        name: str,
        labels: Sequence[str],
        version: str,
        host: Mapping[str, Any],
        capacity: int,
        *,
        pool: str | None = None,
        token_name: str | None = None,
        at: float | None = None,
    ) -> RunnerRecord:
        """A new runner (a fresh id), idle. ValueError for a bad name, label, version, capacity or host."""
        with self._write() as connection:
            return runners.register(
                connection,
                name=name,
                labels=labels,
                version=version,
                host=host,
                capacity=capacity,
                pool=pool,
                token_name=token_name,
                at=_now(at),
            )

    def runner_heartbeat(
        self, runner_id: str, attempt_ids: Sequence[int], at: float | None = None, *, orphan_after: float | None = None
    ) -> HeartbeatAnswer:
        """The runner is alive and holds `attempt_ids`: what it must cancel (a cancel was requested) and abort
        (attempts it holds that are not its running ones). Status `lost`/`offline`: abort everything and
        register again. With `orphan_after`, its running attempts it does not hold, claimed more than that
        many seconds ago, are lost (and their runs queued again). RunnerGone if it is unknown."""
        with self._write() as connection:
            answer, _ = runners.heartbeat(connection, runner_id, attempt_ids, _now(at), orphan_after)
            return answer

    def claim_for_runner(self, runner_id: str, at: float | None = None) -> Claim | None:
        """Claim the oldest queued run the runner has the labels for, as a new attempt of it; None when none
        waits or the runner runs `capacity` attempts already. RunnerGone (unknown, lost or offline: register
        again), RunnerDraining (take nothing new)."""
        with self._read() as connection:
            if not attempts.may_claim(connection, runner_id):
                return None
        with self._write() as connection:
            return attempts.claim_for_runner(connection, runner_id, _now(at))

    def apply_attempt_batch(
        self, attempt_id: int, seq: int, events: Sequence[Mapping[str, Any]], at: float | None = None
    ) -> BatchAnswer:
        """Store batch `seq` of an attempt's events (wire-format dicts, see `plue.runners.wire`) once, in
        order, in one transaction; fenced if the attempt is no longer its run's current one. BatchRefused
        (nothing stored) when an event cannot be applied."""
        with self._write() as connection:
            return attempts.apply_attempt_batch(connection, self._log_inserter, attempt_id, seq, events, _now(at))

    def reap_lost_runners(self, lost_after: float, at: float | None = None) -> list[LostAttempt]:
        """Declare lost the runners silent for more than `lost_after` seconds; their attempts are lost and
        their runs queued again (up to the plan's `max_attempts`) or finished. Idempotent."""
        with self._write() as connection:
            return runners.reap(connection, lost_after, _now(at))

    def list_runners(self, include_gone: bool = False) -> list[RunnerRecord]:
        """Runners by registration time; lost and offline ones only with `include_gone`."""
        with self._read() as connection:
            return runners.list_runners(connection, include_gone)

    def get_runner(self, runner_id: str) -> RunnerRecord | None:
        with self._read() as connection:
            return runners.get(connection, runner_id)

    def drain_runner(self, runner_id: str) -> bool:
        """Ask the runner to finish what it runs and take nothing new; False if it is unknown, lost or offline."""
        with self._write() as connection:
            return runners.drain(connection, runner_id, time.time())

    def deregister_runner(self, runner_id: str, at: float | None = None) -> list[LostAttempt]:
        """The runner left (`offline`); attempts it still had are lost now (their runs queued again)."""
        with self._write() as connection:
            return runners.deregister(connection, runner_id, _now(at))

    def queue_demand(self) -> dict[tuple[str, ...], int]:
        """Queued runs per set of runner labels they need (() for any runner): what a pool should offer."""
        with self._read() as connection:
            return runners.queue_demand(connection)

    def attempts(self, run_id: int) -> list[AttemptRecord]:
        """The run's executions by runners, oldest first."""
        with self._read() as connection:
            return attempts.attempts(connection, run_id)

    def get_attempt(self, attempt_id: int) -> AttemptRecord | None:
        with self._read() as connection:
            return attempts.get_attempt(connection, attempt_id)

    # --- recovery --------------------------------------------------------------------------

    def recover_interrupted(self) -> list[int]:
        """Mark `interrupted` the running runs of this host whose process died; return their ids."""
        with self._read() as connection:
            dead = recovery.find_dead_runs(connection)
        recovered = []
        for run_id, owner in dead:
            with self._write() as connection:
                if recovery.mark_interrupted(connection, run_id, owner):
                    recovered.append(run_id)
        return recovered

    # --- change notifications ----------------------------------------------------------------

    def change_version(self, run_id: int) -> int:
        """The version of the run's changes heard so far: take it before reading the run, then wait with
        `wait_for_change`. The first call on PostgreSQL starts listening (see `notify`)."""
        return self._changes.follow().version(run_id)

    def wait_for_change(self, run_id: int, after_version: int, timeout: float) -> int:
        """Block until the run changes after `after_version` (a step, its logs, its state), or `timeout`
        seconds pass; the version then (`after_version` on a timeout). May wake without a change.

        Changes made by other processes wake it on PostgreSQL; on SQLite only this process's do, so
        keep `timeout` as a poll interval."""
        return self._changes.follow().wait(run_id, after_version, timeout)

    def watch_changes(self, run_id: int, watcher: Callable[[], None]) -> Callable[[], None]:
        """Call `watcher()` after each change of the run, as `wait_for_change` would wake, from another
        thread (keep it quick: hand over to your own loop); returns the function that stops it."""
        return self._changes.follow().watch(run_id, watcher)


def _now(at: float | None) -> float:
    return time.time() if at is None else at


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")


def _first_line(error: BaseException | None) -> str:
    text = str(error).strip() if error is not None else "unknown error"
    return text.splitlines()[0] if text else type(error).__name__
