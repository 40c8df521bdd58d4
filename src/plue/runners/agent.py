"""The runner agent (`plue runner`): register, heartbeat, long-poll for claims, execute, report, release.

    agent = Agent(RunnerClient(server, token), AgentOptions(name=..., labels=..., work_dir=...))
    with stop_on_signals(agent):
        code = agent.run()        # 0: stopped cleanly; 1: cannot reach or authenticate (agent.failure says why)

Threads. The caller's thread supervises: it registers, then waits for something to do —
re-register after the server declared the runner lost, leave when draining is done, give
up when the token is refused. A heartbeat thread reports the attempts held every
`heartbeat_seconds` and applies the answer: `cancel` cancels those runs (the engine kills
their process groups; the run ends `cancelled` and is reported as usual), `abort` stops
those attempts and drops what they hold (they are not this runner's any more), `lost`
aborts everything and registers again under a new id, `drain` takes no new run. A claim
thread long-polls while fewer than `capacity` runs execute. Each claimed run executes on
a thread of its own (`_Execution`): a fresh workspace `work_dir/<attempt_id>` with the
run's source, the engine with the step executors, a `RemoteSink` to the server; at the
end, every event acked (or the attempt fenced), the workspace is wiped and the slot freed.

Failures. Every HTTP failure after the first registration is retried with capped
exponential backoff and jitter; the agent never crashes on one. The first registration is
retried for `register_timeout` seconds, then the agent gives up (exit 1). A refused token
(401/403) is final at any time: runs are aborted and the agent exits 1.

Stopping. `stop()` (SIGTERM/SIGINT through `stop_on_signals`): the first drains — no new
claim, the current runs finish and are reported, the runner deregisters and `run` returns
0; the second cancels the current runs (they end `cancelled`, reported); the third aborts
them without waiting for the server. `--once` (`AgentOptions.once`): drain after the first claim.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Final

from plue import __version__
from plue.engine import Engine, RunFinished, RunStarted, RunStatus
from plue.runners.client import (
    AuthRefused,
    Backoff,
    BadClaim,
    Claim,
    ClientError,
    Draining,
    Fenced,
    Registration,
    Rejected,
    RunnerClient,
    RunnerGone,
    Unreachable,
)
from plue.runners.remote_sink import RemoteSink
from plue.runners.workspace import WorkspaceError, prepare_workspace, unpack_source, wipe
from plue.steps import KILL_GRACE_SECONDS, LlmOptions, default_executors
from plue.validation import PlanInvalid

REGISTER_TIMEOUT_SECONDS: Final = 60.0  # the first registration: then the server is taken to be unreachable
FORCED_STOP_SECONDS: Final = 30.0  # after aborting on a fatal error, how long runs get to end
DEREGISTER_SECONDS: Final = 5.0
SIGNAL_CHECK_SECONDS: Final = 0.5  # how soon the main thread runs a signal handler at the latest
BACKOFF_INITIAL_SECONDS: Final = 0.1
BACKOFF_CAP_SECONDS: Final = 5.0
LOG_EVERY_FAILURES: Final = 20  # a failing call is logged the first time, then every N times
SOURCE_SERVER_ERRORS: Final = 5  # the server answered 5xx for the source this often in a row: the run fails

log = logging.getLogger(__name__)


class AgentFailed(Exception):
    """The agent cannot work (the server refuses its token, or never answered): `str()` says why."""


@dataclass(frozen=True)
class AgentOptions:
    name: str
    work_dir: Path
    labels: tuple[str, ...] = ()
    capacity: int = 1
    once: bool = False
    pool: str | None = None  # the pool controller's pool this runner belongs to
    register_timeout: float = REGISTER_TIMEOUT_SECONDS
    llm: LlmOptions | None = None
    max_parallel: int | None = None  # steps at once per run; None: the engine's default (CPUs)
    kill_grace: float = KILL_GRACE_SECONDS

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError("capacity must be at least 1")


def host_facts() -> dict[str, Any]:
    """What the server shows about the machine a runner is on."""
    return {
        "hostname": socket.gethostname(),
        "os": platform.system().lower(),
        "arch": platform.machine(),
        "python": platform.python_version(),
        "cpus": os.cpu_count() or 1,
    }


class Agent:
    """One runner. `run()` once, on the thread that supervises; `stop()` from any thread."""

    def __init__(self, client: RunnerClient, options: AgentOptions) -> None:
        self.client = client
        self.options = options
        self._cond = threading.Condition()
        # Guarded by _cond:
        self._registration: Registration | None = None
        self._generation = 0  # counts registrations: a claim or a lost answer belongs to one
        self._executions: dict[int, _Execution] = {}  # attempt id -> its execution
        self._drain_reason: str | None = None  # set: no new claims; leave when the runs are done
        self._stop_requests = 0
        self._lost: int | None = None  # the generation the server said is lost
        self._fatal: str | None = None
        self._leaving = False  # the supervisor is deregistering: claims that arrive now are dropped
        self.claimed = 0  # runs claimed so far
        self.failure: str | None = None  # why run() returned 1
        self._exiting = threading.Event()  # the heartbeat and claim threads end
        self._stopping = threading.Event()  # stop() was called: interrupts the supervisor's backoffs

    # --- control -------------------------------------------------------------------------------

    @property
    def runner_id(self) -> str | None:
        with self._cond:
            return self._registration.runner_id if self._registration else None

    def running(self) -> list[int]:
        """Attempt ids held right now."""
        with self._cond:
            return sorted(self._executions)

    def stop(self) -> None:
        """First call: drain (finish, deregister, exit 0). Second: cancel the runs. Third: abort them."""
        with self._cond:
            self._stop_requests += 1
            count = self._stop_requests
            executions = list(self._executions.values())
            if self._drain_reason is None:
                self._drain_reason = "stopping"
            self._cond.notify_all()
        self._stopping.set()
        if count == 1:
            log.info("stopping: the current runs finish first (signal again to cancel them)")
        elif count == 2:
            log.info("cancelling the current runs (signal again to abandon them)")
            for execution in executions:
                execution.cancel()
        else:
            for execution in executions:
                execution.abort("the runner was stopped")

    # --- the supervisor ----------------------------------------------------------------------------

    def run(self) -> int:
        """Work until stopped or drained (0), or until the server refuses the token or never answers the first
        registration (1; `failure` says why)."""
        try:
            if not self._register_first():
                return 0  # stopped before it ever registered
        except AgentFailed as exc:
            self.failure = str(exc)
            return 1
        self.options.work_dir.mkdir(parents=True, exist_ok=True)
        threads = [
            threading.Thread(target=self._heartbeat_loop, name="plue-runner-heartbeat", daemon=True),
            threading.Thread(target=self._claim_loop, name="plue-runner-claim", daemon=True),
        ]
        for thread in threads:
            thread.start()
        try:
            return self._supervise()
        finally:
            self._exiting.set()
            with self._cond:
                self._cond.notify_all()
            threads[0].join(DEREGISTER_SECONDS)  # the claim thread may be in a long poll: it is a daemon

    def _supervise(self) -> int:
        while True:
            with self._cond:
                while not (
                    self._fatal is not None
                    or self._lost is not None
                    or (self._drain_reason is not None and not self._executions)
                ):
                    # With a timeout: Python runs signal handlers in this (the main) thread, and only when it
                    # runs. A SIGTERM the kernel hands to another thread would otherwise wait, unhandled, for
                    # the next notification (which a draining run may never send).
                    self._cond.wait(SIGNAL_CHECK_SECONDS)
                fatal, lost, drain = self._fatal, self._lost, self._drain_reason
                self._lost = None
                if fatal is not None:
                    executions = list(self._executions.values())
                elif lost is not None:
                    if lost != self._generation:
                        continue  # an old registration's news
                    self._registration = None  # no heartbeat, no claim until registered again
                    executions = [item for item in self._executions.values() if item.generation == lost]
                else:
                    self._leaving = True
                    registration = self._registration
                    break
            if fatal is not None:
                self.failure = fatal
                for execution in executions:
                    execution.abort(fatal)
                self._wait_for_executions(FORCED_STOP_SECONDS)
                return 1
            log.warning("the server declared this runner lost: aborting %d run(s)", len(executions))
            for execution in executions:
                execution.abort("the server declared this runner lost")
            if drain is None:
                self._register_again()
        log.info("leaving (%s)", drain)
        if registration is not None:
            self._deregister(registration.runner_id)
        return 0

    def _wait_for_executions(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._executions and (remaining := deadline - time.monotonic()) > 0:
                self._cond.wait(remaining)

    def _register_first(self) -> bool:
        """Register, retrying while the server cannot be reached, for up to `register_timeout` seconds.

        False: stopped before it could. Raises `AgentFailed`.
        """
        deadline = time.monotonic() + self.options.register_timeout
        backoff = Backoff(BACKOFF_INITIAL_SECONDS, BACKOFF_CAP_SECONDS)
        while not self._stopping.is_set():
            try:
                return self._register()
            except (AuthRefused, Rejected) as exc:
                raise AgentFailed(f"cannot register with {self.client.url}: {exc}") from None
            except ClientError as exc:
                delay = backoff.next()
                if time.monotonic() + delay > deadline:
                    raise AgentFailed(f"cannot register: {exc}") from None
                log.warning("cannot register yet: %s; retrying", exc)
            self._stopping.wait(delay)
        return False

    def _register_again(self) -> None:
        """Register under a new id, retrying until it works, the token is refused, or the runner is stopped."""
        backoff = Backoff(BACKOFF_INITIAL_SECONDS, BACKOFF_CAP_SECONDS)
        failures = 0
        while True:
            with self._cond:
                if self._drain_reason is not None or self._fatal is not None:
                    return
            try:
                self._register()
                return
            except AuthRefused as exc:
                self._fail(f"cannot register again with {self.client.url}: {exc}")
                return
            except ClientError as exc:
                failures += 1
                if failures == 1 or failures % LOG_EVERY_FAILURES == 0:
                    log.warning("cannot register again yet: %s; retrying", exc)
            backoff.wait(self._stopping)

    def _register(self) -> bool:
        registration = self.client.register(
            self.options.name,
            self.options.labels,
            __version__,
            host_facts(),
            self.options.capacity,
            pool=self.options.pool,
        )
        with self._cond:
            self._registration = registration
            self._generation += 1
            self._cond.notify_all()
        labels = ",".join(self.options.labels) or "(none)"
        log.info("registered as %s (runner %s, labels %s)", self.options.name, registration.runner_id, labels)
        return True

    def _deregister(self, runner_id: str) -> None:
        deadline = time.monotonic() + DEREGISTER_SECONDS
        backoff = Backoff(BACKOFF_INITIAL_SECONDS, 1.0)
        while True:
            try:
                self.client.deregister(runner_id)
                log.info("deregistered runner %s", runner_id)
                return
            except (RunnerGone, AuthRefused, Rejected):
                return  # nothing to undo, or nothing that trying again would change
            except ClientError as exc:
                if time.monotonic() > deadline:
                    log.warning("could not deregister (%s): the server will find the runner lost", exc)
                    return
            backoff.wait(threading.Event())

    # --- events from the other threads ---------------------------------------------------------------

    def _mark_lost(self, generation: int) -> None:
        with self._cond:
            if generation == self._generation and self._registration is not None:
                self._lost = generation
                self._cond.notify_all()

    def _drain(self, reason: str) -> None:
        with self._cond:
            if self._drain_reason is None:
                self._drain_reason = reason
                log.info("draining: %s", reason)
            self._cond.notify_all()

    def _fail(self, reason: str) -> None:
        with self._cond:
            if self._fatal is None:
                self._fatal = reason
            self._cond.notify_all()

    def _finished(self, execution: _Execution) -> None:
        with self._cond:
            self._executions.pop(execution.claim.attempt_id, None)
            self._cond.notify_all()

    # --- the heartbeat thread --------------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        failures = 0
        backoff = Backoff(BACKOFF_INITIAL_SECONDS, BACKOFF_CAP_SECONDS)
        wait = self._interval()
        while not self._exiting.wait(wait):
            wait = self._interval()
            with self._cond:
                registration, generation = self._registration, self._generation
                # An attempt whose end the server holds is over there: only the ones still running are reported.
                held = {attempt_id: item for attempt_id, item in self._executions.items() if not item.done}
            if registration is None:
                continue
            try:
                answer = self.client.heartbeat(registration.runner_id, list(held))
            except RunnerGone:
                self._mark_lost(generation)
                continue
            except AuthRefused as exc:
                self._fail(f"the server refused the token: {exc}")
                return
            except Exception as exc:  # unreachable, or an answer that is not the protocol's: try again soon
                failures += 1
                if failures == 1 or failures % LOG_EVERY_FAILURES == 0:
                    log.warning("heartbeat failed: %s", exc)
                wait = min(wait, backoff.next())
                continue
            failures = 0
            backoff.reset()
            if answer.status in ("lost", "offline"):
                self._mark_lost(generation)
                continue
            for attempt_id in answer.cancel & held.keys():
                held[attempt_id].cancel()
            for attempt_id in answer.abort & held.keys():
                held[attempt_id].abort(f"the server ended attempt {attempt_id}")
            if answer.drain:
                self._drain("the server drains this runner")

    def _interval(self) -> float:
        with self._cond:
            return self._registration.heartbeat_seconds if self._registration else BACKOFF_CAP_SECONDS

    # --- the claim thread --------------------------------------------------------------------------------

    def _claim_loop(self) -> None:
        backoff = Backoff(BACKOFF_INITIAL_SECONDS, BACKOFF_CAP_SECONDS)
        failures = 0
        while True:
            with self._cond:
                while not self._exiting.is_set() and not self._may_claim():
                    self._cond.wait()
                if self._exiting.is_set():
                    return
                registration, generation = self._registration, self._generation
            assert registration is not None
            try:
                claim = self.client.claim(registration.runner_id, registration.claim_wait_seconds)
            except RunnerGone:
                self._mark_lost(generation)
                continue
            except Draining:
                self._drain("the server drains this runner")
                continue
            except AuthRefused as exc:
                self._fail(f"the server refused the token: {exc}")
                return
            except BadClaim as exc:
                log.error("attempt %s: the claim cannot be used: %s", exc.attempt_id, exc)
                _report_unusable_claim(self.client, exc.attempt_id, f"the runner cannot use the claim: {exc}")
                continue
            except Exception as exc:  # unreachable, refused, or the client closed under us at exit
                if self._exiting.is_set():
                    return
                failures += 1
                if failures == 1 or failures % LOG_EVERY_FAILURES == 0:
                    log.warning("cannot claim: %s; retrying", exc)
                backoff.wait(self._exiting)
                continue
            failures = 0
            backoff.reset()
            if claim is not None:
                self._start(claim, generation)

    def _may_claim(self) -> bool:
        return (
            self._registration is not None
            and self._drain_reason is None
            and self._fatal is None
            and self._lost is None
            and len(self._executions) < self.options.capacity
        )

    def _start(self, claim: Claim, generation: int) -> None:
        with self._cond:
            if self._leaving or generation != self._generation or self._registration is None:
                # The server takes this attempt as lost (deregistered or re-registered runner): it is not ours.
                log.warning("dropping the claim of run %s: this runner is leaving", claim.run.id)
                return
            execution = _Execution(self, claim, generation)
            self._executions[claim.attempt_id] = execution
            self.claimed += 1
            if self.options.once:
                self._drain_reason = "--once: one run only"
        execution.start()


class _Execution:
    """One claimed run executed on its own thread, from workspace to release."""

    def __init__(self, agent: Agent, claim: Claim, generation: int) -> None:
        self.agent = agent
        self.claim = claim
        self.generation = generation
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._cancel_requested = False
        self._aborted: str | None = None
        self._stop = threading.Event()  # set on abort: interrupts waits
        self.sink = RemoteSink(agent.client, claim.attempt_id, on_stopped=self._sink_stopped)
        self._thread = threading.Thread(target=self._run, name=f"plue-run-{claim.attempt_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        """A user cancelled the run: the engine kills the running steps; the run ends `cancelled`, reported."""
        with self._lock:
            first = not self._cancel_requested
            self._cancel_requested = True
            engine = self._engine
        if first:
            log.info("run %s: cancel requested", self.claim.run.id)
        if engine is not None:
            engine.cancel()  # idempotent: heartbeats repeat the request until the run has ended

    def abort(self, reason: str) -> None:
        """The attempt is not ours any more: stop the run and drop whatever it has not sent."""
        if self.done:
            return  # the server has all of it; the attempt ended there when its end arrived
        with self._lock:
            first = self._aborted is None
            self._aborted = self._aborted or reason
            engine = self._engine
        if first:
            log.warning("run %s (attempt %s): aborting: %s", self.claim.run.id, self.claim.attempt_id, reason)
        self._stop.set()
        self.sink.abort(reason)
        if engine is not None:
            engine.cancel()

    def _sink_stopped(self, reason: str) -> None:
        # Fenced, or the server refused the events: nothing more this attempt does can be stored.
        with self._lock:
            self._aborted = self._aborted or reason
            engine = self._engine
        self._stop.set()
        if engine is not None:
            engine.cancel()

    @property
    def done(self) -> bool:
        """The server holds the whole run, its end included: nothing left to report or to stop."""
        return self.sink.finish_acked

    @property
    def aborted(self) -> bool:
        with self._lock:
            return self._aborted is not None

    # --- the thread ----------------------------------------------------------------------------------------

    def _run(self) -> None:
        claim = self.claim
        run = claim.run
        log.info("run %s (%s): claimed, attempt %s (id %s)", run.id, run.workflow_name, claim.attempt, claim.attempt_id)
        workspace: Path | None = None
        try:
            workspace = prepare_workspace(self.agent.options.work_dir, claim.attempt_id)
            status = self._execute(workspace)
            if status is not None and not self.aborted:
                log.info("run %s: %s", run.id, status)
        except WorkspaceError as exc:
            self._report_failure(f"cannot prepare the workspace: {exc}")
        except Exception as exc:  # a runner must survive anything one run does
            log.exception("run %s: the execution failed", run.id)
            self._report_failure(f"the run failed inside the runner: {type(exc).__name__}: {exc}")
        finally:
            self._release(workspace)

    def _execute(self, workspace: Path) -> RunStatus | None:
        claim = self.claim
        if claim.source is not None:
            problem = self._fetch_source(claim.source, workspace)
            if problem is not None:
                self._report_failure(problem)
                return RunStatus.FAILED
        if self.aborted:
            return None
        options = self.agent.options
        try:
            engine = Engine(
                claim.run.plan,
                default_executors(kill_grace=options.kill_grace, llm=options.llm),
                self.sink,
                run_id=str(claim.run.id),
                workspace=workspace,
                secrets=claim.secrets,
                max_parallel=options.max_parallel,
                reuse={step_id: (item.outputs, item.exit_code) for step_id, item in claim.reuse.items()} or None,
                attempt_base=claim.attempt_base,
            )
        except (ValueError, PlanInvalid) as exc:
            self._report_failure(f"cannot run: {exc}")
            return RunStatus.FAILED
        with self._lock:
            self._engine = engine
            cancel = self._cancel_requested or self._aborted is not None
        if cancel:
            engine.cancel()  # it still reports its start and end: the run ends `cancelled`
        try:
            return engine.run()
        except Exception as exc:
            self._report_failure(f"the run failed inside plue: {type(exc).__name__}: {exc}")
            return RunStatus.FAILED

    def _fetch_source(self, source: str, workspace: Path) -> str | None:
        """Download and unpack the run's source; the reason the run cannot start, or None."""
        tarball = self.agent.options.work_dir / f"{self.claim.attempt_id}.source.tar.gz"
        backoff = Backoff(BACKOFF_INITIAL_SECONDS, BACKOFF_CAP_SECONDS)
        failures = 0
        server_errors = 0  # answers, not silence: a mirror that cannot archive the commit will not start to
        try:
            while True:
                if self.aborted:
                    return None
                try:
                    size = self.agent.client.download_source(source, tarball)
                    break
                except Fenced as exc:
                    self.abort(f"fenced: {exc}")
                    return None
                except AuthRefused as exc:
                    self.agent._fail(f"the server refused the token: {exc}")
                    self.abort("the server refused the token")
                    return None
                except Rejected as exc:
                    return f"cannot fetch the run's source: {exc}"
                except Unreachable as exc:
                    server_errors = server_errors + 1 if exc.status is not None else 0
                    if server_errors >= SOURCE_SERVER_ERRORS:
                        return f"cannot fetch the run's source: {exc}"
                    failures += 1
                    if failures == 1 or failures % LOG_EVERY_FAILURES == 0:
                        log.warning("run %s: cannot fetch the source yet: %s", self.claim.run.id, exc)
                    backoff.wait(self._stop)
            entries = unpack_source(tarball, workspace)
            log.info("run %s: source unpacked (%d bytes, %d entries)", self.claim.run.id, size, entries)
            return None
        except WorkspaceError as exc:
            return str(exc)
        finally:
            with contextlib.suppress(OSError):
                tarball.unlink(missing_ok=True)

    def _report_failure(self, error: str) -> None:
        """End the run `failed` with `error`, as the engine would have (a start, then the end)."""
        if self.aborted:
            return
        log.error("run %s: %s", self.claim.run.id, error)
        now = time.time()
        if not self.sink.run_started:
            self.sink.emit(RunStarted(str(self.claim.run.id), now))
        if not self.sink.run_finished:
            self.sink.emit(RunFinished(RunStatus.FAILED, now, error))

    def _release(self, workspace: Path | None) -> None:
        """Every event acked (or the attempt given up), the workspace gone, the slot free."""
        try:
            if self.aborted:
                self.sink.abort(self._aborted or "aborted")
            elif not self.sink.close():
                log.warning("run %s: not every event reached the server (%s)", self.claim.run.id, self.sink.stop_reason)
            if workspace is not None:
                try:
                    wipe(workspace)
                except WorkspaceError as exc:
                    log.error("run %s: %s", self.claim.run.id, exc)
        finally:
            self.agent._finished(self)


def _report_unusable_claim(client: RunnerClient, attempt_id: int, error: str) -> None:
    """A claim the runner cannot read is still its attempt: end the run failed so it does not stay running."""
    sink = RemoteSink(client, attempt_id)
    now = time.time()
    sink.emit(RunStarted("", now))
    sink.emit(RunFinished(RunStatus.FAILED, now, error))
    if not sink.close(DEREGISTER_SECONDS * 6):
        sink.abort("gave up reporting an unusable claim")


@contextmanager
def stop_on_signals(agent: Agent) -> Iterator[None]:
    """SIGTERM and SIGINT call `agent.stop()` (from a thread: a signal handler must not take locks)."""
    read_fd, write_fd = os.pipe()
    previous: dict[signal.Signals, Any] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(OSError):
            os.write(write_fd, b"s")

    def relay() -> None:
        while True:
            try:
                data = os.read(read_fd, 64)
            except OSError:
                return
            if not data:
                return
            for _ in data:
                agent.stop()

    thread = threading.Thread(target=relay, name="plue-runner-signals", daemon=True)
    thread.start()
    for number in (signal.SIGTERM, signal.SIGINT):
        previous[number] = signal.signal(number, handler)
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
        os.close(write_fd)
        thread.join(DEREGISTER_SECONDS)
        os.close(read_fd)
