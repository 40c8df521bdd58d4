"""The warm pool in the server (`plue.server.pool_service`): the backend from `[pool]`, the runners' URL and
environment, the controller started and stopped; and the whole path with real `plue runner` agents."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from pool_support import FAKE_RUNNER
from process_support import process_gone, wait_until
from server_support import bearer, make_config, serve

from plue import Plan, Step
from plue.runners.backends import LocalBackend
from plue.runners.kubernetes import KubernetesBackend
from plue.runners.pool import PoolController
from plue.server.api.state import ServerState
from plue.server.app import create_app
from plue.server.config import KubernetesSettings, PoolSettings, PoolSpec, RunnerSettings, ServerConfig
from plue.server.pool_service import (
    PoolUnusable,
    build_backend,
    runner_server_url,
    start_pool,
    stop_pool,
)
from plue.store import NewRun, Store

SRC = Path(__file__).resolve().parent.parent / "src"
POD = {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "runner", "image": "plue:1"}]}}


def with_pool(config: ServerConfig, **pool: object) -> ServerConfig:
    return dataclasses.replace(config, pool=dataclasses.replace(config.pool, **pool))  # type: ignore[arg-type]


def test_runners_dial_the_configured_url_else_this_servers_address(tmp_path: Path) -> None:
    config = make_config(tmp_path, host="127.0.0.1", port=8080)
    assert runner_server_url(config) == "http://127.0.0.1:8080"
    assert runner_server_url(dataclasses.replace(config, host="0.0.0.0")) == "http://127.0.0.1:8080"
    assert runner_server_url(dataclasses.replace(config, host="::")) == "http://[::1]:8080"
    assert runner_server_url(dataclasses.replace(config, host="plue.lan", port=9000)) == "http://plue.lan:9000"
    assert runner_server_url(with_pool(config, server_url="https://plue.example")) == "https://plue.example"
    with pytest.raises(PoolUnusable, match=r"port 0\): set \[pool\] server_url"):
        runner_server_url(dataclasses.replace(config, port=0))


def test_local_runners_get_neither_the_servers_settings_nor_its_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLUE_DATABASE_URL", "postgresql://plue:pw@db/plue")
    monkeypatch.setenv("MY_API_KEY", "run-secret-value")
    monkeypatch.setenv("HOOK_SECRET", "test-webhook-secret")  # server_support's webhook secret
    monkeypatch.setenv("USEFUL", "yes")
    config = make_config(tmp_path, secrets={"API_KEY": "run-secret-value"})
    backend = build_backend(with_pool(config, runner_command=("plue-x",)))
    assert isinstance(backend, LocalBackend)
    assert backend.work_root == tmp_path / "runners"
    assert backend.command == ("plue-x",)
    assert backend.environ["USEFUL"] == "yes"
    for name in ("PLUE_DATABASE_URL", "MY_API_KEY", "HOOK_SECRET"):
        assert name not in backend.environ


def test_the_kubernetes_backend_is_built_from_its_settings(tmp_path: Path) -> None:
    kube = KubernetesSettings(namespace="ci", pod_template=POD, api_url="http://127.0.0.1:1", runtime_class="gvisor")
    backend = build_backend(with_pool(make_config(tmp_path), backend="kubernetes", kubernetes=kube))
    assert isinstance(backend, KubernetesBackend)
    try:
        assert (backend.namespace, backend.runtime_class, backend.url) == ("ci", "gvisor", "http://127.0.0.1:1")
    finally:
        backend.close()


def test_without_pools_nothing_starts(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with Store.open(url=config.store_url) as store:
        state = ServerState(config=config, store=store)
        assert start_pool(state) is None
        assert "pool" not in state.extras
        stop_pool(state)  # nothing to stop


def test_the_controller_runs_with_the_server_and_its_local_runners_stop_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "fake_runner.py"
    script.write_text(FAKE_RUNNER)
    (tmp_path / "pids").mkdir()
    config = with_pool(
        make_config(tmp_path / "data"),
        server_url="http://127.0.0.1:9",
        interval_seconds=0.05,
        runner_command=(sys.executable, str(script)),
        pools=(PoolSpec("cpu", labels=("linux",), min_idle=2, max_runners=2),),
    )
    config.data_dir.mkdir()
    monkeypatch.setenv("DB_URL", config.store_url)
    monkeypatch.setenv("PIDS", str(tmp_path / "pids"))
    with Store.open(url=config.store_url) as store:
        state = ServerState(config=config, store=store)
        controller = start_pool(state)
        try:
            assert isinstance(controller, PoolController) and state.extras["pool"] is controller
            wait_until(lambda: len(store.list_runners()) == 2, "two runners to register")
            names = {runner.name for runner in store.list_runners()}
            assert all(runner.pool == "cpu" and runner.labels == ("linux",) for runner in store.list_runners())
            pids = [int((tmp_path / "pids" / name).read_text()) for name in names]
        finally:
            stop_pool(state)
        assert "pool" not in state.extras
        assert all(process_gone(pid) for pid in pids)
        assert {runner.status for runner in store.list_runners(include_gone=True)} == {"offline"}


def test_a_pool_of_real_runners_executes_a_queued_run(tmp_path: Path) -> None:
    """The whole path: the controller starts `plue runner` processes, one claims the run and executes it,
    and `GET /api/pool` and `plue pool status` show what the controller did and why."""
    config = make_config(
        tmp_path,
        workers=0,
        runners=RunnerSettings(heartbeat_seconds=0.5, lost_after_seconds=10.0, claim_wait_seconds=1.0),
        pool=PoolSettings(interval_seconds=0.1, pools=(PoolSpec("cpu", labels=("linux",), min_idle=1),)),
    )
    app = create_app(config, start_background=False)
    state: ServerState = app.state.plue
    reader = state.store.create_token("reader", "read")
    plan = Plan("On a runner", steps=[Step.bash("hello", "echo hello from $(hostname)")], runs_on=["linux"]).to_data()
    with serve(app) as server:
        controller = start_pool(state, server_url=server.url)
        assert controller is not None
        try:
            wait_until(lambda: any(r.pool == "cpu" for r in state.store.list_runners()), "a pool runner", 60)
            [runner] = state.store.list_runners()
            assert runner.token_name == f"runner:{runner.name}"  # its own token, made by the controller
            run_id = state.store.enqueue(
                NewRun.from_plan("hello.plue.py", plan, event_name="manual", event=None, inputs={})
            )

            def finished() -> bool:
                run = state.store.get_run(run_id)
                return run is not None and run.status not in ("queued", "running")

            wait_until(finished, "the run to finish on a pool runner", 60)
            run = state.store.get_run(run_id)
            assert run is not None and run.status == "success", run
            said = [line.text for line in state.store.read_logs(run_id) if line.stream == "stdout"]
            assert len(said) == 1 and said[0].startswith("hello from")

            answer = httpx.get(server.url + "/api/pool", headers=bearer(reader), timeout=10)
            assert answer.status_code == 200
            status = answer.json()
            assert status["enabled"] is True and status["backend"] == "local"
            assert status["decisions"][0]["action"] == "create"
            assert status["pools"][0]["name"] == "cpu"

            env = {**os.environ, "PYTHONPATH": str(SRC), "PLUE_SERVER": server.url, "PLUE_TOKEN": reader}
            shown = subprocess.run(
                [sys.executable, "-m", "plue", "pool", "status"], env=env, capture_output=True, text=True, timeout=60
            )
            assert shown.returncode == 0, shown.stderr
            assert "local backend" in shown.stdout and "keeps min_idle 1" in shown.stdout
        finally:
            stop_pool(state)
        # Stopped with the server: each runner deregistered on SIGTERM.
        assert {runner.status for runner in state.store.list_runners(include_gone=True)} == {"offline"}
