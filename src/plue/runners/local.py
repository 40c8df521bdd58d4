"""A stored run executed in this process: the engine, a sink into the store, a cancel watcher.

    StoreSink     the engine's sink: writes each event to the store, then hands it to an observer
    RunExecution  engine + sink + log writer + a watcher of cancel requests, for one run
    execute_run   a run a worker claimed, executed to its end (never raises for the run's own failures)

Ordering: a transition is in the store before `emit` returns and before the observer
sees it; log lines go through the store's batched `LogWriter`, so an observer that
shows lines must `flush` the writer first (the CLI's `DisplayPump` does).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plue.engine import (
    Engine,
    EngineEvent,
    RunFinished,
    RunStarted,
    RunStatus,
    StepFinished,
    StepLogs,
    StepReused,
    StepSkipped,
    StepStarted,
)
from plue.steps import LlmOptions, default_executors
from plue.store import LogWriter, RunRecord, Store, StoreError
from plue.validation import PlanInvalid

CANCEL_POLL_SECONDS = 0.3  # how soon a cancel requested in the store (or by the caller) takes effect

Observer = Callable[[EngineEvent], None]


class StoreSink:
    """Stores each engine event, then passes it to the observer. Thread-safe.

    `claimed`: the run is already `running` (a worker claimed it), so `RunStarted`
    changes nothing in the store; otherwise it starts the queued run, owned by this process.
    """

    def __init__(
        self, store: Store, run_id: int, writer: LogWriter, observer: Observer | None = None, *, claimed: bool = False
    ) -> None:
        self._store = store
        self._run_id = run_id
        self._writer = writer
        self._observer = observer
        self._claimed = claimed
        # One transition at a time: the observer sees them in the order they were stored.
        self._lock = threading.Lock()

    def emit(self, event: EngineEvent) -> None:
        with self._lock:
            self._store_event(event)
            if self._observer is not None:
                self._observer(event)

    def _store_event(self, event: EngineEvent) -> None:
        store, run_id = self._store, self._run_id
        match event:
            case RunStarted(at=at):
                if not self._claimed:
                    store.start_run(run_id, at=at)  # owned by this process: if it dies, the run is `interrupted`
            case StepStarted(step_id=step_id, attempt=attempt, at=at):
                store.step_started(run_id, step_id, attempt, at)
            case StepLogs(lines=lines):
                self._writer.write(
                    [(line.step_id, line.attempt, line.seq, str(line.stream), line.at, line.text) for line in lines]
                )
            case StepFinished() as finished:
                self._writer.flush()  # a step's logs are stored before its end is
                store.step_finished(
                    run_id,
                    finished.step_id,
                    finished.attempt,
                    status=str(finished.status),
                    exit_code=finished.exit_code,
                    outputs=finished.outputs,
                    error=finished.error,
                    started_at=finished.started_at,
                    finished_at=finished.finished_at,
                    extra=finished.extra or None,
                    llm_calls=llm_calls(finished.extra),
                )
            case StepSkipped(step_id=step_id, reason=reason, at=at, status=status):
                store.step_skipped(run_id, step_id, reason, at, status=str(status))
            case StepReused(step_id=step_id, outputs=outputs, exit_code=exit_code, at=at):
                store.step_reused(run_id, step_id, outputs, exit_code, at)
            case RunFinished(status=status, error=error, at=at):
                self._writer.flush()
                store.finish_run(run_id, str(status), error, at)


@dataclass(frozen=True)
class Reused:
    """What a rerun takes over from a step that succeeded before."""

    outputs: dict[str, str]
    exit_code: int | None


def reusable_steps(run: RunRecord) -> dict[str, Reused]:
    """Steps of a finished `run` that a rerun of its failed steps takes over: those that succeeded and whose
    upstream steps are all taken over too (a step after one that runs again runs again: its inputs may change).
    """
    from plue.validation.graph import topological_order

    latest = {step.id: step for step in run.steps}
    reuse: dict[str, Reused] = {}
    for spec in topological_order(run.plan.get("steps", [])):
        step_id = str(spec["id"])
        step = latest.get(step_id)
        upstream = [str(dep) for dep in spec.get("depends_on", [])]
        if step is not None and step.status == "success" and all(dep in reuse for dep in upstream):
            reuse[step_id] = Reused(dict(step.outputs), step.exit_code)
    return reuse


def reused_steps(run: RunRecord) -> dict[str, Reused]:
    """The steps a queued rerun was told to take over (stored `reused` when it was queued)."""
    return {step.id: Reused(dict(step.outputs), step.exit_code) for step in run.steps if step.reused}


class RunExecution:
    """One stored run of `plan`, executed here in `workspace`.

    Raises `PlanInvalid` or `ValueError` when the plan or an argument is refused; then
    nothing started and the store is unchanged. `run()` executes it in the calling thread.
    """

    def __init__(
        self,
        store: Store,
        run_id: int,
        plan: Mapping[str, Any],
        *,
        workspace: Path,
        secrets: Mapping[str, str] | None = None,
        max_parallel: int | None = None,
        reuse: Mapping[str, Reused] | None = None,
        llm: LlmOptions | None = None,
        observer: Observer | None = None,
        claimed: bool = False,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.writer = LogWriter(store, run_id)
        try:
            self.engine = Engine(
                dict(plan),
                default_executors(llm=llm),
                StoreSink(store, run_id, self.writer, observer, claimed=claimed),
                run_id=str(run_id),
                workspace=workspace,
                secrets=dict(secrets or {}),
                max_parallel=max_parallel,
                reuse={step_id: (item.outputs, item.exit_code) for step_id, item in (reuse or {}).items()} or None,
            )
        except BaseException:
            self.writer.close()
            raise

    def run(
        self,
        cancel: threading.Event | None = None,
        on_cancel_requested: Callable[[], None] | None = None,
    ) -> RunStatus:
        """Execute to the end; a cancel requested in the store (`plue run cancel`, the API) or by setting
        `cancel` cancels the run. `on_cancel_requested` is told when the store's request is seen."""
        done = threading.Event()
        watcher = threading.Thread(
            target=self._watch_cancel,
            args=(done, cancel, on_cancel_requested),
            name=f"plue-cancel-watch-{self.run_id}",
            daemon=True,
        )
        watcher.start()
        try:
            return self.engine.run()
        finally:
            done.set()
            watcher.join()
            self.writer.close()

    def cancel(self) -> None:
        """Cancel the run (safe from any thread or a signal handler)."""
        self.engine.cancel()

    def _watch_cancel(
        self, done: threading.Event, cancel: threading.Event | None, told: Callable[[], None] | None
    ) -> None:
        # A cancel from another process (or a worker pool stopping) only sets a flag: poll for it.
        while not done.wait(CANCEL_POLL_SECONDS):
            if cancel is not None and cancel.is_set():
                self.engine.cancel()
                return
            try:
                requested = self.store.cancel_requested(self.run_id)
            except StoreError:
                continue  # e.g. the database is busy: ask again at the next poll
            if requested:
                if told is not None:
                    told()
                self.engine.cancel()
                return


def execute_run(
    store: Store,
    run: RunRecord,
    workspace: Path,
    *,
    secrets: Mapping[str, str] | None = None,
    cancel: threading.Event | None = None,
    llm: LlmOptions | None = None,
    max_parallel: int | None = None,
    reuse: Mapping[str, Reused] | None = None,
) -> RunStatus:
    """Execute `run`, already claimed (`running`, owned by the caller), to its end; its final status.

    A plan the engine refuses, or an engine failure, ends the run `failed` with the
    reason; nothing is left `running` unless the store itself is unreachable.
    """
    try:
        execution = RunExecution(
            store,
            run.id,
            run.plan,
            workspace=workspace,
            secrets=secrets,
            max_parallel=max_parallel,
            reuse=reuse,
            llm=llm,
            claimed=True,
        )
    except (ValueError, PlanInvalid) as exc:
        return _fail(store, run.id, f"cannot run: {exc}")
    try:
        return execution.run(cancel)
    except Exception as exc:  # the engine or the store failed mid-run: end the run rather than leave it running
        return _fail(store, run.id, f"the run failed inside plue: {type(exc).__name__}: {exc}")


def _fail(store: Store, run_id: int, error: str) -> RunStatus:
    try:
        store.finish_run(run_id, str(RunStatus.FAILED), error, time.time())
    except StoreError:
        current = store.get_run(run_id)  # it may have finished after all
        return RunStatus(current.status) if current is not None else RunStatus.FAILED
    return RunStatus.FAILED


def llm_calls(extra: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The provider calls an llm step reports in `extra["llm"]["calls"]` (the llm executor's shape)."""
    details = extra.get("llm") if extra else None
    calls = details.get("calls") if isinstance(details, Mapping) else None
    if not isinstance(calls, list):
        return []
    return [call for call in calls if isinstance(call, Mapping)]
