"""Built-in workers: threads of the server process that claim queued runs and execute them here.

Each worker loops: `store.claim_run(owner)` (the store makes sure a run is claimed
once, across processes), a fresh workspace in `<data_dir>/work/<run-id>` — a
writable clone of the repository at the run's commit, or an empty directory for a
run without a repository —, `plue.runners.local.execute_run`, and the workspace is
removed. Idle workers sleep until `wake()` (called by whoever queues a run in this
process) or `poll_seconds` pass (runs queued by other processes).

Owners are `host:pid:start/worker-N` (`plue.store.process_owner`), so the runs of a
server that dies are marked `interrupted` by the next store that opens.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final, Protocol

from plue.engine import RunStatus
from plue.runners.local import execute_run, reused_steps
from plue.server.config import ServerConfig
from plue.steps import LlmOptions
from plue.store import RunRecord, Store, StoreError, process_owner

POLL_SECONDS: Final = 1.0  # how soon a run queued by another process is noticed
STORE_RETRY_SECONDS: Final = 2.0  # after the store failed to answer a claim
FORCED_STOP_SECONDS: Final = 30.0  # after cancelling, how long runs get to end before they are marked
ABANDONED_ERROR: Final = "the server stopped before the run ended"

log = logging.getLogger(__name__)


class MirrorLike(Protocol):
    def workspace(self, sha: str, destination: Path) -> Path: ...


MirrorLookup = Callable[[str], MirrorLike | None]  # repository name -> its mirror (None: not configured)


class WorkerPool:
    """`count` worker threads (default `config.workers`) executing the store's queued runs."""

    def __init__(
        self,
        store: Store,
        config: ServerConfig,
        mirrors: MirrorLookup,
        count: int | None = None,
        *,
        poll_seconds: float = POLL_SECONDS,
        llm: LlmOptions | None = None,
        on_finished: Callable[[int, RunStatus], None] | None = None,
    ) -> None:
        """`mirrors`: e.g. `Mirrors.get`; `on_finished(run_id, status)` is told, from the worker's thread,
        after each run this pool claimed has ended (and its workspace is gone)."""
        self.store = store
        self.config = config
        self.count = config.workers if count is None else count
        self._mirrors = mirrors
        self._poll_seconds = poll_seconds
        self._llm = llm
        self.on_finished = on_finished  # may be set after construction, before start()
        self._wake = threading.Event()
        self._stopping = threading.Event()  # no more claims
        self._cancel = threading.Event()  # running runs: cancel now
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._running: dict[int, str] = {}  # run id -> owner, guarded by _lock

    # --- control ----------------------------------------------------------------------

    def start(self) -> None:
        if self._threads:
            raise RuntimeError("the worker pool is already started")
        self.config.work_dir.mkdir(parents=True, exist_ok=True)
        for index in range(self.count):
            owner = process_owner(worker=f"worker-{index}")
            thread = threading.Thread(target=self._loop, args=(owner,), name=f"plue-worker-{index}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def wake(self) -> None:
        """A run was queued: idle workers try to claim it now rather than at their next poll."""
        self._wake.set()

    @property
    def stopping(self) -> threading.Event:
        """Set once `stop` began: the pool claims nothing more."""
        return self._stopping

    def running(self) -> list[int]:
        """Ids of the runs being executed right now."""
        with self._lock:
            return sorted(self._running)

    def stop(self, grace: float = 10.0) -> None:
        """Claim nothing more; let running runs finish for up to `grace` seconds, then cancel them.

        A run still not finished `FORCED_STOP_SECONDS` after the cancel is marked `cancelled`
        in the store, so nothing this pool started is left `running`.
        """
        self._stopping.set()
        self._wake.set()
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self._threads):
            log.info("cancelling runs %s: the server is stopping", self.running())
            self._cancel.set()
            deadline = time.monotonic() + FORCED_STOP_SECONDS
            for thread in self._threads:
                thread.join(max(0.0, deadline - time.monotonic()))
        for run_id in self.running():
            self._finish_abandoned(run_id)

    # --- a worker -----------------------------------------------------------------------

    def _loop(self, owner: str) -> None:
        while not self._stopping.is_set():
            try:
                run = self.store.claim_run(owner)
            except StoreError as exc:
                log.warning("cannot claim a run: %s", exc)
                self._stopping.wait(STORE_RETRY_SECONDS)
                continue
            if run is None:
                self._wake.wait(self._poll_seconds)
                self._wake.clear()
                continue
            # Other idle workers look too: several runs may have been queued at once.
            self._wake.set()
            with self._lock:
                self._running[run.id] = owner
            status = RunStatus.FAILED
            try:
                status = self._execute(run)
            except Exception:  # a worker must survive anything one run does
                log.exception("run %s: the worker failed", run.id)
            finally:
                with self._lock:
                    self._running.pop(run.id, None)
            if self.on_finished is not None:
                try:
                    self.on_finished(run.id, status)
                except Exception:
                    log.exception("run %s: the on_finished callback failed", run.id)

    def _execute(self, run: RunRecord) -> RunStatus:
        workspace = self.config.work_dir / str(run.id)
        shutil.rmtree(workspace, ignore_errors=True)  # the remains of an earlier server, if any
        try:
            problem = self._prepare(run, workspace)
            if problem is not None:
                self.store.finish_run(run.id, str(RunStatus.FAILED), problem, time.time())
                return RunStatus.FAILED
            status = execute_run(
                self.store,
                run,
                workspace,
                secrets=self.config.secrets_for(run.repository),
                cancel=self._cancel,
                llm=self._llm,
                reuse=reused_steps(run),  # a rerun of failed steps takes the others over
            )
            log.info("run %s (%s) %s", run.id, run.workflow_name, status)
            return status
        finally:
            shutil.rmtree(workspace, ignore_errors=True)

    def _prepare(self, run: RunRecord, workspace: Path) -> str | None:
        """Make the run's workspace; the reason the run cannot start, or None."""
        if run.repository is None:
            workspace.mkdir(parents=True)
            return None
        if run.sha is None:
            return f"cannot run: the run names repository {run.repository} but no commit"
        mirror = self._mirrors(run.repository)
        if mirror is None:
            return f"cannot run: repository {run.repository} is not configured on this server"
        try:
            mirror.workspace(run.sha, workspace)
        except Exception as exc:  # MirrorError, or the disk: the run fails with the reason
            return f"cannot check out {run.repository} at {run.sha[:12]}: {exc}"
        return None

    def _finish_abandoned(self, run_id: int) -> None:
        with contextlib.suppress(StoreError):  # it ended after all
            self.store.finish_run(run_id, str(RunStatus.CANCELLED), ABANDONED_ERROR, time.time())
