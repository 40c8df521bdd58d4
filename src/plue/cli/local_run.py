"""Local mode: run a stored run's plan with the engine in this process, storing everything.

    StoreSink   the engine's sink: writes each event to the store, then hands it to the display
    LocalRun    engine + sink + display + a cancel watcher + Ctrl-C handling, for one run

Ordering: a transition is in the store before `emit` returns and before the display
sees it; log lines go through the store's batched `LogWriter`, which is flushed
before a step's end is stored and before the display shows them (`DisplayPump`).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from plue.cli.live import Display, DisplayPump, Note
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
from plue.store import LogWriter, Store, StoreError

CANCEL_POLL_SECONDS = 0.3  # how soon `plue run cancel` from another process takes effect


class StoreSink:
    """Stores each engine event, then passes it to the display. Thread-safe."""

    def __init__(self, store: Store, run_id: int, writer: LogWriter, pump: DisplayPump) -> None:
        self._store = store
        self._run_id = run_id
        self._writer = writer
        self._pump = pump
        # One transition at a time: the display sees them in the order they were stored.
        self._lock = threading.Lock()

    def emit(self, event: EngineEvent) -> None:
        with self._lock:
            self._store_event(event)
            self._pump.put(event)

    def _store_event(self, event: EngineEvent) -> None:
        store, run_id = self._store, self._run_id
        match event:
            case RunStarted(at=at):
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


@dataclass
class Outcome:
    status: RunStatus
    signal: int | None  # SIGINT/SIGTERM that cancelled the run, if one did


class LocalRun:
    """One run of a stored plan, executed here with the repository as workspace."""

    def __init__(
        self,
        store: Store,
        run_id: int,
        plan: Mapping[str, Any],
        display: Display,
        *,
        workspace: Path,
        secrets: Mapping[str, str] | None = None,
        max_parallel: int | None = None,
        reuse: Mapping[str, Reused] | None = None,
        llm: LlmOptions | None = None,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.writer = LogWriter(store, run_id)
        self.pump = DisplayPump(display, self.writer.flush)
        try:
            self.engine = Engine(
                dict(plan),
                default_executors(llm=llm),
                StoreSink(store, run_id, self.writer, self.pump),
                run_id=str(run_id),
                workspace=workspace,
                secrets=dict(secrets or {}),
                max_parallel=max_parallel,
                reuse={step_id: (item.outputs, item.exit_code) for step_id, item in (reuse or {}).items()} or None,
            )
        except BaseException:  # the plan or an argument refused (ValueError, PlanInvalid): nothing started
            self.writer.close()
            raise
        self._signal: int | None = None
        self._done = threading.Event()

    def execute(self) -> Outcome:
        """Run to the end; Ctrl-C (or SIGTERM) cancels the run cleanly, a second Ctrl-C quits at once."""
        result: list[RunStatus] = []
        failure: list[BaseException] = []

        def work() -> None:
            try:
                result.append(self.engine.run())
            except BaseException as exc:  # re-raised in the calling thread
                failure.append(exc)
            finally:
                self._done.set()

        # The engine runs in a thread so that the main thread, which receives signals,
        # holds none of the engine's locks when a handler calls `engine.cancel()`.
        worker = threading.Thread(target=work, name="plue-engine", daemon=True)
        watcher = threading.Thread(target=self._watch_cancel, name="plue-cancel-watch", daemon=True)
        self.pump.start()
        try:
            with _handling_signals(self._on_signal):
                worker.start()
                watcher.start()
                while not self._done.wait(0.5):
                    pass
        finally:
            self._done.set()
            try:
                self.pump.stop()  # shows what is queued (flushing the writer), restores the terminal
            finally:
                self.writer.close()
        if failure:
            raise failure[0]
        return Outcome(result[0], self._signal)

    def _watch_cancel(self) -> None:
        # `plue run cancel` in another process only sets a flag in the store.
        while not self._done.wait(CANCEL_POLL_SECONDS):
            try:
                requested = self.store.cancel_requested(self.run_id)
            except StoreError:
                continue  # e.g. the database is busy: ask again at the next poll
            if requested:
                self.pump.put(Note("cancel requested (plue run cancel): cancelling the run"))
                self.engine.cancel()
                return

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self._signal is not None:
            # A second Ctrl-C: quit without waiting; the store will see the run interrupted.
            raise KeyboardInterrupt
        self._signal = signum
        self.pump.put(Note("interrupted: cancelling the run (Ctrl-C again to quit at once)"))
        self.engine.cancel()


class _handling_signals:
    """Route SIGINT and SIGTERM to `handler` while inside (main thread only; elsewhere a no-op)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, handler: Any) -> None:
        self._handler = handler
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handler)

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)


def llm_calls(extra: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The provider calls an llm step reports in `extra["llm"]["calls"]` (the llm executor's shape)."""
    details = extra.get("llm") if extra else None
    calls = details.get("calls") if isinstance(details, Mapping) else None
    if not isinstance(calls, list):
        return []
    return [call for call in calls if isinstance(call, Mapping)]
