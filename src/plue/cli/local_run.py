"""Local mode: a stored run executed here (`plue.runners.local`), shown live, with Ctrl-C handling.

    LocalRun    a `RunExecution` + a display fed by a `DisplayPump` + SIGINT/SIGTERM handling

Ordering: a transition is in the store before the display sees it; the pump
flushes the log writer before it shows log lines (`plue.cli.live.DisplayPump`).
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
from plue.engine import RunStatus
from plue.runners.local import CANCEL_POLL_SECONDS, Reused, RunExecution, StoreSink, llm_calls
from plue.steps import LlmOptions
from plue.store import Store

__all__ = ["CANCEL_POLL_SECONDS", "LocalRun", "Outcome", "Reused", "StoreSink", "llm_calls"]


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
        # The pump is made after the execution (it flushes the execution's writer); nothing is
        # emitted before `execute`, so the observer never runs without it.
        self.execution = RunExecution(
            store,
            run_id,
            plan,
            workspace=workspace,
            secrets=secrets,
            max_parallel=max_parallel,
            reuse=reuse,
            llm=llm,
            observer=lambda event: self.pump.put(event),
        )
        self.writer = self.execution.writer
        self.pump = DisplayPump(display, self.writer.flush)
        self._signal: int | None = None
        self._done = threading.Event()

    def execute(self) -> Outcome:
        """Run to the end; Ctrl-C (or SIGTERM) cancels the run cleanly, a second Ctrl-C quits at once."""
        result: list[RunStatus] = []
        failure: list[BaseException] = []

        def work() -> None:
            try:
                result.append(self.execution.run(on_cancel_requested=self._cancel_requested))
            except BaseException as exc:  # re-raised in the calling thread
                failure.append(exc)
            finally:
                self._done.set()

        # The engine runs in a thread so that the main thread, which receives signals,
        # holds none of the engine's locks when a handler calls `cancel()`.
        worker = threading.Thread(target=work, name="plue-engine", daemon=True)
        self.pump.start()
        try:
            with _handling_signals(self._on_signal):
                worker.start()
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

    def _cancel_requested(self) -> None:
        self.pump.put(Note("cancel requested (plue run cancel): cancelling the run"))

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self._signal is not None:
            # A second Ctrl-C: quit without waiting; the store will see the run interrupted.
            raise KeyboardInterrupt
        self._signal = signum
        self.pump.put(Note("interrupted: cancelling the run (Ctrl-C again to quit at once)"))
        self.execution.cancel()


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
