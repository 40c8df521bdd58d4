"""The server's worker pool: queued runs claimed, executed in a fresh workspace, and stopped cleanly."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from ingest_support import Upstream

from plue import Plan, Step
from plue.engine import RunStatus
from plue.plan import content_hash
from plue.server.config import RepositoryConfig, ServerConfig
from plue.server.mirrors import Mirrors
from plue.server.workers import ABANDONED_ERROR, WorkerPool
from plue.store import NewRun, Store

WAIT = 60  # seconds: generous bounds on waits that end on an event


def new_run(*steps: Step, repository: str | None = None, sha: str | None = None) -> NewRun:
    plan = Plan("Test", steps=list(steps)).to_data()
    return NewRun(
        workflow_path="test.plue.py",
        workflow_name="Test",
        content_hash=content_hash(plan),
        plan=plan,
        event_name="manual",
        event=None,
        inputs={},
        repository=repository,
        sha=sha,
    )


class Finished:
    """Collects the pool's `on_finished` calls; waits for a number of them."""

    def __init__(self) -> None:
        self.statuses: dict[int, RunStatus] = {}
        self._changed = threading.Condition()

    def __call__(self, run_id: int, status: RunStatus) -> None:
        with self._changed:
            self.statuses[run_id] = status
            self._changed.notify_all()

    def wait_for(self, count: int) -> dict[int, RunStatus]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.statuses) >= count, WAIT), self.statuses
            return dict(self.statuses)


@pytest.fixture
def upstream(tmp_path: Path) -> Upstream:
    return Upstream(tmp_path / "remote")


@pytest.fixture
def config(tmp_path: Path, upstream: Upstream) -> ServerConfig:
    return ServerConfig(
        database_url=None,
        data_dir=tmp_path / "server",
        webhook_secrets=(),
        repositories={upstream.name: RepositoryConfig(upstream.name, upstream.url)},
        workers=2,
        secrets={"TOKEN": "hunter22"},
    )


@pytest.fixture
def store(config: ServerConfig) -> Iterator[Store]:
    config.data_dir.mkdir(parents=True)
    with Store.open(url=config.store_url) as opened:
        yield opened


@pytest.fixture
def finished() -> Finished:
    return Finished()


@pytest.fixture
def pool(store: Store, config: ServerConfig, finished: Finished) -> Iterator[WorkerPool]:
    workers = WorkerPool(store, config, Mirrors.from_config(config).get, poll_seconds=0.2, on_finished=finished)
    yield workers
    workers.stop(grace=0)


def test_queued_runs_are_each_executed_once(store: Store, pool: WorkerPool, finished: Finished) -> None:
    ids = [store.enqueue(new_run(Step.bash("hello", f"echo run {index} $TOKEN"))) for index in range(6)]
    pool.start()
    pool.wake()

    statuses = finished.wait_for(len(ids))

    assert statuses == {run_id: RunStatus.SUCCESS for run_id in ids}
    for index, run_id in enumerate(ids):
        run = store.get_run(run_id)
        assert run is not None and run.status == "success"
        assert run.owner is not None and "/worker-" in run.owner
        assert [log.text for log in store.read_logs(run_id)] == [f"run {index} ***"]  # the secret, masked


def test_a_rerun_of_failed_steps_runs_only_those(store: Store, pool: WorkerPool, finished: Finished) -> None:
    run = new_run(
        Step.bash("build", 'echo "artifact=a1" >> "$PLUE_OUTPUT"; echo built'),
        Step.bash("test", 'echo "testing {{ steps.build.outputs.artifact }}"; test -e fixed', depends_on=["build"]),
    )
    first = store.enqueue(run)
    pool.start()
    pool.wake()
    assert finished.wait_for(1) == {first: RunStatus.FAILED}
    failed_run = store.get_run(first)
    assert failed_run is not None

    from plue.runners.local import reusable_steps

    reuse = {step_id: (item.outputs, item.exit_code) for step_id, item in reusable_steps(failed_run).items()}
    assert list(reuse) == ["build"]
    second = store.enqueue(run, parent_run_id=first, reuse=reuse)
    pool.wake()

    assert finished.wait_for(2)[second] is RunStatus.FAILED  # `fixed` is still missing: test runs again
    rerun = store.get_run(second)
    assert rerun is not None
    assert [(step.id, step.status, step.reused) for step in rerun.steps] == [
        ("build", "success", True),
        ("test", "failed", False),
    ]
    logs = [(log.step_id, log.text) for log in store.read_logs(second)]
    assert ("test", "testing a1") in logs  # the reused step's output reached the step that ran again
    assert not any(step_id == "build" for step_id, _ in logs)  # build did not run again


def test_a_run_of_a_repository_runs_in_a_clone_of_its_commit(
    store: Store, pool: WorkerPool, finished: Finished, upstream: Upstream, config: ServerConfig
) -> None:
    first = upstream.push({"hello.txt": "first\n"})
    upstream.push({"hello.txt": "second\n"})
    run_id = store.enqueue(
        new_run(
            Step.bash("show", "cat hello.txt; git rev-parse HEAD; echo scratch > new.txt"),
            repository=upstream.name,
            sha=first,
        )
    )
    pool.start()
    pool.wake()

    assert finished.wait_for(1) == {run_id: RunStatus.SUCCESS}
    assert [log.text for log in store.read_logs(run_id)] == ["first", first]
    assert not (config.work_dir / str(run_id)).exists()  # the workspace is removed


def test_a_run_that_cannot_be_checked_out_fails_with_the_reason(
    store: Store, pool: WorkerPool, finished: Finished, upstream: Upstream
) -> None:
    upstream.push({"hello.txt": "x\n"})
    missing = store.enqueue(new_run(Step.bash("a", "true"), repository=upstream.name, sha="f" * 40))
    unknown = store.enqueue(new_run(Step.bash("a", "true"), repository="octo/other", sha="f" * 40))
    pool.start()
    pool.wake()

    assert finished.wait_for(2) == {missing: RunStatus.FAILED, unknown: RunStatus.FAILED}
    missing_run, unknown_run = store.get_run(missing), store.get_run(unknown)
    assert missing_run is not None and missing_run.error is not None
    assert missing_run.error.startswith(f"cannot check out {upstream.name} at ffffffffffff")
    assert unknown_run is not None and unknown_run.error == (
        "cannot run: repository octo/other is not configured on this server"
    )


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def test_stop_lets_a_running_run_finish_within_the_grace(
    store: Store, pool: WorkerPool, finished: Finished, tmp_path: Path
) -> None:
    started, go = fifo(tmp_path / "started"), fifo(tmp_path / "go")
    run_id = store.enqueue(new_run(Step.bash("wait", f"echo up > {started}; read line < {go}; echo got $line")))
    pool.start()
    pool.wake()
    assert started.read_text() == "up\n"  # blocks until the step is running

    stopper = threading.Thread(target=pool.stop, kwargs={"grace": WAIT})
    stopper.start()
    assert pool.stopping.wait(WAIT)
    later = store.enqueue(new_run(Step.bash("never", "true")))
    go.write_text("go\n")
    stopper.join(WAIT)

    assert not stopper.is_alive()
    assert finished.wait_for(1) == {run_id: RunStatus.SUCCESS}
    assert [log.text for log in store.read_logs(run_id)] == ["got go"]
    later_run = store.get_run(later)
    assert later_run is not None and later_run.status == "queued"  # a stopping pool claims nothing new


def test_stop_cancels_what_outlives_the_grace(
    store: Store, pool: WorkerPool, finished: Finished, tmp_path: Path
) -> None:
    started = fifo(tmp_path / "started")
    run_id = store.enqueue(new_run(Step.bash("long", f"echo up > {started}; sleep 600")))
    pool.start()
    pool.wake()
    assert started.read_text() == "up\n"
    assert pool.running() == [run_id]

    pool.stop(grace=0)

    assert finished.wait_for(1) == {run_id: RunStatus.CANCELLED}
    run = store.get_run(run_id)
    assert run is not None and run.status == "cancelled" and run.error != ABANDONED_ERROR
    assert [step.status for step in run.steps] == ["cancelled"]
    assert store.list_runs(status="running") == []


def test_a_run_queued_by_another_process_is_found_by_polling(
    store: Store, config: ServerConfig, finished: Finished
) -> None:
    pool = WorkerPool(store, config, Mirrors.from_config(config).get, count=1, poll_seconds=0.05, on_finished=finished)
    pool.start()
    try:
        with Store.open(url=config.store_url) as other:  # another connection; no wake() reaches the pool
            run_id = other.enqueue(new_run(Step.bash("a", "echo polled")))
        assert finished.wait_for(1) == {run_id: RunStatus.SUCCESS}
    finally:
        pool.stop(grace=0)


# --- the service: workers and scheduler in the app's lifespan -------------------------------------------


def test_the_app_lifespan_runs_workers_and_stops_them_cleanly(
    tmp_path: Path, upstream: Upstream, finished: Finished, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server_support import make_config, serve

    from plue.server import service
    from plue.server.app import create_app

    monkeypatch.setattr(service, "STOP_GRACE_SECONDS", 0.0)  # cancel at once what runs at shutdown
    config = make_config(tmp_path / "server", {upstream.name: upstream.url}, workers=1)
    app = create_app(config)
    state = app.state.plue
    started = fifo(tmp_path / "started")
    with serve(app):
        running = state.service
        assert isinstance(running, service.Service)
        if state.ingestor is not None:  # deliveries wake the workers and refresh the schedules
            assert state.ingestor.on_queued == running.wake
            assert state.ingestor.on_push == running.scheduler.invalidate
        running.workers.on_finished = finished
        quick = state.store.enqueue(new_run(Step.bash("a", "echo served")))
        running.wake([quick])
        assert finished.wait_for(1) == {quick: RunStatus.SUCCESS}

        long = state.store.enqueue(new_run(Step.bash("long", f"echo up > {started}; sleep 600")))
        running.wake([long])
        assert started.read_text() == "up\n"
    # The server stopped (as on SIGTERM): the lifespan stopped the workers.

    assert finished.wait_for(2)[long] == RunStatus.CANCELLED
    assert state.service is None
    with Store.open(url=config.store_url) as store:
        assert store.list_runs(status="running") == []
        assert [log.text for log in store.read_logs(quick)] == ["served"]
