"""The pool controller's loop with a real store (SQLite and PostgreSQL) and the local backend's real processes.

The runners here are a stand-in for `plue runner` that registers straight in the store (as the server
does for a real agent), so the controller's whole cycle — token, create, count, drain, delete, revoke —
is exercised without the HTTP protocol; `tests/test_pool_service.py` runs real agents against a real server.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pool_support import FAKE_RUNNER
from process_support import process_gone, wait_until
from test_store_support import PLAN, db_url, store

from plue.cli.output import Output
from plue.cli.pool_commands import show_status
from plue.runners.backends import LocalBackend
from plue.runners.pool import PoolController
from plue.server.config import PoolSettings, PoolSpec
from plue.store import NewRun, Store

__all__ = ["db_url", "store"]  # fixtures


@pytest.fixture
def runner_script(tmp_path: Path) -> Path:
    path = tmp_path / "fake_runner.py"
    path.write_text(FAKE_RUNNER)
    (tmp_path / "pids").mkdir()
    return path


@pytest.fixture
def local(tmp_path: Path, runner_script: Path) -> Iterator[LocalBackend]:
    backend = LocalBackend(tmp_path / "runners", [sys.executable, str(runner_script)], kill_grace=10.0)
    try:
        yield backend
    finally:
        backend.close()


def queue(store: Store, runs_on: tuple[str, ...]) -> int:
    run = NewRun(
        workflow_path="ci.plue.py",
        workflow_name="CI",
        content_hash="0" * 64,
        plan=PLAN,
        event_name="manual",
        event=None,
        inputs={},
        runs_on=runs_on,
    )
    return store.enqueue(run)


def registered(store: Store, name: str, status: str = "idle") -> bool:
    return any(runner.name == name and runner.status == status for runner in store.list_runners(include_gone=True))


def token_state(store: Store, runner: str) -> str | None:
    for record in store.list_tokens():
        if record.name == f"runner:{runner}":
            assert record.scope == "runner"
            return "revoked" if record.revoked else "live"
    return None


def pid_of(tmp_path: Path, name: str) -> int:
    path = tmp_path / "pids" / name
    wait_until(path.exists, f"runner {name} to write its pid")
    return int(path.read_text())


def test_the_controller_keeps_grows_and_retires_a_pool_of_local_runners(
    store: Store, db_url: str, local: LocalBackend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pool = PoolSpec("cpu", labels=("linux",), min_idle=1, max_runners=2, idle_timeout_seconds=0.0)
    settings = PoolSettings(server_url="http://127.0.0.1:9", interval_seconds=0.05, pools=(pool,))
    env = {"DB_URL": db_url, "PIDS": str(tmp_path / "pids")}
    controller = PoolController(store, settings, local, runner_env=env)

    # min_idle: one runner, with its own runner token made first.
    [first] = controller.tick()
    assert (first.action, first.pool, first.error) == ("create", "cpu", None)
    assert first.reason == "keeps min_idle 1: 0 idle or starting runner(s)"
    one = str(first.runner)
    assert token_state(store, one) == "live"
    assert controller.tick() == []  # starting: it counts, nothing more is made
    wait_until(lambda: registered(store, one), "the first runner to register")
    assert controller.tick() == []

    # Queued runs it can serve grow the pool to max_runners; runs it cannot serve do not.
    for _ in range(3):
        queue(store, ("linux",))
    gpu_run = queue(store, ("gpu",))
    [grow] = controller.tick()
    assert grow.action == "create" and grow.reason.startswith("3 queued run(s) it can serve, 1 idle or starting")
    two = str(grow.runner)
    wait_until(lambda: registered(store, two), "the second runner to register")
    assert controller.tick() == []  # at max_runners
    status = controller.status()
    json.dumps(status)  # JSON-able as it is
    [counts] = status["pools"]
    assert (counts["idle"], counts["total"], counts["max_runners"], counts["queued"]) == (2, 2, 2, 3)
    assert status["unserved"] == [{"labels": ["gpu"], "queued": 1}]

    # The queue empties: idle beyond min_idle (idle_timeout 0) is drained, then deleted.
    for run in store.list_runs(status="queued"):
        if run.id != gpu_run:
            store.finish_run(run.id, "cancelled", None, run.created_at + 1)
    [drain] = controller.tick()
    assert drain.action == "drain" and drain.reason.startswith("idle for ")
    retired = str(drain.runner)
    kept = two if retired == one else one
    assert any(runner.name == retired and runner.drain for runner in store.list_runners())
    retired_pid = pid_of(tmp_path, retired)
    [delete] = controller.tick()
    assert (delete.action, delete.runner, delete.reason) == ("delete", retired, "drained, and holds no run")
    assert process_gone(retired_pid)
    assert token_state(store, retired) == "revoked"
    assert [runner.name for runner in local.list()] == [kept]
    assert registered(store, retired, "offline")  # it deregistered on SIGTERM
    assert controller.tick() == []

    # A runner killed outright is deleted from the backend and replaced at once.
    os.kill(pid_of(tmp_path, kept), signal.SIGKILL)
    wait_until(lambda: [runner.phase for runner in local.list()] == ["exited"], "the killed runner to exit")
    gone, replacement = controller.tick()
    assert (gone.action, gone.runner) == ("delete", kept)
    assert gone.reason.startswith("exited (killed by SIGKILL")
    assert token_state(store, kept) == "revoked"
    assert replacement.action == "create" and replacement.reason.startswith("keeps min_idle 1")
    wait_until(lambda: registered(store, str(replacement.runner)), "the replacement to register")

    # Another controller over the same backend (a restart) adopts what runs: nothing is duplicated.
    again = PoolController(store, settings, local, runner_env=env)
    assert again.tick() == []
    assert len(local.list()) == 1

    assert controller.tick() == []  # its status shows the last look
    status = controller.status()
    decisions = [(record["action"], record["runner"]) for record in status["decisions"]]
    assert decisions == [
        ("create", one),
        ("create", two),
        ("drain", retired),
        ("delete", retired),
        ("delete", kept),
        ("create", replacement.runner),
    ]

    # What `plue pool status` prints of it.
    capsys.readouterr()
    show_status(Output(), status, decision_count=3)
    shown = capsys.readouterr().out.splitlines()
    assert shown[0].startswith("pool controller: local backend, runners dial http://127.0.0.1:9, looks every 0.05 s")
    assert shown[2].split() == [
        "pool",
        "labels",
        "idle",
        "busy",
        "pending",
        "draining",
        "runners",
        "min",
        "idle",
        "queued",
    ]
    assert shown[3].split() == ["cpu", "linux", "1", "0", "0", "0", "1/2", "1", "0"]
    assert "no pool offers labels gpu (1 queued run waiting)" in shown
    assert any(line.split()[:3] == [str(replacement.runner), "cpu", "idle"] for line in shown)
    assert shown[-5] == "recent decisions (the last 3, oldest first):"
    assert shown[-4].split() == ["when", "pool", "action", "runner", "reason"]
    assert "create" in shown[-1] and "keeps min_idle 1" in shown[-1]
    assert "exited (killed by SIGKILL" in shown[-2]


def test_a_runner_that_never_registers_holds_back_creations(store: Store, tmp_path: Path) -> None:
    now = [1_000_000.0]

    def clock() -> float:
        return now[0]

    broken = LocalBackend(tmp_path / "runners", [sys.executable, "-c", "raise SystemExit(4)"], clock=clock)
    pool = PoolSpec("cpu", labels=(), min_idle=1, max_runners=3)
    settings = PoolSettings(server_url="http://127.0.0.1:9", interval_seconds=0.05, pools=(pool,))
    controller = PoolController(store, settings, broken, clock)
    try:
        [create] = controller.tick()
        wait_until(lambda: [runner.phase for runner in broken.list()] == ["exited"], "the runner to fail")
        [delete] = controller.tick()  # deleted, and no new one yet
        assert delete.action == "delete" and delete.runner == create.runner
        assert delete.reason.startswith("exited before registering (exit code 4, log ")
        assert delete.reason.endswith("; no new runner in pool cpu for 5 s")
        assert token_state(store, str(create.runner)) == "revoked"
        assert controller.tick() == []
        assert controller.status()["pools"][0]["held_until"] == now[0] + 5
        now[0] += 6
        [retry] = controller.tick()
        assert retry.action == "create"
        wait_until(lambda: [runner.phase for runner in broken.list()] == ["exited"], "the runner to fail again")
        [again] = controller.tick()
        assert again.reason.endswith("for 10 s")  # longer each time
    finally:
        broken.close()


def test_a_failing_backend_is_recorded_and_the_token_revoked(store: Store, tmp_path: Path) -> None:
    missing = LocalBackend(tmp_path / "runners", [str(tmp_path / "no-such-plue")])
    pool = PoolSpec("cpu", labels=(), min_idle=1, max_runners=1)
    settings = PoolSettings(server_url="http://127.0.0.1:9", interval_seconds=0.05, pools=(pool,))
    controller = PoolController(store, settings, missing)
    [failed] = controller.tick()
    assert failed.action == "create" and failed.error is not None
    assert "BackendError: cannot start runner" in failed.error and "No such file" in failed.error
    assert token_state(store, str(failed.runner)) == "revoked"
    assert controller.tick() == []  # held back
    assert controller.status()["decisions"][-1]["error"] == failed.error


def test_the_thread_ticks_and_stops(store: Store, db_url: str, local: LocalBackend, tmp_path: Path) -> None:
    pool = PoolSpec("cpu", labels=(), min_idle=2, max_runners=2)
    settings = PoolSettings(server_url="http://127.0.0.1:9", interval_seconds=0.05, pools=(pool,))
    controller = PoolController(store, settings, local, runner_env={"DB_URL": db_url, "PIDS": str(tmp_path / "pids")})
    controller.start()
    try:
        wait_until(lambda: controller.status()["pools"][0]["idle"] == 2, "two idle runners")
    finally:
        controller.stop()
    assert len(controller.decisions()) == 2
    assert controller.status()["last_error"] is None


def test_a_standby_controller_creates_nothing_until_it_leads(
    store: Store, db_url: str, local: LocalBackend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two servers on one database: the controller without the pool's leadership stands by, then takes over."""
    pool = PoolSpec("cpu", labels=(), min_idle=1, max_runners=1)
    settings = PoolSettings(server_url="http://127.0.0.1:9", interval_seconds=0.05, pools=(pool,))
    env = {"DB_URL": db_url, "PIDS": str(tmp_path / "pids")}
    with Store.open(url=db_url) as elsewhere:
        held = elsewhere.leadership("pool")
        assert held.hold()  # the other server runs the pool
        controller = PoolController(store, settings, local, runner_env=env, leader=store.leadership("pool").hold)
        assert controller.tick() == [] and controller.tick() == []
        assert local.list() == [] and controller.status()["leader"] is False
        capsys.readouterr()
        show_status(Output(), controller.status())
        assert "standby: another server sharing this database runs the pool" in capsys.readouterr().out
        held.release()  # that server stopped
        [created] = controller.tick()
        assert created.action == "create" and controller.status()["leader"] is True
