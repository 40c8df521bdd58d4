"""`Engine`: runs one plan to the end — the DAG state machine, scheduling, retries, timeouts, cancellation.

Threads: `run()` is the only thread that changes the run's state. Step attempts
run on a pool of `max_parallel` worker threads; a worker reports its attempt's
end on the inbox queue and the loop decides what follows. Timers (retry
backoffs, step deadlines, the run's timeout, log flushes) are the loop's wait
timeout, so `cancel()` — a flag and a queue message, safe from any thread or a
signal handler — ends a backoff at once.

Event order a sink can rely on: `RunStarted`; `StepReused` of reused steps (plan
order); per attempt `StepStarted`, its `StepLogs` lines, `StepFinished`; a
dependent's `StepStarted` only after its dependencies' final events;
`StepSkipped` when a step will not run; `RunFinished` last. The sink is called
by one thread at a time (`emitter`).

Rules:

- A step starts when its dependencies have finished and its ``when`` allows it
  (`dag.skip_reason`); otherwise it is skipped, and so, in turn, are the
  ``on_success`` steps after it. Ready steps start in plan order, at most
  `max_parallel` at once.
- A failed or timed-out attempt is retried up to ``retries`` times after a
  backoff (`retry.backoff_delay`, times `retry_delay_scale`); the backoff does
  not hold a parallel slot.
- Cancel (or the plan's ``timeout``): running attempts are told to stop (their
  executors kill their process groups) and end as they report; every other step
  ends at once with `StepSkipped(status=CANCELLED)`, including one waiting to
  retry after its `StepFinished(will_retry=True)`. Nothing starts after a
  cancel, ``when="always"`` steps included.
- The run is `failed` if a step failed or timed out, else `cancelled` if it was
  cancelled (or a step was), else `success`. `RunFinished.error` says why a run
  timed out.
"""

from __future__ import annotations

import heapq
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from plue.engine.dag import StepNode, build_nodes, skip_reason
from plue.engine.emitter import Emitter
from plue.engine.environment import ENV_NAME_RE, inherited_env, plue_variables, step_env
from plue.engine.events import (
    RunFinished,
    RunStarted,
    RunStatus,
    Sink,
    StepFinished,
    StepReused,
    StepSkipped,
    StepStarted,
    StepStatus,
    Stream,
)
from plue.engine.executor import StepContext, StepExecutor, StepResult
from plue.engine.masking import Masker
from plue.engine.outputs import read_outputs
from plue.engine.retry import backoff_delay
from plue.engine.templating import Renderer, StepValues
from plue.validation import check_plan

MAX_ERROR_CHARS: Final = 4000
_ATTEMPT_RESULTS: Final = frozenset({StepStatus.SUCCESS, StepStatus.FAILED, StepStatus.TIMED_OUT, StepStatus.CANCELLED})
_RETRYABLE: Final = frozenset({StepStatus.FAILED, StepStatus.TIMED_OUT})


@dataclass(frozen=True)
class _AttemptDone:
    index: int
    status: StepStatus
    values: StepValues
    retry_delay: float | None  # seconds before the next attempt; None: this was the last one


_CANCEL: Final = object()  # inbox message: cancel() was called


class Engine:
    """Runs a valid plan once. See the module docstring for threads and event order."""

    def __init__(
        self,
        plan: Mapping[str, Any],
        executors: Mapping[str, StepExecutor],
        sink: Sink,
        *,
        run_id: str,
        workspace: Path,
        secrets: Mapping[str, str] | None = None,
        max_parallel: int | None = None,
        reuse: Mapping[str, tuple[dict[str, str], int | None]] | None = None,
        base_env: Mapping[str, str] | None = None,
        retry_delay_scale: float = 1.0,
        output_dir: Path | None = None,
        attempt_base: Mapping[str, int] | None = None,
    ) -> None:
        """Check the plan (`plue.validation.PlanInvalid`) and the arguments (`ValueError`); start nothing.

        `base_env`: the environment every step starts from; by default a few
        inherited variables (`plue.engine.environment.INHERITED_NAMES`).
        `reuse`: step id -> (outputs, exit code) of steps that succeeded in an
        earlier attempt of the run; they are reported as reused, not run.
        `output_dir`: where the ``$PLUE_OUTPUT`` files go (kept afterwards); by
        default a temporary directory removed when the run ends. Each attempt's
        ``$PLUE_OUTPUT`` is a path that does not exist yet: the step creates it
        by writing (``>>`` or ``open(..., "a")``).
        `attempt_base`: step id -> the highest attempt number an earlier attempt
        of the run stored; that step's attempts are numbered from base + 1 (in
        events, logs, ``$PLUE_ATTEMPT``) so they do not collide with the stored
        ones. Retries and backoffs still count from this engine's first attempt.
        """
        self._plan = check_plan(dict(plan))
        self._nodes = build_nodes(self._plan["steps"])
        missing = sorted({str(node.step["type"]) for node in self._nodes} - set(executors))
        if missing:
            raise ValueError(f"no executor for step type {', '.join(map(repr, missing))}")
        unknown = sorted(set(reuse or {}) - {node.id for node in self._nodes})
        if unknown:
            raise ValueError(f"reuse names steps that are not in the plan: {', '.join(unknown)}")
        bad_names = sorted(name for name in secrets or {} if not ENV_NAME_RE.match(name))
        if bad_names:
            raise ValueError(f"secret names must be environment variable names: {', '.join(map(repr, bad_names))}")
        bad_bases = sorted(step_id for step_id, base in (attempt_base or {}).items() if base < 0)
        if bad_bases:
            raise ValueError(f"attempt_base must not be negative: {', '.join(bad_bases)}")
        if max_parallel is not None and max_parallel < 1:
            raise ValueError("max_parallel must be at least 1")
        if not workspace.is_dir():
            raise ValueError(f"the workspace {str(workspace)!r} is not a directory")

        self._executors = dict(executors)
        self._run_id = run_id
        self._workspace = workspace
        self._secrets = dict(secrets or {})
        self._masker = Masker(self._secrets.values())
        self._max_parallel = max_parallel or os.cpu_count() or 1
        self._reuse = {step_id: (dict(outputs), code) for step_id, (outputs, code) in (reuse or {}).items()}
        self._base_env = dict(inherited_env() if base_env is None else base_env)
        self._retry_delay_scale = retry_delay_scale
        self._output_dir = output_dir
        self._attempt_base = dict(attempt_base or {})
        self._plan_env: dict[str, str] = dict(self._plan["env"])

        self._emitter = Emitter(sink, self._masker, self.cancel)
        self._inbox: queue.SimpleQueue[_AttemptDone | object] = queue.SimpleQueue()
        self._cancel_requested = False
        self._started = False
        # State owned by the run() thread (workers only read `_values` of finished steps).
        self._values: dict[str, StepValues] = {}
        self._ready: list[int] = []  # heap of node indexes: plan order among ready steps
        self._backoffs: list[tuple[float, int]] = []  # heap of (monotonic due time, node index)
        self._deadlines: list[tuple[float, int, int]] = []  # heap of (deadline, node index, attempt)
        self._running: dict[int, threading.Event] = {}  # node index -> its attempt's cancel event
        self._unfinished = len(self._nodes)
        self._cancel_reason: str | None = None  # set once the run is being cancelled
        self._run_error: str | None = None

    # --- public -----------------------------------------------------------------

    def cancel(self) -> None:
        """Cancel the run: running steps are killed, the others end as cancelled.

        Idempotent; safe from any thread and from a signal handler (it sets a flag and posts a message).
        """
        if not self._cancel_requested:
            self._cancel_requested = True
            self._inbox.put(_CANCEL)

    def run(self) -> RunStatus:
        """Run the plan to its end and return the run's status. Once per engine.

        Re-raises the sink's exception if the sink failed (the run was cancelled then).
        """
        if self._started:
            raise RuntimeError("an Engine runs once; make a new one for another run")
        self._started = True
        output_dir = self._output_dir or Path(tempfile.mkdtemp(prefix="plue-outputs-"))
        output_dir.mkdir(parents=True, exist_ok=True)
        pool = ThreadPoolExecutor(max_workers=self._max_parallel, thread_name_prefix="plue-step")
        try:
            status = self._walk(pool, output_dir)
        except BaseException:
            for cancelled in self._running.values():  # never wait on steps nobody will collect
                cancelled.set()
            raise
        finally:
            pool.shutdown(wait=True)
            if self._output_dir is None:
                shutil.rmtree(output_dir, ignore_errors=True)
        if self._emitter.failure is not None:
            raise self._emitter.failure
        return status

    # --- the loop ---------------------------------------------------------------

    def _walk(self, pool: ThreadPoolExecutor, output_dir: Path) -> RunStatus:
        self._emitter.emit(RunStarted(self._run_id, time.time()))
        timeout = self._plan["timeout"]
        run_deadline = None if timeout is None else time.monotonic() + timeout
        for node in self._nodes:
            if node.id in self._reuse:
                outputs, exit_code = self._reuse[node.id]
                self._emitter.emit(StepReused(node.id, outputs, exit_code, time.time()))
        for node in self._nodes:
            if node.id in self._reuse:
                outputs, exit_code = self._reuse[node.id]
                self._settle(node, StepStatus.SUCCESS, StepValues(outputs, exit_code))
        for node in self._nodes:
            if not node.deps and not node.finished:  # the others are resolved when their last dependency settles
                self._resolve(node)

        while self._unfinished:
            if self._cancel_requested and self._cancel_reason is None:
                self._begin_cancel("the run was cancelled")
            if run_deadline is not None and self._cancel_reason is None and time.monotonic() >= run_deadline:
                self._run_error = f"run timed out after {timeout}s"
                self._begin_cancel(f"the {self._run_error}")
            self._fire_timers()
            self._start_ready(pool, output_dir)
            if not self._unfinished:
                break
            try:
                message = self._inbox.get(timeout=self._wait_seconds(run_deadline))
                while True:  # everything that has arrived, before starting more steps
                    if isinstance(message, _AttemptDone):
                        self._attempt_done(message)
                    message = self._inbox.get_nowait()
            except queue.Empty:
                pass
            self._emitter.flush_if_stale()

        statuses = {node.status for node in self._nodes}
        if statuses & {StepStatus.FAILED, StepStatus.TIMED_OUT}:
            status = RunStatus.FAILED
        elif self._cancel_reason is not None or StepStatus.CANCELLED in statuses:
            status = RunStatus.CANCELLED
        else:
            status = RunStatus.SUCCESS
        self._emitter.emit(RunFinished(status, time.time(), self._run_error))
        return status

    def _wait_seconds(self, run_deadline: float | None) -> float | None:
        """How long the loop may sleep: until the next timer, or a log flush while steps run."""
        now = time.monotonic()
        due = [self._backoffs[0][0]] if self._backoffs else []
        if self._deadlines:
            due.append(self._deadlines[0][0])
        if run_deadline is not None and self._cancel_reason is None:
            due.append(run_deadline)
        wait = max(0.0, min(due) - now) if due else None
        if self._running:
            wait = min(wait, self._emitter.flush_seconds) if wait is not None else self._emitter.flush_seconds
        return wait

    def _fire_timers(self) -> None:
        now = time.monotonic()
        while self._backoffs and self._backoffs[0][0] <= now:
            _, index = heapq.heappop(self._backoffs)
            heapq.heappush(self._ready, index)
        while self._deadlines and self._deadlines[0][0] <= now:
            _, index, attempt = heapq.heappop(self._deadlines)
            # Executors see the deadline themselves; the event is for those that only watch `cancelled`.
            if index in self._running and self._nodes[index].attempts == attempt:
                self._running[index].set()

    def _start_ready(self, pool: ThreadPoolExecutor, output_dir: Path) -> None:
        while self._ready and len(self._running) < self._max_parallel and self._cancel_reason is None:
            node = self._nodes[heapq.heappop(self._ready)]
            node.attempts += 1
            cancelled = threading.Event()
            self._running[node.index] = cancelled
            step_timeout = node.step.get("timeout")
            deadline = None if step_timeout is None else time.monotonic() + step_timeout
            if deadline is not None:
                heapq.heappush(self._deadlines, (deadline, node.index, node.attempts))
            pool.submit(self._attempt, node, node.attempts, cancelled, deadline, output_dir)

    def _attempt_done(self, done: _AttemptDone) -> None:
        node = self._nodes[done.index]
        del self._running[done.index]
        self._values[node.id] = done.values
        if done.retry_delay is None:
            self._settle(node, done.status, done.values)
        elif self._cancel_reason is not None:  # cancelled after the worker chose to retry
            self._skip(node, StepStatus.CANCELLED, self._cancel_reason)
        else:
            heapq.heappush(self._backoffs, (time.monotonic() + done.retry_delay, node.index))

    def _begin_cancel(self, reason: str) -> None:
        """Kill what runs; every step that is not running ends now as cancelled."""
        self._cancel_reason = reason
        for cancelled in self._running.values():
            cancelled.set()
        self._ready.clear()
        self._backoffs.clear()
        for node in self._nodes:
            if not node.finished and node.index not in self._running:
                self._skip(node, StepStatus.CANCELLED, reason)

    # --- the graph --------------------------------------------------------------

    def _skip(self, node: StepNode, status: StepStatus, reason: str) -> None:
        self._emitter.emit(StepSkipped(node.id, reason, time.time(), status))
        self._settle(node, status, None)

    def _settle(self, node: StepNode, status: StepStatus, values: StepValues | None) -> None:
        """Record a step's final status and let its dependents go (or skip them, and theirs)."""
        node.status = status
        self._unfinished -= 1
        if values is not None:
            self._values[node.id] = values
        for index in node.dependents:
            dependent = self._nodes[index]
            dependent.waiting_on -= 1
            if dependent.waiting_on == 0 and not dependent.finished:
                self._resolve(dependent)

    def _resolve(self, node: StepNode) -> None:
        """A step whose dependencies have all finished: ready, skipped or cancelled."""
        if self._cancel_reason is not None:
            self._skip(node, StepStatus.CANCELLED, self._cancel_reason)
            return
        reason = skip_reason(node, self._nodes)
        if reason is None:
            heapq.heappush(self._ready, node.index)
        else:
            self._skip(node, StepStatus.SKIPPED, reason)

    # --- one attempt (worker threads) ---------------------------------------------

    def _attempt(
        self, node: StepNode, attempt: int, cancelled: threading.Event, deadline: float | None, output_dir: Path
    ) -> None:
        try:
            done = self._run_attempt(node, attempt, cancelled, deadline, output_dir)
        except BaseException as exc:  # an engine bug must not leave the loop waiting forever
            done = _AttemptDone(node.index, StepStatus.FAILED, StepValues(), None)
            self._emitter.emit(
                StepFinished(
                    node.id,
                    attempt + self._attempt_base.get(node.id, 0),
                    StepStatus.FAILED,
                    time.time(),
                    time.time(),
                    error=self._masker(f"internal engine error: {type(exc).__name__}: {exc}")[:MAX_ERROR_CHARS],
                )
            )
        self._inbox.put(done)

    def _run_attempt(
        self, node: StepNode, attempt: int, cancelled: threading.Event, deadline: float | None, output_dir: Path
    ) -> _AttemptDone:
        step = node.step
        local_attempt = attempt  # retries and backoff count from this engine's first attempt
        attempt += self._attempt_base.get(node.id, 0)  # the number reported and stored
        started_at = time.time()
        self._emitter.emit(StepStarted(node.id, attempt, started_at))
        log = self._emitter.attempt_log(node.id, attempt)

        renderer = Renderer(self._values)
        rendered, env_values = renderer.render_step(step, self._plan_env)
        for warning in renderer.warnings:
            log(Stream.SYSTEM, f"warning: {warning}")
        output_file = output_dir / f"{node.id}.{attempt}.out"
        # Not created here: creating a file costs more than the rest of an attempt's overhead on some disks,
        # and `>>` creates it. Only a stale one (a caller's output_dir used twice) must go.
        output_file.unlink(missing_ok=True)
        variables = plue_variables(self._run_id, node.id, attempt, self._workspace, output_file)
        context = StepContext(
            run_id=self._run_id,
            step=rendered,
            attempt=attempt,
            workspace=self._workspace,
            env=step_env(self._base_env, env_values, self._secrets, variables),
            output_file=output_file,
            log=log,
            cancelled=cancelled,
            deadline=deadline,
            mask=self._masker,
        )
        result = self._execute(context)

        parsed = read_outputs(output_file)
        for warning in parsed.warnings:
            log(Stream.SYSTEM, f"warning: {warning}")
        outputs = {self._masker(key): self._masker(value) for key, value in parsed.outputs.items()}
        extra = self._masker.mask_data(result.extra)
        error = self._masker(result.error)[:MAX_ERROR_CHARS] if result.error else None
        retry_delay = self._retry_delay(node, local_attempt, result.status)
        if retry_delay is not None:
            last = attempt - local_attempt + step["retries"] + 1
            log(
                Stream.SYSTEM,
                f"attempt {attempt} {result.status.value.replace('_', ' ')}; retrying in {retry_delay:.1f}s"
                f" (attempt {attempt + 1} of {last})",
            )
        self._emitter.emit(
            StepFinished(
                node.id,
                attempt,
                result.status,
                started_at,
                time.time(),
                exit_code=result.exit_code,
                outputs=outputs,
                error=error,
                will_retry=retry_delay is not None,
                extra=extra,
            )
        )
        return _AttemptDone(node.index, result.status, StepValues(outputs, result.exit_code, extra), retry_delay)

    def _execute(self, context: StepContext) -> StepResult:
        step_type = str(context.step["type"])
        try:
            result = self._executors[step_type].run(context)
        except Exception as exc:
            return StepResult(StepStatus.FAILED, error=f"the {step_type} executor failed: {type(exc).__name__}: {exc}")
        if result.status not in _ATTEMPT_RESULTS:
            return StepResult(
                StepStatus.FAILED, error=f"the {step_type} executor returned the status {result.status.value!r}"
            )
        return result

    def _retry_delay(self, node: StepNode, attempt: int, status: StepStatus) -> float | None:
        if status not in _RETRYABLE or attempt > node.step["retries"] or self._cancel_requested:
            return None
        return backoff_delay(self._run_id, node.id, attempt, node.step["retry_backoff"]) * self._retry_delay_scale
